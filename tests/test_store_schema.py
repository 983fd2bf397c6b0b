"""The store keeps metrics in long form with each problem's declarations: a v1 store migrates in
place with nothing lost, a newer schema is refused in one line, and a plugin problem's own metric
reaches the summary, the HTML report and `compare` with no change to the harness."""

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from helpers import run_bench

from bench.results import load_results
from bench.store import SCHEMA_VERSION, Store, StoreError

FIXTURE = Path(__file__).parent / "fixtures" / "store_v1.sqlite"  # written by results schema v1
FIXTURE_SUMMARY = FIXTURE.with_name("store_v1_summary.csv")  # the summary.csv v1 wrote from it
V1_METRICS = ["loss_g", "loss_d", "grad_norm_g", "grad_norm_d", "field_norm", "modes_covered", "modes_total",
              "hq_fraction", "kl_modes", "dist_to_eq", "confidence", "fid"]


def test_a_v1_store_migrates_in_place_and_reports_the_same_numbers(tmp_path):
    store = tmp_path / "old.sqlite"
    shutil.copy(FIXTURE, store)
    with sqlite3.connect(store) as con:
        v1_records = con.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    result = run_bench("report", str(store), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(store) as con:  # `report` only reads: it migrated a copy in memory
        assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"
    Store(store).close()  # opened for writing (as `run` does), the file itself is migrated
    with sqlite3.connect(store) as con:
        assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
        assert con.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] == v1_records
    old = pd.read_csv(FIXTURE_SUMMARY).set_index("run_id").sort_index()
    with Store(store) as opened:
        new = opened.runs_frame().set_index("run_id").sort_index()
    assert list(new.index) == list(old.index)
    for column in V1_METRICS + ["wall_s", "grad_evals", "steps", "status", "lr_g", "seed"]:
        pd.testing.assert_series_equal(new[column], old[column], check_dtype=False, obj=column)
    # the report of the migrated store shows v1's numbers under v1's headline
    markdown = (tmp_path / "out" / "summary.md").read_text()
    adam = old[(old["problem"] == "ring8") & (old["strategy"] == "adam")]["modes_covered"]
    assert f"{adam.mean():.1f} ± {adam.std() / len(adam) ** 0.5:.1f}" in markdown
    assert "modes covered (of 8)" in markdown


def test_a_store_of_a_newer_or_unknown_schema_is_refused_in_one_line(tmp_path):
    for value, words in [("3", "upgrade ganopt"), ("abc", "unknown schema")]:
        store = tmp_path / f"s{value}.sqlite"
        Store(store).close()
        with sqlite3.connect(store) as con:
            con.execute("UPDATE meta SET value=? WHERE key='schema_version'", (value,))
        result = run_bench("report", str(store), "--out", str(tmp_path / "o"))
        assert result.returncode == 2, result.stderr
        assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


PLUGIN = '''
import torch
from ganopt import Game, Problem, register_problem
from ganopt.metrics import Metric, Target


class Quadratic(Game):
    """min_x max_y x^2/2 + x y - y^2/2 per run: a game whose equilibrium is the origin."""

    def __init__(self, seeds):
        self.theta = [torch.ones(len(seeds), 1, dtype=torch.float64, requires_grad=True)]
        self.phi = [torch.full((len(seeds), 1), 0.5, dtype=torch.float64, requires_grad=True)]

    def losses(self, draw, need):
        x, y = self.theta[0][:, 0], self.phi[0][:, 0]
        f = x * x / 2 + x * y - y * y / 2
        return (f if "g" in need else None), (-f if "d" in need else None)

    @torch.no_grad()
    def evaluate(self):
        return {"gap": (self.theta[0].abs() + self.phi[0].abs())[:, 0].double(),
                "sign_x": torch.sign(self.theta[0][:, 0]).double()}


class QuadraticProblem(Problem):
    def build(self, options, seeds, full_batch, device):
        return Quadratic(seeds)


register_problem(QuadraticProblem(
    name="quadratic", description="a plugin problem with a metric of its own", steps=20, eval_every=5,
    lr={"sgd": 0.1, "momentum": 0.1, "adam": 0.05},
    metrics=(Metric("gap", "plugin gap |x| + |y|", higher_is_better=False, diverged=float("inf"), primary=True,
                    log=True, tolerance=0.1, plot=True),
             Metric("sign_x", "sign of x", show=False)),
    target=Target("gap <= 0.01", "gap ≤ 0.01")))
'''


@pytest.mark.slow
def test_a_plugin_problem_with_its_own_metric_is_reported_and_compared(tmp_path):
    plugin = tmp_path / "quadratic.py"
    plugin.write_text(PLUGIN)
    stores = []
    for name in ("base", "change"):
        store = tmp_path / f"{name}.sqlite"
        result = run_bench("run", "--plugin", str(plugin), "--problems", "quadratic", "--strategies", "gd,adam",
                           "--seeds", "2", "--store", str(store), "--out", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
        stores.append(store)
    out = tmp_path / "base"
    summary = pd.read_csv(out / "summary.csv")
    assert summary["gap"].notna().all() and (summary["gap"] < 1.5).all()
    page = (out / "report.html").read_text()
    assert "plugin gap |x| + |y|" in page and "Verdict." in page
    assert (out / "gap_quadratic.png").stat().st_size > 0
    assert json.loads((out / "declarations.json").read_text())["quadratic"]["target"]["query"] == "gap <= 0.01"
    compared = run_bench("compare", str(stores[0]), str(stores[1]))
    assert compared.returncode == 0, compared.stderr
    assert "gap" in compared.stdout
    # the store carries the declarations: a report needs no plugin
    again = run_bench("report", str(stores[0]), "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert "plugin gap |x| + |y|" in (tmp_path / "again" / "summary.md").read_text()


@pytest.mark.slow
def test_results_load_as_tidy_frames_from_a_store_and_from_a_report_folder(tmp_path):
    store = tmp_path / "old.sqlite"
    shutil.copy(FIXTURE, store)
    from_store = load_results(store, suite="v1fixture")
    assert len(from_store.runs) == 18 and set(from_store.runs["problem"]) == {"ring8", "dirac", "mnist"}
    assert {"run_id", "problem", "strategy", "seed", "step", "grad_evals", "wall_s", "modes_covered"} <= set(
        from_store.curves.columns)
    assert from_store.primary("dirac") == "dist_to_eq"
    metrics = from_store.metrics.set_index(["problem", "name"])
    assert metrics.loc[("ring8", "modes_covered"), "primary"] and not metrics.loc[("ring8", "kl_modes"), "primary"]
    assert run_bench("report", str(store), "--out", str(tmp_path / "out")).returncode == 0
    from_folder = load_results(tmp_path / "out")
    pd.testing.assert_frame_equal(from_folder.runs[["run_id", "modes_covered"]].sort_values("run_id", ignore_index=True),
                                  from_store.runs[["run_id", "modes_covered"]].sort_values("run_id", ignore_index=True))


@pytest.mark.parametrize("n", [3])
def test_concurrent_openers_of_a_new_store_create_it_once(tmp_path, n):
    import multiprocessing

    path = tmp_path / "race.sqlite"
    with multiprocessing.get_context("spawn").Pool(n) as pool:
        pool.map(_open_store, [str(path)] * n)
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT COUNT(*) FROM meta WHERE key='schema_version'").fetchone()[0] == 1


def _open_store(path: str) -> None:
    Store(Path(path)).close()


def test_older_declarations_read_as_the_harness_then_drew_and_labelled_them():
    """Declarations stored before Metric.plot named a drawing (a boolean) take what the harness
    decided by name then: the same plots and labels from an older store."""
    import dataclasses

    from ganopt import declarations, get_problem
    from ganopt.metrics import declarations_from_json, declarations_to_json

    def older(problem):  # the JSON an earlier ganopt stored: plot a boolean, no `of`, no `per_stack`
        data = declarations_to_json(declarations(get_problem(problem)), get_problem(problem).target)
        order = {"loss_g": 0, "loss_d": 1}
        metrics = [{**{k: v for k, v in m.items() if k not in ("of", "per_stack")}, "plot": m["plot"] == "curve"}
                   for m in data["metrics"]]
        losses = iter(sorted((m for m in metrics if m["name"] in order), key=lambda m: order[m["name"]]))
        data["metrics"] = [next(losses) if m["name"] in order else m for m in metrics]  # loss_g was first
        return data

    for problem in ("bilinear", "ring8"):
        now = declarations(get_problem(problem))
        metrics, _ = declarations_from_json(older(problem))
        assert [dataclasses.astuple(m) for m in metrics] == [dataclasses.astuple(m) for m in now], problem
    # a count out of a total: the literature's modes_covered
    metrics, _ = declarations_from_json(older("ring8"))
    assert next(m for m in metrics if m.name == "modes_covered").of == "modes_total"


def test_a_metric_declares_its_plot_from_a_fixed_vocabulary():
    from ganopt.metrics import PLOTS, Metric

    assert Metric("a", "a", plot=True).plot == "curve" and Metric("a", "a", plot=False).plot == ""
    assert {"", "curve", "loss", "trajectory", "rotation"} <= set(PLOTS)
    with pytest.raises(ValueError, match="plot must be one of"):
        Metric("a", "a", plot="scatter")


@pytest.mark.parametrize("damage, message", [
    ("DROP TABLE metric_values", "lacks the table 'metric_values'"),
    ("ALTER TABLE runs DROP COLUMN provenance", "lacks the column provenance of table 'runs'"),
])
@pytest.mark.parametrize("readonly", [False, True])
def test_a_v2_store_missing_part_of_its_schema_is_refused_when_opened(tmp_path, damage, message, readonly):
    """Issue 28, item 16: a store labelled v2 without a table or a column is one clear error at
    open (for `run` before anything trains, for `report` instead of a pandas traceback)."""
    path = tmp_path / "s.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute(damage)
    with pytest.raises(StoreError, match=f"says results schema v2 but {message}"):
        Store(path, readonly=readonly)
