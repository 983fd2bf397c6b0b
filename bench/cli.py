"""`python -m bench run | list`: the command line of the harness.

Exit codes: 0 success; 2 bad input (nothing run, nothing written); 1 some runs errored or timed
out (recorded in the store, the others completed), or the store or the report could not be
written (a full disk: the finished stacks are kept); 130 interrupted by Ctrl-C (SIGINT), 143
terminated by SIGTERM (128 + the signal, as a shell reports it; finished stacks are kept).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from ganopt.precision import DEFAULT_PRECISION, PRECISIONS
from ganopt.problems import PROBLEMS
from ganopt.schemes import SCHEMES
from ganopt.strategies import STRATEGIES
from ganopt.train import MAX_TIME_LIMIT_S
from ganopt.updates import BASE_UPDATES

from . import compare as compare_mod
from .load import load
from . import abtest, baselines, counts, executors, perf, perfgate
from .execute import calibrate_stacks, execute_in_process, resolve_device
from .files import WriteError, check_folder, path_arg, write_csv
from .plan import plan_stacks, remaining, work
from .report import design_text, failure_table, write_report
from .scoring import scorecards, select_best
from .spec import (MAX_RUNS, SpecError, Suite, available_suites, build_suite, built_in_references,
                   check_precision_on, cuda_graph_refusal, find_suite, load_plugin, read_suite_file)
from .store import DEFAULT_STORE, FINISHED, Store, StoreError, environment

DEFAULT_SUITE = "quick"


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: finished stacks are kept, workers are ended, exit 143."""


def _terminate(signum, frame):
    raise Terminated


def interrupted_code(e: KeyboardInterrupt) -> int:
    return 143 if isinstance(e, Terminated) else 130


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit code 2, like every other bad input
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def make_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m bench", description="ganopt: benchmark GAN optimization strategies.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    _add_run(commands)
    commands.add_parser("list", help="list problems, strategies, schemes and suites")
    _add_tune(commands)
    _add_report_and_compare(commands)
    _add_perf(commands)
    _add_counts_and_ab(commands)
    return parser


def _add_run(commands) -> None:
    run = commands.add_parser("run", help="train a suite and write tables and plots")
    run.add_argument("--suite", default=DEFAULT_SUITE, help="a suite name (see `list`) or a path to a .toml file")
    run.add_argument("--problems", help="comma-separated problems, replacing the suite's")
    run.add_argument("--strategies", help="comma-separated strategies, replacing the suite's")
    run.add_argument("--seeds", type=int, help="number of seeds (0..N-1), replacing the suite's")
    run.add_argument("--steps", type=int, help="training steps per run, replacing the suite's and problems' defaults")
    run.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    run.add_argument("--data-dir", help="folder of the full MNIST (or Fashion-MNIST) IDX files, for the image problems")
    run.add_argument("--out", type=path_arg, help="directory for tables and plots (default: results/SUITE)")
    run.add_argument("--store", type=path_arg, default=DEFAULT_STORE,
                     help=f"results store, an SQLite file (default: {DEFAULT_STORE}); finished runs are skipped")
    run.add_argument("--force", action="store_true", help="rerun runs that the store already has")
    run.add_argument("--baselines", type=path_arg, metavar="STORE",
                     help="published results (a store): the suite also holds the strategies they ran, whose runs "
                          "of the same protocol are copied, not trained; refused when the protocol differs")
    run.add_argument("--timeout", type=float, metavar="SECONDS", help="time limit per stack; past it the stack is "
                     "recorded as `timeout` and the sweep goes on")
    run.add_argument("--executor", default="auto", choices=["auto", "inprocess", "processes", "dask"],
                     help="where stacks train: this process, local worker processes, or a Dask cluster; auto "
                          "(default): worker processes, one per CPU, when several stacks have enough work to pay "
                          "for starting them, else this process")
    add_threads(run)
    run.add_argument("--workers", type=int, help="worker processes for --executor processes (default: the CPUs "
                                                 "this process may use)")
    run.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="the Dask scheduler for --executor dask")
    run.add_argument("--retries", type=int, default=2,
                     help="extra tries for a stack whose worker died (processes, dask; default 2)")
    run.add_argument("--plugin", action="append", default=[], metavar="FILE.py",
                     help="a Python file that registers strategies or schemes (repeatable)")
    run.add_argument("--diagnostics", action="store_true",
                     help="record game-dynamics diagnostics (Jacobian spectra, rotation share, path angles; "
                          "ganopt.diagnostics) and plot them per problem; counted apart from training")
    run.add_argument("--diagnostics-at", metavar="F,F,...",
                     help="fractions of the budget whose evaluations get the spectra (default 0,0.5,1); implies "
                          "--diagnostics")
    run.add_argument("--precision",
                     help="arithmetic of the training steps, replacing the suite's (default fp32): "
                          + "; ".join(f"{k}: {v}" for k, v in PRECISIONS.items()))
    run.add_argument("--cuda-graphs", action="store_true",
                     help="replay each training step from a CUDA graph (ganopt.graphs): the same steps with one "
                          "launch each; CUDA only; the schemes simultaneous, alternating, extragradient, consensus, "
                          "sga and unrolled with sgd, momentum or adam (other strategies train eagerly, with a warning)")
    run.add_argument("--max-runs", type=int, default=MAX_RUNS, metavar="N",
                     help=f"refuse a plan of more than N runs (default {MAX_RUNS:,}): a typo in --seeds is not a week "
                          "of work")
    run.add_argument("--quiet", action="store_true", help="no progress lines")


def _add_tune(commands) -> None:
    tune = commands.add_parser("tune", help="tune the preset strategies' learning rates per problem and write the "
                               "table suites load (ganopt/assets/tuned_lr.json)")
    tune.add_argument("--suite", default="tune-presets", help="a suite with a [tuning] table (default tune-presets)")
    tune.add_argument("--problems", help="comma-separated problems, replacing the suite's")
    tune.add_argument("--strategies", help="comma-separated strategies, replacing the suite's")
    tune.add_argument("--steps", type=int, help="training steps per trial, replacing the suite's")
    tune.add_argument("--store", type=Path, default=Path("results") / "tuning.sqlite",
                      help="results store of the trials (default results/tuning.sqlite); finished trials are skipped")
    tune.add_argument("--table", type=Path, default=None, help="the table to write (default: ganopt's own)")
    tune.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"],
                      help="where the trials train (recorded in the table's provenance)")
    tune.add_argument("--executor", default="auto", choices=["auto", "inprocess", "processes"],
                      help="train the trials' stacks in this process or in local worker processes (auto, the "
                           "default: as `run`)")
    add_threads(tune)
    tune.add_argument("--workers", type=int, help="worker processes for --executor processes (default: the CPUs "
                                                  "this process may use)")
    tune.add_argument("--cuda-graphs", action="store_true",
                      help="replay the trials' steps from CUDA graphs where a graph can hold them (as `run`)")
    tune.add_argument("--quiet", action="store_true", help="no progress lines")


def _add_report_and_compare(commands) -> None:
    report = commands.add_parser("report", help="regenerate tables, plots and the HTML report from stored results")
    report.add_argument("path", nargs="?", type=path_arg, default=DEFAULT_STORE,
                        help=f"a results store (default {DEFAULT_STORE}) or a report folder with summary.csv")
    report.add_argument("--suite", help="only the runs of this suite (a store holds every suite run into it)")
    report.add_argument("--out", type=path_arg, help="output folder (default: results/report, or PATH for a folder)")

    compare = commands.add_parser("compare", help="flag significant regressions of result set B against baseline A")
    compare.add_argument("baseline", type=path_arg, help="a results store or a report folder")
    compare.add_argument("change", type=path_arg, help="a results store or a report folder")
    compare.add_argument("--suite", help="only the runs of this suite")
    compare.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")


def _add_perf(commands) -> None:
    perf = commands.add_parser("perf", help="measure stacked training against a plain per-run loop")
    perf.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    perf.add_argument("--problems", default="ring8", help="comma-separated problems (default ring8)")
    perf.add_argument("--k", default="1,4,16,64", help="comma-separated stack sizes (default 1,4,16,64)")
    perf.add_argument("--schemes", default="simultaneous,alternating,extragradient,optimistic",
                      help="comma-separated registered schemes (see `list`), each at its hyperparameters' defaults")
    perf.add_argument("--bases", default="adam,sgd", help="comma-separated registered base updates (default adam,sgd)")
    perf.add_argument("--plugin", action="append", default=[], metavar="FILE.py",
                      help="a Python file that registers schemes or base updates (repeatable)")
    perf.add_argument("--baseline", type=path_arg, metavar="FILE",
                      help="compare each step's normalized cost (step / its own matmuls) with this CPU kind's "
                           "entry of FILE; exit 1 on a regression past the file's threshold")
    perf.add_argument("--save-baseline", type=path_arg, metavar="FILE",
                      help="write this CPU kind's normalized costs into FILE (other kinds' entries are kept)")
    perf.add_argument("--threshold", type=float, default=perfgate.DEFAULT_THRESHOLD,
                      help="with --save-baseline: the regression threshold recorded (default 0.30: +30%%)")
    perf.add_argument("--seconds", type=float, default=1.0, help="minimum timing seconds per measurement")
    perf.add_argument("--precision", default=DEFAULT_PRECISION,
                      help="arithmetic of the stacked steps (default fp32; tf32 on CUDA only)")
    perf.add_argument("--cuda-graphs", action="store_true",
                      help="also time each scheme that a CUDA graph can hold replayed from one (CUDA only)")
    add_threads(perf)
    perf.add_argument("--out", type=path_arg, default=Path("results") / "perf")


GATED_SCHEMES = "simultaneous,alternating,extragradient,optimistic,past-extragradient"


def _add_step_selection(parser, k: str) -> None:
    parser.add_argument("--problems", default="ring8", help="comma-separated problems (default ring8)")
    parser.add_argument("--k", default=k, help=f"comma-separated stack sizes (default {k})")
    parser.add_argument("--schemes", default=GATED_SCHEMES, help=f"comma-separated schemes (default {GATED_SCHEMES})")
    parser.add_argument("--bases", default="adam", help="comma-separated base updates (default adam)")
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE.py",
                        help="a Python file that registers schemes or base updates (repeatable)")


def _add_counts_and_ab(commands) -> None:
    count = commands.add_parser("counts", help="exact cost counters of the benchmarked steps (no timing)")
    _add_step_selection(count, "1,16")
    what = count.add_mutually_exclusive_group()
    what.add_argument("--check", type=path_arg, metavar="FILE",
                      help="count FILE's steps and exit 1 naming every counter that differs (zero tolerance)")
    what.add_argument("--save", type=path_arg, metavar="FILE", help="count the selected steps and write FILE")
    ab = commands.add_parser("ab", help="time a base and a change checkout alternately; exit 1 if slower")
    ab.add_argument("base", type=path_arg, help="the base checkout (a git worktree of the base commit)")
    ab.add_argument("change", type=path_arg, help="the changed checkout")
    _add_step_selection(ab, "16")
    ab.add_argument("--pairs", type=int, default=abtest.DEFAULT_PAIRS,
                    help=f"timing processes per side, one pair at a time (default {abtest.DEFAULT_PAIRS}, at least 5)")
    ab.add_argument("--rounds", type=int, default=abtest.DEFAULT_ROUNDS,
                    help=f"alternating measurements of each step per pair of processes (default {abtest.DEFAULT_ROUNDS})")
    ab.add_argument("--seconds", type=float, default=abtest.DEFAULT_SECONDS,
                    help=f"timing seconds per measurement, at least 3 calls (default {abtest.DEFAULT_SECONDS})")
    ab.add_argument("--alpha", type=float, default=abtest.DEFAULT_ALPHA, help="one-sided p at most (default 0.01)")
    ab.add_argument("--min-slowdown", type=float, default=abtest.DEFAULT_MIN_SLOWDOWN,
                    help="relative slowdown at least (default 0.10: 10%%)")
    ab.add_argument("--samples", type=path_arg, metavar="FILE.json",
                    help="also write every measurement: {step: [[base s, change s], ...]} in the order taken")
    add_threads(ab)


def step_keys(args) -> list[str]:
    problems, ks, schemes, bases = selected_steps(args)
    return [counts.key(p, s, b, k) for p in problems for s in schemes for b in bases for k in ks
            if perf.strategy_for(s, b) is not None]


def cmd_counts(args) -> int:
    progress = lambda line: print(line, flush=True)  # noqa: E731
    if args.check is None:
        names = step_keys(args)
        if not names:
            raise SpecError("no step to count: every selected scheme refuses every selected base update")
        measured = counts.measure(names, progress)
        if args.save is not None:
            counts.save(args.save, measured)
            print(f"wrote {args.save}", file=sys.stderr)
        return 0
    try:
        names = list(counts.read(args.check)["steps"])
        for plugin in args.plugin:
            load_plugin(Path(plugin), "--plugin")
        passed, lines = counts.check(args.check, counts.measure(names, progress))
    except counts.CountsError as e:
        raise SpecError(f"--check {e}") from None
    print("\n".join(lines), file=sys.stdout if passed else sys.stderr)
    return 0 if passed else 1


def cmd_ab(args) -> int:
    for flag, tree in (("base", args.base), ("change", args.change)):
        if not (tree / "ganopt" / "__init__.py").is_file():
            raise SpecError(f"{flag} {tree} is not a ganopt checkout (no ganopt/__init__.py)")
    if args.pairs < 5:
        raise SpecError(f"--pairs must be at least 5 (timing processes per side), got {args.pairs}")
    if args.rounds < 1:
        raise SpecError(f"--rounds must be at least 1, got {args.rounds}")
    if not args.seconds > 0 or not 0 < args.alpha < 1 or args.min_slowdown < 0:
        raise SpecError("--seconds must be positive, --alpha in (0, 1), --min-slowdown >= 0")
    names = step_keys(args)
    trees = {"base": args.base.resolve(), "change": args.change.resolve()}
    print(f"A/B timing: {trees['base']} (base) against {trees['change']} (change), {args.pairs} processes "
          f"each, {args.rounds} alternating measurements per step in each")
    try:
        samples = abtest.run_ab(trees, names, args.pairs, args.rounds, args.seconds, args.threads,
                                progress=lambda line: print(line, flush=True))
    except abtest.ABError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.samples is not None:  # the raw pairs, to study the gate's errors later
        args.samples.parent.mkdir(parents=True, exist_ok=True)
        args.samples.write_text(json.dumps(samples, indent=1) + "\n")
    rows = abtest.decide(samples, args.alpha, args.min_slowdown)
    print("\n".join(abtest.table(rows, args.alpha, args.min_slowdown)))
    slower = [r["step"] for r in rows if r["slower"]]
    if slower:
        print(f"performance regression: {', '.join(slower)} slower than the base (table above)", file=sys.stderr)
        return 1
    print("no step significantly slower than the base", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    path: Path = args.path
    loaded = load(path, args.suite, samples=True)  # reading results never changes a store
    runs, records, samples, declarations = loaded.runs, loaded.records, loaded.samples, loaded.declarations
    out = args.out or (path if path.is_dir() else Path("results") / "report")
    try:
        scorecards(runs["problem"], declarations)
    except ValueError as e:
        raise StoreError(f"{path}: {e}") from None
    check_folder(out, "--out")
    title = f"ganopt suite `{args.suite}`" if args.suite else f"ganopt results from {path}"
    created = not out.exists()
    try:
        references = built_in_references(args.suite) if args.suite else []
        text = write_report(out, title, runs.reset_index(drop=True), records, samples, declarations, references)
    except OSError as e:
        raise WriteError(f"cannot write the report in {out}: {e.strerror or e}") from None
    except BaseException:
        if created:  # no half-written folder of ours is left behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    print(text)
    print(f"\ntables, plots and report.html in {out}/", file=sys.stderr)
    return 0


def cmd_compare(args) -> int:
    if not 0 < args.alpha < 1:
        raise SpecError(f"--alpha must lie in (0, 1), got {args.alpha:g}")
    table = compare_mod.compare_sets(args.baseline, args.change, args.suite, args.alpha)
    if table.empty:
        raise StoreError("the two result sets share no problem x strategy")
    shown = table.assign(p=table["p"].map(lambda p: "—" if pd.isna(p) else f"{p:.3f}"),
                         relative=table["relative"].map(lambda r: "—" if pd.isna(r) else f"{r:+.1%}"))
    print(shown.to_string(index=False))
    regressions = table[table["regression"]]
    if regressions.empty:
        print(f"\nno significant regression (alpha {args.alpha:g})", file=sys.stderr)
        return 0
    print(f"\n{len(regressions)} significant regression(s):", file=sys.stderr)
    for row in regressions.itertuples():
        print(f"  {row.problem} · {row.strategy} · {row.metric}: {row.baseline:.4g} → {row.change:.4g}", file=sys.stderr)
    return 1


def add_threads(parser) -> None:
    parser.add_argument("--threads", type=int, metavar="N",
                        help="intra-op threads in all (default: the CPUs this process may use: affinity and cgroup "
                             "quota); split evenly across --executor processes workers")


def set_threads(args) -> int:
    """Intra-op threads of this process: --threads, else the usable CPUs.  Returns the number."""
    if args.threads is not None and args.threads < 1:
        raise SpecError(f"--threads must be >= 1, got {args.threads}")
    threads = args.threads or executors.usable_cpus()
    torch.set_num_threads(threads)
    return threads


def check_baseline_files(baseline: Path | None, save_baseline: Path | None) -> None:
    """A bad --baseline or --save-baseline file is found before the measurement, not after it."""
    for flag, path, check in (("--baseline", baseline, perfgate.read),
                              ("--save-baseline", save_baseline, perfgate.check_writable)):
        try:
            if path is not None:
                check(path)
        except perfgate.BaselineError as e:
            hint = " (record one with --save-baseline FILE)" if flag == "--baseline" else ""
            raise SpecError(f"{flag} {e}{hint}") from None


def selected_steps(args) -> tuple[list[str], list[int], list[str], list[str]]:
    """--problems, --k, --schemes and --bases (after --plugin), each name checked: the steps that
    `perf`, `counts` and `ab` measure."""
    problems = [p for p in args.problems.split(",") if p]
    for name in problems:
        if name not in PROBLEMS:
            raise SpecError(f"--problems: unknown problem {name!r}; valid: {', '.join(sorted(PROBLEMS))}")
    try:
        ks = [int(k) for k in args.k.split(",") if k]
    except ValueError:
        raise SpecError(f"--k must be comma-separated integers, got {args.k!r}") from None
    if not ks or min(ks) < 1:
        raise SpecError(f"--k must list stack sizes >= 1, got {args.k!r}")
    for plugin in args.plugin:
        load_plugin(Path(plugin), "--plugin")
    schemes = [s for s in args.schemes.split(",") if s]
    for scheme in schemes:
        if scheme not in SCHEMES:
            raise SpecError(f"--schemes: unknown scheme {scheme!r}; valid: {', '.join(sorted(SCHEMES))}")
    bases = [b for b in args.bases.split(",") if b]
    for base in bases:
        if base not in BASE_UPDATES:
            raise SpecError(f"--bases: unknown base update {base!r}; valid: {', '.join(sorted(BASE_UPDATES))}")
    return problems, ks, schemes, bases


def cmd_perf(args) -> int:
    device = resolve_device(args.device)
    set_threads(args)
    problems, ks, schemes, bases = selected_steps(args)
    if not args.seconds > 0:
        raise SpecError("--seconds must be positive")
    check_folder(args.out, "--out")
    check_baseline_files(args.baseline, args.save_baseline)
    if not args.threshold > 0:
        raise SpecError("--threshold must be positive")
    for name in problems:  # a float64 problem would be timed unchanged under another name
        try:
            check_precision_on(args.precision, device.type, name)
        except ValueError as e:
            raise SpecError(f"--precision: {e}") from None
    if args.cuda_graphs:  # off CUDA no step can (SpecError); on CUDA perf graphs the schemes that take it
        cuda_graph_refusal(device.type, "simultaneous", [], False)
    rows = perf.run_perf(device, problems, ks, schemes, bases, args.seconds,
                         progress=lambda line: print(line, flush=True), precision=args.precision,
                         cuda_graphs=args.cuda_graphs)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "perf.csv", pd.DataFrame(rows))
    perf.plot_perf(rows, args.out / "perf.png")
    print(f"\nwrote {args.out / 'perf.csv'} and {args.out / 'perf.png'}", file=sys.stderr)
    cpu = environment(device)["gpu"] if device.type == "cuda" else perfgate.cpu_kind()
    if args.save_baseline is not None:
        perfgate.save(args.save_baseline, rows, cpu, args.threshold, note=" ".join(sys.argv[1:]))
        print(f"wrote the baseline of {cpu!r} to {args.save_baseline}", file=sys.stderr)
    if args.baseline is not None:
        passed, lines = perfgate.check(args.baseline, rows, cpu)
        print("\n" + "\n".join(lines))
        if not passed:
            print("performance regression: a step's own code got slower than its matmuls allow (table above)",
                  file=sys.stderr)
            return 1
    return 0


def cmd_tune(args) -> int:
    """Tune the presets around the problems' default rates and write the tuned table."""
    from ganopt.tuned import TUNED_PATH

    from . import presets

    device = resolve_device(args.device)
    set_threads(args)
    suite = build_suite(find_suite(args.suite), args.problems, args.strategies, None, args.steps, [],
                        device=device.type, use_tuned=False, cuda_graphs=args.cuda_graphs)
    if suite.tuning is None:
        raise SpecError(f"--suite {args.suite}: a tuning suite needs a [tuning] table")
    if suite.config.precision != DEFAULT_PRECISION:  # the table's rates are loaded by fp32 runs too
        raise SpecError(f"--suite {args.suite}: bench tune trains at fp32 (the tuned table holds one rate per "
                        "preset and problem); remove its precision setting")
    table = args.table or TUNED_PATH
    if table.exists() and not table.is_file():
        raise SpecError(f"--table {table} is not a file")
    execution = Execution.from_args(args, device, force=False, timeout=None, retries=executors.DEFAULT_RETRIES,
                                    scheduler=None)
    with Store(args.store) as store:
        for warning in suite.warnings + execution.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        env = executors.run_environment(device)
        try:
            train_pending(store, suite.name, list(suite.stacks), execution, env, "tuning trials")
        except KeyboardInterrupt as e:
            print(f"\ninterrupted{' (SIGTERM)' if isinstance(e, Terminated) else ''}: finished trials are in "
                  f"{args.store}; rerun the same command to resume", file=sys.stderr)
            return interrupted_code(e)
        ids = [r.run_id for r in suite.runs]
        runs, curves = store.runs_frame(ids, suite=suite.name), store.records_frame(ids)
        cards = scorecards(runs["problem"], store.declarations())
    failed = runs[~runs["status"].isin(FINISHED)]
    if not failed.empty:
        print(failure_table(runs), file=sys.stderr)
        return 1
    entries = presets.tuned_entries(runs, curves.merge(runs[["run_id", "problem"]], on="run_id"), cards)
    options = {run.problem: run.options for run in suite.runs}
    said = presets.write_table(table, entries,
                               presets.provenance(suite, env, "python -m bench " + " ".join(sys.argv[1:])), options)
    print("\n".join(presets.summary_lines(entries)))
    print("\n".join(said), file=sys.stderr)
    print(f"\nwrote {table}", file=sys.stderr)
    return 0


def cmd_list() -> int:
    print("problems:")
    for name, p in PROBLEMS.items():
        print(f"  {name:20s} {p.description}")
        print(f"  {'':20s} options: " + ", ".join(f"{k}={v!r}" for k, v in p.options.items()))
    print("\nstrategies (scheme / base update / gradient estimate):")
    for name, s in STRATEGIES.items():
        extra = "" if s.lr_ratio == 1 else f", lr_D = {s.lr_ratio:g} lr_G"
        extra += "".join(f", {k} {v}" for k, v in s.hyper)
        print(f"  {name:20s} {s.scheme}/{s.base}/{s.estimate}{extra} — {s.description}")
    print("\nschemes (hyperparameters a strategy or suite may set, with their defaults):")
    for name, cls in SCHEMES.items():
        only = f" (base updates: {', '.join(cls.bases)})" if cls.bases else ""
        print(f"  {name:20s} " + ("; ".join(h.describe() for h in cls.hyperparameters) or "-") + only)
    print("\nbase updates:")
    for name, cls in BASE_UPDATES.items():
        print(f"  {name:20s} " + ("; ".join(h.describe() for h in cls.hyperparameters) or "-"))
    print("\nprecisions of the training steps (--precision, suite key precision):")
    for name, what in PRECISIONS.items():
        print(f"  {name:20s} {what}")
    print("\nsuites:")
    for name, path in available_suites().items():
        data = read_suite_file(path)
        print(f"  {name:20s} {data.get('description', '')}")
        print(f"  {'':20s} design: {suite_design(name, data)}")
    return 0


def suite_design(name: str, data: dict) -> str:
    """What a suite file's seeds can decide per problem: the smallest p of its test beside the
    Holm threshold for its strategies' comparisons with the best.  A `tune-` suite is read by
    bench tune, which picks each preset's rate by its mean over tune_seeds and tests nothing."""
    if name.startswith("tune-"):
        return "a bench tune suite: rates chosen by the mean over tune_seeds, no test"
    seeds = data.get("seeds", 1)
    n = len(seeds) if isinstance(seeds, list) else int(seeds)
    return design_text(n, len(data.get("strategies", [])) - 1)


def _fractions(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SpecError(f"--diagnostics-at must be comma-separated fractions in [0, 1], got {text!r}") from None


@dataclass(frozen=True)
class Execution:
    """Where and how a command's stacks train, from its flags; checked when built (the parsed
    arguments stay as parsed)."""

    store: Path
    device: torch.device
    device_name: str  # as given: "auto" is resolved again on each worker
    executor: str  # auto, inprocess, processes or dask
    workers: int | None
    scheduler: str | None
    retries: int
    timeout: float | None  # seconds per stack
    force: bool  # rerun runs the store already has
    quiet: bool
    plugins: tuple[Path, ...] = ()  # their source travels to the workers
    warnings: tuple[str, ...] = ()  # printed once every input checked out (a capped --workers)

    FLAGS = ("store", "executor", "workers", "scheduler", "retries", "timeout", "force", "quiet")

    @classmethod
    def from_args(cls, args, device: torch.device, plugins=(), **fixed) -> Execution:
        """From a command's flags; `fixed` sets what that command has no flag for."""
        flags = {name: getattr(args, name) for name in cls.FLAGS if name not in fixed}
        return cls(device=device, device_name=args.device, plugins=tuple(plugins), **flags, **fixed)

    def __post_init__(self):
        if self.timeout is not None and not 0 < self.timeout <= MAX_TIME_LIMIT_S:
            raise SpecError(f"--timeout must be a positive, finite number of seconds up to {MAX_TIME_LIMIT_S:g} "
                            f"(about 115 days), got {self.timeout:g}")
        if self.workers is not None and (self.executor not in ("processes", "auto") or self.workers < 1):
            raise SpecError("--workers N (N >= 1) goes with --executor processes (or auto)")
        cpus = executors.usable_cpus()
        if self.workers is not None and self.workers > cpus:  # more would only share the same cores
            object.__setattr__(self, "warnings", self.warnings + (
                f"--workers {self.workers} is more than the {cpus} CPUs this process may use: using {cpus}",))
            object.__setattr__(self, "workers", cpus)
        if self.retries < 0:
            raise SpecError(f"--retries must be >= 0, got {self.retries}")
        if self.executor == "dask":
            if not self.scheduler:
                raise SpecError("--executor dask needs --scheduler tcp://HOST:PORT (an existing Dask cluster)")
            try:
                import distributed  # noqa: F401
            except ImportError:
                raise SpecError("--executor dask needs Dask: pip install 'ganopt[distributed]'") from None
            executors.check_scheduler(self.scheduler)
        elif self.scheduler:
            raise SpecError("--scheduler goes with --executor dask")


def check_store_and_out(store: Path, out: Path) -> None:
    """The store is a file and --out a folder: one path cannot be both, nor --out lie inside the
    store's path (else found only when the report is written, after training)."""
    for path, flag in ((store, "--store"), (out, "--out")):
        if "\0" in str(path):
            raise SpecError(f"{flag} {str(path)!r}: a path cannot hold a NUL character")
    store_abs, out_abs = store.resolve(), out.resolve()
    if store_abs.is_dir():  # the store's own check names that
        return
    if store_abs == out_abs or store_abs in out_abs.parents:
        where = "the same path" if store_abs == out_abs else "the store's path above --out"
        raise SpecError(f"--store {store} and --out {out} are {where}: the store is a file and --out a folder; "
                        "give them different paths")


def as_run(suite, args):
    """The suite under the name its runs join: a suite whose problems or strategies the flags
    replaced is `SUITE-custom`, so that a trial run (`--problems bilinear`) neither joins the
    suite's own runs in `report --suite SUITE` nor overwrites results/SUITE/.  Other flags
    (--seeds, --steps) keep the name: reports tell budgets apart."""
    if args.problems is None and args.strategies is None:
        return suite
    return dataclasses.replace(suite, config=dataclasses.replace(suite.config, name=f"{suite.name}-custom"))


def with_baselines(args, device, suite):
    """The suite with the published strategies (--baselines) whose runs share its protocol: theirs
    are copied, not trained.  Those published under another protocol are left out with a warning;
    when none is left, the command is refused, naming what differs."""
    runs = baselines.read_published(args.baselines)
    published = baselines.published_strategies(runs, sorted({r.problem for r in suite.runs}))
    known = set(STRATEGIES) | set(read_suite_file(find_suite(args.suite)).get("strategy", {}) if args.suite else ())
    own = list(suite.config.strategies)
    candidate = build_run_suite(args, device, ",".join(dict.fromkeys([*own, *(n for n in published if n in known)])))
    keep, refusals = baselines.reusable(candidate, args.baselines, own, runs)
    if refusals and not keep:  # nothing of the published set can stand beside these runs
        raise SpecError(next(iter(refusals.values())) + "; run this suite with the published protocol or "
                        "without --baselines")
    suite = as_run(build_run_suite(args, device, ",".join([*own, *keep])), args)
    suite = dataclasses.replace(suite, warnings=suite.warnings + tuple(
        f"{why}: left out" for why in refusals.values()))
    return suite


def build_run_suite(args, device, strategies: str | None):
    return build_suite(find_suite(args.suite) if args.suite else None, args.problems, strategies, args.seeds,
                       args.steps, args.plugin, device=device.type, data_dir=args.data_dir, max_runs=args.max_runs,
                       diagnostics=args.diagnostics, diagnostics_at=_fractions(args.diagnostics_at),
                       precision=args.precision, cuda_graphs=args.cuda_graphs)


def cmd_run(args) -> int:
    # Everything is validated before anything runs or anything is written.
    device = resolve_device(args.device)
    set_threads(args)
    suite = as_run(build_run_suite(args, device, args.strategies), args)
    if args.baselines is not None:
        suite = with_baselines(args, device, suite)
    execution = Execution.from_args(args, device, suite.plugins)
    out = args.out or Path("results") / suite.name
    check_store_and_out(args.store, out)
    check_folder(out, "--out")

    with Store(args.store) as store:
        for warning in suite.warnings + execution.warnings:  # once every input checked out: an error stays one line
            print(f"warning: {warning}", file=sys.stderr)
        env = executors.run_environment(device)
        if args.baselines is not None:
            copied = baselines.import_published(store, args.baselines, suite, baselines.read_published(args.baselines))
            print(f"{copied} published runs from {args.baselines} (the same protocol: not trained again)",
                  file=sys.stderr)
        start = time.perf_counter()
        try:
            trained, all_runs = train_suite(store, suite, execution, env)
        except KeyboardInterrupt as e:
            ids = [r.run_id for r in suite.runs]
            done = sum(v in FINISHED for v in store.statuses(ids).values())
            print(f"\ninterrupted{' (SIGTERM)' if isinstance(e, Terminated) else ''}: {done} of {len(ids)} runs "
                  f"of this phase are in {args.store}; rerun the same command to resume", file=sys.stderr)
            return interrupted_code(e)
        elapsed = time.perf_counter() - start
        run_ids = [r.run_id for r in all_runs]
        runs = store.runs_frame(run_ids, suite=suite.name)  # labelled with this suite, shared runs too
        try:
            table = write_report(out, f"ganopt suite `{suite.name}`", runs, store.records_frame(run_ids),
                                 store.samples(run_ids), store.declarations(), suite.references)
        except KeyboardInterrupt as e:  # training is over: every run is kept, only the report is missing
            done = int(runs["status"].isin(FINISHED).sum())
            print(f"\ninterrupted{' (SIGTERM)' if isinstance(e, Terminated) else ''} while writing the report: "
                  f"{done} of {len(runs)} runs are in {args.store}; `python -m bench report {args.store} --suite "
                  f"{suite.name} --out {out}` writes it", file=sys.stderr)
            return interrupted_code(e)
        except OSError as e:
            raise WriteError(f"cannot write the report in {out} ({e.strerror or e}); the runs are in {args.store}: "
                             f"`python -m bench report {args.store} --suite {suite.name} --out DIR` writes it "
                             "again") from None
    print(table)
    failures = failure_table(runs)
    print(f"\n{trained} runs trained in {elapsed:.1f}s; tables, plots and report.html in {out}/", file=sys.stderr)
    if failures:
        print("\n" + failures, file=sys.stderr)
        return 1
    return 0


def train_suite(store: Store, suite: Suite, execution: Execution, env: dict) -> tuple[int, list]:
    """Train what the store lacks of a suite: its runs or, with tuning, its trials and then each
    strategy's best trial on fresh seeds.  Returns (runs trained, every run of the suite)."""
    if suite.tuning is None:
        return train_pending(store, suite.name, list(suite.stacks), execution, env), suite.runs
    trained = train_pending(store, suite.name, list(suite.stacks), execution, env, "tuning trials")
    best = select_best(store.runs_frame([r.run_id for r in suite.runs]),
                       scorecards([r.problem for r in suite.runs], store.declarations()))
    eval_stacks = suite.eval_stacks(best)
    trained += train_pending(store, suite.name, eval_stacks, execution, env, "best settings on fresh seeds")
    return trained, suite.runs + [r for stack in eval_stacks for r in stack.runs]


def train_pending(store: Store, suite_name: str, stacks: list, execution: Execution, env: dict, what: str = "") -> int:
    """Train the runs the store does not have yet (all with --force); return how many."""
    run_ids = [r.run_id for stack in stacks for r in stack.runs]
    store.join_suite(suite_name, run_ids)  # runs another suite already trained belong to this one too
    finished = {} if execution.force else {k: v for k, v in store.statuses(run_ids).items() if v in FINISHED}
    pending = remaining(stacks, finished)
    n_pending = sum(len(stack.runs) for stack in pending)
    wanted = stacks_to_fill(execution, pending, execution.device)
    stacks = plan_stacks(pending, min_stacks=wanted)
    label = f" ({what})" if what else ""
    if finished:
        print(f"{len(finished)} of {len(run_ids)} runs{label} are already in {execution.store}: skipping them "
              "(--force reruns them)", file=sys.stderr)
    print(f"suite {suite_name}{label}: {n_pending} runs in {len(stacks)} stacks on {execution.device} → "
          f"{execution.store}", file=sys.stderr)
    executor, workers = choose_executor(execution, stacks, wanted)
    if execution.executor == "auto" and executor == "processes":
        print(f"training the {len(stacks)} stacks in {workers} worker process{'es' if workers > 1 else ''} "
              "(--executor inprocess keeps them in this process)", file=sys.stderr)
    threads = max(1, torch.get_num_threads() // workers) if executor == "processes" else None
    if executor != "dask":  # here, on this machine: every cost key at once (Dask workers may be other machines)
        stacks = calibrate_stacks(stacks, execution.device, threads)
    on_failure = lambda stack, status, reason: store.save_failure(suite_name, stack.runs, status, reason, env)  # noqa: E731
    if executor == "inprocess":
        execute_in_process(stacks, execution.device,
                           on_result=lambda stack, result: store.save_stack(suite_name, stack.runs, result, env),
                           on_failure=on_failure, time_limit_s=execution.timeout, show_progress=not execution.quiet)
        return n_pending
    # elsewhere: each worker reports its own provenance (device, CPU, GPU) with its results
    on_result = lambda stack, result, worker_env: store.save_stack(suite_name, stack.runs, result, worker_env)  # noqa: E731
    progress = None if execution.quiet else executors.printer(len(stacks))
    plugins = executors.plugin_sources(list(execution.plugins))
    if executor == "processes":
        tasks = [executors.StackTask(s, execution.device_name, execution.timeout, plugins, threads) for s in stacks]
        executors.execute_processes(stacks, tasks, workers, on_result, on_failure, progress, execution.retries)
    else:
        tasks = [executors.StackTask(s, execution.device_name, execution.timeout, plugins) for s in stacks]
        executors.execute_dask(stacks, tasks, execution.scheduler, on_result, on_failure, progress, execution.retries)
    return n_pending


# Below this much training (bench.plan.work: run-steps weighted by network size, in ring8 run-steps) a
# worker's start (~3 s: Python, torch, ganopt) costs more than sharing the CPUs saves; the quick suite has 100,000.
AUTO_MIN_RUN_STEPS = 50_000


def stacks_to_fill(execution, stacks: list, device) -> int:
    """How many stacks the plan should have at least: one per local worker process on a CPU
    when the work pays for starting them (plan_stacks halves the largest stacks to get there),
    else 1 (a GPU wants the largest stacks; a Dask cluster's size is not known here)."""
    if device.type != "cpu" or execution.executor not in ("auto", "processes"):
        return 1
    if work(stacks) < AUTO_MIN_RUN_STEPS:
        return 1
    return execution.workers or executors.default_workers()


def choose_executor(execution, stacks: list, wanted: int) -> tuple[str, int]:
    """(executor, workers) for `--executor auto`: one worker process per usable CPU (at most one
    per stack) when the CPU has several stacks with enough work (`wanted`, from stacks_to_fill,
    is then the CPUs), else this process.  Two stacks
    in two single-threaded workers on 2 cores took the quick suite (at 5,000 steps) from start to
    report in 147 s, one process with 2 threads per step in 213 s: a step of these small networks
    keeps one core busy better than it keeps two."""
    if execution.executor != "auto":
        workers = (execution.workers or executors.default_workers()) if execution.executor == "processes" else 1
        return execution.executor, workers
    if wanted >= 2 and len(stacks) >= 2:
        return "processes", min(wanted, len(stacks))
    if execution.timeout is not None or execution.plugins:
        # only a worker process can be stopped inside native code (--timeout) or survive a
        # plugin that crashes the interpreter (os._exit, a segfault): a small plan pays a worker's start
        return "processes", 1
    return "inprocess", 1


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    # SIGTERM (a scheduler, `kill`) ends every command as Ctrl-C does: a sweep keeps its finished
    # stacks, a report being written removes its half-written folder, tuning says where it stopped
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.command == "tune":
            return cmd_tune(args)
        if args.command == "list":
            return cmd_list()
        if args.command == "perf":
            return cmd_perf(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "counts":
            return cmd_counts(args)
        if args.command == "ab":
            return cmd_ab(args)
        return cmd_run(args)
    except (SpecError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except WriteError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # outside a sweep's training (loading, writing the report)
        print(f"\ninterrupted{' (SIGTERM)' if isinstance(e, Terminated) else ''}", file=sys.stderr)
        return interrupted_code(e)
    except RuntimeError as e:
        if str(e).startswith("--device"):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise
