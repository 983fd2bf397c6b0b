"""2-D Gaussian mixtures (`ring8`, `grid25`) learned by stacked MLP generators.

Geometry presets follow the literature: a ring of 8 modes at angles 2*pi*k/8, k = 0..7, of
radius 1 and std 0.01, or radius 2 and std 0.02 (Metz et al. 2017, unrolled GANs); a 5x5
grid with means {-4,-2,0,2,4}^2 and std 0.05 (Srivastava et al. 2017; Lin et al. 2018).
The data distribution is the mixture itself: a `minibatch` run draws a fresh batch every
gradient evaluation; a `full` run (plain GD) uses one fixed training sample and one fixed
latent set (its draw counter stays 0).  Both kinds can share a stack.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..losses import LOSSES, discriminator_loss, generator_loss
from ..metrics import HQ_THRESHOLD_STDS, LITERATURE_SAMPLES, Metric, Target, mode_metrics
from ..nets import ACTIVATIONS, init_mlp, mlp_forward
from ..rng import Stream, normal, randint, stream_keys
from .base import Game, Problem, check_choice, check_int, check_positive_number

RING_PRESETS = {"r1": {"radius": 1.0, "std": 0.01}, "r2": {"radius": 2.0, "std": 0.02}}
GRID_PRESETS = {"s2": {"spacing": 2.0, "std": 0.05}, "s2-wide": {"spacing": 2.0, "std": 0.1}}
MIN_EVAL_SAMPLES = 2500  # the literature protocol's count
EVAL_SAMPLES = 10_000  # the headline's: its sampling noise at 2,500 would be 2x larger


def ring_centers(n: int, radius: float) -> torch.Tensor:
    # k = 0..n-1: a linspace that includes 2*pi would repeat the first mode.
    angles = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def grid_centers(side: int, spacing: float) -> torch.Tensor:
    ticks = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    xs, ys = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1)


class MixtureGame(Game):
    def __init__(self, centers: torch.Tensor, std: float, opts: dict[str, Any], seeds, full_batch, device):
        self.centers = centers.to(device=device, dtype=torch.float32)
        self.std = std
        self.opts = opts
        self.seeds = seeds.to(device)
        self.full_batch = torch.as_tensor(full_batch, dtype=torch.bool).expand(seeds.shape[0]).to(device)
        # known now: a step reads no device value to choose its path (a CUDA graph could not hold that)
        self._all_full, self._any_full = bool(self.full_batch.all()), bool(self.full_batch.any())
        z, g, d = opts["latent_dim"], tuple(opts["g_hidden"]), tuple(opts["d_hidden"])
        std = opts["init_std"]
        self.theta = [p.requires_grad_() for p in init_mlp((z, *g, 2), seeds, Stream.INIT_G, device,
                                                           batch_norm=opts["g_batch_norm"], init_std=std)]
        self.phi = [p.requires_grad_() for p in init_mlp((2, *d, 1), seeds, Stream.INIT_D, device,
                                                         maxout=opts["d_maxout"], init_std=std)]
        self._fixed: tuple[torch.Tensor, torch.Tensor] | None = None
        self._eval_latents: torch.Tensor | None = None

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        return mlp_forward(self.theta, z, self.opts["activation"], batch_norm=self.opts["g_batch_norm"])

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        return mlp_forward(self.phi, x, self.opts["activation"], maxout=self.opts["d_maxout"])

    def sample_data(self, draw, n: int) -> torch.Tensor:
        """n points of the mixture per run; `draw` is an int or a per-run counter tensor [K]."""
        mode = randint(stream_keys(self.seeds, Stream.DATA, 2 * draw), (n,), self.centers.shape[0])
        noise = normal(stream_keys(self.seeds, Stream.DATA, 2 * draw + 1), (n, 2))
        return self.centers[mode] + self.std * noise

    def batch(self, draw: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._all_full:
            if self._fixed is None:
                self._fixed = self._draw_batch(0)
            return self._fixed
        counters = torch.where(self.full_batch, 0, draw) if self._any_full else draw
        return self._draw_batch(counters)

    def _draw_batch(self, draw):
        b = self.opts["batch_size"]
        z = normal(stream_keys(self.seeds, Stream.LATENT, draw), (b, self.opts["latent_dim"]))
        return z, self.sample_data(draw, b)

    def losses(self, draw: int, need: str):
        z, x = self.batch(draw)
        if need == "d":
            with torch.no_grad():
                fake = self.generate(z)
        else:
            fake = self.generate(z)
        fake_logits = self.discriminate(fake)
        loss_g = generator_loss(fake_logits, self.opts["loss"]) if "g" in need else None
        loss_d = discriminator_loss(self.discriminate(x), fake_logits) if "d" in need else None
        return loss_g, loss_d

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        """G applied to the run's fixed evaluation latents (drawn once, reused every evaluation)."""
        if self._eval_latents is None:
            n = self.opts["eval_samples"]
            self._eval_latents = normal(stream_keys(self.seeds, Stream.EVAL_LATENT, 0), (n, self.opts["latent_dim"]))
        return self.generate(self._eval_latents)

    @torch.no_grad()
    def evaluate(self) -> dict[str, torch.Tensor]:
        return mode_metrics(self.samples(), self.centers, self.std)


class MixtureProblem(Problem):
    def __init__(self, name: str, description: str, presets: dict, n_modes: int, preset: str | None = None,
                 hidden: tuple[int, ...] = (128, 128), **kwargs):
        self.presets = presets
        self.n_modes = n_modes
        geometry = {key: None for preset in presets.values() for key in preset}
        options = {
            "preset": preset or next(iter(presets)),
            **geometry,
            "latent_dim": 16,
            "g_hidden": list(hidden),
            "d_hidden": list(hidden),
            "activation": "relu",
            "g_batch_norm": False,  # batch normalization in G's hidden layers (Lin et al. 2018)
            "d_maxout": 1,  # maxout pieces per unit of D's hidden layers; 1: plain `activation`
            "init_std": None,  # None: PyTorch's default init; a number: W ~ N(0, std^2), b = 0
            "batch_size": 256,
            "eval_samples": EVAL_SAMPLES,
            "loss": "nonsaturating",
        }
        metrics = (
            Metric("mode_overlap", "mode overlap (1 − TV)", higher_is_better=True, diverged=0.0, primary=True,
                   tolerance=0.05, plot="curve"),
            Metric("modes_covered", "modes covered (lit.)", higher_is_better=True, diverged=0.0, digits=1,
                   literature=True, plot="curve", of="modes_total"),
            Metric("modes_total", "modes", show=False, digits=0),
            Metric("hq_fraction", "high-quality fraction (lit.)", higher_is_better=True, diverged=0.0,
                   literature=True),
            Metric("kl_modes", "KL(modes ‖ uniform) (lit.)", higher_is_better=False, diverged=math.log(n_modes),
                   literature=True),
        )
        target = Target("mode_overlap >= 0.8 and modes_covered == modes_total",
                        "mode overlap ≥ 0.8 with every mode covered")
        super().__init__(name, description, options=options, metrics=metrics, target=target, **kwargs)

    def landmarks(self, options: dict[str, Any]):
        return self.centers(options).numpy()

    def metric_protocol(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"eval_samples": options["eval_samples"], "hq_threshold_stds": HQ_THRESHOLD_STDS,
                "mode_overlap": ("1 - TV over, per mode, the disk of 1.5 sigma and the ring 1.5-3 sigma, and the "
                                 f"rest of the plane; on all {options['eval_samples']} samples"),
                "literature_samples": min(options["eval_samples"], LITERATURE_SAMPLES),
                "covered": "nearest mode of >= 1 high-quality sample",
                "kl": "KL(high-quality mode histogram || uniform)"}

    def geometry(self, opts: dict[str, Any]) -> dict[str, float]:
        preset = self.presets[opts["preset"]]
        return {key: opts[key] if opts[key] is not None else value for key, value in preset.items()}

    def centers(self, opts: dict[str, Any]) -> torch.Tensor:
        geo = self.geometry(opts)
        if "radius" in geo:
            return ring_centers(self.n_modes, geo["radius"])
        return grid_centers(round(math.sqrt(self.n_modes)), geo["spacing"])

    def validate(self, opts: dict[str, Any]) -> None:
        check_choice("preset", opts["preset"], self.presets)
        for key, value in self.geometry(opts).items():
            check_positive_number(key, value)
        check_int("latent_dim", opts["latent_dim"], 4096)
        check_int("batch_size", opts["batch_size"], 1_000_000)
        for key in ("g_hidden", "d_hidden"):
            widths = opts[key]
            if not isinstance(widths, list) or not 1 <= len(widths) <= 16:
                raise ValueError(f"{key} must be a list of 1 to 16 layer widths, got {widths!r}")
            for width in widths:
                check_int(f"{key} width", width, 16384)
        check_choice("activation", opts["activation"], ACTIVATIONS)
        if not isinstance(opts["g_batch_norm"], bool):
            raise ValueError(f"g_batch_norm must be true or false, got {opts['g_batch_norm']!r}")
        check_int("d_maxout", opts["d_maxout"], 64)
        if opts["init_std"] is not None:
            check_positive_number("init_std", opts["init_std"])
        if opts["g_batch_norm"] and opts["batch_size"] < 2:
            raise ValueError("g_batch_norm needs batch_size >= 2 (a batch of one has no variance)")
        check_choice("loss", opts["loss"], LOSSES)
        check_int("eval_samples", opts["eval_samples"], 1_000_000)
        if opts["eval_samples"] < MIN_EVAL_SAMPLES:
            raise ValueError(f"eval_samples must be at least {MIN_EVAL_SAMPLES} for the mode metrics, got {opts['eval_samples']}")

    def build(self, options, seeds, full_batch, device) -> MixtureGame:
        return MixtureGame(self.centers(options), self.geometry(options)["std"], options, seeds, full_batch, device)

