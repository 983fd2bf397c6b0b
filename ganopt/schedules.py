"""Learning-rate schedules: the factor that multiplies every run's learning rates at a step.

- `constant`: 1 throughout.
- `linear-decay`: 1 for the first half of the budget, then down linearly to 1/(steps/2) at the
  last step (for steps >= 3; shorter budgets keep the factor 1).

Why a decay: a GAN trained at a constant rate keeps circling between modes (on ring8 the
high-quality fraction of Adam at 4e-3, the mean of 2 seeds, read 0.90, 0.64, 0.95 at steps
6,000, 8,000, 10,000); the decay lets each run settle, so its end point does not depend on
where in a cycle the budget happened to stop.

A suite chooses one (`lr_schedule = "linear-decay"`) for all its runs, so every strategy gets
the same schedule and the comparison stays equal-budget.
"""

from __future__ import annotations


def _constant(step: int, steps: int) -> float:
    return 1.0


def _linear_decay(step: int, steps: int) -> float:
    return min(1.0, (steps - step + 1) / (steps / 2))


LR_SCHEDULES = {"constant": _constant, "linear-decay": _linear_decay}


def lr_factor(schedule: str, step: int, steps: int) -> float:
    """The factor of step `step` (1-based) of `steps`."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule {schedule!r}; valid: {', '.join(LR_SCHEDULES)}")
    return LR_SCHEDULES[schedule](step, steps)
