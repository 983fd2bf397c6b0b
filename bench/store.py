"""The results store: one SQLite file, the single source of truth for runs and their curves.

Every finished stack is written in ONE transaction (its runs, their evaluations, metric values,
samples and its problem's metric declarations), so a run is complete in the store or absent,
whenever the process is killed.  Reports, CSVs and plots are generated from the store alone.

Schema v2 (metric values in long form: a problem may report any metrics it declares):
- meta(key, value): the schema version.
- runs: one row per run id; status is done | diverged | error | timeout, with `reason` for the
  last two; strategy settings in their own columns; `spec` and `provenance` as JSON.
- evaluations: one row per run per evaluation (run_id, step, grad_evals, wall_s).
- metric_values: (run_id, step, name, value), one row per metric per evaluation.
- problems: (problem, declarations) — the metric declarations (JSON) of every problem stored,
  so a report needs no problem code (a plugin's problem reports without its plugin).
- samples: final generated samples per run (float32 .npy bytes).
A store of schema v1 (metrics as fixed columns) is migrated in place when opened for writing
(bench.migrate); opened read-only (report, compare), a copy is migrated in memory.  A store with
damaged pages is refused when opened; a write that fails (a full disk) rolls its stack back.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import torch

import ganopt
from ganopt.metrics import Metric, Target, declarations_from_json, declarations_to_json
from ganopt.precision import DEFAULT_PRECISION
from ganopt.train import StackResult, declarations

from .files import WriteError
from .schema import (EVALUATION_COLUMNS, FINISHED, RUN_COLUMNS, SCHEMA, SCHEMA_VERSION,  # noqa: F401 (re-exported)
                     STRATEGY_COLUMNS, SUITE_RUNS, TABLE_COLUMNS)
from .spec import RunSpec

DEFAULT_STORE = Path("results") / "ganopt.sqlite"


class StoreError(Exception):
    """The store cannot be used (another schema, not a ganopt store, unreadable)."""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def environment(device: torch.device) -> dict[str, Any]:
    """Provenance shared by every run of one invocation."""
    commit = _git("rev-parse", "HEAD")
    return {
        "ganopt": ganopt.__version__,
        "git_commit": commit or None,
        "git_dirty": bool(_git("status", "--porcelain")) if commit else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "os": platform.platform(),
        "cpu": _cpu_model(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),  # outside the steps: see "precision"
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "command": " ".join(sys.argv),
    }


def run_provenance(env: dict[str, Any], run: RunSpec) -> dict[str, Any]:
    problem = ganopt.get_problem(run.problem)
    try:
        protocol = problem.metric_protocol(run.options)
    except (OSError, ValueError, KeyError, TypeError) as e:  # files changed since the suite was checked
        protocol = {"unavailable": f"{type(e).__name__}: {e}"}
    # the step's arithmetic (ganopt.precision); the environment's tf32 flags are the process
    # default outside the steps, which set their own
    return {**env, "seed": run.seed, "dtype": problem.dtype, "precision": run.precision,
            "metric_protocol": protocol, "lr_source": run.lr_source}


class Store:
    """An open results store.  Use as a context manager or call close().

    `readonly` (report, compare, load_results: they only read) opens it with SQLite's
    `mode=ro`: nothing is created or changed, and a store on a read-only mount can be read.  A
    v1 store opened read-only is migrated into an in-memory copy (the file stays v1)."""

    def __init__(self, path: Path, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        if self.path.is_dir():
            raise StoreError(f"--store {self.path} is a directory; give a file path such as {self.path}/ganopt.sqlite")
        if self.path.exists() and not self.path.is_file():  # /dev/null, a FIFO: SQLite would write beside it
            raise StoreError(f"--store {self.path} is not a regular file; give a file path such as results/ganopt.sqlite")
        if readonly and not self.path.exists():
            raise StoreError(f"{self.path} does not exist")
        if not readonly:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the folder of the store {self.path}: {e.strerror}") from None
        try:
            if readonly:
                self.db = self._connect_readonly()
            else:
                self.db = sqlite3.connect(self.path, timeout=60)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
            self._check_integrity()
            self._check_schema()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path} is not a usable ganopt results store ({e})") from None

    def _connect_readonly(self) -> sqlite3.Connection:
        uri = self.path.absolute().as_uri()
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=60)
        try:
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            # a WAL store on a read-only mount: SQLite cannot create its -shm file there.  Nobody
            # can be writing to a file on such a mount, so it may be read as immutable.
            db.close()
            return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True)

    def _check_integrity(self) -> None:
        """Refuse a store with damaged pages before reading or adding to it.  quick_check reads
        every page once (about a second per GB), far less than a sweep; a damaged store would
        otherwise fail half-way through a report, or take new results into a broken file."""
        problems = [row[0] for row in self.db.execute("PRAGMA quick_check(3)").fetchall()]
        if problems != ["ok"]:
            raise StoreError(f"{self.path} is damaged (SQLite quick_check: {'; '.join(problems)}); restore it from a "
                             "copy, or choose a new --store path")

    def _check_schema(self) -> None:
        if self.readonly:
            self._check_schema_readonly()
            return
        # BEGIN IMMEDIATE takes the write lock first: several processes opening one new store at
        # once create it exactly once, and a migration runs once
        self.db.isolation_level = None
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._check_schema_locked()
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        finally:
            self.db.isolation_level = ""

    def _check_schema_readonly(self) -> None:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            raise StoreError(f"{self.path} is not a ganopt results store"
                             + (f" (tables: {', '.join(sorted(tables))})" if tables else " (it is empty)"))
        if self._version() == 1:  # migrate a copy in memory: the file may not be written
            from .migrate import migrate_v1

            memory = sqlite3.connect(":memory:")
            self.db.backup(memory)
            self.db.close()
            self.db = memory
            with self.db:
                migrate_v1(self.db)
        else:
            self._refuse_other_versions()
        self._check_complete()

    def _check_complete(self) -> None:
        """Refuse a store whose label says v2 but that lacks a table or column of it."""
        for table, columns in TABLE_COLUMNS.items():
            have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
            missing = [c for c in columns if c not in have]
            if missing:
                what = f"the table {table!r}" if not have else f"the column{'s' if len(missing) > 1 else ''} " \
                    f"{', '.join(missing)} of table {table!r}"
                raise StoreError(f"{self.path} says results schema v{SCHEMA_VERSION} but lacks {what}: it was "
                                 "changed by something other than ganopt; restore it from a copy, or choose a new "
                                 "--store path")

    def _version(self) -> int | None:
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        try:
            return int(row[0]) if row else None
        except ValueError:
            return None

    def _refuse_other_versions(self) -> None:
        version = self._version()
        if version == SCHEMA_VERSION:
            return
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        written = f"v{version}" if version is not None else f"an unknown schema ({row[0] if row else 'none'!r})"
        newer = version is not None and version > SCHEMA_VERSION
        raise StoreError(f"{self.path} was written with results schema {written}; this ganopt "
                         f"(v{ganopt.__version__}) reads v1 and v{SCHEMA_VERSION}"
                         + (": upgrade ganopt to read it, or choose a new --store path" if newer
                            else ": choose a new --store path"))

    def _check_schema_locked(self) -> None:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise StoreError(f"{self.path} is not a ganopt results store (tables: {', '.join(sorted(tables))}); "
                             "choose another --store path")
        if "meta" not in tables:
            for statement in SCHEMA.split(";"):  # executescript would commit the open transaction
                if statement.strip():
                    self.db.execute(statement)
            self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            return
        if self._version() == 1:
            from .migrate import migrate_v1
            migrate_v1(self.db)
        else:
            self._refuse_other_versions()
        self._check_complete()
        self.db.execute(SUITE_RUNS)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------------

    def statuses(self, run_ids: Iterable[str]) -> dict[str, str]:
        ids = list(run_ids)
        out = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            query = f"SELECT run_id, status FROM runs WHERE run_id IN ({','.join('?' * len(chunk))})"
            out.update(dict(self.db.execute(query, chunk).fetchall()))
        return out

    def join_suite(self, suite: str, run_ids: list[str]) -> None:
        """Make the runs members of `suite` (those it shares with another suite stay members of both)."""
        with self._writing(), self.db:
            self.db.executemany("INSERT OR IGNORE INTO suite_runs VALUES (?, ?)", [(suite, r) for r in run_ids])

    def suites(self) -> list[str]:
        """Every suite with a run in the store."""
        return sorted({row[0] for row in self.db.execute(self._members_sql()) if row[0] is not None})

    def _members_sql(self) -> str:
        """(suite, run_id) pairs: the membership table, and each run's own column (a store
        written before the table, or opened read-only since, has only that)."""
        has_table = self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='suite_runs'").fetchone()
        return "SELECT suite, run_id FROM runs" + (" UNION SELECT suite, run_id FROM suite_runs" if has_table else "")

    def runs_frame(self, run_ids: list[str] | None = None, suite: str | None = None) -> pd.DataFrame:
        """One row per run with its declared hyperparameters (consensus's gamma, a plugin's
        alpha: each strategy setting beyond the fixed columns) and its final metrics (its last
        evaluation's) as columns.  `suite`: only that suite's members, labelled with it."""
        runs = pd.read_sql_query("SELECT * FROM runs", self.db)
        if suite is not None:
            members = {row[0] for row in self.db.execute(
                f"SELECT run_id FROM ({self._members_sql()}) WHERE suite = ?", (suite,))}
            runs = runs[runs["run_id"].isin(members)].assign(suite=suite).reset_index(drop=True)
        runs = _with_hyperparameters(runs)
        final = pd.read_sql_query(
            "SELECT v.run_id, v.name, v.value FROM metric_values v JOIN "
            "(SELECT run_id, MAX(step) AS step FROM evaluations GROUP BY run_id) last "
            "ON v.run_id = last.run_id AND v.step = last.step", self.db)
        wide = final.pivot(index="run_id", columns="name", values="value") if not final.empty else None
        if wide is not None:
            runs = runs.merge(wide, left_on="run_id", right_index=True, how="left")
        return _select(runs, run_ids)

    def records_frame(self, run_ids: list[str] | None = None) -> pd.DataFrame:
        """One row per run per evaluation (the curves) with every metric as a column."""
        evaluations = pd.read_sql_query("SELECT * FROM evaluations ORDER BY run_id, step", self.db)
        values = pd.read_sql_query("SELECT * FROM metric_values", self.db)
        if not values.empty:
            wide = values.pivot(index=["run_id", "step"], columns="name", values="value").reset_index()
            evaluations = evaluations.merge(wide, on=["run_id", "step"], how="left")
        return _select(evaluations, run_ids)

    def declarations(self) -> dict[str, tuple[tuple[Metric, ...], Target]]:
        """problem -> (its metric declarations, its target), as stored with its runs."""
        rows = self.db.execute("SELECT problem, declarations FROM problems").fetchall()
        return {problem: declarations_from_json(json.loads(text)) for problem, text in rows}

    def samples(self, run_ids: list[str]) -> dict[str, np.ndarray]:
        out = {}
        for run_id in run_ids:
            row = self.db.execute("SELECT data FROM samples WHERE run_id=?", (run_id,)).fetchone()
            if row is not None:
                out[run_id] = np.load(io.BytesIO(row[0]))
        return out

    # -- writing: one transaction per stack ----------------------------------------------------

    @contextmanager
    def _writing(self):
        """A failed write (a full disk) is one clear error; the transaction has rolled back and
        every stack committed before it is kept."""
        try:
            yield
        except (sqlite3.OperationalError, OSError) as e:
            raise WriteError(f"cannot write to the store {self.path} ({e}); the stacks finished before are kept: "
                             "free space and rerun the same command to resume") from None

    def save_stack(self, suite: str, runs: list[RunSpec], result: StackResult, env: dict[str, Any]) -> None:
        finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with self._writing(), self.db:  # commit on success, roll back on any exception
            self._save_declarations(runs[0].problem)
            for i, run in enumerate(runs):
                records = result.records[i]
                last = records[-1] if records else {}
                self._replace_run(run, suite, env, finished, status=result.status[i], reason=None,
                                  diverged_step=result.diverged_step[i], steps=result.diverged_step[i] or run.steps,
                                  final=last, stack_size=len(runs), stack_wall_s=result.wall_s)
                self.db.executemany("INSERT INTO evaluations VALUES (?, ?, ?, ?)",
                                    [(run.run_id, r["step"], r["grad_evals"], r["wall_s"]) for r in records])
                self.db.executemany(
                    "INSERT INTO metric_values VALUES (?, ?, ?, ?)",
                    [(run.run_id, r["step"], name, _real(value)) for r in records for name, value in r.items()
                     if name not in EVALUATION_COLUMNS])
                if result.samples is not None and result.status[i] != "diverged":  # a frozen net's samples mean nothing
                    buffer = io.BytesIO()
                    np.save(buffer, result.samples[i].astype(np.float32))
                    self.db.execute("INSERT INTO samples VALUES (?, ?)", (run.run_id, buffer.getvalue()))

    def save_failure(self, suite: str, runs: list[RunSpec], status: str, reason: str, env: dict[str, Any]) -> None:
        """Record runs whose stack failed (error, timeout).  A run the store already holds as
        finished keeps its result: a failed `--force` rerun must not wipe what it was to replace."""
        finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        kept = {k for k, v in self.statuses([r.run_id for r in runs]).items() if v in FINISHED}
        with self._writing(), self.db:
            self._save_declarations(runs[0].problem)
            for run in [r for r in runs if r.run_id not in kept]:
                self._replace_run(run, suite, env, finished, status=status, reason=reason, diverged_step=None,
                                  steps=None, final={}, stack_size=len(runs), stack_wall_s=None)

    def _save_declarations(self, problem_name: str) -> None:
        problem = ganopt.get_problem(problem_name)
        text = json.dumps(declarations_to_json(declarations(problem), problem.target), sort_keys=True)
        self.db.execute("INSERT OR REPLACE INTO problems VALUES (?, ?)", (problem_name, text))

    def _replace_run(self, run: RunSpec, suite: str, env, finished, *, status, reason, diverged_step, steps, final,
                     stack_size, stack_wall_s):
        for table in ("runs", "evaluations", "metric_values", "samples"):
            self.db.execute(f"DELETE FROM {table} WHERE run_id=?", (run.run_id,))
        settings = dataclasses.asdict(run.strategy)
        row = {
            "run_id": run.run_id, "suite": suite, "phase": run.phase, "trial": run.trial,
            "problem": run.problem, "strategy": run.strategy.name,
            "seed": run.seed, "status": status, "reason": reason, "diverged_step": diverged_step, "steps": steps,
            "grad_evals": final.get("grad_evals"), "wall_s": final.get("wall_s"), "stack_size": stack_size,
            "stack_wall_s": stack_wall_s,
            **{c: settings[c] for c in STRATEGY_COLUMNS},
            "options": json.dumps(run.options, sort_keys=True),
            "spec": json.dumps(run.describe(), sort_keys=True),
            "provenance": json.dumps(run_provenance(env, run), sort_keys=True),
            "finished": finished,
        }
        self.db.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                        tuple(row[c] for c in RUN_COLUMNS))


def _with_hyperparameters(runs: pd.DataFrame) -> pd.DataFrame:
    """Each run's stored spec and provenance, read here once for every reader, as columns:
    what it was asked to do (`planned_steps`, `eval_every`, `lr_schedule`, `precision`; `steps`
    is what it trained: a diverged run stops), where its rates came from (`lr_source`, absent
    for runs stored before it was recorded), and its strategy's declared hyperparameters
    (consensus's gamma, lookahead's `inner.*`: absent for a run whose strategy has none)."""
    specs = [json.loads(t) if isinstance(t, str) else {} for t in runs.get("spec", [])]
    sources = [json.loads(t).get("lr_source") if isinstance(t, str) else None for t in runs.get("provenance", [])]
    fixed = pd.DataFrame({"planned_steps": [s.get("steps") for s in specs],
                          "eval_every": [s.get("eval_every") for s in specs],
                          "lr_schedule": [s.get("lr_schedule", "constant") if s else None for s in specs],
                          "precision": [s.get("precision", DEFAULT_PRECISION) if s else None for s in specs],
                          "lr_source": sources or None}, index=runs.index)
    hyper = pd.DataFrame([s.get("settings", {}).get("hyper", {}) for s in specs], index=runs.index)
    table = pd.concat([fixed, hyper[[c for c in hyper.columns if c not in fixed.columns]]], axis=1)
    new = [c for c in table.columns if c not in runs.columns]
    return pd.concat([runs, table[new]], axis=1) if new else runs


def _real(value) -> float | None:
    """A metric value as SQLite REAL (inf and nan survive as REAL; None stays NULL)."""
    return None if value is None else float(value)


def _select(frame: pd.DataFrame, run_ids: list[str] | None) -> pd.DataFrame:
    if run_ids is None:
        return frame
    order = {run_id: i for i, run_id in enumerate(run_ids)}
    frame = frame[frame["run_id"].isin(order)]
    return frame.sort_values("run_id", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
