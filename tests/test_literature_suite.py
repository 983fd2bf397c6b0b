"""The literature suites: they validate, run on a tiny budget through the real CLI, and their
report sets ganopt's numbers beside the published ones with the agreement rule."""

import math

import pandas as pd
import pytest
from helpers import run_bench

from bench.references import Reference, parse_references
from bench.spec import SpecError, build_suite, built_in_references, find_suite


@pytest.mark.parametrize("name", ["literature", "literature-stacked-mnist", "literature-unrolled"])
def test_the_literature_suites_validate_and_every_reference_names_its_source(name):
    suite = build_suite(find_suite(name))
    assert suite.references
    for ref in suite.references:
        assert "Table" in ref.source and ("et al." in ref.source)
        assert ref.strategy in {r.strategy.name for r in suite.runs}
    assert built_in_references(name) == suite.references


def test_the_pacgan_protocol_is_what_the_suite_runs():
    suite = build_suite(find_suite("literature"))
    run = next(r for r in suite.runs if r.problem == "ring8")
    assert run.steps == 400_000 and len({r.seed for r in suite.runs}) == 10
    assert run.options["g_hidden"] == [400] * 4 and run.options["g_batch_norm"] is True
    assert run.options["d_hidden"] == [200] * 3 and run.options["d_maxout"] == 5
    assert run.options["latent_dim"] == 2 and run.options["batch_size"] == 100 and run.options["eval_samples"] == 2500
    s = run.strategy
    assert (s.scheme, s.base, s.lr_g, s.lr_d, s.beta1) == ("simultaneous", "adam", 1e-4, 1e-4, 0.8)
    assert run.lr_schedule == "constant"  # the protocol's, not the mixtures' default decay


@pytest.mark.slow
def test_the_unrolled_gan_protocol_is_what_its_suite_runs_and_its_rows_show_beside_veegans(tmp_path):
    suite = build_suite(find_suite("literature-unrolled"))
    runs = {r.strategy.name: r for r in suite.runs}
    unrolled, gan = runs["metz-unrolled"], runs["metz-gan"]
    assert unrolled.steps == 25_000 and len({r.seed for r in suite.runs}) == 5
    assert unrolled.options["latent_dim"] == 256 and unrolled.options["activation"] == "tanh"
    assert unrolled.options["g_hidden"] == unrolled.options["d_hidden"] == [128, 128]
    assert unrolled.options["batch_size"] == 512 and unrolled.options["eval_samples"] == 2500
    s = unrolled.strategy
    assert (s.scheme, s.base, s.lr_g, s.lr_d, s.beta1, s.value("unroll_steps")) == ("unrolled", "adam", 1e-3, 1e-4,
                                                                                     0.5, 5)
    # the contrast: the same protocol without unrolling
    assert (gan.strategy.scheme, gan.strategy.lr_g, gan.strategy.lr_d, gan.options) == ("simultaneous", 1e-3, 1e-4,
                                                                                       unrolled.options)
    out = tmp_path / "out"
    result = run_bench("run", "--suite", "literature-unrolled", "--steps", "2", "--seeds", "2", "--out", str(out),
                       "--store", str(tmp_path / "s.sqlite"), "--quiet", timeout=600)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out / "literature.csv")
    assert list(table["published"]) == [7.6, 0.356] and (table["strategy"] == "metz-unrolled").all()
    assert "Srivastava et al. 2017 (VEEGAN), Table 1, Unrolled GAN" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_the_literature_suite_runs_on_a_tiny_budget_and_its_report_shows_the_published_column(tmp_path):
    out = tmp_path / "out"
    result = run_bench("run", "--suite", "literature", "--steps", "3", "--seeds", "2", "--out", str(out),
                       "--store", str(tmp_path / "s.sqlite"), "--quiet", timeout=600)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out / "literature.csv")
    assert list(table["published"])[:2] == ["6.3 ± 0.5", "0.982 ± 0.002"]
    assert set(table["problem"]) == {"ring8", "grid25"} and (table["runs"] == 2).all()
    assert set(table["inside"]) <= {"yes", "no"}
    assert "Beside the literature" in (out / "summary.md").read_text()
    assert "Lin et al. 2018 (PacGAN), Table 1" in (out / "report.html").read_text()
    assert "beside the literature" in result.stdout
    # the report rebuilt from the store alone finds the suite's references again
    again = run_bench("report", str(tmp_path / "s.sqlite"), "--suite", "literature", "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert pd.read_csv(tmp_path / "again" / "literature.csv").equals(table)


def test_the_agreement_rule_uses_the_interval_then_the_published_se_then_ganopts():
    assert Reference("p", "s", "m", 6.3, "x", se=0.5).agreement(5.4, 1.0) == ("published ± 2 s.e. [5.3, 7.3]", True)
    assert Reference("p", "s", "m", 6.3, "x", se=0.5).agreement(5.2, 0.01)[1] is False
    assert Reference("p", "s", "m", 6.3, "x", interval=(6.0, 7.0)).agreement(5.9, 0.1)[1] is False
    assert Reference("p", "s", "m", 99, "x").agreement(80.0, 10.0)[1] is True   # |99 - 80| <= 2 x 10
    assert Reference("p", "s", "m", 99, "x").agreement(80.0, 9.0)[1] is False
    assert Reference("p", "s", "m", 99, "x").agreement(80.0, math.nan)[1] is None  # one seed: undecided


@pytest.mark.parametrize("entry, message", [
    ({"strategy": "adam", "metric": "modes_covered", "value": 1, "source": "x"}, "problem is required"),
    ({"problem": "ring8", "strategy": "adam", "metric": "modes", "value": 1, "source": "x"}, "declares no metric"),
    ({"problem": "ring8", "strategy": "nope", "metric": "modes_covered", "value": 1, "source": "x"}, "not one of"),
    ({"problem": "ring8", "strategy": "adam", "metric": "modes_covered", "value": "6", "source": "x"}, "finite number"),
    ({"problem": "ring8", "strategy": "adam", "metric": "modes_covered", "value": 6, "source": " "}, "source"),
    ({"problem": "ring8", "strategy": "adam", "metric": "modes_covered", "value": 6, "source": "x", "se": -1}, "se must"),
    ({"problem": "ring8", "strategy": "adam", "metric": "modes_covered", "value": 6, "source": "x",
      "interval": [7, 6]}, "low <= high"),
    ({"problem": "ring8", "strategy": "adam", "metric": "modes_covered", "value": 6, "source": "x", "sd": 1}, "unknown key"),
])
def test_a_bad_reference_is_refused_with_the_entry_and_key(entry, message):
    with pytest.raises(ValueError, match=message):
        parse_references([entry], "suite.toml", ["ring8"], ["adam"], {"ring8": {"modes_covered"}})


def test_a_suite_with_a_bad_reference_is_a_spec_error(tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text('problems = ["ring8"]\nstrategies = ["adam"]\nseeds = 1\n'
                     '[[reference]]\nproblem = "ring8"\nstrategy = "adam"\nmetric = "modes_covered"\nvalue = 6\n')
    with pytest.raises(SpecError, match="#1: source is required"):
        build_suite(suite)


def test_the_agreement_rule_counts_its_bounds_as_inside_and_names_them_exactly():
    interval = Reference("p", "s", "m", 6.5, "x", interval=(6.0, 7.0))
    assert interval.agreement(6.0, 0.1) == ("published interval [6, 7]", True)
    assert interval.agreement(7.0, 0.1) == ("published interval [6, 7]", True)
    assert interval.agreement(6.5, 0.1) == ("published interval [6, 7]", True)
    assert interval.agreement(math.nan, 0.1) == ("published interval [6, 7]", None)
    assert interval.agreement(math.inf, math.nan) == ("published interval [6, 7]", False)
    published = Reference("p", "s", "m", 6.0, "x", se=0.5)   # [5, 7]
    assert published.agreement(5.0, 1.0) == ("published ± 2 s.e. [5, 7]", True)
    assert published.agreement(7.0, 1.0) == ("published ± 2 s.e. [5, 7]", True)
    assert published.agreement(math.nan, 1.0) == ("published ± 2 s.e. [5, 7]", None)
    ours = Reference("p", "s", "m", 99, "x")
    assert ours.agreement(80.0, 9.5) == ("ganopt ± 2 s.e. [61, 99]", True)    # |99 - 80| = 19 = 2 x 9.5: inside
    assert ours.agreement(80.0, 10.0) == ("ganopt ± 2 s.e. [60, 100]", True)
    assert ours.agreement(math.nan, 1.0) == ("ganopt ± 2 s.e.", None)
    assert ours.agreement(80.0, math.nan) == ("ganopt ± 2 s.e.", None)
    assert ours.agreement(math.inf, 1.0) == ("ganopt ± 2 s.e.", False)       # diverged runs of a distance
    assert ours.agreement(-math.inf, 1.0) == ("ganopt ± 2 s.e.", False)


def test_a_valid_reference_parses_to_exactly_its_fields():
    entry = {"problem": "ring8", "strategy": "adam", "metric": "modes_covered", "value": 6, "source": " Paper, Table 1 "}
    args = (["ring8"], ["adam"], {"ring8": {"modes_covered"}})
    [ref] = parse_references([entry], "suite.toml", *args)
    assert ref == Reference("ring8", "adam", "modes_covered", 6.0, "Paper, Table 1", None, None)
    assert type(ref.value) is float
    [ref] = parse_references([{**entry, "se": 0, "interval": [5, 5]}], "suite.toml", *args)  # zero spread is allowed
    assert ref == Reference("ring8", "adam", "modes_covered", 6.0, "Paper, Table 1", 0.0, (5.0, 5.0))
    [ref] = parse_references([{**entry, "se": 0.5, "interval": [5, 7.5]}], "suite.toml", *args)
    assert (ref.se, ref.interval) == (0.5, (5.0, 7.5)) and type(ref.se) is float and type(ref.interval[0]) is float
    assert parse_references([], "suite.toml", *args) == []


@pytest.mark.parametrize("tables", [{}, {"problem": "ring8"}, [1], [{"problem": "ring8"}, "x"], "ring8"])
def test_a_reference_that_is_not_an_array_of_tables_is_refused(tables):
    with pytest.raises(ValueError, match=r"^suite.toml: reference must be an array of tables \(\[\[reference\]\]\)$"):
        parse_references(tables, "suite.toml", ["ring8"], ["adam"], {"ring8": {"modes_covered"}})


@pytest.mark.parametrize("entry, message", [
    ({"sd": 1}, "suite.toml: [[reference]] #2: unknown key 'sd'; valid: problem, strategy, metric, value, se, "
                "interval, source"),
    ({"problem": "grid25"}, "suite.toml: [[reference]] #2: problem 'grid25' is not one of the suite's: ring8, mnist"),
    ({"strategy": "gd"}, "suite.toml: [[reference]] #2: strategy 'gd' is not one of the suite's: adam, sga"),
    ({"metric": "fid"}, "suite.toml: [[reference]] #2: ring8 declares no metric 'fid'; valid: hq_fraction, modes_covered"),
    ({"interval": [5, 6, 7]}, "suite.toml: [[reference]] #2: interval must be [low, high] with low <= high, "
                              "got [5, 6, 7]"),
    ({"interval": [5]}, "suite.toml: [[reference]] #2: interval must be [low, high] with low <= high, got [5]"),
])
def test_a_bad_reference_message_names_the_entry_and_lists_the_valid_choices(entry, message):
    good = {"problem": "ring8", "strategy": "adam", "metric": "modes_covered", "value": 6, "source": "x"}
    with pytest.raises(ValueError) as raised:
        parse_references([good, {**good, **entry}], "suite.toml", ["ring8", "mnist"], ["adam", "sga"],
                         {"ring8": {"modes_covered", "hq_fraction"}, "mnist": {"fid"}})
    assert str(raised.value) == message


def _scored_runs():
    rows = [  # problem, strategy, status, modes_covered, distance, planned_steps
        ("ring8", "adam", "done", 6.0, 0.2, 1000),
        ("ring8", "adam", "done", 8.0, 0.3, 1000),
        ("ring8", "adam", "diverged", 1.0, math.inf, 1000),   # scored at its worst value: counted
        ("ring8", "adam", "done", math.nan, 0.4, 2000),       # no value: not counted, its budget still shown
        ("ring8", "adam", "failed", 100.0, 0.0, 1000),        # not finished: not counted
        ("ring8", "sga", "done", 100.0, -math.inf, 1000),
        ("grid25", "adam", "done", 100.0, 0.0, 1000),
        ("grid25", "sga", "done", 3.0, 0.0, 5000),
    ]
    return pd.DataFrame(rows, columns=["problem", "strategy", "status", "modes_covered", "distance", "planned_steps"])


def test_the_reference_table_reads_finished_runs_with_diverged_ones_at_their_worst_value():
    from bench.references import reference_table

    refs = [Reference("ring8", "adam", "modes_covered", 5.5, "A et al., Table 1", se=0.5),
            Reference("ring8", "adam", "distance", 0.3, "B et al., Table 2", interval=(0.1, 0.5)),
            Reference("ring8", "sga", "distance", 0.3, "C", se=0.1),
            Reference("grid25", "sga", "modes_covered", 3, "D"),
            Reference("grid25", "gd", "modes_covered", 3, "E", se=1)]
    table = reference_table(_scored_runs(), refs, {"ring8/modes_covered": 2})
    assert list(table.columns) == ["problem", "strategy", "metric", "runs", "steps", "ganopt (mean ± s.e.)", "published",
                                   "agreement rule", "inside", "source"]
    # 6, 8 and 1: mean 5, sample s.d. sqrt(13), s.e. sqrt(13 / 3) = 2.0817
    assert table.iloc[0].to_dict() == {
        "problem": "ring8", "strategy": "adam", "metric": "modes_covered", "runs": 3, "steps": "1,000/2,000",
        "ganopt (mean ± s.e.)": "5.00 ± 2.08", "published": "5.5 ± 0.5", "agreement rule": "published ± 2 s.e. [4.5, 6.5]",
        "inside": "yes", "source": "A et al., Table 1"}
    assert table.iloc[1].to_dict() == {
        "problem": "ring8", "strategy": "adam", "metric": "distance", "runs": 4, "steps": "1,000/2,000",
        "ganopt (mean ± s.e.)": "∞", "published": "0.3", "agreement rule": "published interval [0.1, 0.5]",
        "inside": "no", "source": "B et al., Table 2"}
    assert table.iloc[2][["runs", "steps", "ganopt (mean ± s.e.)", "published", "agreement rule", "inside"]].tolist() == [
        1, "1,000", "−∞", "0.3 ± 0.1", "published ± 2 s.e. [0.1, 0.5]", "no"]
    assert table.iloc[3][["runs", "steps", "ganopt (mean ± s.e.)", "published", "agreement rule", "inside"]].tolist() == [
        1, "5,000", "3.000", "3", "ganopt ± 2 s.e.", "—"]   # one seed: no s.e., undecided
    assert table.iloc[4][["runs", "steps", "ganopt (mean ± s.e.)", "published", "agreement rule", "inside"]].tolist() == [
        0, "—", "—", "3 ± 1", "—", "—"]


def test_the_reference_table_takes_the_steps_column_when_runs_carry_no_planned_steps():
    from bench.references import reference_table

    runs = _scored_runs().rename(columns={"planned_steps": "steps"})
    [row] = reference_table(runs, [Reference("ring8", "adam", "modes_covered", 6, "A", se=1)], {}).to_dict("records")
    assert (row["steps"], row["ganopt (mean ± s.e.)"], row["inside"]) == ("1,000/2,000", "5.000 ± 2.082", "yes")
    [row] = reference_table(runs, [Reference("ring8", "adam", "hq_fraction", 6, "A")], {}).to_dict("records")
    assert (row["runs"], row["ganopt (mean ± s.e.)"], row["inside"]) == (0, "—", "—")   # no such column: no values
    bare = runs.drop(columns="steps")   # no budget column and no run of the reference: nothing to read
    [row] = reference_table(bare, [Reference("grid25", "gd", "modes_covered", 6, "A")], {}).to_dict("records")
    assert (row["runs"], row["steps"], row["inside"]) == (0, "—", "—")


def test_the_reference_table_skips_cells_that_are_not_numbers():
    from bench.references import reference_table

    runs = _scored_runs().astype({"modes_covered": object, "planned_steps": object})
    runs.loc[0, "modes_covered"] = "n/a"    # e.g. read back from a text file
    runs.loc[1, "planned_steps"] = "n/a"
    [row] = reference_table(runs, [Reference("ring8", "adam", "modes_covered", 6, "A", se=1)], {}).to_dict("records")
    assert (row["runs"], row["steps"], row["ganopt (mean ± s.e.)"]) == (2, "1,000/2,000", "4.500 ± 3.500")
