"""The numerics version: part of every run's id, bumped when a computation changes.

A run's id is its protocol (problem and options, data checksums, strategy settings, seed,
budget, schedule, precision, device type) and this version, not the bytes of the source:
editing a comment, renaming a function or moving code between modules keeps every stored
result.  Bump NUMERICS_VERSION when a change alters what a run computes (a loss, an update's
arithmetic, an initialisation, a random stream, a metric) and refresh the golden checksums
with `python tests/test_golden.py --refresh`; tests/test_golden.py fails until both are done.
"""

NUMERICS_VERSION = 2  # 2: Adam written once (its unrolled, differentiable path now rounds as its in-place one)
