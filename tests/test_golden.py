"""Golden checksums: a few steps of every preset on every problem at fixed seeds.

Why: run ids come from the protocol and ganopt.numerics.NUMERICS_VERSION, not from the source
bytes, so a change that alters a computation must bump that version, or stored results of the
old computation would be reused under the new one.  This test notices such a change: each
(problem, preset) is reduced to a checksum of its records and samples, rounded to 6
significant digits, and compared with tests/fixtures/golden.json.

When it fails: if the change is meant to alter the numbers, bump NUMERICS_VERSION in
ganopt/numerics.py and run `python tests/test_golden.py --refresh`; if not, the change has a bug.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

import ganopt
from ganopt.numerics import NUMERICS_VERSION

GOLDEN = Path(__file__).parent / "fixtures" / "golden.json"
STEPS = 3
SEED = 7
# small evaluations, so that the image problems cost a second each, not a minute
OPTIONS = {"mnist": {"eval_samples": 2048}, "stacked-mnist": {"eval_samples": 10000}}
PROBLEMS = ("bilinear", "dirac", "ring8", "ring8-r2", "grid25", "grid25-wide", "mnist", "stacked-mnist")
IMAGE_PROBLEMS = ("mnist", "stacked-mnist")
# an image run costs seconds (its evaluation classifies thousands of samples): there, one preset
# per scheme, and the test runs in the slow tier
IMAGE_PRESETS = ("sgd", "adam", "extra-adam", "optimistic-adam", "past-extragradient", "alt-adam",
                 "consensus-adam", "sga-adam", "unrolled", "cgd", "lookahead-extra-adam")


def _round(x) -> str:
    return "nan" if x != x else f"{x:.6g}"


def checksum(problem_name: str, preset: str) -> str:
    """The rounded records and samples of STEPS steps of `preset` on `problem_name`, hashed."""
    problem = ganopt.get_problem(problem_name)
    options = problem.check_options(OPTIONS.get(problem_name, {}))
    strategy = ganopt.get_strategy(preset).resolve(problem.default_lr(options))
    result = ganopt.train_stack(problem, options, [strategy], [SEED], steps=STEPS, eval_every=STEPS,
                                calibrate=False)
    digest = hashlib.sha256()
    for record in result.records[0]:
        for key in sorted(record):
            if key != "wall_s" and isinstance(record[key], (int, float)):
                digest.update(f"{key}={_round(float(record[key]))};".encode())
    if result.samples is not None:
        digest.update(" ".join(_round(float(v)) for v in result.samples.reshape(-1)[:4096]).encode())
    digest.update(result.status[0].encode())
    return digest.hexdigest()[:16]


def presets(problem: str) -> tuple[str, ...]:
    return IMAGE_PRESETS if problem in IMAGE_PROBLEMS else ganopt.strategies.PRESETS


def cases() -> list[tuple[str, str]]:
    return [(p, s) for p in PROBLEMS for s in presets(p)]


def compute_all() -> dict[str, str]:
    return {f"{p}/{s}": checksum(p, s) for p, s in cases()}


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text())


def test_golden_version_matches(golden):
    assert golden["numerics_version"] == NUMERICS_VERSION, (
        "ganopt.numerics.NUMERICS_VERSION changed: refresh the golden checksums "
        "(python tests/test_golden.py --refresh)")


@pytest.mark.parametrize("problem", [pytest.param(p, marks=pytest.mark.slow) if p in IMAGE_PROBLEMS else p
                                     for p in PROBLEMS])
def test_golden_checksums(problem, golden):
    got = {f"{problem}/{s}": checksum(problem, s) for s in presets(problem)}
    changed = sorted(k for k in got if golden["checksums"].get(k) != got[k])
    assert not changed, (
        f"the numbers of {len(changed)} preset(s) changed: {', '.join(changed)}. If the change is meant to "
        "alter a computation, bump NUMERICS_VERSION in ganopt/numerics.py and run "
        "`python tests/test_golden.py --refresh`; if not, it is a bug.")


if __name__ == "__main__" and "--refresh" in sys.argv:
    GOLDEN.write_text(json.dumps({"numerics_version": NUMERICS_VERSION, "checksums": compute_all()},
                                 indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
