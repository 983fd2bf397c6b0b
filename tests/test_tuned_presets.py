"""The tuned learning-rate table: what `bench tune` writes, that it is complete for the problems
it covers, and that suites load it (so changing an entry changes the run ids)."""

import json
from pathlib import Path
import math

import pytest
from helpers import run_bench

import ganopt.tuned
from bench.spec import build_suite, find_suite, read_suite_file
from ganopt import get_problem
from ganopt.strategies import PRESETS
from ganopt.tuned import TUNED_PATH, tuned_table

TABLE = json.loads(TUNED_PATH.read_text())
# the problems the table must hold (each tuned for every preset its tuning suite lists, below)
COMPLETE = ("bilinear", "dirac", "grid25", "grid25-wide", "mnist", "ring8", "ring8-r2", "stacked-mnist")


def _score(trial):
    return math.inf if trial["score"] == "inf" else -math.inf if trial["score"] == "-inf" else trial["score"]


@pytest.mark.parametrize("problem", sorted(TABLE["problems"]))
def test_the_committed_table_covers_every_preset_with_every_trial_and_its_provenance(problem):
    entry = TABLE["problems"][problem]
    provenance = entry["provenance"]
    # the entry holds every preset its tuning suite tunes, and only those
    tuned_by = read_suite_file(find_suite(provenance["suite"]))["strategies"]
    assert set(tuned_by) <= set(PRESETS)
    assert set(entry["strategies"]) == set(tuned_by)
    for key in ("command", "git_commit", "steps", "trials", "lr_range", "tune_seeds", "cpu", "date", "options"):
        assert provenance.get(key) is not None, key
    for name, tuned in entry["strategies"].items():
        trials = tuned["trials"]
        assert len(trials) == provenance["trials"], name
        # the chosen trial is the best by the problem's primary metric
        best = max if get_problem(problem).primary.higher_is_better else min
        assert _score(next(t for t in trials if t["trial"] == tuned["trial"])) == best(_score(t) for t in trials)
        assert (tuned["lr_g"], tuned["lr_d"]) == next((t["lr_g"], t["lr_d"]) for t in trials if t["trial"] == tuned["trial"])


def test_the_problems_tuned_in_full_are_in_the_table():
    assert set(COMPLETE) <= set(TABLE["problems"])


def test_the_games_suite_runs_the_presets_at_their_tuned_rates():
    suite = build_suite(find_suite("games"))
    for run in suite.runs:
        tuned = TABLE["problems"][run.problem]["strategies"][run.strategy.name]
        assert (run.strategy.lr_g, run.strategy.lr_d) == (tuned["lr_g"], tuned["lr_d"])


def test_changing_an_entry_changes_the_run_ids_and_a_suite_can_still_override(monkeypatch, tmp_path):
    before = {r.run_id for r in build_suite(find_suite("games")).runs}
    changed = json.loads(TUNED_PATH.read_text())
    changed["problems"]["bilinear"]["strategies"]["gd"]["lr_g"] *= 2
    table = tmp_path / "tuned.json"
    table.write_text(json.dumps(changed))
    monkeypatch.setattr(ganopt.tuned, "TUNED_PATH", table)
    monkeypatch.setattr(ganopt.tuned, "tuned_table", lambda path=table: json.loads(table.read_text()))
    after = build_suite(find_suite("games"))
    moved = [r for r in after.runs if r.run_id not in before]
    assert moved and {(r.problem, r.strategy.name) for r in moved} == {("bilinear", "gd")}
    suite = tmp_path / "own.toml"
    suite.write_text('problems = ["bilinear"]\nstrategies = ["gd", "my-gd"]\nseeds = 1\n'
                     '[strategy.my-gd]\nlike = "gd"\n')
    runs = {r.strategy.name: r.strategy for r in build_suite(suite).runs}
    assert runs["gd"].lr_g == changed["problems"]["bilinear"]["strategies"]["gd"]["lr_g"]
    assert runs["my-gd"].lr_g == 0.1  # a strategy of one's own starts from the problem's default
    untuned = {r.strategy.name: r.strategy for r in build_suite(suite, use_tuned=False).runs}
    assert untuned["gd"].lr_g == 0.1


def test_bench_tune_writes_a_table_with_every_trial(tmp_path):
    suite = tmp_path / "tune.toml"
    suite.write_text('name = "t"\nproblems = ["bilinear"]\nstrategies = ["gd", "extragradient"]\nseeds = 1\n'
                     'steps = 60\neval_every = 20\n[tuning]\ntrials = 3\nlr_range = [0.5, 4.0]\ntune_seeds = [7, 8]\n')
    table = tmp_path / "tuned.json"
    result = run_bench("tune", "--suite", str(suite), "--table", str(table), "--store", str(tmp_path / "s.sqlite"))
    assert result.returncode == 0, result.stderr
    written = json.loads(table.read_text())["problems"]["bilinear"]
    assert written["provenance"]["steps"] == 60 and written["provenance"]["tune_seeds"] == [7, 8]
    eg = written["strategies"]["extragradient"]
    assert len(eg["trials"]) == 3 and eg["runs_per_trial"] == 2
    # extragradient converges on the bilinear game: its best trial is the largest step
    assert eg["lr_g"] == max(t["lr_g"] for t in eg["trials"])
    assert "extragradient" in result.stdout and tuned_table() is not None


@pytest.mark.slow
def test_bench_tune_adds_presets_to_a_problem_tuned_under_the_same_protocol(tmp_path):
    suite = tmp_path / "tune.toml"
    protocol = ('name = "t"\nproblems = ["bilinear"]\nseeds = 1\nsteps = 40\neval_every = 20\n'
                '[tuning]\ntrials = 2\nlr_range = [0.5, 2.0]\ntune_seeds = [7]\n')
    table, store = tmp_path / "tuned.json", str(tmp_path / "s.sqlite")

    def tune(*strategies, steps="40"):
        chosen = f"strategies = {list(strategies)!r}\n".replace("'", '"')
        suite.write_text(chosen + protocol.replace("steps = 40", f"steps = {steps}"))
        result = run_bench("tune", "--suite", str(suite), "--table", str(table), "--store", store)
        assert result.returncode == 0, result.stderr
        return json.loads(table.read_text())["problems"]["bilinear"], result.stderr

    first, _ = tune("gd", "extragradient")
    merged, said = tune("extragradient", "optimistic")
    assert set(merged["strategies"]) == {"gd", "extragradient", "optimistic"}
    assert merged["strategies"]["gd"] == first["strategies"]["gd"]  # kept as it was
    assert [u["strategies"] for u in merged["provenance"]["updates"]] == [["extragradient", "optimistic"]]
    assert "tuned 2 presets under the recorded protocol, kept 1" in said
    # another budget is another protocol: the entry is replaced, and the presets it loses are named
    replaced, said = tune("optimistic", steps="60")
    assert set(replaced["strategies"]) == {"optimistic"} and "updates" not in replaced["provenance"]
    assert "replaced the entry tuned with other steps; dropped extragradient, gd" in said


def test_rates_tuned_for_other_models_are_not_applied_and_the_suite_says_so(tmp_path):
    suite = tmp_path / "other-nets.toml"
    suite.write_text('problems = ["bilinear"]\nstrategies = ["gd"]\nseeds = 1\n[problem.bilinear]\ndim = 3\n')
    built = build_suite(suite)
    assert built.runs[0].strategy.lr_g == 0.1  # the problem's default, not the rate tuned for dim 2
    assert any("bilinear" in w and "dim 3 (tuned with 2)" in w and "untuned" in w for w in built.warnings)
    # options that only change the evaluation keep the tuned rates
    same = tmp_path / "same.toml"
    same.write_text('problems = ["bilinear"]\nstrategies = ["gd"]\nseeds = 1\n[problem.bilinear]\ndim = 2\n')
    assert build_suite(same).runs[0].strategy.lr_g == TABLE["problems"]["bilinear"]["strategies"]["gd"]["lr_g"]
    assert not build_suite(same).warnings


@pytest.mark.parametrize("problem", sorted(TABLE["problems"]))
def test_each_tuned_problem_records_the_options_it_was_tuned_with(problem):
    from ganopt.tuned import training_options
    provenance = TABLE["problems"][problem]["provenance"]
    # the table holds the rates for the models its tuning suite trains: the problem's defaults, or
    # (image problems) the CPU suite's pair, set in the tuning suite's [problem.NAME]
    given = read_suite_file(find_suite(provenance["suite"])).get("problem", {}).get(problem, {})
    recorded = get_problem(problem).check_options(provenance["options"])  # options added since: defaults (ganopt.tuned)
    assert training_options(recorded) == training_options(get_problem(problem).check_options(given))


@pytest.mark.parametrize("suite", ["mnist", "stacked-mnist"])
def test_the_image_suites_run_their_presets_at_the_rates_tuned_for_their_pair(suite):
    built = build_suite(find_suite(suite))
    assert not built.warnings
    for run in built.runs:
        tuned = TABLE["problems"][run.problem]["strategies"][run.strategy.name]
        assert (run.strategy.lr_g, run.strategy.lr_d) == (tuned["lr_g"], tuned["lr_d"])
    # the GPU suite trains the DCGAN pair, which the table does not cover: default rates, said so
    gpu = build_suite(find_suite(f"{suite}-gpu"))
    assert any("untuned" in w for w in gpu.warnings)
    assert {r.strategy.lr_g for r in gpu.runs} == {get_problem(gpu.runs[0].problem).default_lr(gpu.runs[0].options)["adam"]}


def test_an_entry_recorded_before_a_setting_existed_merges_when_the_defaults_match(tmp_path):
    """An older table records no schedule (read as constant) and lacks options added since (read
    as their defaults), as ganopt.tuned reads them: tuning more presets keeps its presets."""
    from bench import presets

    options = get_problem("bilinear").check_options({})
    protocol = {"suite": "t", "steps": 40, "trials": 2, "lr_range": [0.5, 2.0], "ratio_range": [1.0, 10.0],
                "tune_seeds": [7]}
    old_options = {k: v for k, v in options.items() if k != sorted(options)[0]}  # one option not yet recorded
    entry = {"lr_g": 0.1, "lr_d": 0.1, "trial": 0, "metric": "dist_to_eq", "score": 1.0, "reached_target": 0,
             "runs_per_trial": 1, "trials": []}
    table = tmp_path / "tuned.json"
    table.write_text(json.dumps({"problems": {"bilinear": {"provenance": {**protocol, "options": old_options},
                                                            "strategies": {"gd": entry}}}}))
    said = presets.write_table(table, {"bilinear": {"sgd": entry}}, {**protocol, "lr_schedule": "constant"},
                               {"bilinear": options})
    assert set(json.loads(table.read_text())["problems"]["bilinear"]["strategies"]) == {"gd", "sgd"}, said
    # a schedule really different from the recorded one replaces the entry, and says what was lost
    said = presets.write_table(table, {"bilinear": {"sgd": entry}}, {**protocol, "lr_schedule": "linear-decay"},
                               {"bilinear": options})
    assert said == ["bilinear: replaced the entry tuned with other lr_schedule (not recorded); dropped gd"]


def test_a_tuned_rate_at_the_edge_of_its_range_is_said_wherever_it_is_shown():
    """Issue 30, item 4: a chosen rate that is the smallest or largest tried is marked (⇤ ⇥) in
    the generated tables, for every committed entry, and named by `bench tune`'s summary."""
    from bench.presets import summary_lines
    from ganopt.tuned import range_edge, tuned_table

    def entry(chosen, tried):
        return {"lr_g": chosen, "lr_d": chosen, "metric": "m", "score": 1.0, "reached_target": 1,
                "trials": [{"lr_g": t, "lr_d": t} for t in tried]}

    assert range_edge(entry(0.1, [0.1, 0.2, 0.4])) == "lowest"
    assert range_edge(entry(0.4, [0.1, 0.2, 0.4])) == "highest"
    assert range_edge(entry(0.2, [0.1, 0.2, 0.4])) is None
    assert range_edge(entry(0.2, [0.2, 0.2])) is None  # one rate (the ratio tuned): no range
    assert "the highest rate tried" in summary_lines({"p": {"s": entry(0.4, [0.1, 0.4])}})[0]
    page = (Path(__file__).resolve().parent.parent / "docs" / "strategies.md").read_text()
    marked = 0
    for problem, data in tuned_table()["problems"].items():
        for name, e in data["strategies"].items():
            edge = range_edge(e)
            rows = [line for line in page.splitlines() if line.startswith(f"| `{name}` |")]
            if edge and rows:
                marked += 1
                assert any({"lowest": "⇤", "highest": "⇥"}[edge] in row for row in rows), (problem, name)
    assert marked > 0  # the committed table has such rates today, and each is marked
