"""Are two report folders' numbers bit-identical?  The check behind a refactor that must not
change what runs compute (run ids may differ: they carry the numerics version).

    python tools/same_numbers.py BEFORE_FOLDER AFTER_FOLDER

Runs are matched by (problem, strategy, seed); every declared metric column of summary.csv and
curves.csv is compared exactly, with grad_evals, steps, status and the learning rates.  Exit 1
names the columns that differ.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

KEY = ["problem", "strategy", "seed"]


def metric_names(folder: Path) -> set[str]:
    return {m["name"] for d in json.loads((folder / "declarations.json").read_text()).values() for m in d["metrics"]}


def keyed(frame: pd.DataFrame, runs: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    frame = frame.drop(columns=[c for c in KEY if c in frame.columns])
    return frame.merge(runs[["run_id", *KEY]], on="run_id").sort_values(order).reset_index(drop=True)


def differences(before: Path, after: Path) -> list[str]:
    a, b = pd.read_csv(before / "summary.csv"), pd.read_csv(after / "summary.csv")
    if len(a) != len(b):
        return [f"run count {len(a)} != {len(b)}"]
    names = metric_names(before) & metric_names(after)
    a, b = keyed(a, a, KEY), keyed(b, b, KEY)
    columns = [c for c in a.columns if c in b.columns and (c in names or c in ("grad_evals", "steps", "status",
                                                                                "lr_g", "lr_d"))]
    out = [f"summary.csv: {c}" for c in columns if not a[c].equals(b[c])]
    ca = keyed(pd.read_csv(before / "curves.csv"), a, [*KEY, "step"])
    cb = keyed(pd.read_csv(after / "curves.csv"), b, [*KEY, "step"])
    if len(ca) != len(cb):
        return out + [f"curves.csv: {len(ca)} != {len(cb)} rows"]
    out += [f"curves.csv: {c}" for c in ca.columns if c in names and c in cb.columns and not ca[c].equals(cb[c])]
    print(f"{len(a)} runs, {len(ca)} evaluations, {len(columns)} summary columns compared")
    return out


if __name__ == "__main__":
    found = differences(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(found) if found else "the same numbers")
    sys.exit(1 if found else 0)
