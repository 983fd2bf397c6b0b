"""Precision of the training steps (ganopt.precision): bf16 autocast changes the numbers and
nothing else (evaluation dtype, stacking, reproducibility); tf32 is refused off CUDA in one
line; a precision is part of the run id, and fp32 ids read as before the setting existed."""

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
    assert "Arithmetic of the training steps: bf16" in (tmp_path / "out" / "summary.md").read_text()


def test_perf_times_the_stacked_step_at_a_precision_and_the_gate_keeps_it_apart(tmp_path):
    from bench.perfgate import key

    refused = run_bench("perf", "--precision", "tf32", "--out", str(tmp_path / "x"))
    assert refused.returncode == 2 and "--precision: precision tf32 is a CUDA tensor-core mode" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    result = run_bench("perf", "--problems", "ring8", "--k", "1", "--schemes", "simultaneous", "--bases", "sgd",
                       "--seconds", "0.05", "--precision", "bf16", "--out", str(tmp_path / "perf"))
    assert result.returncode == 0, result.stderr
    import pandas as pd
    rows = pd.read_csv(tmp_path / "perf" / "perf.csv")
    stacked = rows[rows["what"] == "ganopt stack"].iloc[0].to_dict()
    assert stacked["precision"] == "bf16" and stacked["matmul_share"] > 0
    assert key(stacked) == "ring8/simultaneous/sgd/K=1/bf16"
    assert key({**stacked, "precision": "fp32"}) == "ring8/simultaneous/sgd/K=1"  # the committed baseline's keys
