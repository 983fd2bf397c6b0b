"""`python -m bench ab BASE_DIR CHANGE_DIR`: is the change's step slower than the base's, here and now?

A stored baseline of step times holds for one CPU kind on a quiet machine only (repeats on one
2-core machine spread by 35-79%, another process beside them doubles a step).  So both sides
are timed on this machine, in the same job, alternately: 2 x `pairs` separate processes in the
order A B B A A B B A ... (a load that rises or falls during the job hits both sides alike),
each timing every step (bench/abchild.py, which imports ganopt from its side's checkout) by the
median of its single calls.  A step is flagged only when both hold:

- the change's median over its processes is at least `min_slowdown` slower than the base's
  (a minimum effect size: 10% by default), and
- a one-sided Mann-Whitney U test of the change's per-process times against the base's gives
  p <= alpha (0.01 by default; with 5 processes a side the smallest possible p is 1/252, so
  p <= 0.01 asks that at most one base process be slower than one change process).

An unchanged tree under load shares the load with its base, so it is flagged only by a chance
that the test bounds; the planted-change table of benchmarks/README.md measures both errors.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from .perf import PERF_OPTIONS
from .stats import mann_whitney_p

CHILD = Path(__file__).with_name("abchild.py")
DEFAULT_PAIRS = 5
DEFAULT_SECONDS = 0.5
DEFAULT_ALPHA = 0.01
DEFAULT_MIN_SLOWDOWN = 0.10


class ABError(RuntimeError):
    """A timing process that failed: names its side and its last output."""


def order(pairs: int) -> list[str]:
    """"base", "change", "change", "base", ...: each side comes first in half of the pairs."""
    out = []
    for i in range(pairs):
        out += ["base", "change"] if i % 2 == 0 else ["change", "base"]
    return out


def time_once(tree: Path, steps: list[str], seconds: float, threads: int | None) -> dict[str, float]:
    """One timing process on `tree`: step -> median seconds per step."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # waiting threads must not spin: a process that shares its cores (the other engineer's, the
    # CI runner's) would otherwise collapse one side's times at random
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, str(CHILD), str(tree), json.dumps(PERF_OPTIONS), str(seconds), *steps]
    result = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise ABError(f"timing {tree} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_ab(trees: dict[str, Path], steps: list[str], pairs: int, seconds: float, threads: int | None = None,
           progress=lambda line: None) -> dict[str, dict[str, list[float]]]:
    """step -> side -> per-process seconds, the sides timed in `order(pairs)`."""
    samples = {name: {"base": [], "change": []} for name in steps}
    for i, side in enumerate(order(pairs)):
        times = time_once(trees[side], steps, seconds, threads)
        for name in steps:
            samples[name][side].append(times[name])
        progress(f"  process {i + 1:2d}/{2 * pairs} ({side:6s}): "
                 + "  ".join(f"{name.split('/')[1]} {times[name] * 1e3:.1f} ms" for name in steps))
    return samples


def decide(samples: dict[str, dict[str, list[float]]], alpha: float = DEFAULT_ALPHA,
           min_slowdown: float = DEFAULT_MIN_SLOWDOWN) -> list[dict]:
    """One row per step: the two medians, the change's relative slowdown, the one-sided p, and
    `slower`: at least `min_slowdown` slower with p <= alpha."""
    rows = []
    for name, sides in samples.items():
        base, change = statistics.median(sides["base"]), statistics.median(sides["change"])
        p = mann_whitney_p(sides["change"], sides["base"], alternative="greater")
        slowdown = change / base - 1
        rows.append({"step": name, "base_ms": base * 1e3, "change_ms": change * 1e3, "slowdown": slowdown,
                     "p": p, "slower": bool(slowdown >= min_slowdown and p <= alpha)})
    return rows


def table(rows: list[dict], alpha: float, min_slowdown: float) -> list[str]:
    lines = [f"A/B step times (median of each side's processes; flagged: >= {min_slowdown:+.0%} and "
             f"one-sided Mann-Whitney p <= {alpha:g}):",
             f"  {'step':42s} {'base ms':>9s} {'change ms':>10s} {'change':>8s} {'p':>7s}"]
    for r in rows:
        lines.append(f"  {r['step']:42s} {r['base_ms']:9.2f} {r['change_ms']:10.2f} {r['slowdown']:+8.1%} "
                     f"{r['p']:7.4f}{'  SLOWER' if r['slower'] else ''}")
    return lines
