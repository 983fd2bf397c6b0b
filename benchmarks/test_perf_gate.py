"""The performance gate of benchmarks/ci_gate.sh, part by part (docs/speed.md#gating-your-changes):

- the exact counters (bench.counts) of this checkout equal benchmarks/counts.json, on any CPU;
- planted changes in a scratch copy of the code (the hidden layers' matmuls computed twice; one
  extra gradient evaluation per step) fail `bench counts --check`, naming the counters, and an
  unchanged copy passes it;
- the A/B decision (bench.abtest) flags a consistent slowdown past its effect size and nothing
  else (synthetic times: the timing itself is measured in benchmarks/README.md).
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import abtest, counts

ROOT = Path(__file__).resolve().parents[1]
COUNTS = ROOT / "benchmarks" / "counts.json"
STEP = "ring8/simultaneous/adam/K=16"

# (file, the line as it is, the line planted) -- each anchor must exist, or the test says so
PLANTS = {
    "doubled hidden matmuls": ("ganopt/nets.py", "        x = torch.baddbmm(params[i + 1], x, params[i])\n",
                               "        x = torch.baddbmm(params[i + 1], x, params[i]) "
                               "+ 0 * torch.baddbmm(params[i + 1], x, params[i])\n"),
    "one extra gradient evaluation": ("ganopt/schemes.py", '        grad_g, grad_d = s.field("gd")\n'
                                      "        s.G.move(s.G.direction(grad_g))\n        s.D.move",
                                      '        s.field("gd")\n        grad_g, grad_d = s.field("gd")\n'
                                      "        s.G.move(s.G.direction(grad_g))\n        s.D.move"),
}


def test_the_committed_counts_hold_for_this_checkout():
    names = list(counts.read(COUNTS)["steps"])
    passed, lines = counts.check(COUNTS, counts.measure(names))
    assert passed, "\n".join(lines)
    assert {STEP, "ring8/extragradient/adam/K=16", "ring8/simultaneous/adam/K=1"} <= set(names)


def scratch_copy(tmp_path: Path, plant: str | None) -> Path:
    """The code (ganopt/, bench/) in a scratch folder, with one planted change, and a counts file
    of one step (the committed numbers) to check it against."""
    tree = tmp_path / "tree"
    for package in ("ganopt", "bench"):
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    if plant is not None:
        path, before, after = PLANTS[plant]
        text = (tree / path).read_text()
        assert text.count(before) == 1, f"the anchor of the planted change {plant!r} moved in {path}: update PLANTS"
        (tree / path).write_text(text.replace(before, after))
    data = json.loads(COUNTS.read_text())
    data["steps"] = {STEP: data["steps"][STEP]}
    (tree / "counts.json").write_text(json.dumps(data))
    return tree


def check_counts(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([sys.executable, "-m", "bench", "counts", "--check", "counts.json"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("plant, changed", [("doubled hidden matmuls", ["flops", "saved_bytes"]),
                                            ("one extra gradient evaluation", ["grad_evals", "flops"])])
def test_the_counter_gate_fails_on_a_planted_change(tmp_path, plant, changed):
    result = check_counts(scratch_copy(tmp_path, plant))
    assert result.returncode == 1, result.stdout + result.stderr
    for counter in changed:
        assert any(STEP in line and f" {counter} " in line for line in result.stderr.splitlines()), result.stderr
    assert "python -m bench counts --save counts.json" in result.stderr  # how to refresh when intended


def test_the_counter_gate_passes_an_unchanged_copy(tmp_path):
    result = check_counts(scratch_copy(tmp_path, None))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 step(s) x 6 counters equal" in result.stdout


def test_a_changed_counter_is_named_before_and_after(tmp_path):
    path = tmp_path / "counts.json"
    before = {c: 100 for c in counts.COUNTERS}
    counts.save(path, {STEP: before})
    assert counts.check(path, {STEP: dict(before)})[0]
    passed, lines = counts.check(path, {STEP: {**before, "aten_ops": 101}})
    assert not passed
    assert any("aten_ops" in line and "100 -> 101 (+1.0%)" in line for line in lines), lines
    assert not any("flops" in line for line in lines)


def noisy_pairs(slowdown: float, n: int = 20) -> list[tuple[float, float]]:
    """(base, change) seconds whose shared load swings 3x from pair to pair, and whose own
    noise is +-3%: what adjacent measurements on a busy machine look like."""
    out = []
    for i in range(n):
        load = 1.0 + 0.5 * math.sin(i)  # shared by both sides of a pair
        jitter = 1.0 + 0.03 * math.cos(3.7 * i)
        out.append((0.1 * load, 0.1 * load * (1 + slowdown) * jitter))
    return out


def test_the_ab_decision_flags_a_slowdown_and_nothing_else():
    rows = {r["step"]: r for r in abtest.decide({"slow": noisy_pairs(0.20), "same": noisy_pairs(0.0),
                                                 "small": noisy_pairs(0.05)})}
    assert rows["slow"]["slower"] and rows["slow"]["p"] < 1e-4
    assert abs(rows["slow"]["slowdown"] - 0.20) < 0.05
    assert not rows["same"]["slower"]
    assert not rows["small"]["slower"] and rows["small"]["p"] < 0.01  # significant, but under the effect size


def test_each_side_goes_first_in_half_of_the_rounds():
    assert abtest.turns(4) == [("base", "change"), ("change", "base")] * 2
