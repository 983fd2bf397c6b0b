"""`python -m bench ab BASE_DIR CHANGE_DIR`: is the change's step slower than the base's, here and now?

A stored baseline of step times holds for one CPU kind on a quiet machine only (repeats on one
2-core machine spread by 35-79%, another process beside them doubles a step).  So both sides
are timed on this machine, in the same job, alternately:

- `pairs` times, one timing process per side is started (bench/abchild.py, which imports
  ganopt from its side's checkout: the same harness times both sides' code);
- the two processes then take turns, one step at a time, `rounds` times: base, change, then
  change, base, ... (each side goes first in half of the turns), so that the two measurements of
  a pair lie a fraction of a second apart and share the machine's load at that moment;
- each measurement is the median of a step's single calls over `seconds`.

Each pair of adjacent measurements gives a ratio change / base, in which the load cancels.  A
step is flagged only when both hold:

- its median ratio is at least 1 + `min_slowdown` (a minimum effect size: +10% by default), and
- a one-sided Wilcoxon signed-rank test of the log ratios gives p <= alpha (0.01 by default).

An unchanged tree under load shares the load with its base, so it is flagged only by a chance
that the test bounds; the planted-change table of benchmarks/README.md measures both errors.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

from scipy import stats

from .perf import PERF_OPTIONS

CHILD = Path(__file__).with_name("abchild.py")
DEFAULT_PAIRS = 5
DEFAULT_ROUNDS = 4
DEFAULT_SECONDS = 0.3
DEFAULT_ALPHA = 0.01
DEFAULT_MIN_SLOWDOWN = 0.10
SIDES = ("base", "change")


class ABError(RuntimeError):
    """A timing process that failed: names its checkout and its last output."""


class Timer:
    """A timing process on one checkout, asked for one step at a time."""

    def __init__(self, tree: Path, steps: list[str], seconds: float, threads: int | None):
        env = {**os.environ, "PYTHONPATH": str(tree)}
        # waiting threads must not spin: on cores shared with another process (another job of the
        # CI runner, another engineer's tests) spinning collapses one side's times at random
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        command = [sys.executable, str(CHILD), str(tree), json.dumps(PERF_OPTIONS), str(seconds), *steps]
        self.tree = tree
        self.process = subprocess.Popen(command, cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self._read("ready")

    def _read(self, what: str) -> str:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise ABError(f"timing {self.tree} failed (exit {self.process.returncode}) before {what}: "
                          f"{self.process.stderr.read().strip()[-2000:]}")
        return line.strip()

    def seconds(self, step: str) -> float:
        try:
            self.process.stdin.write(step + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:  # the process died: _read names why
            pass
        return float(self._read(step))

    def close(self) -> None:
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        self.process.wait()


def turns(rounds: int) -> list[tuple[str, str]]:
    """The order of each round's two measurements: each side comes first in half of the rounds."""
    return [SIDES if i % 2 == 0 else SIDES[::-1] for i in range(rounds)]


def run_ab(trees: dict[str, Path], steps: list[str], pairs: int, rounds: int, seconds: float,
           threads: int | None = None, progress=lambda line: None) -> dict[str, list[tuple[float, float]]]:
    """step -> [(base seconds, change seconds)], one pair per round of each pair of processes."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
    for pair in range(pairs):
        timers = {}
        try:
            for side in (SIDES if pair % 2 == 0 else SIDES[::-1]):  # who starts first alternates too
                timers[side] = Timer(trees[side], steps, seconds, threads)
            for order in turns(rounds):
                for name in steps:
                    got = {side: timers[side].seconds(name) for side in order}
                    samples[name].append((got["base"], got["change"]))
        finally:
            for timer in timers.values():
                timer.close()
        progress(f"  processes {pair + 1}/{pairs}: " + "  ".join(
            f"{name.split('/')[1]} {_median_ratio(samples[name][-rounds:]) - 1:+.1%}" for name in steps))
    return samples


def _median_ratio(pairs: list[tuple[float, float]]) -> float:
    return math.exp(statistics.median(math.log(c / b) for b, c in pairs))


def decide(samples: dict[str, list[tuple[float, float]]], alpha: float = DEFAULT_ALPHA,
           min_slowdown: float = DEFAULT_MIN_SLOWDOWN) -> list[dict]:
    """One row per step: the two sides' median times, the median paired slowdown, the one-sided
    p, and `slower`: at least `min_slowdown` slower with p <= alpha."""
    rows = []
    for name, pairs in samples.items():
        logs = [math.log(c / b) for b, c in pairs]
        p = 1.0 if all(x == 0 for x in logs) else float(stats.wilcoxon(logs, alternative="greater").pvalue)
        slowdown = _median_ratio(pairs) - 1
        rows.append({"step": name, "base_ms": statistics.median(b for b, _ in pairs) * 1e3,
                     "change_ms": statistics.median(c for _, c in pairs) * 1e3, "slowdown": slowdown,
                     "p": p, "pairs": len(pairs), "slower": bool(slowdown >= min_slowdown and p <= alpha)})
    return rows


def table(rows: list[dict], alpha: float, min_slowdown: float) -> list[str]:
    lines = [f"A/B step times (medians; change: median of the paired ratios; flagged: >= {min_slowdown:+.0%} "
             f"and one-sided Wilcoxon signed-rank p <= {alpha:g}):",
             f"  {'step':42s} {'base ms':>9s} {'change ms':>10s} {'change':>8s} {'p':>9s} {'pairs':>5s}"]
    for r in rows:
        lines.append(f"  {r['step']:42s} {r['base_ms']:9.2f} {r['change_ms']:10.2f} {r['slowdown']:+8.1%} "
                     f"{r['p']:9.2g} {r['pairs']:5d}{'  SLOWER' if r['slower'] else ''}")
    return lines
