"""Migrate a results store of schema v1 to v2, in place, in the caller's open transaction.

v1 kept a fixed list of metric columns in `runs` (final values) and `records` (curves), and the
harness hard-coded what each meant.  v2 keeps metric values in long form and each problem's
metric declarations beside them.  Nothing is lost: every v1 value becomes a v2 value, and the
v1 meaning of the columns (which one was the headline, what a diverged run scored, the target)
is written as the migrated problems' declarations, so their report shows the same numbers.
"""

from __future__ import annotations

import json
import math
import sqlite3

from ganopt.metrics import CONVERGENCE_METRICS, Metric, Target, declarations_to_json

from .schema import RUN_COLUMNS, SCHEMA

V1_METRICS = ["loss_g", "loss_d", "grad_norm_g", "grad_norm_d", "field_norm", "modes_covered", "modes_total",
              "hq_fraction", "kl_modes", "dist_to_eq", "confidence", "fid"]
V1_RECORD_ONLY = ["traj_x", "traj_y"]
V1_TARGETS = {
    "mixture": Target("modes_covered == modes_total and hq_fraction >= 0.5",
                      "every mode covered and high-quality fraction ≥ 0.5"),
    "image": Target("modes_covered == modes_total and hq_fraction >= 0.5",
                    "every class covered and confident fraction ≥ 0.5"),
    "game": Target("dist_to_eq <= 0.1", "distance to equilibrium ≤ 0.1"),
}


def v1_declarations(kind: str, n_modes: float) -> tuple[Metric, ...]:
    """What v1's harness meant by its columns, per kind of problem (v1 branched on the kind)."""
    if kind == "game":
        return (Metric("dist_to_eq", "distance to equilibrium", False, diverged=math.inf, primary=True, digits=4,
                       log=True, tolerance=0.1),
                Metric("traj_x", "generator parameter θ₀", show=False, plot="trajectory"),
                Metric("traj_y", "discriminator parameter φ₀", show=False, plot="trajectory"))
    image = kind == "image"
    metrics = (
        Metric("modes_covered", "modes (classes) covered" if image else "modes covered", True, diverged=0.0,
               primary=True, digits=1, plot="curve", of="modes_total"),
        Metric("modes_total", "modes", show=False, digits=0),
        Metric("hq_fraction", "confident fraction" if image else "high-quality fraction", True, diverged=0.0),
        Metric("kl_modes", "KL(modes ‖ uniform)", False, diverged=math.log(n_modes) if n_modes > 0 else None),
    )
    if image:
        metrics += (Metric("fid", "Fréchet distance", False, diverged=math.inf, digits=2, log=True, plot="curve"),
                    Metric("confidence", "mean confidence", True, diverged=0.0, show=False))
    return metrics


def _kind(db: sqlite3.Connection, problem: str) -> tuple[str, float]:
    """v1 wrote dist_to_eq only for games and confidence only for image problems."""
    row = db.execute("SELECT MAX(r.dist_to_eq), MAX(r.confidence), MAX(r.modes_total) FROM records r "
                     "JOIN runs USING (run_id) WHERE runs.problem = ?", (problem,)).fetchone()
    kind = "game" if row[0] is not None else "image" if row[1] is not None else "mixture"
    return kind, float(row[2] or 0)


def migrate_v1(db: sqlite3.Connection) -> None:
    for statement in SCHEMA.split(";"):
        if statement.strip() and "runs (" not in statement:
            db.execute(statement)
    db.execute("INSERT INTO evaluations SELECT run_id, step, grad_evals, wall_s FROM records")
    for column in V1_METRICS + V1_RECORD_ONLY:
        db.execute(f"INSERT INTO metric_values SELECT run_id, step, '{column}', {column} FROM records "
                   f"WHERE {column} IS NOT NULL")
    for (problem,) in db.execute("SELECT DISTINCT problem FROM runs").fetchall():
        kind, n_modes = _kind(db, problem)
        text = json.dumps(declarations_to_json(v1_declarations(kind, n_modes) + CONVERGENCE_METRICS,
                                               V1_TARGETS[kind]), sort_keys=True)
        db.execute("INSERT INTO problems VALUES (?, ?)", (problem, text))
    db.execute("ALTER TABLE runs RENAME TO runs_v1")
    db.execute(next(s for s in SCHEMA.split(";") if "runs (" in s))
    # v1's wall_s was the stack's seconds divided by its size: the stack's seconds are kept as such
    kept = [c for c in RUN_COLUMNS if c != "stack_wall_s"]
    db.execute(f"INSERT INTO runs ({', '.join(kept)}, stack_wall_s) SELECT {', '.join(kept)}, wall_s * stack_size "
               "FROM runs_v1")
    db.execute("DROP TABLE runs_v1")
    db.execute("DROP TABLE records")
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.execute("INSERT OR REPLACE INTO meta VALUES ('migrated_from', '1')")
