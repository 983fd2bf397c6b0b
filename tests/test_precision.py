"""Precision of the training steps (ganopt.precision): bf16 autocast changes the numbers and
nothing else (evaluation dtype, stacking, reproducibility); tf32 is refused off CUDA in one
line; a precision is part of the run id, and fp32 ids read as before the setting existed."""

import json

import pandas as pd
import pytest
import torch
from helpers import run_bench

from bench.spec import SpecError, build_suite
from ganopt import get_problem
from ganopt.precision import check_precision, step_precision
from ganopt.strategies import STRATEGIES
from ganopt.train import train_stack

SMALL = {"g_hidden": [32, 32], "d_hidden": [32, 32], "latent_dim": 8, "batch_size": 64}


def _adam(problem):
    return STRATEGIES["adam"].resolve(problem.default_lr(problem.check_options(SMALL)))


def test_bf16_changes_the_trajectory_reproducibly_and_a_run_alone_and_in_a_stack_agree():
    problem = get_problem("ring8")
    opts = problem.check_options(SMALL)
    adam = _adam(problem)
    fp32 = train_stack(problem, opts, [adam], [7], 30, 10, calibrate=False)
    bf16 = train_stack(problem, opts, [adam], [7], 30, 10, calibrate=False, precision="bf16")
    again = train_stack(problem, opts, [adam], [7], 30, 10, calibrate=False, precision="bf16")
    stacked = train_stack(problem, opts, [adam, adam, adam], [3, 7, 11], 30, 10, calibrate=False, precision="bf16")
    drop = lambda records: [{k: v for k, v in r.items() if k != "wall_s"} for r in records[0]]  # nan: not timed
    assert drop(bf16.records) == drop(again.records)  # bit for bit on CPU
    last32, last16 = fp32.records[0][-1], bf16.records[0][-1]
    assert last16["loss_d"] != last32["loss_d"]  # the arithmetic really changed
    assert last16["loss_d"] == pytest.approx(last32["loss_d"], rel=0.05)  # ... by rounding, not by a bug
    for a, b in zip(bf16.records[0], stacked.records[1]):
        for key in ("loss_g", "loss_d", "grad_norm_g", "hq_fraction"):
            assert a[key] == pytest.approx(b[key], rel=1e-3, abs=1e-5), (a["step"], key)


def test_the_step_runs_its_matmuls_in_bf16_and_the_parameters_stay_float32():
    seen = []
    problem = get_problem("ring8")
    game = problem.build(problem.check_options(SMALL), torch.tensor([1]), False, torch.device("cpu"))
    with step_precision("bf16", torch.device("cpu")):
        x = torch.baddbmm(game.theta[1], torch.randn(1, 4, 8), game.theta[0])
        seen.append(x.dtype)
    assert seen == [torch.bfloat16] and all(p.dtype == torch.float32 for p in game.theta)


def test_under_bf16_a_second_evaluation_within_a_step_sees_the_moved_parameters():
    """Alternating and extragradient move parameters in place within one step: a cached bfloat16
    copy of the weights would evaluate the second gradient at the old point."""
    problem = get_problem("ring8")
    game = problem.build(problem.check_options(SMALL), torch.tensor([1]), False, torch.device("cpu"))
    with step_precision("bf16", torch.device("cpu")):
        before = game.losses(0, "gd")[1].item()
        with torch.no_grad():
            for p in game.phi:
                p.mul_(1.5)
        after = game.losses(0, "gd")[1].item()  # the same draw: only the parameters differ
    assert after != pytest.approx(before, abs=1e-3)


@pytest.mark.parametrize("strategy", ["alt-adam", "extra-adam"])
def test_bf16_second_evaluations_follow_the_scheme(strategy):
    """One step of a scheme that evaluates twice equals its own two evaluations done by hand,
    each under its own autocast region (nothing carried between them)."""
    problem = get_problem("ring8")
    opts = problem.check_options(SMALL)
    s = STRATEGIES[strategy].resolve(problem.default_lr(opts))
    bf16 = train_stack(problem, opts, [s], [5], 3, 1, calibrate=False, precision="bf16")
    fp32 = train_stack(problem, opts, [s], [5], 3, 1, calibrate=False)
    # close to fp32 after 3 steps (a stale second point would put alt-adam ~20% off in 20 steps)
    for a, b in zip(bf16.records[0], fp32.records[0]):
        assert a["grad_norm_d"] == pytest.approx(b["grad_norm_d"], rel=0.05), a["step"]


def test_tf32_sets_the_cuda_flags_for_the_step_only():
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with step_precision("tf32", torch.device("cpu")):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


def test_what_does_not_apply_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="unknown precision 'fp16'; valid: fp32, tf32, bf16"):
        check_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="tf32 is a CUDA tensor-core mode; this device is cpu"):
        check_precision("tf32", "cpu")
    with pytest.raises(ValueError, match="this problem computes in float64"):
        check_precision("bf16", "cpu", "float64")
    check_precision("tf32", "cuda")  # fine where it applies
    problem = get_problem("bilinear")
    with pytest.raises(ValueError, match="float64"):
        train_stack(problem, problem.check_options({}), [STRATEGIES["gd"].resolve(problem.default_lr({}))], [0], 2, 1,
                    precision="bf16")


def test_a_precision_is_part_of_the_run_id_and_fp32_ids_are_unchanged(tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text('problems = ["ring8"]\nstrategies = ["adam"]\nseeds = 1\nsteps = 10\n')
    plain = build_suite(suite).runs[0]
    bf16 = build_suite(suite, precision="bf16").runs[0]
    fp32 = build_suite(suite, precision="fp32").runs[0]
    assert "precision" not in plain.describe() and fp32.run_id == plain.run_id
    assert bf16.describe()["precision"] == "bf16" and bf16.run_id != plain.run_id
    suite.write_text(suite.read_text() + 'precision = "bf61"\n')
    with pytest.raises(SpecError, match="unknown precision 'bf61' \\(did you mean 'bf16'\\?\\)"):
        build_suite(suite)


@pytest.mark.slow
def test_the_cli_refuses_tf32_on_cpu_in_one_line_and_runs_bf16_with_a_note(tmp_path):
    refused = run_bench("run", "--problems", "ring8", "--strategies", "adam", "--seeds", "1", "--steps", "5",
                        "--precision", "tf32", "--out", str(tmp_path / "x"), "--store", str(tmp_path / "s.sqlite"))
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "tf32 is a CUDA tensor-core mode; this device is cpu" in refused.stderr
    assert not (tmp_path / "x").exists()
    ran = run_bench("run", "--problems", "ring8", "--strategies", "adam", "--seeds", "1", "--steps", "5",
                    "--precision", "bf16", "--out", str(tmp_path / "out"), "--store", str(tmp_path / "s.sqlite"),
                    "--quiet")
    assert ran.returncode == 0, ran.stderr
    assert "Arithmetic of the training steps (ganopt.precision): bf16 (1 runs)" in \
        (tmp_path / "out" / "summary.md").read_text()
    provenance = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert [p["precision"] for p in provenance.values()] == ["bf16"]
    # the same runs at fp32 in the same store: a report of the whole store keeps them apart ...
    fp32 = run_bench("run", "--problems", "ring8", "--strategies", "adam", "--seeds", "1", "--steps", "5",
                     "--out", str(tmp_path / "fp32"), "--store", str(tmp_path / "s.sqlite"), "--quiet")
    assert fp32.returncode == 0, fp32.stderr
    both = run_bench("report", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "both"))
    assert both.returncode == 0, both.stderr
    summary = pd.read_csv(tmp_path / "both" / "summary.csv")
    assert sorted(summary["strategy"]) == ["adam", "adam@bf16"]
    # ... and bench compare refuses to compare fp32 with bf16
    compared = run_bench("compare", str(tmp_path / "fp32"), str(tmp_path / "out"))
    assert compared.returncode == 2 and "precision fp32, the change precision bf16" in compared.stderr


@pytest.mark.slow
def test_perf_times_the_stacked_step_at_a_precision_and_the_gate_keeps_it_apart(tmp_path):
    from bench.perfgate import key

    refused = run_bench("perf", "--precision", "tf32", "--out", str(tmp_path / "x"))
    assert refused.returncode == 2 and "--precision: precision tf32 is a CUDA tensor-core mode" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    result = run_bench("perf", "--problems", "ring8", "--k", "1", "--schemes", "simultaneous", "--bases", "sgd",
                       "--seconds", "0.05", "--precision", "bf16", "--out", str(tmp_path / "perf"))
    assert result.returncode == 0, result.stderr
    rows = pd.read_csv(tmp_path / "perf" / "perf.csv")
    stacked = rows[rows["what"] == "ganopt stack"].iloc[0].to_dict()
    assert stacked["precision"] == "bf16" and stacked["matmul_share"] > 0
    assert key(stacked) == "ring8/simultaneous/sgd/K=1/bf16"
    assert key({**stacked, "precision": "fp32"}) == "ring8/simultaneous/sgd/K=1"  # the committed baseline's keys


def test_bench_tune_refuses_another_precision_than_the_tables(tmp_path):
    suite = tmp_path / "tune.toml"
    suite.write_text('name = "t"\nproblems = ["ring8"]\nstrategies = ["adam"]\nseeds = 1\nsteps = 5\n'
                     'precision = "bf16"\n[tuning]\ntrials = 2\n')
    result = run_bench("tune", "--suite", str(suite), "--table", str(tmp_path / "t.json"),
                       "--store", str(tmp_path / "s.sqlite"))
    assert result.returncode == 2 and "bench tune trains at fp32" in result.stderr
    assert not (tmp_path / "t.json").exists()
