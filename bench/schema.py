"""The results store's schema v2 as data: the tables, the run columns and the run statuses.

Its own module so that the store (which creates and reads the tables) and the v1 migration
(which rebuilds them) both import it and neither imports the other's module at load time."""

from __future__ import annotations

SCHEMA_VERSION = 2

STATUSES = ("done", "diverged", "error", "timeout")
FINISHED = ("done", "diverged")  # a run with a result (a rerun skips it); error and timeout runs run again
FAILED = ("error", "timeout")  # no metrics: the run never finished

STRATEGY_COLUMNS = ["scheme", "base", "estimate", "lr_g", "lr_d", "lr_ratio", "beta", "beta1", "beta2", "eps", "d_steps"]
RUN_COLUMNS = (["run_id", "suite", "phase", "trial", "problem", "strategy", "seed", "status", "reason",
                "diverged_step", "steps", "grad_evals", "wall_s", "stack_size", "stack_wall_s"]
               + STRATEGY_COLUMNS + ["options", "spec", "provenance", "finished"])
EVALUATION_COLUMNS = ["run_id", "step", "grad_evals", "wall_s"]
# every table and the columns the code reads: a store missing any is refused when opened, not
# found half-way through a report (or after a sweep has trained)
TABLE_COLUMNS = {
    "meta": ["key", "value"],
    "runs": RUN_COLUMNS,
    "evaluations": EVALUATION_COLUMNS,
    "metric_values": ["run_id", "step", "name", "value"],
    "problems": ["problem", "declarations"],
    "samples": ["run_id", "data"],
}

_REAL = {"lr_g", "lr_d", "lr_ratio", "beta", "beta1", "beta2", "eps", "grad_evals", "wall_s", "stack_wall_s"}
_INT = {"seed", "diverged_step", "steps", "d_steps", "step", "stack_size", "trial"}


def _column_type(name: str) -> str:
    return "REAL" if name in _REAL else "INTEGER" if name in _INT else "TEXT"


# Which suites each run belongs to: a run (one protocol, one id) that two suites share is trained
# once and is a member of both.  Added within v2: a v2 store written before it gets it when opened
# for writing, and until then its runs belong to the suite in their `suite` column (the last one
# that trained them).
SUITE_RUNS = "CREATE TABLE IF NOT EXISTS suite_runs (suite TEXT, run_id TEXT, PRIMARY KEY (suite, run_id));"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs ({", ".join(f"{c} {_column_type(c)}" for c in RUN_COLUMNS)}, PRIMARY KEY (run_id));
CREATE TABLE IF NOT EXISTS evaluations (run_id TEXT, step INTEGER, grad_evals REAL, wall_s REAL,
    PRIMARY KEY (run_id, step));
CREATE TABLE IF NOT EXISTS metric_values (run_id TEXT, step INTEGER, name TEXT, value REAL,
    PRIMARY KEY (run_id, step, name));
CREATE TABLE IF NOT EXISTS problems (problem TEXT PRIMARY KEY, declarations TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (run_id TEXT PRIMARY KEY, data BLOB NOT NULL);
{SUITE_RUNS}
"""
