"""Reading results back: a results store (an SQLite file) or a report folder (summary.csv,
curves.csv, declarations.json, provenance.json), through one function, `load`, for every reader
(`bench report`, `bench compare`, bench.results.load_results), so that they agree on what a
path holds, which suite's runs are kept and what is refused."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .store import Store, StoreError

DECLARATIONS_FILE = "declarations.json"
SUMMARY_COLUMNS = ["run_id", "problem", "strategy", "seed", "status", "grad_evals", "wall_s", "lr_g", "lr_d"]
CURVE_COLUMNS = ["run_id", "step", "grad_evals", "wall_s"]


@dataclass
class Loaded:
    """What a path holds: runs (final metrics as columns), records (one row per run per
    evaluation; empty unless asked for), the problems' metric declarations (problem ->
    (metrics, target)) and samples (run id -> array; a report folder keeps none)."""

    runs: pd.DataFrame
    records: pd.DataFrame
    declarations: dict[str, tuple]
    samples: dict = field(default_factory=dict)


def load(path: Path, suite: str | None = None, *, records: bool = True, samples: bool = False) -> Loaded:
    """The results at `path`, a store file or a report folder; `suite` keeps only that suite's
    runs (records and samples follow the runs kept).  Stores are opened read-only: reading
    results never changes them.  Anything unusable is a StoreError in one line."""
    path = Path(path)
    if path.is_dir():
        runs, curves, declarations = load_folder(path)
        loaded = Loaded(runs, curves if records else curves.iloc[0:0], declarations)
    elif path.is_file():
        with Store(path, readonly=True) as store:
            runs = store.runs_frame(suite=suite)
            if suite is not None and runs.empty:
                has = store.suites()
                raise StoreError(f"{path} has no runs of suite {suite!r}" + (f"; it has: {', '.join(has)}" if has else ""))
            ids = list(runs["run_id"])
            loaded = Loaded(runs, store.records_frame(ids) if records else pd.DataFrame(columns=CURVE_COLUMNS),
                            store.declarations(), store.samples(ids) if samples else {})
    elif path.exists():
        raise StoreError(f"{path} is neither a results store nor a report folder")
    else:
        raise StoreError(f"{path} does not exist: give a results store or a report folder")
    if path.is_dir():
        loaded.runs = _of_suite(loaded.runs, suite, path)
        loaded.records = loaded.records[loaded.records["run_id"].isin(loaded.runs["run_id"])]
    if loaded.runs.empty:
        raise StoreError(f"{path} holds no runs")
    return loaded


def curves_with_ids(runs: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """The records of `runs`, each row labelled with its run's problem, strategy and seed."""
    return runs[["run_id", "problem", "strategy", "seed"]].merge(records, on="run_id", how="inner")


def _of_suite(runs: pd.DataFrame, suite: str | None, path: Path) -> pd.DataFrame:
    if suite is None:
        return runs
    if "suite" not in runs.columns or suite not in set(runs["suite"]):
        has = sorted(set(runs["suite"].dropna())) if "suite" in runs.columns else []
        raise StoreError(f"{path} has no runs of suite {suite!r}" + (f"; it has: {', '.join(has)}" if has else ""))
    return runs[runs["suite"] == suite]


def read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    """A CSV table ganopt wrote, with at least `columns`; anything else is refused in one line."""
    try:
        frame = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError, OSError) as e:  # pandas' parser and empty-file errors are ValueErrors
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StoreError(f"{path} is not a table ganopt wrote ({reason})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise StoreError(f"{path} is not a table ganopt wrote: no column {', '.join(missing)}")
    return frame


def load_folder(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, tuple]]:
    """A report folder: its runs (summary.csv, with provenance.json's entries as a column), curves
    (curves.csv) and declarations (declarations.json), each checked."""
    if not (path / "summary.csv").is_file():
        raise StoreError(f"{path} has no summary.csv: give a results store or a report folder")
    runs = read_table(path / "summary.csv", SUMMARY_COLUMNS)
    if (path / "curves.csv").is_file():
        curves = read_table(path / "curves.csv", CURVE_COLUMNS)
        curves = curves.drop(columns=[c for c in ("problem", "strategy", "seed") if c in curves.columns])
    else:
        curves = pd.DataFrame(columns=CURVE_COLUMNS)
    try:
        declarations = read_declarations(path)
        provenance = json.loads((path / "provenance.json").read_text()) if (path / "provenance.json").is_file() else {}
        runs["provenance"] = [json.dumps(provenance[r]) if r in provenance else None for r in runs["run_id"]]
    except (ValueError, TypeError, KeyError, AttributeError) as e:  # JSON that ganopt did not write
        raise StoreError(f"{path}: declarations.json or provenance.json is not what ganopt wrote ({e})") from None
    return runs, curves, declarations


def read_declarations(folder: Path) -> dict[str, tuple]:
    """The declarations a report folder was written with (none for an older folder)."""
    from ganopt.metrics import declarations_from_json

    path = Path(folder) / DECLARATIONS_FILE
    if not path.is_file():
        return {}
    return {problem: declarations_from_json(data) for problem, data in json.loads(path.read_text()).items()}
