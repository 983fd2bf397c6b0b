"""The committed evaluation classifier and the metrics computed with it, on real digits."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ganopt.classifier import WEIGHTS, classifier_info, classify, frechet_distance, load_classifier, sha256_file
from ganopt.data import load_bundled, load_idx_split, stratified_split
from ganopt.problems import get_problem
from ganopt.problems.mnist import Reference, image_metrics

TARGET = 0.98
FASHION = Path("/usr/share/datasets/fashion-mnist")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def held_out():
    d = load_bundled()
    info = classifier_info()
    _, held = stratified_split(d.labels, 100, seed=info["seed"])
    return torch.from_numpy(d.floats()[held]).unsqueeze(1), torch.from_numpy(d.labels[held])


@pytest.fixture(scope="module")
def reference():
    """The mnist problem's reference: all 5,000 bundled digits (held-out ones included)."""
    problem = get_problem("mnist")
    return problem.reference(problem.check_options({}))


@pytest.fixture(scope="module")
def train_reference():
    """The classifier's 4,000 training digits: disjoint from the held-out ones."""
    d = load_bundled()
    train, _ = stratified_split(d.labels, 100, seed=classifier_info()["seed"])
    return Reference.of_images(load_classifier(), torch.from_numpy(d.floats()[train]))


def test_the_committed_weights_are_small_and_match_their_checksum():
    info = json.loads(WEIGHTS.with_suffix(".json").read_text())
    assert WEIGHTS.stat().st_size < 1_000_000
    assert sha256_file(WEIGHTS) == info["sha256"]
    assert info["train"] == 4000 and info["held_out"] == 1000 and info["held_out_accuracy"] >= TARGET


def test_held_out_accuracy_is_above_the_target_and_as_recorded(held_out):
    x, y = held_out
    accuracy = (load_classifier()(x).argmax(1) == y).double().mean().item()
    assert accuracy >= TARGET
    assert accuracy == pytest.approx(classifier_info()["held_out_accuracy"], abs=1e-6)


def test_real_held_out_digits_cover_10_classes_with_kl_near_0(held_out, train_reference):
    x, _ = held_out  # 1,000 digits, against a reference that does not hold them
    m = image_metrics(x.unsqueeze(0), load_classifier(), train_reference)
    assert m["classes_covered"].item() == 10 and m["classes_labelled"].item() == 10
    assert m["kl_classes"].item() < 0.01
    assert m["confident_fraction"].item() > 0.95
    assert m["precision"].item() > 0.6 and m["recall"].item() > 0.8
    assert m["coverage"].item() > 0.6  # 1,000 samples against 4,000 reference digits: ~1 - (3/4)^5 = 0.76


def test_a_one_class_set_gives_kl_log_10_and_one_class_covered(reference):
    d = load_bundled()
    sevens = torch.from_numpy(d.floats()[d.labels == 7]).unsqueeze(1)  # 500: a class needs 5 to be covered
    m = image_metrics(sevens.unsqueeze(0), load_classifier(), reference)  # (sevens of the reference itself)
    assert m["classes_covered"].item() == 1 and m["classes_labelled"].item() == 1
    assert m["kl_classes"].item() == pytest.approx(math.log(10), abs=0.06)  # up to the few sevens labelled otherwise
    assert 0.05 < m["coverage"].item() < 0.15  # the sevens' 10% of the reference, and a few neighbours
    blank = torch.zeros(1, 200, 1, 28, 28)  # every sample identical: exactly one label, and no digit
    m = image_metrics(blank, load_classifier(), reference)
    assert m["kl_classes"].item() == pytest.approx(math.log(10), abs=1e-12)
    assert m["classes_covered"].item() == 0 and m["precision"].item() == 0 and m["recall"].item() == 0


def test_frechet_distance_matches_the_closed_form_and_ranks_real_above_collapsed(held_out, reference):
    mu1, mu2 = torch.tensor([0.0, 1.0], dtype=torch.float64), torch.tensor([1.0, 1.0], dtype=torch.float64)
    s1, s2 = torch.diag(torch.tensor([1.0, 4.0])).double(), torch.diag(torch.tensor([4.0, 9.0])).double()
    # diagonal: |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2 = 1 + 1 + 1
    assert frechet_distance(mu1, s1, mu2, s2).item() == pytest.approx(3.0, abs=1e-9)
    assert frechet_distance(mu1, s1, mu1, s1).item() == pytest.approx(0.0, abs=1e-9)
    x, y = held_out
    real = image_metrics(x.unsqueeze(0), load_classifier(), reference)["fid"].item()
    collapsed = image_metrics(x[y == 3].unsqueeze(0), load_classifier(), reference)["fid"].item()
    assert real < 0.1 * collapsed


@pytest.mark.slow
def test_stacked_real_triples_cover_nearly_all_1000_modes(reference):
    d = load_bundled()
    rng = np.random.default_rng(1)
    idx = rng.integers(0, len(d), (10_000, 3))
    triples = torch.from_numpy(d.floats()[idx]).unsqueeze(0)  # [1, 10000, 3, 28, 28]
    m = image_metrics(triples, load_classifier(), reference)
    # 10,000 uniform draws over 1,000 modes leave 1000 e^-10 ~ 0.05 empty on average
    assert m["modes_labelled"].item() >= 990
    assert m["kl_modes"].item() < 0.1  # sampling noise alone gives ~ 999 / 20,000 = 0.05
    assert m["modes_total"].item() == 1000
    # digits of the reference itself (a benchmark's reference is the training data): precise unless
    # their own ball was pruned and no other holds them
    assert m["precision"].item() > 0.5 and m["modes_covered"].item() >= 990


@pytest.mark.skipif(not FASHION.is_dir(), reason=f"{FASHION} absent: apt-get install -y dataset-fashion-mnist")
def test_the_training_tool_trains_on_full_size_idx_files(tmp_path):
    """The --data-dir path end to end on the real 60,000 + 10,000 Fashion-MNIST images (one
    epoch: 84% on the test split; 8 epochs, the default, reach 90%)."""
    out = tmp_path / "fashion.npz"
    done = subprocess.run([sys.executable, "tools/train_classifier.py", "--data-dir", str(FASHION), "--out", str(out),
                           "--epochs", "1"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    info = classifier_info(str(out))
    assert (info["train"], info["held_out"], info["data"]) == (60000, 10000, "fashion-mnist IDX files")
    assert info["sha256"] == sha256_file(out)
    test = load_idx_split(FASHION, "test")
    probs, _ = classify(load_classifier(str(out)), torch.from_numpy(test.floats()).unsqueeze(1))
    accuracy = (probs.argmax(1).numpy() == test.labels).mean()
    assert accuracy == pytest.approx(info["held_out_accuracy"], abs=3e-4)  # classify() rounds differently
    assert accuracy > 0.8


@pytest.mark.parametrize("args,message", [
    (["--epochs", "0"], "--epochs: must be at least 1"),
    (["--out", "weights.json"], "--out must name a .npz file"),
    (["--data-dir", "no-such-folder", "--out", "c.npz"], "no-such-folder: data folder not found"),
    (["--data-dir", "."], "--out is required with --data-dir"),
])
def test_the_training_tool_rejects_bad_arguments_in_one_line(args, message, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "tools/train_classifier.py"), *args], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not list(tmp_path.iterdir())
