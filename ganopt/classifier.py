"""The evaluation classifier for the image problems and the metrics computed with it.

A small CNN trained on real digits by `python tools/train_classifier.py` (deterministic; its
weights, their SHA-256 and the held-out accuracy are committed in ganopt/assets/).  Inputs are
images in [0, 1], [N, 1, 28, 28], the range of the generators' sigmoid outputs.  Its
penultimate layer (64 ReLU features) is the feature space of the Fréchet distance.

Metrics (each for every run of a stack, [K]):
- mode histograms: KL(p || uniform) of the histogram p of predicted classes (log n when all
  samples fall in one class);
- the Fréchet distance between Gaussians fitted to features (Dowson & Landau 1982; as the FID
  of Heusel et al. 2017, but in this classifier's features, not Inception's):
  ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2);
- k-nearest-neighbour manifold metrics in the same features (`manifold_metrics`): the real
  manifold is the union of the balls around the real reference samples, each of radius the
  distance to its k-th nearest real neighbour (itself excluded); the generated manifold
  likewise.  Precision (Kynkäänniemi et al. 2019, k = 3): share of generated samples inside
  the real manifold.  Recall (same paper, k = 3): share of real samples inside the generated
  manifold.  Coverage (Naeem et al. 2020, k = 5): share of real samples whose own ball holds
  at least one generated sample (an outlying generated sample cannot inflate it, unlike
  recall, whose generated balls grow around outliers).  Precision's real balls may be pruned
  to those of radius up to a percentile (`prune_radii`): the few largest balls, around outlying
  real samples, otherwise take in whole sets of non-digits (ganopt.problems.mnist).  A softmax
  confidence is no evidence that an image looks like a digit (noise, blobs and one repeated
  pattern are labelled with 71-98% confidence); these metrics ask whether its features lie
  among real digits' features.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ASSETS = Path(__file__).parent / "assets"
WEIGHTS = ASSETS / "digit_classifier.npz"
FEATURES = 64
N_CLASSES = 10
PIXEL_MEAN, PIXEL_STD = 0.1307, 0.3081  # MNIST's pixel statistics (in [0, 1])


class DigitClassifier(nn.Module):
    """conv3x3(16) - pool - conv3x3(32) - pool - linear(64) - linear(10): ~106k weights,
    ~1.1M multiply-adds per image: 30,000 images (10,000 Stacked-MNIST samples) take about 1 s
    on 2 CPU cores through `classify`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, FEATURES)
        self.fc2 = nn.Linear(FEATURES, N_CLASSES)
        self.dropout = nn.Dropout(0.3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - PIXEL_MEAN) / PIXEL_STD
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc1(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.features(x)))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_weights(model: DigitClassifier, path: Path) -> str:
    """Weights as an uncompressed .npz of float32 arrays (no pickle); returns the SHA-256."""
    arrays = {name: t.detach().cpu().numpy().astype(np.float32) for name, t in model.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return sha256_file(path)


def info_path(weights: Path) -> Path:
    return Path(weights).with_suffix(".json")


def weights_path(path: str | None = None) -> Path:
    """A classifier option's weights file: `path`, or the committed weights when None."""
    return Path(path) if path is not None else WEIGHTS


def load_classifier(path: str | None = None, device: str = "cpu") -> DigitClassifier:
    """The classifier from `path` (default: the committed weights), checked against the SHA-256
    recorded in the JSON beside it; on `device`, in eval mode, without gradients, its weights
    channels-last (see `classify`).  Checked on every call (a 400 KB hash), loaded once per
    content and device."""
    weights = weights_path(path)
    meta = info_path(weights)
    if not weights.is_file() or not meta.is_file():
        raise FileNotFoundError(f"{weights}: classifier weights or their {meta.name} not found "
                                "(train them with: python tools/train_classifier.py)")
    try:
        expected = json.loads(meta.read_text())["sha256"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{meta}: not a classifier record (JSON with a sha256, as tools/train_classifier.py "
                         "writes)") from None
    actual = sha256_file(weights)
    if actual != expected:
        raise ValueError(f"{weights}: SHA-256 {actual} differs from the {expected} recorded in {meta.name}")
    return _load_weights(str(weights), actual, device)


@lru_cache(maxsize=4)
def _load_weights(weights: str, sha256: str, device: str) -> DigitClassifier:
    model = DigitClassifier()
    try:
        with np.load(weights) as arrays:
            model.load_state_dict({name: torch.from_numpy(arrays[name]) for name in arrays.files})
    except Exception as e:  # a corrupt or foreign file: say so in one line
        raise ValueError(f"{weights}: not the weights of a DigitClassifier ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''})") from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device=torch.device(device), memory_format=torch.channels_last)


def classifier_info(path: str | None = None) -> dict:
    """The JSON record beside the weights: sha256, held-out accuracy, split, seed, command."""
    return json.loads(info_path(weights_path(path)).read_text())


@torch.no_grad()
def classify(model: DigitClassifier, images: torch.Tensor, chunk: int | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """images [N, 1, 28, 28] in [0, 1], on any device -> (softmax probabilities [N, 10],
    features [N, 64]) on the CPU, computed on the model's device.

    Channels-last activations and, on a CPU, chunks of 256 images (whose activations stay in
    the cache) make this 5x faster than NCHW chunks of 4,096 on 2 cores (30,000 images: 1.1 s
    vs 5.5 s), mostly because NCHW max-pooling is slow there; the results agree to ~1e-6."""
    device = next(model.parameters()).device
    chunk = chunk or (256 if device.type == "cpu" else 8192)
    probs, feats = [], []
    for start in range(0, images.shape[0], chunk):
        x = images[start:start + chunk].to(device=device, dtype=torch.float32)
        f = model.features(x.contiguous(memory_format=torch.channels_last))
        probs.append(torch.softmax(model.fc2(f), dim=1).cpu())
        feats.append(f.cpu())
    return torch.cat(probs), torch.cat(feats)


def kl_to_uniform(counts: torch.Tensor) -> torch.Tensor:
    """counts [K, M] (a histogram per run) -> KL(p || uniform over M) [K], in nats."""
    counts = counts.double()
    m = counts.shape[1]
    p = counts / counts.sum(1, keepdim=True).clamp(min=1)
    return torch.where(p > 0, p * torch.log(p * m), torch.zeros_like(p)).sum(1)


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """features [..., N, F] -> mean [..., F] and unbiased covariance [..., F, F], in float64."""
    x = features.double()
    mu = x.mean(-2)
    centred = x - mu.unsqueeze(-2)
    return mu, centred.transpose(-1, -2) @ centred / (x.shape[-2] - 1)


def _psd_sqrt(s: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(s)
    return (vecs * vals.clamp(min=0).sqrt().unsqueeze(-2)) @ vecs.transpose(-1, -2)


def frechet_distance(mu1: torch.Tensor, s1: torch.Tensor, mu2: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """Fréchet distance between N(mu1, s1) and N(mu2, s2), batched over leading dims.
    Tr((S1 S2)^1/2) = Tr((S1^1/2 S2 S1^1/2)^1/2), a symmetric PSD root: stable via eigh."""
    r1 = _psd_sqrt(s1)
    middle = r1 @ s2 @ r1
    trace_root = torch.linalg.eigvalsh((middle + middle.transpose(-1, -2)) / 2).clamp(min=0).sqrt().sum(-1)
    diff = (mu1 - mu2).pow(2).sum(-1)
    return (diff + s1.diagonal(dim1=-2, dim2=-1).sum(-1) + s2.diagonal(dim1=-2, dim2=-1).sum(-1)
            - 2 * trace_root).clamp(min=0)


def max_kl(n_modes: int) -> float:
    """KL to uniform of a histogram with a single occupied bin: log n."""
    return math.log(n_modes)


# Distance blocks of at most this many entries ([K, rows, M] float32: 32 MB), so that memory
# stays bounded whatever the number of samples.
DISTANCE_BLOCK = 1 << 23


def _rows_per_block(k: int, m: int) -> int:
    return max(1, DISTANCE_BLOCK // max(1, k * m))


@torch.no_grad()
def knn_radii(feats: torch.Tensor, k: int) -> torch.Tensor:
    """feats [..., N, F] -> the distance of each point to its k-th nearest other point of the
    same set [..., N] (the point itself excluded; duplicates count as neighbours at distance 0).
    In blocks of rows: memory O(rows * N), not O(N^2)."""
    x = feats.float()
    lead, (n, f) = x.shape[:-2], x.shape[-2:]
    if n <= k:
        raise ValueError(f"a k-NN radius with k = {k} needs more than {k} points, got {n}")
    x = x.reshape(-1, n, f)
    sq = x.pow(2).sum(-1)  # [B, N]
    rows = _rows_per_block(x.shape[0], n)
    out = []
    for start in range(0, n, rows):
        block = x[:, start:start + rows]
        r = block.shape[1]
        # squared distances: |a|^2 + |b|^2 - 2 a.b, as torch.cdist computes them for large sets
        d2 = torch.baddbmm(sq.unsqueeze(1), block, x.transpose(1, 2), alpha=-2).add_(sq[:, start:start + r, None])
        own = torch.arange(r, device=x.device)
        d2[:, own, start + own] = math.inf  # not its own neighbour
        out.append(d2.topk(k, dim=-1, largest=False).values[..., k - 1])
    return torch.cat(out, 1).clamp_(min=0).sqrt_().reshape(*lead, n)


def prune_radii(radii: torch.Tensor, percentile: float) -> torch.Tensor:
    """k-NN radii [M] with the balls larger than their `percentile`-th percentile removed
    (radius -1: they contain nothing), as the official implementation's clamp_to_percentile
    (kynkaat/improved-precision-and-recall-metric, which prunes at 50 for the realism score)."""
    return torch.where(radii <= torch.quantile(radii.double(), percentile / 100).to(radii.dtype), radii,
                       torch.full_like(radii, -1.0))


@torch.no_grad()
def manifold_metrics(fake: torch.Tensor, real: torch.Tensor, real_radii: torch.Tensor,
                     coverage_radii: torch.Tensor | None = None, recall_k: int | None = None
                     ) -> dict[str, torch.Tensor]:
    """Generated features fake [K, N, F] against real features [M, F] (module docstring).

    `real_radii` [M]: the real balls of precision (k-NN radii, k = 3 in Kynkäänniemi et al.;
    a negative radius removes a ball, see prune_radii).  Returns `precise` [K, N] (bool: inside
    a ball) and `precision` [K] (its mean); when `coverage_radii` [M] (real k-NN radii, k = 5 in
    Naeem et al.) is given, `coverage` [K]; when `recall_k` is given, `recall` [K] (generated
    k-NN radii with that k, the real samples against the generated balls).  Balls are closed
    (distance <= radius).  One pass over blocks of generated samples: each block's squared
    distances to every real sample come from one batched matrix product, as torch.cdist
    computes them for large sets, in float32; loops run over blocks, never over samples."""
    fake, real = fake.float(), real.float()
    k, n, _ = fake.shape
    m = real.shape[0]
    fake_sq, real_sq = fake.pow(2).sum(-1), real.pow(2).sum(-1)  # [K, N], [M]
    radii = real_radii.float()
    r2 = torch.where(radii >= 0, radii.pow(2), torch.full_like(radii, -math.inf))
    real_sq_b, real_t = real_sq.expand(k, 1, m), real.t().expand(k, -1, -1)
    fake_r2 = knn_radii(fake, recall_k).pow(2) if recall_k is not None else None
    precise, nearest, recalled = [], None, None
    rows = _rows_per_block(k, m)
    for start in range(0, n, rows):
        block, block_sq = fake[:, start:start + rows], fake_sq[:, start:start + rows]
        # e = d^2 - |fake_j|^2 = |real_i|^2 - 2 fake_j.real_i  [K, rows, M]
        e = torch.baddbmm(real_sq_b, block, real_t, alpha=-2)
        precise.append((e - r2).amin(-1) <= -block_sq)  # some i: d^2 <= r_i^2
        if coverage_radii is not None:  # per real sample: squared distance to the nearest generated one
            low = (e + block_sq.unsqueeze(-1)).amin(1)
            nearest = low if nearest is None else torch.minimum(nearest, low)
        if fake_r2 is not None:  # per real sample: min over generated j of d^2 - rf_j^2
            low = (e + (block_sq - fake_r2[:, start:start + rows]).unsqueeze(-1)).amin(1)
            recalled = low if recalled is None else torch.minimum(recalled, low)
    precise_all = torch.cat(precise, 1)
    out = {"precise": precise_all, "precision": precise_all.double().mean(1)}
    if coverage_radii is not None:
        out["coverage"] = (nearest <= coverage_radii.float().pow(2)).double().mean(1)
    if fake_r2 is not None:
        out["recall"] = (recalled <= 0).double().mean(1)
    return out
