"""Suites and run specs: read a suite (TOML) and CLI flags, validate everything before anything
runs, and expand the grid into RunSpecs with stable ids.

A suite file:

    name = "quick"
    problems = ["ring8", "grid25"]          # registered problem names
    strategies = ["adam", "my-adam"]        # presets or strategies defined below
    seeds = 3                               # seeds 0..2 (or an explicit list)
    steps = 1500                            # optional: else each problem's default
    lr_schedule = "linear-decay"            # optional: else each problem's default (mixtures and images
                                            # "linear-decay", the games "constant")
    eval_every = 250                        # optional: else each problem's default
    plugins = ["my_strategies.py"]          # optional: Python files that register strategies/schemes

    [problem.ring8]                         # options of one problem (see `python -m bench list`)
    preset = "r2"

    [strategy.my-adam]                      # a new strategy; `like` starts from a preset
    like = "alt-adam"
    d_steps = 2
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import runpy
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ganopt
from ganopt import Strategy, declarations, get_problem, get_strategy
from ganopt.problems import PROBLEMS
from ganopt.diagnostics import SPECTRUM_AT
from ganopt.graphs import check_cuda_graphs
from ganopt.precision import DEFAULT_PRECISION, PRECISIONS, check_precision
from ganopt.schedules import LR_SCHEDULES
from ganopt.strategies import STRATEGIES
from ganopt.tuned import options_mismatch, tuned_lr

from .references import Reference, parse_references

SUITES_DIR = Path(__file__).parent / "suites"
SUITE_KEYS = ("name", "description", "problems", "strategies", "seeds", "steps", "eval_every", "lr_schedule",
              "diagnostics", "diagnostics_at", "precision",
              "plugins", "problem", "strategy", "tuning", "reference")
TUNING_KEYS = ("trials", "lr_range", "ratio_range", "tune_seeds")
STRATEGY_KEYS = tuple(f.name for f in dataclasses.fields(Strategy) if f.name not in ("name", "hyper")) + ("like",)


MAX_STEPS = 10**8
MAX_SEEDS = 10**5
MAX_RUNS = 20_000  # per invocation (--max-runs): the standard suite plans ~1,000; 1.2 million took 80 s and 830 MB


class SpecError(ValueError):
    """A bad suite or flag: the message names the file or flag, the key, and the valid choices."""


def code_fingerprint(plugins: list[Path]) -> str:
    """A hash of the ganopt sources and the plugin files: a run id changes when the code that
    computes it changes, so a resumed sweep never reuses results of other code."""
    digest = hashlib.sha256(ganopt.__version__.encode())
    package = Path(ganopt.__file__).parent
    for path in sorted(package.rglob("*.py")) + sorted(plugins):
        digest.update(str(path.relative_to(package) if path.is_relative_to(package) else path.name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class RunSpec:
    problem: str
    options: dict[str, Any]
    strategy: Strategy  # resolved: concrete learning rates
    seed: int
    steps: int
    eval_every: int
    device: str = "cpu"  # the device type: results differ in rounding between devices
    code: str = ""  # code_fingerprint()
    phase: str = ""  # "" (a plain run), "tune" (a tuning trial) or "eval" (best setting, fresh seed)
    trial: int | None = None  # the tuning trial whose setting this run uses
    inputs: dict[str, Any] = dataclasses.field(default_factory=dict)  # Problem.check_inputs identity
    lr_schedule: str = "constant"  # ganopt.schedules, the suite's for all its runs
    diagnostics: bool = False  # ganopt.diagnostics recorded at its evaluations
    diagnostics_at: tuple[float, ...] = SPECTRUM_AT  # fractions of the budget that get a spectrum
    precision: str = DEFAULT_PRECISION  # ganopt.precision: the arithmetic of the training steps
    # ganopt.graphs: how the steps are launched, not what they compute (not part of the id, like threads)
    cuda_graphs: bool = False

    def describe(self) -> dict[str, Any]:
        """The resolved spec and the code version, as plain JSON-able data."""
        spec = {
            "problem": self.problem, "options": self.options, "strategy": self.strategy.name,
            "settings": self.strategy.settings(), "seed": self.seed, "steps": self.steps,
            "eval_every": self.eval_every, "device": self.device, "version": ganopt.__version__,
            "code": self.code, "phase": self.phase, "trial": self.trial, "inputs": self.inputs,
        }
        if self.lr_schedule != "constant":  # named only when used: a constant-rate spec reads as before schedules
            spec["lr_schedule"] = self.lr_schedule
        if self.diagnostics:  # a run with diagnostics has more records: not the same result as one without
            spec["diagnostics"] = True
            if tuple(self.diagnostics_at) != SPECTRUM_AT:
                spec["diagnostics_at"] = list(self.diagnostics_at)
        if self.precision != DEFAULT_PRECISION:  # other numbers; fp32 ids read as before the setting existed
            spec["precision"] = self.precision
        return spec

    @property
    def run_id(self) -> str:
        """A hash of the resolved spec and the code version: the same run, the same id.  Files
        count by content (`inputs`), not by path: moving a data folder keeps the ids."""
        spec = self.describe()
        if self.inputs:
            paths = get_problem(self.problem).PATH_OPTIONS
            spec["options"] = {k: v for k, v in self.options.items() if k not in paths}
        canonical = json.dumps(spec, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Tuning:
    """Equal-budget learning-rate tuning (Lucic et al. 2018: unequal tuning budgets explain much
    of what is claimed for GAN variants).  Every strategy gets the same `trials` settings: the
    learning rate is the problem's default times a multiplier from a Halton sequence over
    `lr_range` (log scale); a strategy with lr_ratio != 1 (TTUR) also draws lr_D / lr_G from
    `ratio_range`.  The best trial is chosen on `tune_seeds`, then reported on the suite's seeds."""

    trials: int
    lr_range: tuple[float, float]
    ratio_range: tuple[float, float]
    tune_seeds: tuple[int, ...]

    def setting(self, strategy: Strategy, trial: int) -> Strategy:
        low, high = self.lr_range
        lr_g = strategy.lr_g * low * (high / low) ** _halton(trial + 1, 2)
        if strategy.lr_ratio != 1.0:
            r_low, r_high = self.ratio_range
            ratio = r_low * (r_high / r_low) ** _halton(trial + 1, 3)
        else:
            ratio = strategy.lr_d / strategy.lr_g
        return dataclasses.replace(strategy, lr_g=lr_g, lr_d=lr_g * ratio)


def _halton(index: int, base: int) -> float:
    """The van der Corput radical inverse: an evenly spread sequence in (0, 1)."""
    result, f = 0.0, 1.0
    while index > 0:
        f /= base
        result += f * (index % base)
        index //= base
    return result


@dataclass(frozen=True)
class GridCell:
    """One problem x strategy of a suite, resolved: what a run needs but its seed."""

    problem: str
    options: dict[str, Any]
    strategy: Strategy
    steps: int
    eval_every: int
    device: str
    code: str
    inputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    lr_schedule: str = "constant"
    diagnostics: bool = False
    diagnostics_at: tuple[float, ...] = SPECTRUM_AT
    precision: str = DEFAULT_PRECISION
    cuda_graphs: bool = False

    def run(self, seed: int, phase: str = "", trial: int | None = None, strategy: Strategy | None = None) -> RunSpec:
        return RunSpec(self.problem, self.options, strategy or self.strategy, seed, self.steps, self.eval_every,
                       self.device, self.code, phase, trial, self.inputs, self.lr_schedule, self.diagnostics,
                       self.diagnostics_at, self.precision, self.cuda_graphs)


@dataclass
class Suite:
    name: str
    source: str  # file path or "flags", for error messages and provenance
    description: str
    runs: list[RunSpec]  # with tuning: the tuning trials; the evaluation runs come from eval_runs()
    grid: list[GridCell] = dataclasses.field(default_factory=list)
    seeds: list[int] = dataclasses.field(default_factory=list)
    tuning: Tuning | None = None
    plugins: list[Path] = dataclasses.field(default_factory=list)  # loaded; workers load them too
    warnings: list[str] = dataclasses.field(default_factory=list)  # for the user, before anything runs
    references: list[Reference] = dataclasses.field(default_factory=list)  # published numbers ([[reference]])

    def with_cuda_graphs(self) -> Suite:
        """The same suite with every step that a CUDA graph can hold replayed from one
        (ganopt.graphs); the other strategies train eagerly, each named in a warning.  SpecError,
        in one line, off CUDA."""
        graphed, warnings = set(), []
        for cell in self.grid:
            try:
                check_cuda_graphs(cell.device, cell.strategy.scheme, [cell.strategy.base], cell.diagnostics)
            except ValueError as e:
                if cell.device != "cuda":
                    raise SpecError(f"--cuda-graphs: {e}") from None
                warnings.append(f"--cuda-graphs: {cell.problem} · {cell.strategy.name} trains eagerly: {e}")
            else:
                graphed.add((cell.problem, cell.strategy.name))

        def mark(x):
            return dataclasses.replace(x, cuda_graphs=(x.problem, x.strategy.name) in graphed)

        return dataclasses.replace(self, runs=[mark(r) for r in self.runs], grid=[mark(c) for c in self.grid],
                                   warnings=self.warnings + warnings)

    def eval_runs(self, best_trial: dict[tuple[str, str], int]) -> list[RunSpec]:
        """With tuning: each strategy's best trial, run on the suite's (fresh) seeds."""
        assert self.tuning is not None
        return [cell.run(seed, "eval", best_trial[(cell.problem, cell.strategy.name)],
                         self.tuning.setting(cell.strategy, best_trial[(cell.problem, cell.strategy.name)]))
                for cell in self.grid for seed in self.seeds]


def _choices_message(kind: str, name: str, valid) -> str:
    close = difflib.get_close_matches(str(name), list(valid), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; valid: {', '.join(sorted(valid))}"


def available_suites() -> dict[str, Path]:
    return {p.stem: p for p in sorted(SUITES_DIR.glob("*.toml"))}


def find_suite(name_or_path: str) -> Path:
    suites = available_suites()
    if name_or_path in suites:
        return suites[name_or_path]
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise SpecError(f"suite file {name_or_path!r} does not exist")
        if path.is_dir():
            raise SpecError(f"suite {name_or_path!r} is a directory, not a suite file (.toml)")
        if not path.is_file():  # a FIFO or a device: reading it could block or never end
            raise SpecError(f"suite {name_or_path!r} is not a regular file (a pipe or a device?); give a .toml file")
        return path
    raise SpecError(_choices_message("suite", name_or_path, suites) + ", or a path to a .toml file")


def read_suite_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: malformed TOML: {e}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: malformed TOML: the file is not UTF-8 text") from None
    except OSError as e:
        raise SpecError(f"{path}: cannot read: {e.strerror}") from None


def load_plugin(path: Path, source: str) -> None:
    """Run a Python file that registers strategies, schemes or problems."""
    if not path.is_file():
        what = "does not exist" if not path.exists() else "is a directory" if path.is_dir() else "is not a regular file"
        raise SpecError(f"{source}: plugin file {str(path)!r} {what}")
    try:
        runpy.run_path(str(path), run_name=f"ganopt_plugin_{path.stem}")
    except (Exception, SystemExit) as e:  # a plugin's own error (or exit), reported in one line
        raise SpecError(f"{source}: plugin {str(path)!r} failed: {type(e).__name__}: {e}") from None


def _int(value, key: str, source: str, minimum: int = 1, maximum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise SpecError(f"{source}: {key} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise SpecError(f"{source}: {key} must be at most {maximum}, got {value!r}")
    return value


def _names(value, key: str, source: str) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{source}: {key} must be a non-empty list of names, got {value!r}")
    return list(dict.fromkeys(value))


def _check_table(table: Any, where: str, keys) -> None:
    """A TOML table whose keys are all among `keys`."""
    if not isinstance(table, dict):
        raise SpecError(f"{where} must be a table of settings")
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise SpecError(f"{where}: {_choices_message('key', unknown[0], keys)}")


def define_strategy(name: str, table: Any, source: str) -> Strategy:
    """A [strategy.NAME] table: Strategy fields, `like`, and the hyperparameters that its scheme
    (with its inner schemes) and base update declare, by name (`gamma = 10`)."""
    where = f"{source}: [strategy.{name}]"
    if not isinstance(table, dict):
        raise SpecError(f"{where} must be a table of settings")
    settings = dict(table)
    like = settings.pop("like", None)
    if like is not None:
        if not isinstance(like, str) or like not in STRATEGIES:
            raise SpecError(f"{where}: like: {_choices_message('strategy', like, STRATEGIES)}")
        base = dataclasses.asdict(STRATEGIES[like])
    else:
        base = {}
    inherited = dict(base.pop("hyper", ()))
    given = {k: settings.pop(k) for k in list(settings) if k not in STRATEGY_KEYS}
    base.update(settings, name=name, description=settings.get("description", f"defined in {source}"))
    try:
        declared = Strategy(**base).declared({**inherited, **given})
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise SpecError(f"{where}: {_choices_message('key', unknown[0], [*STRATEGY_KEYS, *declared])}")
        # a table that changes the scheme or the base update keeps the inherited settings that still apply
        hyper = {k: v for k, v in {**inherited, **given}.items() if k in declared}
        return Strategy(**base, hyper=hyper)
    except ValueError as e:
        if isinstance(e, SpecError):
            raise
        raise SpecError(f"{where}: {e}") from None


def build_suite(
    path: Path | None,
    problems: str | None = None,
    strategies: str | None = None,
    seeds: int | None = None,
    steps: int | None = None,
    plugins: list[str] | None = None,
    device: str = "cpu",
    data_dir: str | None = None,
    use_tuned: bool = True,
    max_runs: int | None = MAX_RUNS,
    diagnostics: bool = False,
    diagnostics_at: list | None = None,
    precision: str | None = None,
) -> Suite:
    """Read a suite file (or none) and apply CLI overrides; raise SpecError on any bad input.
    `diagnostics` (--diagnostics) turns them on whatever the file says; `diagnostics_at`
    (--diagnostics-at) chooses where the spectra are taken, and turns them on too; `precision`
    (--precision) replaces the file's."""
    data: dict[str, Any] = read_suite_file(path) if path is not None else {}
    if diagnostics or diagnostics_at is not None:
        data = {**data, "diagnostics": True}
    if diagnostics_at is not None:
        data = {**data, "diagnostics_at": diagnostics_at}
    if precision is not None:
        try:  # what the device refuses is the flag's doing, not the suite file's
            check_precision(precision, device)
        except ValueError as e:
            raise SpecError(f"--precision: {e}") from None
        data = {**data, "precision": precision}
    return suite_from_data(data, path, problems, strategies, seeds, steps, plugins, device, data_dir, use_tuned,
                           max_runs)


def suite_from_data(
    data: dict[str, Any],
    path: Path | None = None,
    problems: str | None = None,
    strategies: str | None = None,
    seeds: int | None = None,
    steps: int | None = None,
    plugins: list[str] | None = None,
    device: str = "cpu",
    data_dir: str | None = None,
    use_tuned: bool = True,
    max_runs: int | None = MAX_RUNS,
) -> Suite:
    """Validate a parsed suite (`path` names it in messages and anchors its plugins);
    `data_dir` (--data-dir) sets the data folder of every problem that reads one; `use_tuned`
    False starts presets from the problems' default rates (what `bench tune` tunes around);
    `max_runs` caps the runs planned (None: no cap)."""
    source = str(path) if path is not None else "flags"
    unknown = sorted(set(data) - set(SUITE_KEYS))
    if unknown:
        raise SpecError(f"{source}: {_choices_message('key', unknown[0], SUITE_KEYS)}")

    plugin_paths = []
    for plugin in plugins or []:
        load_plugin(Path(plugin), "--plugin")
        plugin_paths.append(Path(plugin))
    for plugin in _names(data["plugins"], "plugins", source) if "plugins" in data else []:
        if not plugin.endswith(".py"):
            raise SpecError(f"{source}: plugins must be paths to .py files, got {plugin!r}")
        plugin_path = (path.parent / plugin) if path is not None else Path(plugin)
        load_plugin(plugin_path, source)
        plugin_paths.append(plugin_path)
    code = code_fingerprint(plugin_paths)

    defined = {}
    strategy_tables = data.get("strategy", {})
    if not isinstance(strategy_tables, dict):
        raise SpecError(f"{source}: strategy must be a table of [strategy.NAME] tables")
    for name, table in strategy_tables.items():
        if name in STRATEGIES:
            raise SpecError(f"{source}: [strategy.{name}] would redefine the preset {name!r}; give it another name")
        defined[name] = define_strategy(name, table, source)
    known_strategies = {**STRATEGIES, **defined}

    if problems is not None:
        problem_names = _names(problems, "--problems", "--problems")
    elif "problems" in data:
        problem_names = _names(data["problems"], "problems", source)
    else:
        raise SpecError(f"{source}: no problems given (a suite's `problems` or --problems)")
    for name in problem_names:
        if name not in PROBLEMS:
            raise SpecError(f"{'--problems' if problems is not None else source}: "
                            f"{_choices_message('problem', name, PROBLEMS)}")

    if strategies is not None:
        strategy_names = _names(strategies, "--strategies", "--strategies")
    elif "strategies" in data:
        strategy_names = _names(data["strategies"], "strategies", source)
    else:
        raise SpecError(f"{source}: no strategies given (a suite's `strategies` or --strategies)")
    for name in strategy_names:
        if name not in known_strategies:
            raise SpecError(f"{'--strategies' if strategies is not None else source}: "
                            f"{_choices_message('strategy', name, known_strategies)}")

    if seeds is not None:
        seed_list = list(range(_int(seeds, "--seeds", "flags", maximum=MAX_SEEDS)))
    elif isinstance(data.get("seeds"), list):
        seed_list = [_int(s, "seeds[]", source, minimum=0, maximum=2**31 - 1) for s in data["seeds"]]
        if not seed_list:
            raise SpecError(f"{source}: seeds must not be empty")
    else:
        seed_list = list(range(_int(data.get("seeds", 3), "seeds", source, maximum=MAX_SEEDS)))

    steps_override = _int(steps, "--steps", "flags", maximum=MAX_STEPS) if steps is not None else (
        _int(data["steps"], "steps", source, maximum=MAX_STEPS) if "steps" in data else None)
    eval_override = _int(data["eval_every"], "eval_every", source, maximum=MAX_STEPS) if "eval_every" in data else None

    option_tables = data.get("problem", {})
    if not isinstance(option_tables, dict):
        raise SpecError(f"{source}: problem must be a table of [problem.NAME] tables")
    for name, table in option_tables.items():
        if name not in PROBLEMS:
            raise SpecError(f"{source}: [problem.{name}]: {_choices_message('problem', name, PROBLEMS)}")
        if not isinstance(table, dict):
            raise SpecError(f"{source}: [problem.{name}] must be a table of options")
    if path is not None:  # a suite file's relative paths are read from its folder, like its plugins
        option_tables = {name: _paths_from(path.parent.absolute(), get_problem(name).PATH_OPTIONS, table)
                         for name, table in option_tables.items()}
    if data_dir is not None:
        if not isinstance(data_dir, str) or not data_dir.strip():
            raise SpecError(f"--data-dir must be a folder path, got {data_dir!r}")
        readers = [n for n in problem_names if "data_dir" in get_problem(n).options]
        if not readers:
            raise SpecError("--data-dir applies to problems that read a data set (e.g. mnist); none is in this suite")
        data_dir = str(Path(data_dir).expanduser().absolute())
        option_tables = {**option_tables, **{n: {**option_tables.get(n, {}), "data_dir": data_dir} for n in readers}}
    checked_options = {}
    for name in sorted(set(option_tables) | set(problem_names)):  # every table, run or not
        try:
            checked_options[name] = get_problem(name).check_options(option_tables.get(name, {}))
        except (ValueError, TypeError) as e:
            raise SpecError(f"{source}: [problem.{name}]: {e}") from None
    inputs, warnings = {}, []
    for name in problem_names:  # the files the run problems read: checked now, not mid-sweep
        try:
            inputs[name], problem_warnings = get_problem(name).check_inputs(checked_options[name])
        except (ValueError, OSError) as e:
            where = f"{source} with --data-dir" if data_dir is not None else source
            raise SpecError(f"{where}: [problem.{name}]: {e}") from None
        warnings += problem_warnings

    tuning = _tuning(data["tuning"], source, seed_list) if "tuning" in data else None
    per_cell = len(seed_list) + (tuning.trials * len(tuning.tune_seeds) if tuning else 0)
    planned = len(problem_names) * len(strategy_names) * per_cell
    if max_runs is not None and planned > max_runs:  # refused before the plan itself costs time and memory
        raise SpecError(f"{source}: {len(problem_names)} problems x {len(strategy_names)} strategies x {per_cell} "
                        f"runs each is {planned:,} runs, more than --max-runs {max_runs:,}; run fewer, or raise "
                        "--max-runs")

    diagnostics = data.get("diagnostics", False)
    if not isinstance(diagnostics, bool):
        raise SpecError(f"{source}: diagnostics must be true or false, got {diagnostics!r}")
    diagnostics_at = data.get("diagnostics_at", list(SPECTRUM_AT))
    if (not isinstance(diagnostics_at, list) or not diagnostics_at
            or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and 0 <= f <= 1 for f in diagnostics_at)):
        raise SpecError(f"{source}: diagnostics_at must be a non-empty list of fractions of the budget in [0, 1] "
                        f"(e.g. [0, 0.5, 1]), got {diagnostics_at!r}")
    if "diagnostics_at" in data and not diagnostics:
        raise SpecError(f"{source}: diagnostics_at goes with diagnostics = true")
    diagnostics_at = tuple(sorted({float(f) for f in diagnostics_at}))
    precision = data.get("precision", DEFAULT_PRECISION)
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise SpecError(f"{source}: precision: {_choices_message('precision', precision, PRECISIONS)}")
    suite_schedule = data.get("lr_schedule")  # else each problem's default (games: constant; mixtures: linear-decay)
    if suite_schedule is not None and (not isinstance(suite_schedule, str) or suite_schedule not in LR_SCHEDULES):
        raise SpecError(f"{source}: lr_schedule: {_choices_message('schedule', suite_schedule, LR_SCHEDULES)}")
    # a suite that tunes spreads its trials around the problems' defaults, as `bench tune` does
    use_tuned = use_tuned and "tuning" not in data
    runs, grid = [], []
    for pname in problem_names:
        problem = get_problem(pname)
        options = checked_options[pname]
        try:
            check_precision(precision, device, problem.dtype)
        except ValueError as e:
            raise SpecError(f"{source}: on {pname}, {e} (--problems chooses others)") from None
        lr_schedule = suite_schedule or problem.lr_schedule
        differ = options_mismatch(pname, options, lr_schedule) if use_tuned else {}
        if differ and any(STRATEGIES.get(s) is known_strategies[s] for s in strategy_names):
            what = ", ".join(f"{k} {given!r} (tuned with {tuned!r})" for k, (tuned, given) in differ.items())
            warnings.append(f"{pname}: the presets' tuned rates were chosen for other models; with {what} they "
                            "run at the problem's untuned default rates")
        elif use_tuned and not differ:
            untuned = [s for s in strategy_names if STRATEGIES.get(s) is known_strategies[s]
                       and tuned_lr(pname, s) is None]
            if untuned:
                warnings.append(f"{pname}: no tuned rates for {', '.join(untuned)} (`python -m bench tune`); they run "
                                "at the problem's untuned default rates")
        run_steps = steps_override or problem.steps
        eval_every = min(eval_override or problem.eval_every, run_steps)
        for sname in strategy_names:
            strategy = known_strategies[sname]
            # a preset gets its tuned rates on this problem (ganopt.tuned), unless tuning them now
            tuned = (tuned_lr(pname, sname, options, lr_schedule)
                     if use_tuned and known_strategies[sname] is STRATEGIES.get(sname) else None)
            try:  # learning rates are products (lr_ratio, tuning multipliers): they may over- or underflow
                cell = GridCell(pname, options, strategy.resolve(problem.default_lr(options), tuned), run_steps,
                                eval_every, device, code, inputs[pname], lr_schedule, diagnostics, diagnostics_at,
                                precision)
                trials = [tuning.setting(cell.strategy, t) for t in range(tuning.trials)] if tuning else []
            except (ValueError, ArithmeticError) as e:
                raise SpecError(f"{source}: on {pname}, {e} (the product of its learning rates and multipliers "
                                "leaves the floating-point range)") from None
            grid.append(cell)
            if tuning is None:
                runs += [cell.run(seed) for seed in seed_list]
            else:
                runs += [cell.run(seed, "tune", t, trials[t]) for t in range(tuning.trials) for seed in tuning.tune_seeds]
    run_ids = [r.run_id for r in runs]
    if len(set(run_ids)) != len(run_ids):
        raise SpecError(f"{source}: the suite lists the same run twice (a repeated seed?)")
    name = data.get("name", path.stem if path is not None else "custom")
    if not isinstance(name, str) or not name.strip() or "/" in name or name.startswith("."):
        raise SpecError(f"{source}: name must be a non-empty string usable as a folder name, got {name!r}")
    if not isinstance(data.get("description", ""), str):
        raise SpecError(f"{source}: description must be a string")
    references = []
    if "reference" in data:  # checked against the file's own lists, kept for the problems and strategies run
        file_problems = _names(data.get("problems", problem_names), "problems", source)
        file_strategies = _names(data.get("strategies", strategy_names), "strategies", source)
        try:
            references = parse_references(data["reference"], source, file_problems, file_strategies,
                                          {p: {m.name for m in declarations(get_problem(p))} for p in file_problems
                                           if p in PROBLEMS})
        except ValueError as e:
            raise SpecError(str(e)) from None
        references = [r for r in references if r.problem in problem_names and r.strategy in strategy_names]
    return Suite(name=name, source=source, description=str(data.get("description", "")), runs=runs, grid=grid,
                 seeds=seed_list, tuning=tuning, plugins=plugin_paths, warnings=warnings, references=references)


def built_in_references(suite_name: str) -> list[Reference]:
    """The published numbers of a built-in suite, for `bench report --suite NAME` (none for other
    names or when the file does not parse)."""
    path = available_suites().get(suite_name)
    if path is None:
        return []
    try:
        data = read_suite_file(path)
        defined = {name: define_strategy(name, table, str(path)) for name, table in data.get("strategy", {}).items()}
        return parse_references(data.get("reference", []), str(path), list(PROBLEMS), [*STRATEGIES, *defined],
                                {p: {m.name for m in declarations(get_problem(p))} for p in PROBLEMS})
    except (SpecError, ValueError):
        return []


def _paths_from(folder: Path, keys: tuple[str, ...], table: dict[str, Any]) -> dict[str, Any]:
    """`table` with its path options (`keys`) made absolute: relative ones joined to `folder`."""
    def absolute(value: str) -> str:
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else folder / path)

    return {key: absolute(value) if key in keys and isinstance(value, str) and value.strip() else value
            for key, value in table.items()}


def _tuning(table: Any, source: str, eval_seeds: list[int]) -> Tuning:
    where = f"{source}: [tuning]"
    _check_table(table, where, TUNING_KEYS)
    trials = _int(table.get("trials", 4), "[tuning] trials", source, maximum=1000)

    def positive_range(key, default):
        value = table.get(key, default)
        if (not isinstance(value, list) or len(value) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                           for v in value) or value[0] > value[1]):
            raise SpecError(f"{where}: {key} must be [low, high] with 0 < low <= high, got {value!r}")
        return (float(value[0]), float(value[1]))

    lr_range = positive_range("lr_range", [0.1, 10.0])
    ratio_range = positive_range("ratio_range", [1.0, 10.0])
    tune_seeds = table.get("tune_seeds", [1000, 1001])
    if not isinstance(tune_seeds, list) or not tune_seeds:
        raise SpecError(f"{where}: tune_seeds must be a non-empty list of seeds")
    tune_seeds = [_int(s, "[tuning] tune_seeds[]", source, minimum=0, maximum=2**31 - 1) for s in tune_seeds]
    shared = sorted(set(tune_seeds) & set(eval_seeds))
    if shared:
        raise SpecError(f"{where}: tune_seeds and seeds must differ (the best setting is reported on fresh "
                        f"seeds); both have {shared[0]}")
    return Tuning(trials, lr_range, ratio_range, tuple(dict.fromkeys(tune_seeds)))


__all__ = ["RunSpec", "SpecError", "Suite", "available_suites", "build_suite", "find_suite", "get_strategy"]
