"""The image problems: options, metrics, samples, every scheme on both architectures, stacks."""

import json
from pathlib import Path

import math

import pandas as pd
import pytest
import torch

from bench.execute import run_stack
from bench.spec import SpecError, build_suite
from ganopt import get_problem, get_strategy, train_stack
from ganopt.classifier import DigitClassifier, info_path, save_weights, sha256_file
from ganopt.problems.mnist import ImageGame, ImageNets

TINY = {"width": 4, "hidden": [16], "batch_size": 8, "latent_dim": 8}


def fast_eval(problem, options):
    """Valid options, then 2,048 evaluation samples: below stacked-mnist's protocol minimum
    (checked above), to keep these tests of the machinery short."""
    return {**problem.check_options(options), "eval_samples": 2048}


SCHEME_STRATEGIES = ["adam", "alt-sgd", "extragradient", "optimistic", "past-extragradient"]


def resolved(name, problem):
    return get_strategy(name).resolve(problem.lr)


@pytest.mark.parametrize("options,message", [
    ({"arch": "resnet"}, "unknown arch 'resnet'; valid: dcgan, mlp"),
    ({"eval_samples": 1000}, "eval_samples must be at least 2048"),
    ({"hidden": [0]}, "hidden width must be an integer"),
    ({"data_dir": 3}, "data_dir must be a path"),
    ({"verify_checksum": "no"}, "verify_checksum must be true or false"),
    ({"colour": 1}, "unknown option 'colour'"),
])
def test_bad_options_are_one_line_value_errors(options, message):
    with pytest.raises(ValueError, match=message):
        get_problem("mnist").check_options(options)


def test_stacked_mnist_needs_10000_evaluation_samples():
    with pytest.raises(ValueError, match="eval_samples must be at least 10000"):
        get_problem("stacked-mnist").check_options({"eval_samples": 9999})


@pytest.mark.parametrize("name,primary", [("mnist", "coverage"), ("stacked-mnist", "modes_covered")])
def test_the_declarations_rank_quality_and_mark_the_literature_protocol(name, primary):
    problem = get_problem(name)
    assert problem.primary.name == primary and sum(m.primary for m in problem.metrics) == 1
    for m in problem.metrics:
        assert m.label.endswith("(lit.)") == m.literature, m.name
        if m.ranked:  # a diverged run scores the worst value
            assert m.diverged is not None, m.name
            assert m.diverged == 0.0 if m.higher_is_better else m.diverged > 0, m.name
    names = {m.name for m in problem.metrics}
    literature = {m.name for m in problem.metrics if m.literature}
    if name == "mnist":  # no duplicates under the mixtures' names
        assert not names & {"modes_covered", "modes_total", "kl_modes", "hq_fraction", "confidence"}
        assert literature == {"classes_labelled", "kl_classes", "confident_fraction"}
        fid = next(m for m in problem.metrics if m.name == "fid")
        assert (fid.higher_is_better, fid.diverged, fid.log, fid.literature) == (False, math.inf, True, False)
    else:
        assert literature == {"modes_labelled", "kl_modes", "confident_fraction"}
    assert next(m for m in problem.metrics if m.name == "kl_" + ("classes" if name == "mnist" else "modes")
                ).diverged == pytest.approx(math.log(10 if name == "mnist" else 1000))


@pytest.mark.parametrize("name,channels", [("mnist", 1), ("stacked-mnist", 3)])
@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
def test_metrics_and_samples_of_a_fresh_stack(name, channels, arch):
    problem = get_problem(name)
    game = problem.build(fast_eval(problem, {**TINY, "arch": arch}), torch.tensor([0, 1]), False, "cpu")
    z, x = game.batch(0)
    assert x.shape == (2, 8, channels, 28, 28) and 0 <= x.min() and x.max() <= 1
    metrics = game.evaluate()
    assert set(metrics) == {m.name for m in problem.metrics}  # every key declared, every declaration reported
    assert all(v.shape == (2,) and torch.isfinite(v).all() for v in metrics.values())
    table = pd.DataFrame({key: v.numpy() for key, v in metrics.items()})
    assert len(table.query(problem.target.query)) == 0  # the target's columns exist; a fresh run is far from it
    samples = game.samples()
    assert samples.shape == (2, 64, channels, 28, 28) and 0 < samples.min() and samples.max() < 1
    assert torch.equal(samples, game.generate_eval()[:, :64])  # the grid shows evaluated samples


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
@pytest.mark.parametrize("strategy", SCHEME_STRATEGIES)
def test_every_scheme_trains_a_stack_on_both_architectures(arch, strategy):
    problem = get_problem("mnist")
    opts = problem.check_options({**TINY, "arch": arch, "eval_samples": 2048})
    s = resolved(strategy, problem)
    result = train_stack(problem, opts, [s, s], [0, 1], 3, 3)
    assert result.status == ["done", "done"]
    last = [r[-1] for r in result.records]
    assert last[0]["step"] == 3 and last[0]["grad_evals"] > 0
    assert last[0]["loss_d"] != last[1]["loss_d"]  # two seeds, two runs
    assert result.samples.shape == (2, 64, 1, 28, 28)


@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
def test_stacked_mnist_trains(arch):
    problem = get_problem("stacked-mnist")
    opts = fast_eval(problem, {**TINY, "arch": arch})
    result = train_stack(problem, opts, [resolved("adam", problem)], [0], 2, 2)
    assert result.status == ["done"] and result.samples.shape == (1, 64, 3, 28, 28)
    last = result.records[0][-1]
    assert 1 <= last["modes_labelled"] <= 1000 and 0 <= last["modes_covered"] <= last["modes_labelled"]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
def test_a_run_alone_and_in_a_stack_of_three_agree(arch):
    problem = get_problem("mnist")
    opts = problem.check_options({**TINY, "arch": arch, "eval_samples": 2048})
    target, other = resolved("adam", problem), resolved("sgd", problem)
    alone = train_stack(problem, opts, [target], [7], 4, 2)
    stack = train_stack(problem, opts, [other, target, other], [3, 7, 11], 4, 2)
    for a, b in zip(alone.records[0], stack.records[1]):
        for key in ("loss_g", "loss_d", "grad_norm_g", "kl_classes", "fid", "coverage", "precision", "recall"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    assert stack.records[0][-1]["loss_d"] != pytest.approx(stack.records[1][-1]["loss_d"], rel=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_each_run_of_a_stacked_dcgan_equals_torch_nn_layers_with_its_weights(channels):
    """Peer: the grouped convolutions of run k compute what torch.nn's layers compute with
    run k's weights (G: linear, BN, ReLU, convT, BN, ReLU, convT, sigmoid; D: conv, LReLU,
    conv, LReLU, linear), BN on the batch's statistics without affine parameters."""
    from torch import nn

    k, b, w, latent = 3, 5, 4, 8
    nets = ImageNets("dcgan", channels, latent, w, [], torch.tensor([0, 1, 2]), "cpu")
    for p in nets.theta + nets.phi:  # non-zero biases, so a misplaced bias shows
        with torch.no_grad():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    z = torch.randn(k, b, latent, generator=torch.Generator().manual_seed(1))
    x = torch.rand(k, b, channels, 28, 28, generator=torch.Generator().manual_seed(2))
    images, logits = nets.generate(z), nets.discriminate(x)
    w0, t1, t2, c2 = nets.theta
    v1, d1, v2, d2, w3, b3 = nets.phi
    for i in range(k):
        up1 = nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False)
        up2 = nn.ConvTranspose2d(w, channels, 4, 2, 1)
        conv1, conv2 = nn.Conv2d(channels, w, 4, 2, 1), nn.Conv2d(w, 2 * w, 4, 2, 1)
        with torch.no_grad():
            up1.weight.copy_(t1[i]), up2.weight.copy_(t2[i]), up2.bias.copy_(c2[i])
            conv1.weight.copy_(v1[i]), conv1.bias.copy_(d1[i]), conv2.weight.copy_(v2[i]), conv2.bias.copy_(d2[i])
        bn = lambda n: nn.BatchNorm2d(n, affine=False, track_running_stats=False)  # noqa: E731
        g = nn.Sequential(nn.Unflatten(1, (2 * w, 7, 7)), bn(2 * w), nn.ReLU(), up1, bn(w), nn.ReLU(), up2,
                          nn.Sigmoid())
        d = nn.Sequential(conv1, nn.LeakyReLU(0.2), conv2, nn.LeakyReLU(0.2), nn.Flatten())
        with torch.no_grad():
            torch.testing.assert_close(images[i], g(z[i] @ w0[i]), rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(logits[i], d(x[i]) @ w3[i] + b3[i], rtol=1e-4, atol=1e-5)


def test_full_batch_runs_keep_one_batch():
    problem = get_problem("mnist")
    game = problem.build(problem.check_options({**TINY, "arch": "mlp"}), torch.tensor([0]), True, "cpu")
    assert torch.equal(game.batch(0)[1], game.batch(5)[1])


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist not installed")
def test_data_dir_reads_the_full_size_idx_files():
    problem = get_problem("mnist")
    opts = problem.check_options({**TINY, "arch": "mlp", "data_dir": "/usr/share/datasets/fashion-mnist"})
    game = problem.build(opts, torch.tensor([0]), False, "cpu")
    assert isinstance(game, ImageGame) and game.data.shape == (60000, 28, 28)
    assert problem.reference_stats(opts)[1].shape == (64, 64)  # from the 10,000 test images


def _random_classifier(path: Path, seed: int) -> Path:
    """A valid (untrained) classifier file with its JSON record, as the training tool writes."""
    torch.manual_seed(seed)
    sha = save_weights(DigitClassifier(), path)
    info_path(path).write_text(json.dumps({"sha256": sha, "data": "bundled (test)", "train": 0, "held_out": 0,
                                           "held_out_accuracy": 0.1}))
    return path


def test_a_suite_checks_its_files_first_and_its_run_ids_follow_their_content(tmp_path):
    suite = tmp_path / "suite.toml"
    suite.write_text('problems = ["mnist"]\nstrategies = ["adam"]\nseeds = 1\n'
                     '[problem.mnist]\nclassifier = "mine.npz"\n')  # relative: next to the suite file
    with pytest.raises(SpecError, match=f"{tmp_path / 'mine.npz'}: classifier weights .* not found"):
        build_suite(suite)
    _random_classifier(tmp_path / "mine.npz", 0)
    first = build_suite(suite).runs[0]
    assert first.inputs["classifier_sha256"] == sha256_file(tmp_path / "mine.npz")
    assert build_suite(suite).runs[0].run_id == first.run_id
    _random_classifier(tmp_path / "mine.npz", 1)  # same path, other weights: other runs
    assert build_suite(suite).runs[0].run_id != first.run_id
    (tmp_path / "mine.npz").write_bytes(b"garbage")
    with pytest.raises(SpecError, match="SHA-256 .* differs"):
        build_suite(suite)


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist not installed")
def test_a_relative_data_dir_is_read_from_the_suite_folder_and_a_digit_classifier_on_fashion_warns(tmp_path):
    (tmp_path / "fm").symlink_to("/usr/share/datasets/fashion-mnist")
    suite = tmp_path / "suite.toml"
    suite.write_text('problems = ["mnist"]\nstrategies = ["adam"]\nseeds = 1\n[problem.mnist]\ndata_dir = "fm"\n')
    built = build_suite(suite)
    assert built.runs[0].options["data_dir"] == str(tmp_path / "fm")
    assert built.runs[0].inputs["data"] == "fashion-mnist"
    about_data = [w for w in built.warnings if "tuned rates" not in w]  # the other: mnist has no tuned rates
    assert len(about_data) == 1 and "classifier was trained on bundled" in about_data[0]
    assert "fashion-mnist" in about_data[0]


def test_run_ids_do_not_depend_on_how_the_suite_path_is_written(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    _random_classifier(tmp_path / "a" / "mine.npz", 0)
    (tmp_path / "a" / "suite.toml").write_text('problems = ["mnist"]\nstrategies = ["adam"]\nseeds = 1\n'
                                               '[problem.mnist]\nclassifier = "mine.npz"\n')
    monkeypatch.chdir(tmp_path)
    relative = build_suite(Path("a/suite.toml")).runs[0]
    assert relative.options["classifier"] == str(tmp_path / "a" / "mine.npz")
    assert relative.run_id == build_suite(tmp_path / "a" / "suite.toml").runs[0].run_id
    (tmp_path / "b").mkdir()  # the same files elsewhere: the same runs (files count by content)
    for name in ("suite.toml", "mine.npz", "mine.json"):
        (tmp_path / "b" / name).write_bytes((tmp_path / "a" / name).read_bytes())
    assert build_suite(Path("b/suite.toml")).runs[0].run_id == relative.run_id


def test_an_incomplete_classifier_record_is_bad_input(tmp_path):
    weights = _random_classifier(tmp_path / "mine.npz", 0)
    info_path(weights).write_text(json.dumps({"sha256": sha256_file(weights)}))
    (tmp_path / "suite.toml").write_text('problems = ["mnist"]\nstrategies = ["adam"]\n'
                                         '[problem.mnist]\nclassifier = "mine.npz"\n')
    with pytest.raises(SpecError, match="mine.json: incomplete classifier record"):
        build_suite(tmp_path / "suite.toml")


def test_a_classifier_replaced_after_loading_the_suite_stops_the_stack_and_renews_the_reference(tmp_path):
    weights = _random_classifier(tmp_path / "mine.npz", 0)
    (tmp_path / "suite.toml").write_text('problems = ["mnist"]\nstrategies = ["adam"]\nseeds = 1\nsteps = 2\n'
                                         '[problem.mnist]\narch = "mlp"\neval_samples = 2048\nclassifier = "mine.npz"\n')
    suite = build_suite(tmp_path / "suite.toml")
    problem, options = get_problem("mnist"), suite.runs[0].options
    before = problem.reference_stats(options)[0]
    _random_classifier(weights, 1)
    with pytest.raises(ValueError, match=r"changed since the suite was loaded \(classifier_sha256\)"):
        run_stack(suite.stacks[0], torch.device("cpu"))
    assert not torch.equal(problem.reference_stats(options)[0], before)
