"""PNG plots from a results directory: samples, coverage vs gradient evaluations, losses,
and trajectories of the analytic games.  One colour per strategy in every plot."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from scipy.stats import gaussian_kde  # noqa: E402

from ganopt.metrics import PLOTS  # noqa: E402

from . import files  # noqa: E402
from .scoring import finished  # noqa: E402

# Okabe & Ito's colour-blind-safe palette, and only it: a ninth colour from another palette was
# a near-twin of one of these (tab10's blue beside #0072B2).  Past eight strategies the line
# style changes, and markers vary throughout, so strategies stay apart in greyscale too.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
LINESTYLES = ["-", "--", "-.", ":"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
MAX_SEED_COLUMNS = 3
BUDGET_AXES = [("step", "steps"), ("grad_evals", "gradient evaluations"), ("wall_s", "wall seconds per run")]


def save(fig, path: Path) -> Path:
    try:
        fig.tight_layout()
        files.save_figure(fig, path, dpi=100, bbox_inches="tight")  # "tight": legends outside the axes are kept
    finally:
        plt.close(fig)
    return path


def strategy_colors(names) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(dict.fromkeys(names))}


def strategy_styles(names) -> dict[str, dict]:
    """Colour, line style and marker per strategy, the same in every plot of a report.  The i-th
    strategy gets colour i mod 8, line style (i div 8) mod 4 and marker (i + i div 8 + i div 64)
    mod 8: in a scatter (no line) no two of up to 64 strategies share colour and marker, and in
    a line plot no two of up to 256 share all three."""
    n = len(PALETTE)
    return {name: {"color": PALETTE[i % n], "linestyle": LINESTYLES[(i // n) % len(LINESTYLES)],
                   "marker": MARKERS[(i + i // n + i // (n * n)) % len(MARKERS)], "markevery": 0.2,
                   "markersize": 4}
            for i, name in enumerate(dict.fromkeys(names))}


def _style(styles: dict, name: str) -> dict:
    """A strategy's style; a bare colour is accepted too."""
    style = styles[name]
    return dict(style) if isinstance(style, dict) else {"color": style}


def legend_outside(ax, handles=None, labels=None, fontsize: int = 7) -> None:
    """The legend to the right of the axes, where it hides no data (save() keeps it in the image)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)


def write_plots(out: Path, summary: pd.DataFrame, curves: pd.DataFrame, samples: dict,
                cards: dict) -> dict[str, list[Path]]:
    """Every plot of a report, grouped by problem (and "all problems" for the profile).  What is
    drawn follows the data and the declarations: the samples, then one figure (or none) per
    plot kind that the problem's metrics declare (FIGURES)."""
    styles = strategy_styles(summary["strategy"])
    written: dict[str, list[Path]] = {}
    for problem, runs in summary.groupby("problem", sort=False):
        figure = Figure(out, problem, runs, curves[curves["problem"] == problem], samples, styles, cards[problem])
        written[problem] = _sample_figures(figure)
        for draw in FIGURES.values():
            written[problem] += draw(figure)
    profile = plot_performance_profile(out / "performance_profile.png", summary, curves, styles, cards)
    if profile is not None:
        written["all problems"] = [profile]
    return written


@dataclass(frozen=True)
class Figure:
    """What a plot kind draws from: one problem's runs, curves and samples, the strategies'
    styles, and its scorecard (the declarations: `card.drawn(kind)`)."""

    out: Path
    problem: str
    runs: pd.DataFrame
    curves: pd.DataFrame
    samples: dict
    styles: dict
    card: Any


def _sample_figures(f: Figure) -> list[Path]:
    """Samples as the data's shape says: image grids for images, a scatter for points in the plane."""
    shapes = {f.samples[r].shape[1:] for r in f.runs["run_id"] if r in f.samples}
    if any(len(shape) == 3 for shape in shapes):  # [N, C, H, W]: images
        figures = [plot_image_grids(f.out / f"samples_{f.problem}.png", f.problem, f.runs, f.samples, f.card.primary)]
        if any(shape[0] > 1 for shape in shapes):  # overlaid channels hide their digits: show each apart
            figures.append(plot_channel_grids(f.out / f"channels_{f.problem}.png", f.problem, f.runs, f.samples))
        return figures
    if shapes == {(2,)}:  # [N, 2]: points in the plane
        return [plot_samples(f.out / f"samples_{f.problem}.png", f.problem, f.runs, f.samples, f.card.primary)]
    return []


def _trajectory_figure(f: Figure) -> list[Path]:
    path_xy = f.card.drawn("trajectory")[:2]
    if len(path_xy) == 2 and _recorded(f.curves, path_xy[0]) and path_xy[1].name in f.curves:
        return [plot_trajectories(f.out / f"trajectory_{f.problem}.png", f.problem, f.runs, f.curves, f.styles,
                                  f.card.primary, path_xy)]
    return []


def _curve_figures(f: Figure) -> list[Path]:
    """The primary metric always, and every metric declared as a curve: against steps,
    gradient evaluations and seconds."""
    metrics = [f.card.primary] + [m for m in f.card.drawn("curve") if not m.primary]
    return [plot_budgets(f.out / f"{m.name}_{f.problem}.png", f.problem, f.curves, f.styles, m.name, m.label,
                         log=m.log) for m in metrics if _recorded(f.curves, m)]


def _loss_figure(f: Figure) -> list[Path]:
    losses = f.card.drawn("loss")
    return [plot_losses(f.out / f"losses_{f.problem}.png", f.problem, f.curves, f.styles, losses)] if losses else []


def _dynamics_figure(f: Figure) -> list[Path]:
    """The eigenvalues, rotation share and path angles together, where a rotation share was recorded."""
    if any(_recorded(f.curves, m) for m in f.card.drawn("rotation")):
        return [plot_diagnostics(f.out / f"diagnostics_{f.problem}.png", f.problem, f.curves, f.styles, f.card)]
    return []


def _drawn_elsewhere(f: Figure) -> list[Path]:
    return []  # eigenvalue-re, eigenvalue-im, path-angle: panels of the dynamics figure


# plot kind (ganopt.metrics.PLOTS) -> what draws it, in the order the report shows them
FIGURES: dict[str, Callable[[Figure], list[Path]]] = {
    "trajectory": _trajectory_figure, "curve": _curve_figures, "loss": _loss_figure, "rotation": _dynamics_figure,
    "eigenvalue-re": _drawn_elsewhere, "eigenvalue-im": _drawn_elsewhere, "path-angle": _drawn_elsewhere,
}


def register_plot_kind(kind: str, description: str, draw: Callable[[Figure], list[Path]]) -> None:
    """Add a plot kind: metrics that declare `plot=kind` are drawn by `draw(figure)`, which
    returns the files it wrote (none when it has nothing to draw).  A plugin's way to a figure
    of its own, with no change to the harness (examples/my_problem.py)."""
    if not kind or (kind in FIGURES and FIGURES[kind] is not draw):
        raise ValueError(f"plot kind {kind!r} is empty or already taken; taken: {', '.join(FIGURES)}")
    PLOTS[kind] = description
    FIGURES[kind] = draw


def _recorded(curves: pd.DataFrame, metric) -> bool:
    """Did any run record `metric` (a declared metric may be absent: diagnostics are optional)?"""
    return metric.name in curves and curves[metric.name].notna().any()


def _landmarks(runs: pd.DataFrame, problem: str) -> np.ndarray | None:
    """The points a problem marks on its sample plots (true modes), when it is registered here."""
    from ganopt.problems import PROBLEMS

    if problem not in PROBLEMS:
        return None
    points = PROBLEMS[problem].landmarks(json.loads(runs["options"].iloc[0]))
    return None if points is None else np.asarray(points)


def _score(value, metric) -> str:
    return "—" if value is None or pd.isna(value) else f"{metric.label}: {value:.{min(metric.digits, 3)}f}"


def plot_image_grids(path: Path, problem: str, runs: pd.DataFrame, samples: dict, metric, side: int = 8) -> Path:
    """An 8x8 grid of generated images per strategy (its lowest seed); 3 channels show as RGB."""
    strategies = list(dict.fromkeys(runs["strategy"]))
    cols = min(3, len(strategies))
    rows = (len(strategies) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, strategy in zip(axes.flat, strategies):
        run = _first_with_samples(runs, strategy, samples)
        if isinstance(run, str):
            ax.set_title(f"{strategy}\n{run}", fontsize=8)
            continue
        images = np.clip(samples[run.run_id][: side * side], 0, 1)  # [n, C, 28, 28]
        canvas = np.stack([_tile(images[:, c], side) for c in range(images.shape[1])], axis=-1)
        c = canvas.shape[-1]
        ax.imshow(canvas[..., 0] if c == 1 else canvas, cmap="gray" if c == 1 else None, vmin=0, vmax=1)
        ax.set_title(f"{strategy} · seed {run.seed}\n{_score(getattr(run, metric.name, None), metric)}", fontsize=8)
    fig.suptitle(f"{problem}: generated samples", fontsize=10)
    return save(fig, path)


def _first_with_samples(runs: pd.DataFrame, strategy: str, samples: dict):
    """The strategy's run of lowest seed that has samples, or, when none has, its status in capitals."""
    group = runs[runs["strategy"] == strategy].sort_values("seed")
    run = next((r for r in group.itertuples() if r.run_id in samples), None)
    if run is not None:
        return run
    return group["status"].iloc[0].upper() if not group.empty else "NO SAMPLES"


def _tile(images: np.ndarray, side: int) -> np.ndarray:
    """[n, H, W] images tiled row by row on a side x side canvas, one white pixel between them."""
    n, h, w = images.shape
    canvas = np.ones((side * (h + 1), side * (w + 1)))
    for i in range(min(n, side * side)):
        r, q = divmod(i, side)
        canvas[r * (h + 1): r * (h + 1) + h, q * (w + 1): q * (w + 1) + w] = images[i]
    return canvas


def plot_channel_grids(path: Path, problem: str, runs: pd.DataFrame, samples: dict, side: int = 6) -> Path:
    """Each channel of multi-channel images as its own grey grid: one row per strategy (its lowest
    seed), one column per channel, the same samples in every column.  Stacked MNIST's RGB overlay
    of three digits hides whether each channel is a digit; a reader judges that here."""
    strategies = list(dict.fromkeys(runs["strategy"]))
    channels = max(samples[r].shape[1] for r in runs["run_id"] if r in samples)
    fig, axes = plt.subplots(len(strategies), channels, figsize=(2.6 * channels, 2.8 * len(strategies)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for row, strategy in zip(axes, strategies):
        run = _first_with_samples(runs, strategy, samples)
        if isinstance(run, str):
            row[0].set_title(f"{strategy}\n{run}", fontsize=8)
            continue
        images = np.clip(samples[run.run_id][: side * side], 0, 1)  # [n, C, H, W]
        for c, ax in enumerate(row[: images.shape[1]]):
            ax.imshow(_tile(images[:, c], side), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{strategy} · seed {run.seed} · channel {c + 1}", fontsize=8)
    fig.suptitle(f"{problem}: each channel of the same samples", fontsize=10)
    return save(fig, path)


def plot_samples(path: Path, problem: str, runs: pd.DataFrame, samples: dict, metric) -> Path:
    """A grid of scatter panels: one row per strategy, one column per seed; true modes in red."""
    centers = _landmarks(runs, problem)
    if centers is not None:
        span = np.abs(centers).max() * 1.5
    else:  # no landmarks: frame the bulk of the samples themselves
        points = np.concatenate([samples[r] for r in runs["run_id"] if r in samples])
        span = float(np.quantile(np.abs(points[np.isfinite(points).all(1)]), 0.98)) * 1.2 or 1.0
    strategies = list(dict.fromkeys(runs["strategy"]))
    seeds = sorted(runs["seed"].unique())[:MAX_SEED_COLUMNS]
    fig, axes = plt.subplots(len(strategies), len(seeds), figsize=(2.4 * len(seeds), 2.4 * len(strategies)),
                             squeeze=False)
    for r, strategy in enumerate(strategies):
        for c, seed in enumerate(seeds):
            ax = axes[r][c]
            row = runs[(runs["strategy"] == strategy) & (runs["seed"] == seed)]
            if not row.empty and row["run_id"].iloc[0] in samples:
                xy = samples[row["run_id"].iloc[0]]
                ax.scatter(xy[:, 0], xy[:, 1], s=1, alpha=0.3, color="#0072B2", rasterized=True)
                _density_contours(ax, xy, span)
                status = row["status"].iloc[0]
                label = _score(row[metric.name].iloc[0] if metric.name in row else None, metric)
                outside = float(np.mean(np.abs(xy).max(axis=1) > span))
                if outside > 0.005:
                    label += f" · {outside:.0%} outside view"
                ax.set_title(f"{strategy} · seed {seed}\n{label}" + (" · DIVERGED" if status == "diverged" else ""),
                             fontsize=8)
            elif not row.empty:
                status = row["status"].iloc[0]
                when = f" at step {row['diverged_step'].iloc[0]:.0f}" if status == "diverged" else ""
                ax.set_title(f"{strategy} · seed {seed}\n{status.upper()}{when}", fontsize=8)
            if centers is not None:
                ax.scatter(centers[:, 0], centers[:, 1], s=12, marker="x", color="#D55E00", linewidths=1)
            ax.set_xlim(-span, span)
            ax.set_ylim(-span, span)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=6)
    fig.suptitle(f"{problem}: generated samples (blue) and true modes (red ×)", fontsize=10)
    return save(fig, path)


def plot_budgets(path: Path, problem: str, curves: pd.DataFrame, styles: dict, y: str, ylabel: str,
                 log: bool = False) -> Path:
    """`y` against steps, gradient evaluations and wall seconds: mean over seeds per strategy,
    band from the lowest to the highest seed.  A curve stops where a seed diverged (no
    survivors-only means); the legend counts them."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, (x, xlabel) in zip(axes, BUDGET_AXES):
        for strategy, group in curves.groupby("strategy", sort=False):
            n_runs = group["run_id"].nunique()
            stats = group.groupby("step").agg(x=(x, "mean"), mean=(y, "mean"), low=(y, "min"), high=(y, "max"),
                                              n=(y, "size"))
            stats = stats[stats["n"] == n_runs]
            lost = n_runs - (group.groupby("run_id")["step"].max() == group["step"].max()).sum()
            label = strategy + (f" ({lost} of {n_runs} diverged)" if lost else "")
            ax.plot(stats["x"], stats["mean"], label=label, **styles[strategy])
            ax.fill_between(stats["x"], stats["low"], stats["high"], color=styles[strategy]["color"], alpha=0.12)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    legend_outside(axes[-1])
    fig.suptitle(f"{problem}: {ylabel} vs budget (mean over seeds, band: min–max)")
    return save(fig, path)


def plot_sensitivity(path: Path, problem: str, trials: pd.DataFrame, metric) -> Path:
    """The primary metric at the end of each tuning trial against its generator learning rate
    (mean over the tuning seeds; `trials` has diverged runs scored already, a failed trial
    scores the worst value)."""
    scored = trials.copy()
    worst = metric.diverged if metric.diverged is not None else metric.worst
    scored.loc[~finished(scored), metric.name] = worst
    styles = strategy_styles(scored["strategy"])
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for strategy, group in scored.groupby("strategy", sort=False):
        means = group.groupby("lr_g")[metric.name].mean().sort_index()
        ax.plot(means.index, means.to_numpy(), label=strategy, **{**styles[strategy], "markevery": 1})
    ax.set_xscale("log")
    if metric.log:
        ax.set_yscale("log")
    ax.set_xlabel("generator learning rate lr_G (lr_D follows the strategy's ratio)")
    ax.set_ylabel(metric.label)
    ax.set_title(f"{problem}: sensitivity to the learning rate (tuning trials)")
    ax.grid(alpha=0.3, which="both")
    legend_outside(ax)
    return save(fig, path)


def plot_performance_profile(path: Path, summary: pd.DataFrame, curves: pd.DataFrame, styles: dict,
                             cards: dict) -> Path | None:
    """Dolan & Moré performance profile over problems: cost = median gradient evaluations to
    reach the problem's target over seeds (failed when fewer than half the seeds reach it)."""
    from .stats import performance_profile, time_to_target

    costs = {}
    for problem, runs in summary.groupby("problem", sort=False):
        problem_curves = curves[curves["problem"] == problem]
        if problem_curves.empty:
            continue
        hits = time_to_target(problem_curves, cards[problem].reached(problem_curves))
        per_strategy = {}
        for strategy, group in runs.groupby("strategy", sort=False):
            values = hits.reindex(group["run_id"]).fillna(np.inf).to_numpy()
            per_strategy[strategy] = float(np.median(values)) if values.size else np.inf
        costs[problem] = per_strategy
    if not costs:
        return None
    table = pd.DataFrame(costs).T
    finite = table.to_numpy()[np.isfinite(table.to_numpy())]
    top = max(2.0, float((finite / finite.min()).max()) * 1.5) if finite.size and finite.min() > 0 else 4.0
    taus = np.geomspace(1, top, 200)
    profile = performance_profile(table, taus)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for strategy in profile.columns:
        ax.step(profile.index, profile[strategy], where="post", label=strategy, **styles[strategy])
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("τ (within a factor τ of the best strategy's evaluations to target)")
    ax.set_ylabel("fraction of problems")
    ax.set_title(f"performance profile over {len(table)} problem(s)")
    ax.grid(alpha=0.3, which="both")
    legend_outside(ax)
    return save(fig, path)


def _density_contours(ax, xy: np.ndarray, span: float) -> None:
    """Kernel density contours of the samples (skipped when they are degenerate, e.g. collapsed)."""
    inside = xy[np.all(np.abs(xy) < span, axis=1)]
    if len(inside) < 10:
        return
    try:
        kde = gaussian_kde(inside.T)
    except (np.linalg.LinAlgError, ValueError):
        return
    grid = np.linspace(-span, span, 80)
    gx, gy = np.meshgrid(grid, grid)
    density = kde(np.vstack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    if np.isfinite(density).all() and density.max() > 0:
        ax.contour(gx, gy, density, levels=4, colors="#000000", linewidths=0.4, alpha=0.6)


def plot_losses(path: Path, problem: str, curves: pd.DataFrame, styles: dict, losses: list) -> Path:
    """One panel per declared loss metric (plot "loss"), in declared order, against steps."""
    fig, axes = plt.subplots(1, len(losses), figsize=(5.5 * len(losses), 4), squeeze=False)
    axes = axes[0]
    for ax, column, label in zip(axes, [m.name for m in losses], [m.label for m in losses]):
        for strategy, group in curves.groupby("strategy", sort=False):
            stats = group.groupby("step")[column].mean()
            ax.plot(stats.index, stats.values, label=strategy, **_style(styles, strategy))
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    legend_outside(axes[-1])
    fig.suptitle(f"{problem}: losses (mean over seeds)")
    return save(fig, path)


def plot_diagnostics(path: Path, problem: str, curves: pd.DataFrame, styles: dict, card) -> Path:
    """The game-dynamics panel (ganopt.diagnostics): left, the Jacobian's largest eigenvalues at
    each run's end point in the complex plane (every seed; the metrics declared eigenvalue-re and
    -im, paired in declared order); middle, the rotational share of the Jacobian vs steps (plot
    "rotation"); right, Berard et al.'s path-angle curve (cosine between the field and the
    start-to-end line, plot "path-angle"), the mean over seeds."""
    from ganopt.diagnostics import PATH_ALPHAS

    pairs = [(r.name, i.name) for r, i in zip(card.drawn("eigenvalue-re"), card.drawn("eigenvalue-im"))]
    share = card.drawn("rotation")[0].name
    columns = [m.name for m in card.drawn("path-angle")]
    fig, (plane, rotation, angle) = plt.subplots(1, 3, figsize=(16, 4.5))
    for strategy, group in curves.groupby("strategy", sort=False):
        style = _style(styles, strategy)
        color = style["color"]
        last = group.sort_values("step").groupby("run_id").tail(1)
        re = last[[r for r, i in pairs if r in last]].to_numpy().ravel()
        im = last[[i for r, i in pairs if i in last]].to_numpy().ravel()
        plane.scatter(re, im, s=14, color=color, marker=style.get("marker", "o"), alpha=0.7, label=strategy)
        shares = group.dropna(subset=[share]).groupby("step")[share].mean()
        rotation.plot(shares.index, shares.values, label=strategy, **style)
        if len(columns) == len(PATH_ALPHAS) and set(columns) <= set(last.columns) and last[columns].notna().any().any():
            angle.plot(PATH_ALPHAS, last[columns].mean().to_numpy(), label=strategy,
                       **{**style, "markevery": 1})
    plane.axvline(0, color="grey", lw=0.8)
    plane.axhline(0, color="grey", lw=0.8)
    plane.set_xlabel("real part")
    plane.set_ylabel("imaginary part")
    plane.set_title("Jacobian eigenvalues at the end point")
    rotation.set_ylim(-0.02, 1.02)
    rotation.set_xlabel("step")
    rotation.set_ylabel("‖A‖² / (‖A‖² + ‖S‖²)")
    rotation.set_title("rotational share of the Jacobian")
    angle.axvline(0, color="grey", lw=0.8, ls=":")
    angle.axvline(1, color="grey", lw=0.8, ls=":")
    angle.set_xlabel("α (0: start, 1: end point)")
    angle.set_ylabel("cos(v, w₁ − w₀)")
    angle.set_title("path angle")
    for ax in (plane, rotation, angle):
        ax.grid(alpha=0.3)
    legend_outside(angle)
    fig.suptitle(f"{problem}: game dynamics")
    return save(fig, path)


def trajectory_frame(curves: pd.DataFrame, xy: tuple[str, str]) -> float:
    """Half-width of the trajectory panel: 2.5x the farthest start from the equilibrium.  The
    frame follows the starts, not the whole paths, because one diverging path would otherwise
    shrink every other path to a dot at the origin.  `xy`: the two coordinates' columns."""
    starts = curves[curves["step"] == curves["step"].min()][list(xy)].abs().to_numpy()
    finite = starts[np.isfinite(starts)]
    return 2.5 * max(float(finite.max()) if finite.size else 1.0, 1e-3)


def plot_trajectories(path: Path, problem: str, runs: pd.DataFrame, curves: pd.DataFrame, styles: dict,
                      metric, xy: list) -> Path:
    """Left: the path of the first seed in the plane of the two metrics `xy` (declared plot
    "trajectory", e.g. (theta_0, phi_0)); right: the primary metric (for the analytic games, the
    distance to the equilibrium)."""
    (x, xlabel), (y, ylabel) = [(m.name, m.label) for m in xy]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    first_seed = curves["seed"].min() if not curves.empty else 0
    for strategy, group in curves.groupby("strategy", sort=False):
        path_xy = group[group["seed"] == group["seed"].min()].sort_values("step")
        style = _style(styles, strategy)
        left.plot(path_xy[x], path_xy[y], label=strategy, lw=1, **style)
        left.plot(path_xy[x].iloc[0], path_xy[y].iloc[0], "o", color=style["color"], ms=4)
        n_runs = group["run_id"].nunique()
        stats = group.groupby("step")[metric.name].agg(["mean", "size"])
        stats = stats[stats["size"] == n_runs]["mean"]  # stop where a seed diverged
        right.plot(stats.index, stats.values, label=strategy, **style)
    left.plot(0, 0, "*", color="black", ms=12, label="equilibrium")
    span = trajectory_frame(curves, (x, y))
    left.set_xlim(-span, span)
    left.set_ylim(-span, span)
    left.set_aspect("equal")
    left.set_xlabel(xlabel)
    left.set_ylabel(ylabel)
    left.set_title(f"trajectories (lowest seed, here {first_seed}; dots: start;\n"
                   "paths leaving the frame move away from the equilibrium)", fontsize=9)
    legend_outside(right, *left.get_legend_handles_labels())
    if metric.log:
        right.set_yscale("log")
    right.set_xlabel("step")
    right.set_ylabel(metric.label)
    right.set_title(f"{metric.label} (mean over seeds)")
    right.grid(alpha=0.3, which="both")
    fig.suptitle(problem)
    return save(fig, path)
