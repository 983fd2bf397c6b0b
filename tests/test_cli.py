"""The real command line, in a subprocess, on tiny grids and on bad input."""

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from helpers import run_bench

from bench.spec import available_suites, build_suite, find_suite


TINY_SUITE = """
name = "tiny"
description = "a tiny grid for tests"
problems = ["ring8", "bilinear"]
strategies = ["adam", "extragradient", "alt-sgd", "mine"]
seeds = 2
steps = 12
eval_every = 4

[problem.ring8]
g_hidden = [16]
d_hidden = [16]
batch_size = 32

[strategy.mine]
like = "alt-adam"
d_steps = 2
lr_g = 0.002
lr_d = 0.004
"""


def bench(*args):
    """The real CLI in a subprocess; every call gets its own store unless --store is given."""
    if "run" in args and "--store" not in args and "--out" in args:
        out = Path(args[args.index("--out") + 1])
        args = (*args, "--store", str(out.parent / f"{out.name}.sqlite"))
    return run_bench(*args)


@pytest.fixture
def tiny_suite(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SUITE)
    return path


@pytest.mark.slow
def test_run_writes_every_table_and_plot(tiny_suite, tmp_path):
    out = tmp_path / "out"
    result = bench("run", "--suite", str(tiny_suite), "--out", str(out))
    assert result.returncode == 0, result.stderr
    for name in ["summary.csv", "curves.csv", "summary.md", "provenance.json",
                 "samples_ring8.png", "mode_overlap_ring8.png", "losses_ring8.png",
                 "trajectory_bilinear.png", "losses_bilinear.png"]:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 * 4 * 2
    for column in ["run_id", "problem", "strategy", "seed", "status", "steps", "grad_evals", "wall_s",
                   "mode_overlap", "modes_covered", "modes_total", "hq_fraction", "kl_modes", "dist_to_eq"]:
        assert column in summary.columns, column
    assert summary["run_id"].is_unique
    assert set(summary["status"]) <= {"done", "diverged"}
    ring = summary[summary["problem"] == "ring8"]
    assert (ring["modes_total"] == 8).all() and ring["dist_to_eq"].isna().all()
    # extragradient pays two gradient evaluations per step; alternating with 2 D-steps pays 1.5
    assert (summary[summary["strategy"] == "extragradient"]["grad_evals"] == 24).all()
    assert (summary[summary["strategy"] == "mine"]["grad_evals"] == 18).all()
    curves = pd.read_csv(out / "curves.csv")
    assert sorted(curves["step"].unique()) == [0, 4, 8, 12]
    assert {"run_id", "step", "grad_evals", "wall_s", "loss_g", "loss_d", "grad_norm_g", "field_norm"} <= set(curves.columns)
    markdown = (out / "summary.md").read_text()
    assert "## ring8" in markdown and "## bilinear" in markdown and "±" in markdown
    assert markdown.count("**Verdict.**") == 2
    assert "mine" in result.stdout  # the terminal table lists the user-defined strategy


def test_problems_flag_shows_the_bilinear_theorem_out_of_the_box(tmp_path):
    out = tmp_path / "games"
    result = bench("run", "--problems", "bilinear", "--strategies", "gd,extragradient", "--seeds", "1", "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = pd.read_csv(out / "summary.csv").set_index("strategy")
    # at its tuned rate (the smallest in the tuning range) gd still spirals out, only slowly; extragradient converges
    assert summary.loc["gd", "dist_to_eq"] > 1.0 and summary.loc["extragradient", "dist_to_eq"] < 0.01


def test_list_names_problems_strategies_and_suites():
    result = bench("list")
    assert result.returncode == 0
    for word in ["ring8", "grid25", "bilinear", "dirac", "extra-adam", "negative-momentum", "quick"]:
        assert word in result.stdout
    # each suite states what its seeds can decide: the smallest p beside Holm's threshold
    assert "design: 6 seeds × 12 comparisons: smallest reachable p 0.0022 ≤ Holm threshold 0.05/12" in result.stdout
    assert "design: 5 seeds × 6 comparisons: smallest reachable p 0.0079 ≤ Holm threshold 0.05/6" in result.stdout


def test_every_built_in_suite_can_decide_what_it_compares():
    from bench.cli import suite_design
    from bench.spec import read_suite_file

    for name, path in available_suites().items():
        design = suite_design(name, read_suite_file(path))
        assert "undecided" not in design and " > Holm" not in design, (name, design)


@pytest.mark.slow
def test_the_games_suite_separates_the_diverging_strategies_from_the_converging(tmp_path):
    out = tmp_path / "games"
    result = bench("run", "--suite", "games", "--out", str(out), "--store", str(tmp_path / "g.sqlite"))
    assert result.returncode == 0, result.stderr
    markdown = (out / "summary.md").read_text()
    for problem in ("bilinear", "dirac"):
        section = markdown.split(f"## {problem}")[1].split("## ")[0]
        rows = {line.split(" | ")[0].strip("| ★=?"): line.split(" | ") for line in section.splitlines()
                if line.startswith("| ") and not line.startswith("| strategy") and not line.startswith("| ---")}
        header = next(line for line in section.splitlines() if line.startswith("| strategy")).split(" | ")
        p_col, fisher_col = header.index("p vs ★ (Holm)"), header.index("reached p vs ★ (Fisher, Holm)")
        for strategy in ("gd", "momentum"):  # 6 seeds, 12 comparisons: 12 x 2/C(12, 6) = 0.026
            assert float(rows[strategy][p_col]) <= 0.05 and float(rows[strategy][fisher_col]) <= 0.05, section
        assert "undecided" not in section and "significantly more often than gd 0/6, momentum 0/6" in section


def test_a_plugin_strategy_runs_against_the_presets(tmp_path):
    plugin = tmp_path / "my_scheme.py"
    plugin.write_text(
        "from ganopt import Scheme, Strategy, register_scheme, register_strategy\n"
        "@register_scheme\n"
        "class DFirst(Scheme):\n"
        "    name = 'd-first-twice'\n"
        "    def step(self):\n"
        "        s = self.stack\n"
        "        for _ in range(2):\n"
        "            _, g = s.field('d'); s.D.move(s.D.direction(g))\n"
        "        g, _ = s.field('g'); s.G.move(s.G.direction(g))\n"
        "register_strategy(Strategy('d-first', scheme='d-first-twice', base='sgd'))\n")
    out = tmp_path / "plugin"
    result = bench("run", "--plugin", str(plugin), "--problems", "bilinear", "--strategies", "d-first,gd",
                   "--seeds", "1", "--steps", "10", "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = pd.read_csv(out / "summary.csv").set_index("strategy")
    assert summary.loc["d-first", "grad_evals"] == 15  # 2 D-gradients + 1 G-gradient = 1.5 per step


@pytest.mark.slow
def test_the_example_suite_sets_the_plugins_own_hyperparameters_from_toml(tmp_path):
    out, store = tmp_path / "example", tmp_path / "example.sqlite"
    result = bench("run", "--suite", "examples/my_suite.toml", "--problems", "bilinear", "--seeds", "1",
                   "--steps", "20", "--store", str(store), "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = pd.read_csv(out / "summary.csv").set_index("strategy")
    assert set(summary["status"]) == {"done"}
    with sqlite3.connect(store) as db:
        specs = {name: json.loads(spec)["settings"] for name, spec in db.execute("SELECT strategy, spec FROM runs")}
    assert specs["rmsprop-slow"]["base"] == "rmsprop" and specs["rmsprop-slow"]["hyper"] == {"alpha": 0.999}
    assert specs["d-first-3"]["hyper"] == {"d_first": 3}
    assert specs["consensus-rmsprop"]["hyper"] == {"alpha": 0.99, "gamma": 10.0}
    assert summary.loc["d-first-3", "grad_evals"] == 20 * 2  # 3 D-gradients and 1 G-gradient, ½ each
    assert summary.loc["consensus-rmsprop", "grad_evals"] == 20 * 3  # the field and one product (2)


@pytest.mark.slow
def test_perf_times_new_and_plugin_schemes_with_any_registered_base_update(tmp_path):
    out = tmp_path / "perf"
    result = bench("perf", "--plugin", "examples/my_strategies.py", "--problems", "bilinear", "--k", "1,2",
                   "--schemes", "d-first,cgd,lookahead", "--bases", "rmsprop,sgd", "--seconds", "0.05",
                   "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = pd.read_csv(out / "perf.csv")
    timed = set(zip(rows["scheme"], rows["base"]))
    assert timed == {("d-first", "rmsprop"), ("d-first", "sgd"), ("cgd", "sgd"), ("lookahead", "rmsprop"),
                     ("lookahead", "sgd")}  # cgd refuses rmsprop and says so
    assert "cgd does not work with rmsprop: skipped" in result.stdout
    cgd = rows[rows["scheme"] == "cgd"]
    assert (cgd["grad_evals_per_step"] == 1 + 2 * (4 + 4 * 5)).all()
    bad = bench("perf", "--schemes", "consensos", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "unknown scheme 'consensos'" in bad.stderr and "consensus" in bad.stderr


BAD_SUITES = {
    "malformed": ("problems = [ring8", "malformed TOML"),
    "unknown key": ('problems = ["ring8"]\nstrategies = ["adam"]\nstepz = 3', "unknown key 'stepz'"),
    "unknown problem": ('problems = ["ring9"]\nstrategies = ["adam"]', "unknown problem 'ring9'"),
    "unknown strategy": ('problems = ["ring8"]\nstrategies = ["adma"]', "did you mean 'adam'"),
    "zero lr": ('problems = ["ring8"]\nstrategies = ["z"]\n[strategy.z]\nlr_g = 0.0', "lr_g must be a positive number"),
    "negative lr": ('problems = ["ring8"]\nstrategies = ["z"]\n[strategy.z]\nlike = "adam"\nlr_d = -1e-3', "lr_d must be a positive number"),
    "bad option": ('problems = ["ring8"]\nstrategies = ["adam"]\n[problem.ring8]\nwidth = 3', "unknown option 'width'"),
    "bad preset": ('problems = ["ring8"]\nstrategies = ["adam"]\n[problem.ring8]\npreset = "r7"', "unknown preset 'r7'"),
    "bad beta": ('problems = ["ring8"]\nstrategies = ["m"]\n[strategy.m]\nbase = "momentum"\nbeta = 1.5', "beta must lie in"),
    "bad scheme": ('problems = ["ring8"]\nstrategies = ["m"]\n[strategy.m]\nscheme = "sideways"', "unknown scheme 'sideways'"),
    "missing classifier": ('problems = ["mnist"]\nstrategies = ["adam"]\n[problem.mnist]\nclassifier = "nope.npz"',
                           "nope.npz: classifier weights or their nope.json not found"),
    "missing data folder": ('problems = ["mnist"]\nstrategies = ["adam"]\n[problem.mnist]\ndata_dir = "no-digits"',
                            "no-digits: data folder not found"),
}


@pytest.mark.parametrize("case", BAD_SUITES)
def test_bad_suites_exit_2_with_one_clear_line_and_write_nothing(case, tmp_path):
    text, message = BAD_SUITES[case]
    suite = tmp_path / "bad.toml"
    suite.write_text(text)
    out = tmp_path / "out"
    result = bench("run", "--suite", str(suite), "--out", str(out))
    assert result.returncode == 2
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not out.exists() and not (tmp_path / "out.sqlite").exists()


@pytest.mark.slow
def test_other_bad_inputs_exit_2_with_one_line(tmp_path):
    not_utf8 = tmp_path / "latin1.toml"
    not_utf8.write_bytes(b'name = "\xff"\n')
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\nsys.exit(0)\n")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [
        (["--suite", str(not_utf8)], "not UTF-8"),
        (["--plugin", str(exits), "--problems", "bilinear"], "plugin"),
        (["--problems", "bilinear", "--out", str(a_file)], "is not a directory"),
        (["--problems", "bilinear", "--store", str(a_file / "s.sqlite")], "cannot create the folder"),
        (["--problems", "bilinear", "--store", str(tmp_path)], "is a directory"),
    ]
    for args, message in cases:
        if "--out" not in args:
            args = [*args, "--out", str(tmp_path / "out")]
        result = bench("run", *args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_diverged_runs_score_the_worst_value_in_the_summary(tmp_path):
    suite = tmp_path / "diverge.toml"
    suite.write_text('problems = ["ring8"]\nstrategies = ["adam", "boom"]\nseeds = 2\nsteps = 10\n'
                     '[problem.ring8]\ng_hidden = [16]\nd_hidden = [16]\nbatch_size = 32\n'
                     '[strategy.boom]\nlike = "sgd"\nlr_g = 1e30\nlr_d = 1e30\n')
    out = tmp_path / "out"
    result = bench("run", "--suite", str(suite), "--out", str(out))
    assert result.returncode == 0, result.stderr  # divergence is a result, not a failure
    summary = pd.read_csv(out / "summary.csv")
    boom = summary[summary["strategy"] == "boom"]
    assert (boom["status"] == "diverged").all() and boom["diverged_step"].notna().all()
    lines = (out / "summary.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| strategy"))
    boom_row = next(line for line in lines if line.startswith("| boom"))
    row = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in boom_row.split("|")]))
    assert (row["runs"], row["diverged"], row["failed"]) == ("2", "2", "0")
    assert row["mode overlap (1 − TV)"] == "0.000 ± 0.000"  # each metric's declared worst value
    assert row["modes covered (lit.)"] == "0.0 ± 0.0"
    assert row["high-quality fraction (lit.)"] == "0.000 ± 0.000"
    assert row["KL(modes ‖ uniform) (lit.)"] == "2.079 ± 0.000"  # log 8
    assert "boom ★" not in (out / "summary.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--suite", "quik"], "unknown suite 'quik'"),
    (["--problems", "ring8,nope"], "unknown problem 'nope'"),
    (["--strategies", "adam,sgdd"], "unknown strategy 'sgdd'"),
    (["--steps", "0"], "--steps must be an integer >= 1"),
    (["--seeds", "-2"], "--seeds must be an integer >= 1"),
    (["--device", "tpu"], "invalid choice"),
    (["--suite", "missing.toml"], "does not exist"),
])
def test_bad_flags_exit_2_and_write_nothing(args, message, tmp_path):
    out = tmp_path / "out"
    result = bench("run", *args, "--out", str(out))
    assert result.returncode == 2
    assert message in result.stderr, result.stderr
    assert not out.exists() and not (tmp_path / "out.sqlite").exists()


@pytest.mark.parametrize("name", sorted(available_suites()))
def test_every_built_in_suite_is_valid(name):
    """Every shipped suite passes validation (problem options included) and names itself."""
    suite = build_suite(find_suite(name))
    assert suite.name == name and suite.runs and suite.description
