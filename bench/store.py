"""The results directory: run rows, curve rows, final samples and provenance, written as each
stack finishes.  Reports are made from these files alone (bench.report)."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import ganopt
from ganopt.train import StackResult

from .plan import StackPlan

STRATEGY_COLUMNS = ["scheme", "base", "estimate", "lr_g", "lr_d", "lr_ratio", "beta", "beta1", "beta2", "eps", "d_steps"]
METRIC_COLUMNS = ["loss_g", "loss_d", "grad_norm_g", "grad_norm_d", "field_norm",
                  "modes_covered", "modes_total", "hq_fraction", "kl_modes", "dist_to_eq"]
RUN_COLUMNS = (["run_id", "problem", "strategy", "seed", "status", "diverged_step", "steps", "grad_evals", "wall_s"]
               + METRIC_COLUMNS + STRATEGY_COLUMNS + ["options"])
CURVE_COLUMNS = ["run_id", "problem", "strategy", "seed", "step", "grad_evals", "wall_s"] + METRIC_COLUMNS + ["traj_x", "traj_y"]


def provenance(device: torch.device) -> dict[str, Any]:
    def git(*args):
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                                  cwd=Path(__file__).parent).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = git("rev-parse", "HEAD")
    return {
        "ganopt": ganopt.__version__,
        "git_commit": commit or None,
        "git_dirty": bool(git("status", "--porcelain")) if commit else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "os": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch_threads": torch.get_num_threads(),
        "dtype": "float32 (mixtures), float64 (analytic games)",
        "command": " ".join(sys.argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


class ResultsDir:
    """Appends rows to summary.csv and curves.csv as stacks finish; samples.npz at close."""

    def __init__(self, out: Path, suite_name: str, device: torch.device):
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        for name in ("summary.csv", "curves.csv", "samples.npz"):
            (out / name).unlink(missing_ok=True)
        self.samples: dict[str, np.ndarray] = {}
        self.n_runs = 0
        meta = {"suite": suite_name, **provenance(device)}
        (out / "provenance.json").write_text(json.dumps(meta, indent=2) + "\n")

    def _append(self, name: str, columns: list[str], rows: list[dict]) -> None:
        path = self.out / name
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerows(rows)
            f.flush()
            os.fsync(f.fileno())

    def add(self, stack: StackPlan, result: StackResult) -> None:
        run_rows, curve_rows = [], []
        for i, run in enumerate(stack.runs):
            ident = {"run_id": run.run_id, "problem": run.problem, "strategy": run.strategy.name, "seed": run.seed}
            records = result.records[i]
            last = records[-1]
            settings = dataclasses.asdict(run.strategy)
            run_rows.append({
                **ident, **{c: settings[c] for c in STRATEGY_COLUMNS}, **last,
                "status": result.status[i],
                "diverged_step": result.diverged_step[i] if result.diverged_step[i] is not None else "",
                "steps": result.diverged_step[i] or run.steps,
                "options": json.dumps(run.options, sort_keys=True),
            })
            curve_rows += [{**ident, **record} for record in records]
            if result.samples is not None:
                self.samples[run.run_id] = result.samples[i].astype(np.float32)
        self._append("curves.csv", CURVE_COLUMNS, curve_rows)
        self._append("summary.csv", RUN_COLUMNS, run_rows)
        self.n_runs += len(stack.runs)

    def close(self) -> None:
        if self.samples:
            np.savez_compressed(self.out / "samples.npz", **self.samples)
