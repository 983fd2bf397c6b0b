"""Metrics: what a problem declares about each metric it reports, and the metric functions,
each computed for every run of a stack at once (inputs and outputs lead with K).

Mixture protocol of the literature (Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN):
a sample is *high quality* when it lies within 3 standard deviations of its nearest mode; a mode
is *covered* when it is the nearest mode of at least one high-quality sample; `kl_modes` is
KL(p || uniform) of the histogram p of high-quality samples over modes (log n_modes, the value
of a single covered mode, when there is no high-quality sample at all).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch

HQ_THRESHOLD_STDS = 3.0


# How a report may draw a metric (Metric.plot); the harness draws each kind (bench.plots.FIGURES),
# and a plugin may add a kind of its own (bench.plots.register_plot_kind).  The pairs and panels take their metrics in
# declared order: the first "trajectory" metric is the horizontal axis, the second the vertical.
PLOTS = {
    "": "not drawn on its own",
    "curve": "a figure of its own: the metric against steps, gradient evaluations and seconds",
    "loss": "a panel of the losses figure, against steps",
    "trajectory": "a coordinate of the path panel (first declared: horizontal, second: vertical)",
    "eigenvalue-re": "the real part of an eigenvalue on the complex plane of the dynamics figure",
    "eigenvalue-im": "its imaginary part (paired with the eigenvalue-re metric declared at the same place)",
    "rotation": "a share in [0, 1] against steps in the dynamics figure (its presence draws the figure)",
    "path-angle": "the dynamics figure's path-angle curve, one value per point of ganopt.diagnostics.PATH_ALPHAS",
}


@dataclass(frozen=True)
class Metric:
    """What a problem declares about one metric it reports.  The harness (store, report, plots,
    compare, tuning) reads these declarations and never branches on a problem's kind.

    `higher_is_better` None marks an informational value (a count of modes, a coordinate):
    reported, never ranked.  `diverged` is the value a diverged run scores (its last finite
    value would flatter the strategy that diverged); None keeps the last value.  `tolerance`
    is the largest change of the metric over the last 20% of a budget for which a run counts
    as converged (in decades when `log`).  `literature` marks the published protocol, kept
    beside ganopt's own headline so that numbers can be set next to papers.

    `plot` says how the report draws the metric (one of PLOTS; "" not on its own), so that the
    harness picks plots from declarations, never from names; True and False (the older boolean
    form, still accepted) read as "curve" and "".  `of` names the metric that holds the total a
    count is out of (the table then reads "modes covered (of 1000)").  `per_stack` marks a value
    that is the whole stack's (every run of a stack records it): a run's share is 1/stack size."""

    name: str
    label: str
    higher_is_better: bool | None = None
    unit: str = ""
    diverged: float | None = None
    primary: bool = False
    digits: int = 3
    literature: bool = False
    log: bool = False
    tolerance: float = 0.0
    show: bool = True  # a column of the headline table (when it has a direction)
    plot: str = ""  # how the report draws it: one of PLOTS
    of: str = ""  # the metric holding the total this count is out of
    per_stack: bool = False  # the whole stack's value, recorded by each of its runs

    def __post_init__(self):
        if isinstance(self.plot, bool):  # the older boolean form: a curve of its own, or none
            object.__setattr__(self, "plot", "curve" if self.plot else "")
        if self.plot not in PLOTS:
            raise ValueError(f"metric {self.name!r}: plot must be one of {', '.join(map(repr, PLOTS))}, "
                             f"got {self.plot!r}")

    @property
    def ranked(self) -> bool:
        return self.higher_is_better is not None

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b

    @property
    def worst(self) -> float:
        return -math.inf if self.higher_is_better else math.inf


@dataclass(frozen=True)
class Target:
    """When a run has solved a problem: `query` is a pandas query over its metric columns."""

    query: str
    text: str


# Reported for every problem by the trainer (ganopt.train), from the last gradient evaluation.
CONVERGENCE_METRICS = (
    Metric("loss_d", "discriminator loss", show=False, plot="loss"),
    Metric("loss_g", "generator loss", show=False, plot="loss"),
    Metric("grad_norm_g", "generator gradient norm", show=False),
    Metric("grad_norm_d", "discriminator gradient norm", show=False),
    Metric("field_norm", "norm of the joint vector field", show=False),
)


def declarations_to_json(metrics: tuple[Metric, ...], target: Target) -> dict[str, Any]:
    return {"metrics": [dataclasses.asdict(m) for m in metrics], "target": dataclasses.asdict(target)}


def declarations_from_json(data: dict[str, Any]) -> tuple[tuple[Metric, ...], Target]:
    # unknown fields (a newer ganopt's) are dropped rather than refused: declarations only describe
    fields = {f.name for f in dataclasses.fields(Metric)}
    # a plot kind that a plugin registered and this process has not (bench.plots.register_plot_kind)
    # is not drawn here, rather than refused: the values are what counts
    known = [{**m, "plot": m["plot"] if m["plot"] in PLOTS else ""} for m in map(_older, data["metrics"])]
    metrics = tuple(Metric(**{k: v for k, v in m.items() if k in fields}) for m in known)
    if any(not isinstance(m.get("plot", False), str) for m in data["metrics"]):
        # older declarations listed loss_g before loss_d, and the harness drew D's loss first
        losses = iter([m for m in metrics if m.plot == "loss"][::-1])
        metrics = tuple(next(losses) if m.plot == "loss" else m for m in metrics)
    return metrics, Target(**data["target"])


def _older(m: dict[str, Any]) -> dict[str, Any]:
    """Declarations stored before `plot` named a drawing (it was a boolean, or absent) carry no
    `plot` vocabulary, `of` or `per_stack`: they take what the harness then decided by name,
    so an older store's report draws and labels what it drew and labelled."""
    if isinstance(m.get("plot", False), str):
        return m
    name = m["name"]
    plot = "curve" if m.get("plot") else ""
    if name in ("loss_g", "loss_d"):
        plot = "loss"
    elif name in ("traj_x", "traj_y"):
        plot = "trajectory"
    elif name.startswith("jac_eig") and name[7:-3].isdigit() and name[-3:] in ("_re", "_im"):
        plot = "eigenvalue" + name[-3:].replace("_", "-")
    elif name == "rotation_share":
        plot = "rotation"
    elif name.startswith("path_cos") and name[8:].isdigit():
        plot = "path-angle"
    of = "modes_total" if name.startswith("modes") and name != "modes_total" else ""
    return {**m, "plot": plot, "of": m.get("of", of), "per_stack": m.get("per_stack", name == "diagnostics_stack_s")}


LITERATURE_SAMPLES = 2500  # the published protocol's sample count (its mode counts grow with N)
INNER_RING_STDS = 1.5  # mode_overlap splits each 3-sigma disk at 1.5 sigma: sharpness counts


def rayleigh_cdf(radius_stds: float) -> float:
    """P(|x - mu| < r sigma) for an isotropic 2-D Gaussian: 1 - exp(-r^2 / 2)."""
    return 1.0 - math.exp(-(radius_stds**2) / 2.0)


def mode_metrics(samples: torch.Tensor, centers: torch.Tensor, std: float) -> dict[str, torch.Tensor]:
    """samples [K, N, 2], centers [M, 2] -> mode_overlap on all N samples, and the literature's
    modes_covered, hq_fraction, kl_modes on the first LITERATURE_SAMPLES (2,500); each [K].

    `mode_overlap` (ganopt's headline) is 1 - TV between the generated and the true mixture, both
    seen through 2M + 1 bins: around each mode the disk of radius 1.5 sigma and the ring from
    1.5 to 3 sigma, and everywhere else.  The true mixture puts P(r < 1.5 sigma) / M and
    P(1.5 sigma <= r < 3 sigma) / M in them.  A mode counts only with as much mass as it should
    hold, at the right sharpness: points scattered over the plane, which touch many disks by
    chance, score near 0; a sharp collapse onto 6 of 8 modes scores 0.75, and less when blurred;
    the true mixture scores 1 up to sampling noise (about 0.98 on 10,000 samples)."""
    k, n, _ = samples.shape
    m = centers.shape[0]
    dist = torch.cdist(samples.double(), centers.double().expand(k, m, -1))
    nearest_dist, nearest = dist.min(dim=2)
    radius = nearest_dist / std
    inner, hq = (radius < INNER_RING_STDS).double(), (radius < HQ_THRESHOLD_STDS).double()
    bins = torch.zeros(k, 2 * m, dtype=torch.float64, device=samples.device)
    bins.scatter_add_(1, nearest, inner).scatter_add_(1, nearest + m, hq - inner)
    p_inner, p_hq = rayleigh_cdf(INNER_RING_STDS), rayleigh_cdf(HQ_THRESHOLD_STDS)
    truth = torch.cat([torch.full((m,), p_inner / m), torch.full((m,), (p_hq - p_inner) / m)]).to(bins)
    outside = 1 - hq.mean(1)
    overlap = torch.minimum(bins / n, truth).sum(1) + torch.minimum(outside, torch.tensor(1 - p_hq))

    n_lit = min(n, LITERATURE_SAMPLES)
    lit_hq = hq[:, :n_lit]
    counts = torch.zeros(k, m, dtype=torch.float64, device=samples.device)
    counts.scatter_add_(1, nearest[:, :n_lit], lit_hq)
    n_hq = counts.sum(1)
    p = counts / n_hq.clamp(min=1).unsqueeze(1)
    kl = torch.where(p > 0, p * torch.log(p * m), torch.zeros_like(p)).sum(1)
    kl = torch.where(n_hq > 0, kl, torch.full_like(kl, math.log(m)))
    return {
        "mode_overlap": overlap,
        "modes_covered": (counts > 0).sum(1).double(),
        "modes_total": torch.full((k,), float(m), dtype=torch.float64, device=samples.device),
        "hq_fraction": n_hq / n_lit,
        "kl_modes": kl,
    }


def expected_hq_fraction_2d() -> float:
    """P(|x - mu| < 3 sigma) for an isotropic 2-D Gaussian: 1 - exp(-9/2) (Rayleigh law)."""
    return rayleigh_cdf(HQ_THRESHOLD_STDS)


def stacked_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Per-run Euclidean norm of a list of stacked tensors -> [K]."""
    return torch.sqrt(sum(t.detach().double().flatten(1).pow(2).sum(1) for t in tensors))
