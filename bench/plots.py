"""PNG plots from a results directory: samples, coverage vs gradient evaluations, losses,
and trajectories of the analytic games.  One colour per strategy in every plot."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ganopt import get_problem  # noqa: E402

# Okabe & Ito's colour-blind-safe palette, then matplotlib's tab10 for long lists.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
PALETTE += list(plt.get_cmap("tab10").colors)
MAX_SEED_COLUMNS = 3


def strategy_colors(names) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(dict.fromkeys(names))}


def write_plots(out: Path, summary: pd.DataFrame, curves: pd.DataFrame, samples: dict) -> list[Path]:
    colors = strategy_colors(summary["strategy"])
    written = []
    for problem, runs in summary.groupby("problem", sort=False):
        problem_curves = curves[curves["problem"] == problem]
        if get_problem(problem).kind == "game":
            written.append(plot_trajectories(out / f"trajectory_{problem}.png", problem, runs, problem_curves, colors))
        else:
            written.append(plot_samples(out / f"samples_{problem}.png", problem, runs, samples))
            written.append(plot_curve(out / f"coverage_{problem}.png", problem, problem_curves, colors,
                                      "grad_evals", "modes_covered", "gradient evaluations", "modes covered"))
        written.append(plot_losses(out / f"losses_{problem}.png", problem, problem_curves, colors))
    return written


def _mode_centers(runs: pd.DataFrame, problem: str) -> np.ndarray:
    p = get_problem(problem)
    return p.centers(json.loads(runs["options"].iloc[0])).numpy()


def plot_samples(path: Path, problem: str, runs: pd.DataFrame, samples: dict) -> Path:
    """A grid of scatter panels: one row per strategy, one column per seed; true modes in red."""
    centers = _mode_centers(runs, problem)
    strategies = list(dict.fromkeys(runs["strategy"]))
    seeds = sorted(runs["seed"].unique())[:MAX_SEED_COLUMNS]
    fig, axes = plt.subplots(len(strategies), len(seeds), figsize=(2.4 * len(seeds), 2.4 * len(strategies)),
                             squeeze=False)
    span = np.abs(centers).max() * 1.5
    for r, strategy in enumerate(strategies):
        for c, seed in enumerate(seeds):
            ax = axes[r][c]
            row = runs[(runs["strategy"] == strategy) & (runs["seed"] == seed)]
            if not row.empty and row["run_id"].iloc[0] in samples:
                xy = samples[row["run_id"].iloc[0]]
                ax.scatter(xy[:, 0], xy[:, 1], s=1, alpha=0.3, color="#0072B2", rasterized=True)
                status = row["status"].iloc[0]
                label = f"{row['modes_covered'].iloc[0]:.0f}/{row['modes_total'].iloc[0]:.0f} modes"
                outside = float(np.mean(np.abs(xy).max(axis=1) > span))
                if outside > 0.005:
                    label += f" · {outside:.0%} outside view"
                ax.set_title(f"{strategy} · seed {seed}\n{label}" + (" · DIVERGED" if status == "diverged" else ""),
                             fontsize=8)
            elif not row.empty:
                status = row["status"].iloc[0]
                when = f" at step {row['diverged_step'].iloc[0]:.0f}" if status == "diverged" else ""
                ax.set_title(f"{strategy} · seed {seed}\n{status.upper()}{when}", fontsize=8)
            ax.scatter(centers[:, 0], centers[:, 1], s=12, marker="x", color="#D55E00", linewidths=1)
            ax.set_xlim(-span, span)
            ax.set_ylim(-span, span)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=6)
    fig.suptitle(f"{problem}: generated samples (blue) and true modes (red ×)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curve(path: Path, problem: str, curves: pd.DataFrame, colors: dict, x: str, y: str,
               xlabel: str, ylabel: str) -> Path:
    """Mean over seeds per strategy, with a band from the lowest to the highest seed.  The
    curve stops where a seed diverged (no survivors-only means); the legend counts them."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for strategy, group in curves.groupby("strategy", sort=False):
        n_runs = group["run_id"].nunique()
        stats = group.groupby("step").agg(x=(x, "mean"), mean=(y, "mean"), low=(y, "min"), high=(y, "max"),
                                          n=(y, "size"))
        stats = stats[stats["n"] == n_runs]
        lost = n_runs - (group.groupby("run_id")["step"].max() == group["step"].max()).sum()
        label = strategy + (f" ({lost} of {n_runs} diverged)" if lost else "")
        ax.plot(stats["x"], stats["mean"], label=label, color=colors[strategy])
        ax.fill_between(stats["x"], stats["low"], stats["high"], color=colors[strategy], alpha=0.15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{problem}: {ylabel} (mean over seeds, band: min–max)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_losses(path: Path, problem: str, curves: pd.DataFrame, colors: dict) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, column, label in zip(axes, ["loss_d", "loss_g"], ["discriminator loss", "generator loss"]):
        for strategy, group in curves.groupby("strategy", sort=False):
            stats = group.groupby("step")[column].mean()
            ax.plot(stats.index, stats.values, label=strategy, color=colors[strategy])
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{problem}: losses (mean over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_trajectories(path: Path, problem: str, runs: pd.DataFrame, curves: pd.DataFrame, colors: dict) -> Path:
    """Left: the path of the first seed in the (theta_0, phi_0) plane; right: distance to equilibrium."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    first_seed = curves["seed"].min() if not curves.empty else 0
    for strategy, group in curves.groupby("strategy", sort=False):
        path_xy = group[group["seed"] == group["seed"].min()].sort_values("step")
        left.plot(path_xy["traj_x"], path_xy["traj_y"], color=colors[strategy], label=strategy, lw=1)
        left.plot(path_xy["traj_x"].iloc[0], path_xy["traj_y"].iloc[0], "o", color=colors[strategy], ms=4)
        n_runs = group["run_id"].nunique()
        stats = group.groupby("step")["dist_to_eq"].agg(["mean", "size"])
        stats = stats[stats["size"] == n_runs]["mean"]  # stop where a seed diverged
        right.plot(stats.index, stats.values, color=colors[strategy], label=strategy)
    left.plot(0, 0, "*", color="black", ms=12, label="equilibrium")
    left.set_xlabel("generator parameter θ₀")
    left.set_ylabel("discriminator parameter φ₀")
    left.set_title(f"trajectories (lowest seed, here {first_seed}; dots: start)")
    left.set_aspect("equal", adjustable="datalim")
    left.legend(fontsize=7)
    right.set_yscale("log")
    right.set_xlabel("step")
    right.set_ylabel("distance to equilibrium")
    right.set_title("distance to equilibrium (mean over seeds)")
    right.grid(alpha=0.3, which="both")
    fig.suptitle(problem)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
