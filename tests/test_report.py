"""The report and the compare gate on results the real CLI wrote."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

SUITE = """
name = "tiny-report"
problems = ["ring8", "bilinear"]
strategies = ["adam", "extragradient", "gd"]
seeds = 3
steps = 30
eval_every = 10

[problem.ring8]
g_hidden = [16]
d_hidden = [16]
batch_size = 32
"""


def bench(*args):
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env=ENV)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    suite = base / "suite.toml"
    suite.write_text(SUITE)
    store = base / "store.sqlite"
    result = bench("run", "--suite", str(suite), "--store", str(store), "--out", str(base / "run"))
    assert result.returncode == 0, result.stderr
    return base, store


def test_report_regenerates_every_file_from_the_store(results):
    base, store = results
    out = base / "again"
    result = bench("report", str(store), "--suite", "tiny-report", "--out", str(out))
    assert result.returncode == 0, result.stderr
    for name in ["summary.csv", "curves.csv", "summary.md", "report.html", "provenance.json",
                 "samples_ring8.png", "coverage_ring8.png", "trajectory_bilinear.png", "distance_bilinear.png",
                 "performance_profile.png"]:
        assert (out / name).stat().st_size > 0, name
    first = pd.read_csv(base / "run" / "summary.csv").sort_values("run_id", ignore_index=True)
    again = pd.read_csv(out / "summary.csv").sort_values("run_id", ignore_index=True)
    pd.testing.assert_frame_equal(first, again)
    markdown = (out / "summary.md").read_text()
    assert "95% CI" in markdown and "p vs ★" in markdown and "★" in markdown and "at 30 evals" in markdown


def test_html_report_is_self_contained(results):
    base, _ = results
    page = (base / "run" / "report.html").read_text()
    assert "<table>" in page and page.count("data:image/png;base64,") >= 6
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page), "no external resource may be loaded"
    assert "http://" not in page and "https://" not in page


def test_compare_is_quiet_on_the_same_code_and_flags_a_planted_regression(results, tmp_path):
    base, store = results
    rerun = tmp_path / "rerun.sqlite"
    again = bench("run", "--suite", str(base / "suite.toml"), "--store", str(rerun), "--out", str(tmp_path / "o"))
    assert again.returncode == 0, again.stderr
    same = bench("compare", str(store), str(rerun))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no significant regression" in same.stderr

    planted = tmp_path / "planted"
    shutil.copytree(base / "run", planted)
    summary = pd.read_csv(planted / "summary.csv")
    worse = (summary["strategy"] == "adam") & (summary["problem"] == "ring8")
    summary.loc[worse, "hq_fraction"] = summary.loc[worse, "hq_fraction"] - 0.5
    summary.to_csv(planted / "summary.csv", index=False)
    flagged = bench("compare", str(base / "run"), str(planted))
    assert flagged.returncode == 1
    assert "ring8 · adam · hq_fraction" in flagged.stderr
    assert "1 significant regression" in flagged.stderr
