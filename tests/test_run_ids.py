"""A run's id is its protocol, not the bytes of the source (DESIGN.md, "Layers"): problem and
options, data checksums, strategy settings, seed, budget, schedule, precision, device type,
diagnostics and ganopt.numerics.NUMERICS_VERSION.  And the one frozen spec per stack that
expansion makes is what trains: planning, the executors and train_stack read it unchanged."""

import dataclasses
import json
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import ENV, ROOT

from bench import cli, execute
from bench.executors import StackTask
from bench.plan import plan_stacks
from bench.spec import SpecError, StackSpec, suite_from_data
from bench.store import environment, run_provenance
from ganopt import numerics

SMALL = {"problems": ["bilinear"], "strategies": ["gd", "extragradient"], "seeds": 2, "steps": 5}
IDS = ("import json, sys\nfrom bench.spec import suite_from_data\n"
       "print(json.dumps([r.run_id for r in suite_from_data(json.loads(sys.argv[1])).runs]))\n")


def _ids_in(root: Path) -> list[str]:
    """The run ids of SMALL computed by the packages under `root`, in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", IDS, json.dumps(SMALL)], capture_output=True, text=True,
                          cwd=root, env={**ENV, "PYTHONPATH": str(root)}, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_comment_in_the_ganopt_sources_keeps_every_run_id(tmp_path):
    """Editing a comment must not orphan every stored result (it did while ids hashed the sources)."""
    for package in ("ganopt", "bench"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("train.py", "schemes.py", "updates.py"):
        source = tmp_path / "ganopt" / name
        source.write_text(source.read_text() + "\n# a comment that changes no number\n")
    assert _ids_in(tmp_path) == [r.run_id for r in suite_from_data(SMALL).runs]


def test_a_new_numerics_version_changes_every_run_id(monkeypatch):
    before = [r.run_id for r in suite_from_data(SMALL).runs]
    monkeypatch.setattr(numerics, "NUMERICS_VERSION", numerics.NUMERICS_VERSION + 1)
    after = [r.run_id for r in suite_from_data(SMALL).runs]
    assert len(set(after)) == len(after) and not set(before) & set(after)
    assert all(r.describe()["numerics"] == numerics.NUMERICS_VERSION for r in suite_from_data(SMALL).runs)


BASE = {"problems": ["ring8"], "strategies": ["mine"], "seeds": 1, "steps": 10, "eval_every": 2,
        "strategy": {"mine": {"like": "adam"}}}
CHANGES = {  # each changes one setting that decides a run's numbers
    "seed": ({"seeds": [1]}, {}),
    "steps": ({"steps": 11}, {}),
    "eval_every": ({"eval_every": 5}, {}),
    "lr_schedule": ({"lr_schedule": "constant"}, {}),  # ring8's default is linear-decay
    "options": ({"problem": {"ring8": {"batch_size": 128}}}, {}),
    "strategy settings": ({"strategy": {"mine": {"like": "adam", "beta1": 0.0}}}, {}),
    "learning rate": ({"strategy": {"mine": {"like": "adam", "lr_g": 0.5}}}, {}),
    "precision": ({"precision": "bf16"}, {}),
    "diagnostics": ({"diagnostics": True}, {}),
    "diagnostics_at": ({"diagnostics": True, "diagnostics_at": [0, 1]}, {}),
    "device": ({}, {"device": "cuda"}),
}


def _first_id(change: dict, flags: dict) -> str:
    return suite_from_data({**BASE, **change}, **flags).runs[0].run_id


def test_every_protocol_setting_is_in_the_run_id():
    ids = {name: _first_id(*change) for name, change in CHANGES.items()}
    ids["base"] = _first_id({}, {})
    assert len(set(ids.values())) == len(ids), ids
    assert _first_id({}, {}) == ids["base"]  # and the same protocol, the same id


def test_how_steps_launch_is_not_in_the_run_id():
    """CUDA graphs, like the thread count, change how a step launches, not what it computes."""
    on_cuda = suite_from_data(BASE, device="cuda")
    graphed = suite_from_data(BASE, device="cuda", cuda_graphs=True)
    assert graphed.stacks[0].settings.cuda_graphs and not on_cuda.stacks[0].settings.cuda_graphs
    assert [r.run_id for r in graphed.runs] == [r.run_id for r in on_cuda.runs]


def test_provenance_still_records_the_commit_and_whether_the_tree_was_dirty():
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    provenance = run_provenance(environment(torch.device("cpu")), suite_from_data(SMALL).runs[0])
    assert provenance["git_commit"] == commit and isinstance(provenance["git_dirty"], bool)


SETTINGS = {"problems": ["ring8"], "strategies": ["adam", "ttur"], "seeds": 2, "steps": 4, "eval_every": 2,
            "lr_schedule": "linear-decay", "precision": "bf16", "diagnostics": True, "diagnostics_at": [0, 1],
            "problem": {"ring8": {"batch_size": 64}}}


def test_one_frozen_spec_per_stack_is_what_trains(monkeypatch):
    """Expansion makes one StackSpec per stack; the plan splits it (the same settings object), a
    worker's copy holds the same settings, and train_stack gets its keywords from it."""
    suite = suite_from_data(SETTINGS)
    assert len(suite.stacks) == 1 and {r.strategy.name for r in suite.stacks[0].runs} == {"adam", "ttur"}
    settings = suite.stacks[0].settings
    parts = plan_stacks(list(suite.stacks), max_stack=3)
    assert [len(p.runs) for p in parts] == [3, 1] and all(p.settings is settings for p in parts)
    shipped = pickle.loads(pickle.dumps(StackTask(parts[0], "cpu"))).stack
    assert all(r.settings is shipped.settings for r in shipped.runs) and shipped.settings == settings
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.steps = 5
    calls = []
    monkeypatch.setattr(execute, "train_stack", lambda problem, **kw: calls.append((problem, kw)))
    execute.run_stack(parts[0], torch.device("cpu"), time_limit_s=9.0)
    problem, keywords = calls[0]
    assert problem.name == "ring8" and keywords["device"] == torch.device("cpu") and keywords["time_limit_s"] == 9.0
    assert keywords["options"] == settings.options and keywords["options"]["batch_size"] == 64
    assert (keywords["steps"], keywords["eval_every"], keywords["lr_schedule"], keywords["precision"]) == \
        (4, 2, "linear-decay", "bf16")  # none of them train_stack's default
    assert keywords["diagnostics"] is True and keywords["diagnostics_at"] == (0.0, 1.0)
    assert keywords["cuda_graphs"] is False
    assert [s.name for s in keywords["strategies"]] == [r.strategy.name for r in parts[0].runs]
    assert keywords["seeds"] == [0, 1, 0]
    graphed = suite_from_data(BASE, device="cuda", cuda_graphs=True).stacks[0]
    execute.run_stack(graphed, torch.device("cpu"))
    assert calls[-1][1]["cuda_graphs"] is True


def test_a_stack_holds_only_runs_of_its_own_settings():
    one, other = suite_from_data(SMALL).stacks
    with pytest.raises(ValueError, match="the stack's own settings"):
        StackSpec(one.settings, one.runs + other.runs)


@pytest.mark.parametrize("change, flags, message", [
    ({"precision": "bf61"}, {}, "flags: precision: unknown precision 'bf61' \\(did you mean 'bf16'\\?\\)"),
    ({}, {"precision": "tf32"}, "^--precision: precision tf32 is a CUDA tensor-core mode; this device is cpu"),
    ({"problems": ["dirac"]}, {"precision": "bf16"}, "^--precision: on dirac, precision bf16 lowers float32"),
])
def test_a_precision_is_checked_once_where_a_stack_is_made(change, flags, message):
    with pytest.raises(SpecError, match=message):
        suite_from_data({**BASE, **change}, **flags)


def test_the_cli_never_rewrites_its_parsed_arguments(tmp_path):
    """The flags are read into checked objects (the suite, an Execution); `args` stays as parsed."""
    args = cli.make_parser().parse_args(["run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1",
                                         "--steps", "3", "--store", str(tmp_path / "s.sqlite"), "--out",
                                         str(tmp_path / "out"), "--executor", "inprocess", "--quiet"])
    before = dict(vars(args))
    assert cli.cmd_run(args) == 0
    assert vars(args) == before


BAD_FLAGS = {
    "timeout": (["--timeout", "0"], "--timeout must be a positive, finite number of seconds up to 1e\\+07 .*, got 0"),
    "workers": (["--workers", "2", "--executor", "inprocess"], "--workers N \\(N >= 1\\) goes with --executor processes"),
    "retries": (["--retries", "-1"], "--retries must be >= 0, got -1"),
    "scheduler": (["--scheduler", "tcp://host:1"], "--scheduler goes with --executor dask"),
    "dask": (["--executor", "dask"], "--executor dask needs --scheduler"),
    "max-runs": (["--max-runs", "0"], "--max-runs must be >= 1, got 0"),
    "precision": (["--precision", "fp61"], "--precision: unknown precision 'fp61'"),
}


@pytest.mark.parametrize("case", BAD_FLAGS)
def test_a_bad_flag_is_one_line_exit_2_and_nothing_written(case, tmp_path, capsys, monkeypatch):
    flags, message = BAD_FLAGS[case]
    monkeypatch.setattr(cli.signal, "signal", lambda *args: None)  # main's SIGTERM handler stays out of pytest
    code = cli.main(["run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1", "--steps", "3",
                     "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "out"), *flags])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and re.search(message, err), err
    assert not list(tmp_path.iterdir())


def test_the_evaluation_runs_train_each_strategy_at_its_best_trials_setting():
    suite = suite_from_data({**SMALL, "tuning": {"trials": 3, "tune_seeds": [100]}})
    cells = {cell.strategy.name: cell for cell in suite.grid}
    for run in suite.runs:  # the trials: one setting each, on the tuning seeds
        assert run.phase == "tune" and run.seed == 100
        assert run.strategy == suite.tuning.setting(cells[run.strategy.name].strategy, run.trial)
    best = {("bilinear", "gd"): 2, ("bilinear", "extragradient"): 0}
    evals = [r for stack in suite.eval_stacks(best) for r in stack.runs]
    assert sorted((r.strategy.name, r.seed) for r in evals) == sorted((s, seed) for s in cells for seed in (0, 1))
    for run in evals:
        trial = best[("bilinear", run.strategy.name)]
        assert run.phase == "eval" and run.trial == trial
        assert run.strategy == suite.tuning.setting(cells[run.strategy.name].strategy, trial)
        assert run.strategy.lr_g != cells[run.strategy.name].strategy.lr_g  # not the untuned rate
    assert not {r.run_id for r in evals} & {r.run_id for r in suite.runs}


def test_presets_without_tuned_rates_are_named_in_a_warning(monkeypatch):
    from ganopt import Strategy
    from ganopt.strategies import STRATEGIES

    monkeypatch.setitem(STRATEGIES, "never-tuned", Strategy("never-tuned", base="sgd"))
    warnings = suite_from_data({**SMALL, "strategies": ["gd", "never-tuned"]}).warnings
    assert warnings == ("bilinear: no tuned rates for never-tuned (`python -m bench tune`); they run at the "
                        "problem's untuned default rates",)
    assert not suite_from_data(SMALL).warnings


def test_a_plugin_changes_the_ids_of_the_runs_of_its_code_only(tmp_path, monkeypatch):
    """A sweep that loads a plugin keeps the ids of its runs of ganopt's own code (so published
    runs can stand beside a plugin's strategy: --baselines); the runs of a scheme from outside
    ganopt carry the plugin's fingerprint, and a plugin that replaced a registered name marks all."""
    import ganopt.registry
    from ganopt import Scheme, register_scheme
    from ganopt.schemes import SCHEMES

    @register_scheme
    class Outside(Scheme):  # defined here, as a plugin would define it: not ganopt's code
        name = "outside-test"

        def step(self):
            self.stack.field("gd")

    plugin = tmp_path / "noop.py"
    plugin.write_text("# registers nothing: the scheme above stands for the plugin's\n")
    monkeypatch.setattr(ganopt.registry, "_REPLACEMENTS", [])  # whatever earlier tests replaced
    try:
        data = {"problems": ["bilinear"], "strategies": ["gd", "mine"], "seeds": 1, "steps": 3,
                "strategy": {"mine": {"scheme": "outside-test"}}}
        plain = suite_from_data({**data, "strategies": ["gd"]}).runs[0].run_id
        runs = {r.strategy.name: r for r in suite_from_data(data, plugins=[str(plugin)]).runs}
        assert runs["gd"].run_id == plain and "plugins" not in runs["gd"].describe()
        assert runs["mine"].describe()["plugins"]
        monkeypatch.setattr(ganopt.registry, "_REPLACEMENTS", [{"kind": "scheme", "name": "x", "was": "", "now": ""}])
        assert suite_from_data(data, plugins=[str(plugin)]).runs[0].describe()["plugins"]  # gd too
    finally:
        SCHEMES.pop("outside-test", None)
