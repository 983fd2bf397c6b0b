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
