"""Quality of image samples in the classifier's feature space (precision, recall, coverage and the
quality-gated class and mode counts), on REAL digits against synthetic failures.

Honesty of the real cases: the bundled 5,000 digits are split per class (stratified_split,
seed 0) into 2,500 *reference* digits (250 per class), passed explicitly to image_metrics, and
2,500 other digits that play the generated samples.  The two sets are DISJOINT: the "real"
rows below are real held-out digits, not copies of the reference (in a benchmark run the
reference is all 5,000 bundled digits, the GAN's training data: there is no disjoint split of
two sets of >= 2,048 there).  The 3-class set is the 750 held-out digits of classes 0, 1, 2.

Run with `pytest -s tests/test_image_quality.py` (or just pytest: the tables are printed
outside the capture) for the score tables.
"""

import math

import pytest
import torch
from torch.nn import functional as F

from ganopt import get_problem
from ganopt.classifier import knn_radii, load_classifier, manifold_metrics, prune_radii
from ganopt.data import load_digits, stratified_split
from ganopt.problems.mnist import PRUNE_PERCENTILE, Reference, image_metrics

REFERENCE_PER_CLASS = 250
STACKED_SAMPLES = 3000  # per case (a benchmark run evaluates 10,000): 9,000 digits through the classifier
MNIST_COLUMNS = ("coverage", "precision", "recall", "classes_covered", "fid", "classes_labelled", "kl_classes",
                 "confident_fraction")
STACKED_COLUMNS = ("modes_covered", "precision", "modes_labelled", "kl_modes", "confident_fraction")


@pytest.fixture(scope="module")
def digits():
    d = load_digits(None, "test", True)
    generated, reference = stratified_split(d.labels, REFERENCE_PER_CLASS, seed=0)
    x = torch.from_numpy(d.floats()).unsqueeze(1)  # [5000, 1, 28, 28]
    y = torch.from_numpy(d.labels)
    model = load_classifier()
    assert not set(generated.tolist()) & set(reference.tolist())  # disjoint
    return {"model": model, "real": x[generated], "labels": y[generated],
            "reference": Reference.of_images(model, x[reference])}


def gaussian_blobs(n: int, generator: torch.Generator) -> torch.Tensor:
    """n images [n, 28, 28] of one Gaussian blob each: centre uniform in [8, 20]^2, standard
    deviation uniform in [2, 6] pixels, peak 1."""
    grid = torch.arange(28.0)
    centre = 8 + 12 * torch.rand(n, 2, generator=generator)
    std = 2 + 4 * torch.rand(n, 1, 1, generator=generator)
    d2 = (grid.view(1, 28, 1) - centre[:, 0, None, None]) ** 2 + (grid.view(1, 1, 28) - centre[:, 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * std**2))


def blurred(images: torch.Tensor, std: float = 3.0) -> torch.Tensor:
    """Digits [n, 1, 28, 28] under a Gaussian blur of `std` pixels, rescaled to peak 1."""
    taps = torch.exp(-torch.arange(-7.0, 8.0) ** 2 / (2 * std**2))
    taps = taps / taps.sum()
    out = F.conv2d(images, taps.view(1, 1, 1, 15), padding=(0, 7))
    out = F.conv2d(out, taps.view(1, 1, 15, 1), padding=(7, 0))
    return out / out.amax((2, 3), keepdim=True)


@pytest.fixture(scope="module")
def mnist_scores(digits):
    """Case -> metric -> value.  The five cases of 2,500 samples run as ONE stack of K = 5."""
    real, labels, model, reference = digits["real"], digits["labels"], digits["model"], digits["reference"]
    n = real.shape[0]
    g = torch.Generator().manual_seed(0)
    stack = {
        "real digits (held out)": real,
        "uniform noise": torch.rand(n, 1, 28, 28, generator=g),
        "Gaussian blobs": gaussian_blobs(n, g).unsqueeze(1),
        "blurred digits (std 3 px)": blurred(real),
        "one digit repeated": real[:1].expand(n, -1, -1, -1),
    }
    metrics = image_metrics(torch.stack(list(stack.values())), model, reference)
    scores = {name: {key: v[i].item() for key, v in metrics.items()} for i, name in enumerate(stack)}
    three = image_metrics(real[labels < 3].unsqueeze(0), model, reference)
    scores["3 classes (0, 1, 2; 750 digits)"] = {key: v.item() for key, v in three.items()}
    return scores


@pytest.fixture(scope="module")
def stacked_scores(digits):
    real, model, reference = digits["real"][:, 0], digits["model"], digits["reference"]
    g = torch.Generator().manual_seed(1)
    n = STACKED_SAMPLES
    colour = 0.3 + 0.7 * torch.rand(n, 3, 1, 1, generator=g)
    stack = {
        "real triples (held out)": real[torch.randint(real.shape[0], (n, 3), generator=g)],
        "uniform noise": torch.rand(n, 3, 28, 28, generator=g),
        "coloured blobs": gaussian_blobs(n, g).unsqueeze(1) * colour,
    }
    metrics = image_metrics(torch.stack(list(stack.values())), model, reference)
    return {name: {key: v[i].item() for key, v in metrics.items()} for i, name in enumerate(stack)}


def _table(title: str, scores: dict, columns: tuple[str, ...]) -> str:
    widths = [max(len(c), 7) for c in columns]
    lines = [title, "| case | " + " | ".join(c.rjust(w) for c, w in zip(columns, widths)) + " |",
             "|---|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"]
    for name, row in scores.items():
        cells = [f"{row[c]:.0f}" if c.startswith(("classes", "modes")) else f"{row[c]:.3f}" for c in columns]
        cells = [f"{row[c]:.1f}" if c == "fid" else cell for c, cell in zip(columns, cells)]
        lines.append(f"| {name} | " + " | ".join(cell.rjust(w) for cell, w in zip(cells, widths)) + " |")
    return "\n".join(lines)


@pytest.mark.slow
def test_print_the_score_tables(mnist_scores, stacked_scores, capsys):
    with capsys.disabled():
        print()
        print(_table(f"mnist: 2,500 samples per case (3 classes: 750) against 2,500 disjoint reference digits; "
                     f"precision balls pruned above the {PRUNE_PERCENTILE}th percentile", mnist_scores, MNIST_COLUMNS))
        print(_table(f"stacked-mnist: {STACKED_SAMPLES:,} samples per case, channels against the same 2,500 "
                     "reference digits", stacked_scores, STACKED_COLUMNS))


def test_real_digits_score_best_on_the_headline_and_on_precision(mnist_scores):
    real = mnist_scores["real digits (held out)"]
    others = {name: row for name, row in mnist_scores.items() if row is not real}
    assert real["coverage"] > 0.9 and real["recall"] > 0.8 and real["classes_covered"] == 10
    assert all(real["coverage"] > row["coverage"] + 0.5 for row in others.values())
    assert all(real["recall"] > row["recall"] + 0.5 for row in others.values())
    assert real["precision"] > 0.6  # held-out digits: 0.68 (0.89 with no pruning)
    for name in ("uniform noise", "Gaussian blobs", "blurred digits (std 3 px)"):
        assert real["precision"] > others[name]["precision"] + 0.4, name
    # Precision is fidelity alone: real digits of 3 classes are as precise as real digits of 10,
    # and one precise digit repeated is precise every time (a collapse shows in recall and coverage)
    assert others["3 classes (0, 1, 2; 750 digits)"]["precision"] == pytest.approx(real["precision"], abs=0.1)
    assert real["fid"] < 0.01 * min(row["fid"] for row in others.values())


@pytest.mark.parametrize("case", ["uniform noise", "Gaussian blobs"])
def test_noise_and_blobs_score_worst_where_the_literature_protocol_counts_them(mnist_scores, case):
    row = mnist_scores[case]
    assert row["precision"] <= 0.01 and row["coverage"] <= 0.02 and row["recall"] <= 0.01
    assert row["classes_covered"] == 0
    assert all(row["coverage"] <= other["coverage"] + 0.01 for other in mnist_scores.values())
    # what the literature's label counts make of them: confidently labelled classes
    assert row["classes_labelled"] >= 1 and row["confident_fraction"] >= 0.3


def test_a_repeated_digit_and_three_classes_lie_in_between(mnist_scores):
    real, noise, blobs = (mnist_scores[c] for c in ("real digits (held out)", "uniform noise", "Gaussian blobs"))
    repeated, three = mnist_scores["one digit repeated"], mnist_scores["3 classes (0, 1, 2; 750 digits)"]
    assert repeated["classes_covered"] == 1 and three["classes_covered"] == 3
    assert noise["classes_covered"] == blobs["classes_covered"] == 0 < 1 < 3 < real["classes_covered"]
    assert repeated["coverage"] <= 0.01 and repeated["recall"] <= 0.01  # one point covers a few balls at most
    # 3 of 10 classes: recall and coverage near 3/10 of real's
    for key in ("coverage", "recall"):
        assert 0.2 * real[key] < three[key] < 0.4 * real[key], key
        assert max(noise[key], blobs[key], repeated[key]) < three[key], key


def test_stacked_real_triples_cover_modes_where_noise_and_blobs_cover_none(stacked_scores):
    real = stacked_scores["real triples (held out)"]
    # 3,000 triples, ~30% with all three channels precise: ~900 gated draws over 1,000 modes
    assert real["modes_covered"] > 450 and real["precision"] > 0.2
    assert real["modes_labelled"] > 900 and real["kl_modes"] < 0.5
    for case in ("uniform noise", "coloured blobs"):
        row = stacked_scores[case]
        assert row["modes_covered"] == 0 and row["precision"] == 0, case
        assert row["modes_labelled"] >= 1, case  # the literature's count: noise 1 mode, coloured blobs ~170
    assert stacked_scores["uniform noise"]["confident_fraction"] > 0.9  # "confident" noise


def test_the_metrics_of_a_run_do_not_depend_on_its_stack(digits):
    real, model, reference = digits["real"][:600], digits["model"], digits["reference"]
    noise = torch.rand(600, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    stack = image_metrics(torch.stack([noise, real]), model, reference)
    alone = image_metrics(real.unsqueeze(0), model, reference)
    for key in ("coverage", "precision", "recall", "classes_covered", "fid"):
        assert stack[key][1].item() == pytest.approx(alone[key].item(), abs=1e-6), key


def _brute_force(fake, real, k_precision, k_coverage, percentile):
    """Peer: precision, recall, coverage from full torch.cdist matrices in float64."""
    real = real.double()
    d_real = torch.cdist(real, real).fill_diagonal_(math.inf)
    r_precision = d_real.topk(k_precision, largest=False).values[:, -1]
    r_precision = torch.where(r_precision <= torch.quantile(r_precision, percentile / 100), r_precision,
                              torch.full_like(r_precision, -1.0))
    r_coverage = d_real.topk(k_coverage, largest=False).values[:, -1]
    out = []
    for f in fake.double():
        d = torch.cdist(f, real)  # [N, M]
        d_fake = torch.cdist(f, f).fill_diagonal_(math.inf)
        r_fake = d_fake.topk(k_precision, largest=False).values[:, -1]
        out.append([(d <= r_precision).any(1).double().mean(), (d <= r_fake[:, None]).any(0).double().mean(),
                    (d <= r_coverage).any(0).double().mean()])
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("block", [None, 50_000, 7])
def test_blocked_distances_agree_with_full_cdist_matrices(block, monkeypatch):
    import ganopt.classifier as classifier

    if block is not None:  # blocks of many rows, of a few, of one
        monkeypatch.setattr(classifier, "DISTANCE_BLOCK", block)
    g = torch.Generator().manual_seed(0)
    real = 3 * torch.randn(400, 16, generator=g)
    fake = 3 * torch.randn(3, 300, 16, generator=g) + torch.tensor([0.0, 1.5, 4.0]).view(3, 1, 1)
    got = manifold_metrics(fake, real, prune_radii(knn_radii(real, 3), 75), knn_radii(real, 5), recall_k=3)
    want = _brute_force(fake, real, 3, 5, 75)
    torch.testing.assert_close(torch.stack([got["precision"], got["recall"], got["coverage"]], 1), want)
    assert 0 < want.min() and want[0].min() > want[2].max()  # the cases differ: the check has teeth


def test_the_problem_reference_is_cached_and_has_the_radii_of_its_digits():
    problem = get_problem("mnist")
    opts = problem.check_options({})
    ref = problem.reference(opts)
    assert ref is problem.reference(opts)
    assert ref.feats.shape == (5000, 64) and ref.coverage_radii.shape == (5000,)
    pruned = (ref.precision_radii < 0).double().mean().item()
    assert pruned == pytest.approx(1 - PRUNE_PERCENTILE / 100, abs=0.01)
    assert torch.equal(problem.reference_stats(opts)[0], ref.mean)
