"""The GitHub workflow's commands, run for real on a short budget: its one script checks the exact
counters, runs the quick suite on this checkout and on a base commit, compares them, and times
the two alternately (A/B)."""

import subprocess

import pytest
from helpers import ENV, ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "bench.yml"
SCRIPT = ROOT / "benchmarks" / "ci_gate.sh"


def in_git_checkout() -> bool:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode == 0
    except OSError:
        return False


def test_the_workflow_runs_the_gate_script_with_a_cpu_build_of_torch():
    text = WORKFLOW.read_text()
    assert "benchmarks/ci_gate.sh origin/main" in text
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in text
    assert "fetch-depth: 0" in text  # the worktree of origin/main needs the history


@pytest.mark.slow
@pytest.mark.skipif(not in_git_checkout(), reason="the gate checks out its base commit with git worktree")
def test_the_gate_script_runs_end_to_end_against_head(tmp_path):
    out = tmp_path / "ci"
    env = {**ENV, "GANOPT_CI_STEPS": "20", "GANOPT_CI_OUT": str(out),
           "GANOPT_CI_AB": "--schemes simultaneous --rounds 1 --seconds 0.01"}
    result = subprocess.run([str(SCRIPT), "HEAD"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for side in ("change", "base"):
        assert (out / side / "summary.csv").is_file()
    assert "no significant regression" in result.stderr
    assert "exact counters: 10 step(s) x 6 counters equal" in result.stdout
    assert "no step significantly slower than the base" in result.stderr
    assert "A/B step times" in (out / "ab.txt").read_text()
    listed = subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True).stdout
    assert str(out / "base-src") not in listed  # the base worktree is removed again
