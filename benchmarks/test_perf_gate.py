"""The normalized performance gate (bench.perfgate), run by the README's test command: each
stacked step's cost over its own matmuls' cost, both measured interleaved in this process, against
the committed baseline of this CPU kind (benchmarks/perf_baseline.json; threshold from the spread
measured in benchmarks/README.md).  A CPU kind without a baseline is skipped, and says so."""

import json
from pathlib import Path

import pytest
import torch

from bench import perf, perfgate

BASELINE = Path(__file__).parent / "perf_baseline.json"
SCHEMES = ["simultaneous", "alternating", "extragradient", "optimistic", "past-extragradient"]


def test_each_step_costs_at_most_the_threshold_more_than_its_own_matmuls_allow():
    kind = perfgate.cpu_kind()
    if kind not in json.loads(BASELINE.read_text())["cpus"]:
        pytest.skip(f"no perf baseline for this CPU kind ({kind!r}): record one with "
                    f"python -m bench perf --save-baseline {BASELINE} (see benchmarks/README.md)")
    rows = perf.run_perf(torch.device("cpu"), ["ring8"], [16], SCHEMES, ["adam"], 1.0, progress=lambda line: None)
    passed, lines = perfgate.check(BASELINE, rows, kind)
    print("\n".join(lines))
    assert passed, "\n".join(lines)
    assert len([line for line in lines if "K=16" in line]) == len(SCHEMES)
