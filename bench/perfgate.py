"""A performance gate that holds across machines: `bench perf --baseline FILE`.

Absolute step times move with the machine (two CPU kinds of this project differ 2x in matmul
speed; repeats on one machine spread by 58-79%).  The gate therefore compares each step with
its own matmuls, replayed alone and timed interleaved with it in the same process
(bench.perf.matmul_replay): the *normalized cost* step seconds / matmul seconds (the inverse of
the matmul share) is how much the rest of the step adds to its physical limit.  A change that
slows the step's own code raises it; a busier or slower machine moves both sides.

The baseline file keeps one entry per CPU kind (the model name; an AMX Xeon and an EPYC run
the same matmuls at different speeds, so the ratio differs too) with the normalized cost of
each (problem, scheme, base, K) and the threshold set from the measured spread
(benchmarks/README.md).  A CPU kind without an entry is reported, not gated.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from ganopt.precision import DEFAULT_PRECISION

DEFAULT_THRESHOLD = 0.30


def cpu_kind() -> str:
    """The CPU model with the vector extensions that set matmul speed: two machines sold under
    one name ("AMD EPYC", with and without AVX-512) are different kinds to the gate."""
    from .store import _cpu_model

    try:
        flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        flags = []
    isa = "AMX" if "amx_tile" in flags else "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else ""
    return f"{_cpu_model()} {isa}".strip()


def key(row: dict) -> str:
    # fp32 keys read as before precisions existed; another precision is another step
    precision = row.get("precision", DEFAULT_PRECISION)
    return f"{row['problem']}/{row['scheme']}/{row['base']}/K={row['k']}" + \
        ("" if precision == DEFAULT_PRECISION else f"/{precision}") + ("/graph" if row.get("cuda_graphs") else "")


def normalized(rows: list[dict]) -> dict[str, float]:
    """key -> step seconds / its matmuls' seconds, for the stacked rows that have a share."""
    return {key(r): 1.0 / r["matmul_share"] for r in rows
            if r["what"] == "ganopt stack" and r.get("matmul_share")}


class BaselineError(ValueError):
    """A baseline file that cannot be read or written: one line naming the file and what is wrong."""


def read(path: Path) -> dict:
    """The baseline file, checked: {"cpus": {KIND: {"threshold": > 0, "normalized_cost": {STEP:
    number > 0}, ...}}}.  BaselineError otherwise, before anything is measured."""
    path = Path(path)
    if not path.is_file():
        what = "does not exist" if not path.exists() else "is a directory" if path.is_dir() else "is not a regular file"
        raise BaselineError(f"{path} {what}")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BaselineError(f"{path} is not a readable JSON file ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cpus"), dict):
        raise BaselineError(f"{path} is not a baseline file: expected a JSON object with a \"cpus\" object")
    for cpu, entry in data["cpus"].items():
        where = f"{path}: entry {cpu!r}"
        if not isinstance(entry, dict):
            raise BaselineError(f"{where} is not an object")
        threshold = entry.get("threshold")
        if not _positive(threshold):
            raise BaselineError(f"{where} needs \"threshold\", a positive number, got {threshold!r}")
        costs = entry.get("normalized_cost")
        if not isinstance(costs, dict) or not all(_positive(v) for v in costs.values()):
            raise BaselineError(f"{where} needs \"normalized_cost\", an object of positive numbers")
    return data


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def check_writable(path: Path) -> None:
    """--save-baseline: a file to create, or an existing baseline file whose other entries are kept."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        read(path)
        if not os.access(path, os.W_OK):
            raise BaselineError(f"{path} is not writable")
        return
    parent = next(p for p in path.absolute().parents if p.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise BaselineError(f"{path} cannot be created ({parent} is not a writable folder)")


def save(path: Path, rows: list[dict], cpu: str, threshold: float, note: str = "") -> dict:
    """Write this CPU kind's entry of the baseline file: the steps measured now replace theirs,
    the entry's other steps (another precision's, another K's) are kept."""
    data = read(path) if path.exists() else {"cpus": {}}
    kept = data["cpus"].get(cpu, {}).get("normalized_cost", {})
    data["cpus"][cpu] = {"threshold": threshold, "recorded": time.strftime("%Y-%m-%d"), "note": note,
                         "normalized_cost": {**kept, **normalized(rows)}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return data


def check(path: Path, rows: list[dict], cpu: str) -> tuple[bool, list[str]]:
    """Compare with this CPU kind's baseline: (passed, lines of a table of every compared step).
    A step fails when its normalized cost exceeds the baseline's by more than the threshold."""
    data = read(path)
    entry = data["cpus"].get(cpu)
    if entry is None:
        kinds = ", ".join(sorted(data.get("cpus", {}))) or "none"
        return True, [f"no baseline for this CPU kind ({cpu!r}; the file has: {kinds}): not gated. Record one "
                      f"on this kind with --save-baseline {path}"]
    threshold = entry["threshold"]
    now = normalized(rows)
    lines = [f"normalized cost (step / its own matmuls) against the baseline of {cpu!r}, "
             f"threshold +{threshold:.0%}:",
             f"  {'step':42s} {'baseline':>9s} {'now':>9s} {'change':>8s}"]
    passed = True
    for name, value in now.items():
        base = entry["normalized_cost"].get(name)
        if base is None:
            lines.append(f"  {name:42s} {'-':>9s} {value:9.3f}   (not in the baseline)")
            continue
        change = value / base - 1
        slower = change > threshold
        passed &= not slower
        lines.append(f"  {name:42s} {base:9.3f} {value:9.3f} {change:+8.1%}{'  SLOWER' if slower else ''}")
    return passed, lines
