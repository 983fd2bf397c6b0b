"""`python -m bench tune`: choose the preset strategies' learning rates per problem by ganopt's
equal-budget tuning protocol and write them, with every trial's score and the provenance of the
run, to the table the problems load (ganopt/assets/tuned_lr.json by default).

The trials are spread around the problems' untuned default rates (never around an earlier
tuned table, so regenerating it does not drift) on the suite's `tune_seeds`; the best trial by
the problem's primary metric (mean over the tuning seeds, a diverged run at the metric's worst
value) becomes the preset's rate.  A preset for which no trial reached the problem's target is
kept with `reached_target: 0` and listed by `bench tune`, not hidden."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

from ganopt.tuned import range_edge

from .scoring import Scorecard, finished, score_diverged, select_best


def tuned_entries(runs: pd.DataFrame, curves: pd.DataFrame, cards: dict[str, Scorecard]) -> dict[str, dict]:
    """problem -> strategy -> {lr_g, lr_d, trial, metric, score, reached_target, trials: [...]}."""
    best = select_best(runs, cards)
    scored = score_diverged(runs, cards)
    out: dict[str, dict] = {}
    for (problem, strategy), group in scored.groupby(["problem", "strategy"], sort=False):
        card = cards[problem]
        metric = card.primary
        values = group[metric.name].astype(float).where(finished(group), metric.worst)
        last = curves[curves["run_id"].isin(group["run_id"])].sort_values("step").groupby("run_id").tail(1)
        reached = card.reached(last).groupby(last["run_id"]).any() if not last.empty else pd.Series(dtype=bool)
        trials = []
        for trial, runs_of_trial in group.groupby("trial"):
            trials.append({"trial": int(trial), "lr_g": float(runs_of_trial["lr_g"].iloc[0]),
                           "lr_d": float(runs_of_trial["lr_d"].iloc[0]),
                           "score": _json_number(values.loc[runs_of_trial.index].mean()),
                           "diverged": int((runs_of_trial["status"] == "diverged").sum()),
                           "reached_target": int(reached.reindex(runs_of_trial["run_id"]).fillna(False).sum())})
        chosen = next(t for t in trials if t["trial"] == best[(problem, strategy)])
        out.setdefault(problem, {})[strategy] = {
            "lr_g": chosen["lr_g"], "lr_d": chosen["lr_d"], "trial": chosen["trial"], "metric": metric.name,
            "score": chosen["score"], "reached_target": chosen["reached_target"], "runs_per_trial":
                int(len(group) / max(len(trials), 1)), "trials": trials}
    return out


def _json_number(x: float) -> float | str:
    return float(x) if math.isfinite(x) else ("inf" if x > 0 else "-inf")


# what makes two tunings comparable: the same trials on the same models, data, budget and schedule
PROTOCOL = ("suite", "steps", "trials", "lr_range", "ratio_range", "tune_seeds", "lr_schedule", "options")


def write_table(path: Path, entries: dict[str, dict], provenance: dict[str, Any],
                options: dict[str, dict] | None = None) -> list[str]:
    """Write the tuned problems into the table at `path`; other problems keep their entries.
    A problem tuned before under the same protocol (PROTOCOL) gains or updates the presets just
    tuned and keeps the others, its provenance listing each later tuning; under another protocol
    its entry is replaced.  `options`: the problem options the trials ran with (the rates hold for
    those nets).  Returns one line per problem on what happened to its entry."""
    table = json.loads(path.read_text()) if path.is_file() else {"problems": {}}
    from ganopt import get_problem

    said = []
    for problem, strategies in entries.items():
        paths = getattr(get_problem(problem), "PATH_OPTIONS", ())  # no machine's paths in the committed table
        recorded = {k: v for k, v in (options or {}).get(problem, {}).items() if k not in paths}
        tuned_with = json.loads(json.dumps({**provenance, "options": recorded}))  # as the file will hold it
        old = table["problems"].get(problem)
        old_provenance = (old or {}).get("provenance", {})
        kept = sorted(set((old or {}).get("strategies", {})) - set(strategies))
        was, now = _protocol(problem, old_provenance), _protocol(problem, tuned_with)
        changed = [k for k in PROTOCOL if was.get(k) != now.get(k)]
        if old is None:
            said.append(f"{problem}: new entry")
        elif not kept:
            said.append(f"{problem}: replaced the entry (every preset it held was tuned again)")
        elif not changed:
            update = {k: v for k, v in tuned_with.items() if k not in PROTOCOL}
            tuned_with = {**old_provenance,
                          "updates": [*old_provenance.get("updates", []), {**update, "strategies": sorted(strategies)}]}
            strategies = {**old["strategies"], **strategies}
            said.append(f"{problem}: tuned {len(strategies) - len(kept)} presets under the recorded protocol, "
                        f"kept {len(kept)}")
        else:
            what = [k if k in old_provenance else f"{k} (not recorded)" for k in changed]
            said.append(f"{problem}: replaced the entry tuned with other {', '.join(what)}; dropped {', '.join(kept)}")
        table["problems"][problem] = {"provenance": tuned_with, "strategies": strategies}
    table["problems"] = dict(sorted(table["problems"].items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(table, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)
    return said


def _protocol(problem: str, provenance: dict[str, Any]) -> dict[str, Any]:
    """The PROTOCOL part of a provenance, read as ganopt.tuned reads it: no schedule recorded is
    the constant one, and options recorded before an option existed take its default."""
    from ganopt import get_problem

    out = {k: provenance.get(k) for k in PROTOCOL}
    out["lr_schedule"] = out["lr_schedule"] or "constant"
    try:
        out["options"] = json.loads(json.dumps(get_problem(problem).check_options(out["options"] or {})))
    except ValueError:
        pass  # options ganopt no longer accepts: compared as recorded (they differ)
    return out


def provenance(suite, env: dict[str, Any], command: str) -> dict[str, Any]:
    steps = sorted({run.steps for run in suite.runs})
    schedules = sorted({run.lr_schedule for run in suite.runs})
    return {"command": command, "suite": suite.name, "git_commit": env.get("git_commit"),
            "git_dirty": env.get("git_dirty"), "device": env.get("device"), "cpu": env.get("cpu"),
            "gpu": env.get("gpu"), "torch": env.get("torch"),
            "date": time.strftime("%Y-%m-%d"), "steps": steps[0] if len(steps) == 1 else steps,
            "trials": suite.tuning.trials, "lr_range": list(suite.tuning.lr_range),
            "ratio_range": list(suite.tuning.ratio_range), "tune_seeds": list(suite.tuning.tune_seeds),
            "lr_schedule": schedules[0] if len(schedules) == 1 else schedules}


def summary_lines(entries: dict[str, dict]) -> list[str]:
    lines = []
    for problem, strategies in entries.items():
        for strategy, e in strategies.items():
            flag = "" if e["reached_target"] else "  (no trial reached the target)"
            edge = range_edge(e)
            flag += f"  (the {edge} rate tried: the best may lie beyond the range)" if edge else ""
            lines.append(f"  {problem:12s} {strategy:20s} lr_G {e['lr_g']:.3g}  lr_D {e['lr_d']:.3g}  "
                         f"{e['metric']} {e['score'] if isinstance(e['score'], str) else round(e['score'], 4)}{flag}")
    return lines
