"""Published results as baselines: `bench run --strategies mine --baselines PUBLISHED` trains only
`mine` and reports it beside the published runs of the same protocol.

A run's id is its protocol (problem and options, data checksums, strategy settings, seed, budget,
schedule, precision, device type, numerics version; bench.spec.protocol_id).  So a published run
is reusable exactly when this suite would give one of its runs the same id: those runs are
copied into the working store, found done, and never trained again.  A published strategy whose
runs carry other ids was run under another protocol; that is refused in one line naming what
differs, rather than set beside numbers that mean something else."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .schema import FINISHED, TABLE_COLUMNS
from .spec import SpecError
from .store import Store, StoreError

# the protocol's parts a refusal names, in the order a reader checks them
PROTOCOL_KEYS = ("problem", "options", "inputs", "steps", "eval_every", "lr_schedule", "precision", "device",
                 "numerics", "plugins", "diagnostics", "diagnostics_at", "settings")


def read_published(path: Path):
    """The published store's finished runs (read once per command)."""
    with Store(path, readonly=True) as store:
        runs = store.runs_frame()
    return runs[runs["status"].isin(FINISHED)]


def published_strategies(published, problems: list[str]) -> list[str]:
    """The strategies with finished runs on any of `problems` in the published runs."""
    return list(dict.fromkeys(published.loc[published["problem"].isin(problems), "strategy"]))


def import_published(store: Store, path: Path, suite, runs) -> int:
    """Copy into `store` the published finished runs of the suite's problems and of the
    strategies it shares with them (every table's rows of each run), after checking that each
    such run of the suite has a published twin; returns how many runs were copied."""
    names = set(r.strategy.name for r in suite.runs)
    mine = runs[runs["problem"].isin({r.problem for r in suite.runs}) & runs["strategy"].isin(names)]
    check_protocol(suite, mine, path)
    ids = list(mine["run_id"])
    if not ids:
        return 0
    try:
        _copy_rows(store, Path(path), ids)
    except sqlite3.DatabaseError as e:
        raise StoreError(f"--baselines {path}: cannot copy its runs ({e})") from None
    return len(ids)


def check_protocol(suite, published, path: Path) -> None:
    """SpecError for the first published strategy of which none of the suite's runs was
    published (no shared id): it was published under another protocol."""
    refusals = refused(suite, published, path)
    if refusals:
        raise SpecError(next(iter(refusals.values())))


def reusable(suite, path: Path, own: list[str], published) -> tuple[list[str], dict[str, str]]:
    """Of the suite's strategies other than `own`: those published under this suite's protocol
    (some of their runs share an id with the suite's; more seeds train here), and for the others
    that the store holds, why not (one line each, naming what differs)."""
    refusals = refused(suite, published, path)
    names = {(r.problem, r.strategy.name) for r in suite.runs if r.strategy.name not in own}
    have = set(zip(published["problem"], published["strategy"]))
    keep = [n for n in dict.fromkeys(s for _, s in sorted(names)) if n not in refusals
            and any((p, n) in have for p, _ in names)]
    return keep, {n: why for n, why in refusals.items() if n not in own}


def refused(suite, published, path: Path) -> dict[str, str]:
    """strategy -> why, for each published strategy of which no run of the suite was published."""
    have = set(published["run_id"])
    cells: dict[tuple[str, str], list] = {}
    for run in suite.runs:
        cells.setdefault((run.problem, run.strategy.name), []).append(run)
    out: dict[str, str] = {}
    for (problem, strategy), runs in cells.items():
        rows = published[(published["problem"] == problem) & (published["strategy"] == strategy)]
        if rows.empty or any(r.run_id in have for r in runs) or strategy in out:
            continue
        theirs, ours = json.loads(rows.iloc[0]["spec"]), runs[0].describe()
        differ = [k for k in PROTOCOL_KEYS if theirs.get(k) != ours.get(k)] or ["seed"]
        what = "; ".join(f"{k} {_show(theirs.get(k))} published, {_show(ours.get(k))} here" for k in differ[:3])
        out[strategy] = (f"--baselines {path}: {problem} · {strategy} was published under another protocol "
                         f"({what})")
    return out


def _show(value) -> str:
    text = "none" if value is None else json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def _copy_rows(store: Store, path: Path, ids: list[str]) -> None:
    """Every row of the runs `ids` from the published store's tables, in one transaction."""
    db = store.db
    db.execute("ATTACH DATABASE ? AS published", (str(Path(path).absolute()),))
    try:
        marks = ", ".join("?" * len(ids))
        with db:
            for table, columns in TABLE_COLUMNS.items():
                if table in ("meta",):
                    continue
                names = ", ".join(columns)
                where = "" if table == "problems" else f" WHERE run_id IN ({marks})"
                verb = "INSERT OR IGNORE" if table == "problems" else "INSERT OR REPLACE"
                db.execute(f"{verb} INTO main.{table} ({names}) SELECT {names} FROM published.{table}{where}",
                           () if table == "problems" else ids)
    finally:
        db.execute("DETACH DATABASE published")
