"""Suites and run specs: read a suite (TOML) and CLI flags, validate everything before anything
runs, and expand the grid into one frozen StackSpec per stack, its runs with stable ids.

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

Two steps, kept apart.  `parse_suite` turns a suite file and the command line's flags into a
SuiteConfig: every input checked, nothing expanded.  `expand` turns that into one frozen
StackSpec per stack, made once: the settings its runs share (StackSettings, which checks itself
when built) and its runs (strategy, seed, phase, trial, run id).  The StackSpec then travels
unchanged: bench.plan splits it (never regroups), the executors call train_stack with keywords
taken from it, and the store saves its runs.
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

from ganopt import Strategy, declarations, get_problem, get_strategy, numerics
from ganopt.registry import registry_replacements
from ganopt.diagnostics import SPECTRUM_AT
from ganopt.graphs import check_cuda_graphs
from ganopt.precision import DEFAULT_PRECISION, PRECISIONS, check_precision
from ganopt.problems import PROBLEMS
from ganopt.schedules import LR_SCHEDULES
from ganopt.strategies import STRATEGIES, flatten_settings
from ganopt.tuned import options_mismatch, tuned_lr

from .references import Reference, parse_references

SUITES_DIR = Path(__file__).parent / "suites"
SUITE_KEYS = ("name", "description", "problems", "strategies", "seeds", "steps", "eval_every", "lr_schedule",
              "diagnostics", "diagnostics_at", "precision",
              "plugins", "problem", "strategy", "tuning", "reference", "problem_steps")
TUNING_KEYS = ("trials", "lr_range", "ratio_range", "tune_seeds")
STRATEGY_KEYS = tuple(f.name for f in dataclasses.fields(Strategy) if f.name not in ("name", "hyper")) + ("like",)


MAX_STEPS = 10**8
MAX_SEEDS = 10**5
MAX_RUNS = 20_000  # per invocation (--max-runs): the standard suite plans ~1,000; 1.2 million took 80 s and 830 MB


class SpecError(ValueError):
    """A bad suite or flag: the message names the file or flag, the key, and the valid choices."""


def plugins_fingerprint(plugins: list[Path] | tuple[Path, ...]) -> str:
    """A hash of the plugin files' content ("" without plugins).  A plugin is arbitrary code with
    no numerics version, so its hash goes into the id of every run whose step runs plugin code
    (its problem, scheme chain or base update comes from a plugin), and of every run of the sweep
    once a plugin has replaced a registered name (register with replace=True: it may change what
    any preset computes).  A run of ganopt's own code alone keeps its id, so that published runs
    can stand beside a new strategy from a plugin (`--baselines`).  A plugin that patches ganopt's
    functions without registering is not seen: do not."""
    if not plugins:
        return ""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in plugins):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def built_in(problem, strategy: Strategy) -> bool:
    """Whether a run's step is ganopt's own code: its problem, base update and every scheme of
    its chain (a wrapper's inner schemes too) come from ganopt, not from a plugin."""
    from ganopt.schemes import SCHEMES
    from ganopt.updates import BASE_UPDATES

    inner = [strategy.value(k) for k, h in strategy.scheme_settings().items() if h.kind == "scheme"]
    classes = (type(problem), BASE_UPDATES[strategy.base], *(SCHEMES[name] for name in (strategy.scheme, *inner)))
    return all(c.__module__.startswith("ganopt.") for c in classes)


def check_precision_on(precision: Any, device: str, problem: str) -> None:
    """The harness's one check of a precision (ValueError, one line): a known name, one the
    device has, and a problem that computes in float32."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(_choices_message("precision", precision, PRECISIONS))
    check_precision(precision, device)
    try:
        check_precision(precision, device, get_problem(problem).dtype)
    except ValueError as e:
        raise ValueError(f"on {problem}, {e} (--problems chooses others)") from None


def cuda_graph_refusal(device: str, scheme: str, bases: list[str], diagnostics: bool) -> str | None:
    """The harness's one check of CUDA-graph eligibility: None when a graph can hold these steps,
    else why not (they train eagerly).  Off CUDA no step can: SpecError."""
    try:
        check_cuda_graphs(device, scheme, bases, diagnostics)
    except ValueError as e:
        if device != "cuda":
            raise SpecError(f"--cuda-graphs: {e}") from None
        return str(e)
    return None


@dataclass(frozen=True)
class StackSettings:
    """What every run of one stack shares; it checks itself when built.  All of it but
    `cuda_graphs` is part of each run's id."""

    problem: str
    options: dict[str, Any]  # checked by the problem
    stack_key: tuple  # Strategy.stack_key of every run: the scheme and what shapes its state
    steps: int
    eval_every: int
    device: str = "cpu"  # the device type: results differ in rounding between devices
    inputs: dict[str, Any] = dataclasses.field(default_factory=dict)  # Problem.check_inputs: the files' identity
    lr_schedule: str = "constant"  # ganopt.schedules
    diagnostics: bool = False  # ganopt.diagnostics recorded at its evaluations
    diagnostics_at: tuple[float, ...] = SPECTRUM_AT  # fractions of the budget that get a spectrum
    precision: str = DEFAULT_PRECISION  # ganopt.precision: the arithmetic of the training steps
    cuda_graphs: bool = False  # ganopt.graphs: how the steps launch, not what they compute (like threads)
    plugins: str = ""  # plugins_fingerprint() of the sweep's plugin files

    def __post_init__(self):
        check_precision_on(self.precision, self.device, self.problem)

    @property
    def scheme(self) -> str:
        return self.stack_key[0]

    def protocol(self) -> dict[str, Any]:
        """The settings that decide a run's numbers, as plain JSON-able data.  Settings at their
        default are left out (schedule, diagnostics, precision): a spec reads as before they existed."""
        spec = {"problem": self.problem, "options": self.options, "steps": self.steps, "eval_every": self.eval_every,
                "device": self.device, "inputs": self.inputs, "numerics": numerics.NUMERICS_VERSION}
        if self.plugins:
            spec["plugins"] = self.plugins
        if self.lr_schedule != "constant":
            spec["lr_schedule"] = self.lr_schedule
        if self.diagnostics:  # a run with diagnostics has more records: not the same result as one without
            spec["diagnostics"] = True
            if tuple(self.diagnostics_at) != SPECTRUM_AT:
                spec["diagnostics_at"] = list(self.diagnostics_at)
        if self.precision != DEFAULT_PRECISION:
            spec["precision"] = self.precision
        return spec


class _FromSettings:
    """A run's read-only view of one of its stack's settings (the store and reports read runs)."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, run, owner=None):
        return self if run is None else getattr(run.settings, self.name)


@dataclass(frozen=True)
class RunSpec:
    """One run of a stack: its strategy (concrete rates), seed and tuning phase, and its id,
    computed once when it is built; everything else is its stack's settings."""

    settings: StackSettings
    strategy: Strategy
    seed: int
    phase: str = ""  # "" (a plain run), "tune" (a tuning trial) or "eval" (best setting, fresh seed)
    trial: int | None = None  # the tuning trial whose setting this run uses
    # where its learning rates came from (LR_SOURCES): provenance, not protocol, so not in its id
    lr_source: str = dataclasses.field(default="", compare=False)
    run_id: str = dataclasses.field(init=False, default="")

    problem = _FromSettings()
    options = _FromSettings()
    steps = _FromSettings()
    eval_every = _FromSettings()
    device = _FromSettings()
    inputs = _FromSettings()
    lr_schedule = _FromSettings()
    diagnostics = _FromSettings()
    diagnostics_at = _FromSettings()
    precision = _FromSettings()
    cuda_graphs = _FromSettings()

    def __post_init__(self):
        object.__setattr__(self, "run_id", protocol_id(self.describe(), self.settings))

    def describe(self) -> dict[str, Any]:
        """The run's protocol as plain JSON-able data: what decides its numbers, and no source bytes."""
        return {**self.settings.protocol(), "strategy": self.strategy.name, "settings": self.strategy.settings(),
                "seed": self.seed, "phase": self.phase, "trial": self.trial}


def protocol_id(spec: dict[str, Any], settings: StackSettings) -> str:
    """A hash of a run's protocol: the same run, the same id, whatever the code's bytes (a
    computation change bumps ganopt.numerics.NUMERICS_VERSION).  Files count by content
    (`inputs`), not by path: moving a data folder keeps the ids."""
    if settings.inputs:
        paths = get_problem(settings.problem).PATH_OPTIONS
        spec = {**spec, "options": {k: v for k, v in settings.options.items() if k not in paths}}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class StackSpec:
    """One stack: its settings and its runs, made once by expansion.  Planning splits its runs,
    the executors train them with keywords from here (train_arguments), the store saves them."""

    settings: StackSettings
    runs: tuple[RunSpec, ...]
    # (cost key, seconds per step alone) measured with the whole sweep (bench.execute.calibrate_stacks);
    # empty: the stack measures its own when it trains
    step_seconds: tuple[tuple[tuple[str, str], float], ...] = ()

    def __post_init__(self):
        if not self.runs or any(run.settings is not self.settings for run in self.runs):
            raise ValueError("a stack holds one or more runs, each of them with the stack's own settings")

    @property
    def problem(self) -> str:
        return self.settings.problem

    def describe(self) -> str:
        names = ", ".join(dict.fromkeys(r.strategy.name for r in self.runs))
        return f"{self.problem} · {self.settings.scheme} · {names} · {len(self.runs)} runs"

    def with_runs(self, runs) -> StackSpec:
        """The same settings with some of the runs (a part of a split, or those still to train)."""
        return StackSpec(self.settings, tuple(runs), self.step_seconds)

    def train_arguments(self) -> dict[str, Any]:
        """ganopt.train_stack's keywords for this stack, but the device, progress and time limit,
        which belong to where and how it runs."""
        s = self.settings
        return {"options": s.options, "strategies": [r.strategy for r in self.runs], "seeds": [r.seed for r in self.runs],
                "steps": s.steps, "eval_every": s.eval_every, "lr_schedule": s.lr_schedule,
                "diagnostics": s.diagnostics, "diagnostics_at": s.diagnostics_at, "precision": s.precision,
                "cuda_graphs": s.cuda_graphs, "step_seconds": self._run_seconds()}

    def _run_seconds(self) -> list[float] | None:
        """Each run's seconds per step from the sweep's calibration, or None (the stack measures)."""
        if not self.step_seconds:
            return None
        from ganopt.train import cost_key

        seconds = dict(self.step_seconds)
        keys = [cost_key(r.strategy) for r in self.runs]
        if not all(k in seconds for k in keys):  # a plugin's step (measured only where it trains): the stack measures all
            return None
        return [seconds[k] for k in keys]


def group_stacks(runs: list[RunSpec]) -> list[StackSpec]:
    """Runs that share a settings object, in one StackSpec each (in order of first appearance)."""
    groups: dict[int, list[RunSpec]] = {}
    for run in runs:
        groups.setdefault(id(run.settings), []).append(run)
    return [StackSpec(members[0].settings, tuple(members)) for members in groups.values()]


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


# Where a run's learning rates came from, recorded with it (provenance `lr_source`) when the
# suite is expanded, so that a report says it without asking the installed ganopt again.
LR_SOURCES = {
    "tuned-table": "tuned by `bench tune` (ganopt/assets/tuned_lr.json)",
    "problem-default": "untuned (the problem's default rates)",
    "suite": "set by the suite",
    "tuning": "tuned in this suite",
}


@dataclass(frozen=True)
class GridCell:
    """One problem x strategy of a suite, resolved: its stack's settings and its strategy (with
    its tuning trials' settings); what a run needs but its seed."""

    settings: StackSettings
    strategy: Strategy
    trials: tuple[Strategy, ...] = ()
    lr_source: str = "suite"  # where `strategy`'s rates came from (LR_SOURCES)

    @property
    def problem(self) -> str:
        return self.settings.problem

    def run(self, seed: int, phase: str = "", trial: int | None = None, strategy: Strategy | None = None) -> RunSpec:
        source = "tuning" if phase else self.lr_source  # a trial's rates, or the trial tuning chose
        return RunSpec(self.settings, strategy or self.strategy, seed, phase, trial, source)


@dataclass(frozen=True)
class Flags:
    """What the command line replaces in a suite file or adds to it (None: the file's)."""

    problems: str | None = None
    strategies: str | None = None
    seeds: int | None = None
    steps: int | None = None
    plugins: tuple[str, ...] = ()
    device: str = "cpu"  # the device type
    data_dir: str | None = None
    use_tuned: bool = True  # False: presets start from the problems' default rates (what `bench tune` tunes around)
    max_runs: int | None = MAX_RUNS  # None: no cap
    diagnostics: bool = False  # on, whatever the file says
    diagnostics_at: tuple[float, ...] | None = None  # where the spectra are taken; turns diagnostics on
    precision: str | None = None
    cuda_graphs: bool = False  # replay each step a CUDA graph can hold


@dataclass(frozen=True)
class SuiteConfig:
    """A suite file with the flags applied, every input checked; nothing expanded yet."""

    name: str
    source: str  # file path or "flags", for error messages and provenance
    description: str
    problems: tuple[str, ...]
    strategies: dict[str, Strategy]  # by name, in the suite's order
    defined: frozenset[str]  # the strategies the suite file defines (the others are presets or plugins')
    seeds: tuple[int, ...]
    steps: int | None  # None: each problem's default
    eval_every: int | None
    options: dict[str, dict[str, Any]]  # checked, per problem
    inputs: dict[str, dict[str, Any]]  # per problem run: its files' identity
    lr_schedule: str | None  # None: each problem's default
    diagnostics: bool
    diagnostics_at: tuple[float, ...]
    precision: Any  # checked by StackSettings, which knows the device and the problem
    precision_origin: str  # "--precision" or the suite file's key, for its messages
    device: str
    use_tuned: bool
    cuda_graphs: bool
    tuning: Tuning | None
    plugins: tuple[Path, ...]  # loaded; workers load them too
    references: tuple[Reference, ...]
    warnings: tuple[str, ...]
    problem_steps: dict[str, int] = dataclasses.field(default_factory=dict)  # [problem_steps]: budgets per problem


@dataclass(frozen=True)
class Suite:
    """An expanded suite: its stacks (with tuning: the tuning trials; the evaluation runs come
    from eval_stacks) and its grid of cells."""

    config: SuiteConfig
    stacks: tuple[StackSpec, ...]
    grid: tuple[GridCell, ...]
    warnings: tuple[str, ...]  # for the user, before anything runs

    name = property(lambda self: self.config.name)
    source = property(lambda self: self.config.source)
    description = property(lambda self: self.config.description)
    seeds = property(lambda self: list(self.config.seeds))
    tuning = property(lambda self: self.config.tuning)
    plugins = property(lambda self: list(self.config.plugins))
    references = property(lambda self: list(self.config.references))

    @property
    def runs(self) -> list[RunSpec]:
        return [run for stack in self.stacks for run in stack.runs]

    def eval_stacks(self, best_trial: dict[tuple[str, str], int]) -> list[StackSpec]:
        """With tuning: each strategy's best trial, run on the suite's (fresh) seeds."""
        assert self.tuning is not None
        runs = []
        for cell in self.grid:
            trial = best_trial[(cell.problem, cell.strategy.name)]
            runs += [cell.run(seed, "eval", trial, cell.trials[trial]) for seed in self.config.seeds]
        return group_stacks(runs)


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


MAX_SUITE_NAME_BYTES = 100  # a suite's name is a folder name (results/NAME): 255 bytes at most on most file systems


def check_suite_name(name: Any, source: str) -> None:
    """A suite's name names its folder and its rows in the store: refused before anything runs,
    not when the report is written after training."""
    if (not isinstance(name, str) or not name.strip() or "/" in name or "\\" in name or name.startswith(".")
            or any(ord(c) < 32 or ord(c) == 127 for c in name) or len(name.encode("utf-8", "replace")) > MAX_SUITE_NAME_BYTES):
        shown = repr(name) if len(repr(name)) <= 60 else f"{repr(name)[:50]}... ({len(name)} characters)"
        raise SpecError(f"{source}: name must be a folder name of 1 to {MAX_SUITE_NAME_BYTES} bytes, without '/', "
                        f"'\\', control characters or a leading '.', got {shown}")


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
    try:  # a wrapped scheme's table (`inner = {scheme = "unrolled", unroll_steps = 3}`) as dotted keys
        given = flatten_settings({k: settings.pop(k) for k in list(settings) if k not in STRATEGY_KEYS})
    except TypeError as e:
        raise SpecError(f"{where}: {e}") from None
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


def build_suite(path: Path | None, problems: str | None = None, strategies: str | None = None,
                seeds: int | None = None, steps: int | None = None, plugins: list[str] | None = None,
                **flags) -> Suite:
    """Read a suite file (or none), apply the flags (Flags' fields), check, expand; SpecError on
    any bad input."""
    data: dict[str, Any] = read_suite_file(path) if path is not None else {}
    return suite_from_data(data, path, problems, strategies, seeds, steps, plugins, **flags)


def suite_from_data(data: dict[str, Any], path: Path | None = None, problems: str | None = None,
                    strategies: str | None = None, seeds: int | None = None, steps: int | None = None,
                    plugins: list[str] | None = None, **flags) -> Suite:
    """A parsed suite (`path` names it in messages and anchors its plugins), checked and expanded."""
    if flags.get("diagnostics_at") is not None:
        flags["diagnostics_at"] = tuple(flags["diagnostics_at"])
    return expand(parse_suite(data, path, Flags(problems, strategies, seeds, steps, tuple(plugins or ()), **flags)))


# -- parsing: a suite file and flags into a SuiteConfig ------------------------------------------

def parse_suite(data: dict[str, Any], path: Path | None, flags: Flags) -> SuiteConfig:
    """Check everything a suite says, before anything runs (`path` names it and anchors its plugins)."""
    source = str(path) if path is not None else "flags"
    unknown = sorted(set(data) - set(SUITE_KEYS))
    if unknown:
        raise SpecError(f"{source}: {_choices_message('key', unknown[0], SUITE_KEYS)}")
    if flags.max_runs is not None and flags.max_runs < 1:
        raise SpecError(f"--max-runs must be >= 1, got {flags.max_runs}")
    plugins = _plugins(data, path, flags, source)
    strategies, defined = _strategies(data, flags, source)
    problems = _problem_names(data, flags, source)
    seeds = _seeds(data, flags, source)
    options, inputs, warnings = _problem_options(data, path, flags, problems, source)
    tuning = _tuning(data["tuning"], source, seeds) if "tuning" in data else None
    _check_size(source, len(problems), len(strategies), len(seeds), tuning, flags.max_runs)
    diagnostics, diagnostics_at = _diagnostics(data, flags, source)
    schedule = data.get("lr_schedule")  # else each problem's default (games: constant; mixtures: linear-decay)
    if schedule is not None and (not isinstance(schedule, str) or schedule not in LR_SCHEDULES):
        raise SpecError(f"{source}: lr_schedule: {_choices_message('schedule', schedule, LR_SCHEDULES)}")
    name = data.get("name", path.stem if path is not None else "custom")
    check_suite_name(name, source)
    if not isinstance(data.get("description", ""), str):
        raise SpecError(f"{source}: description must be a string")
    precision, origin = ((flags.precision, "--precision") if flags.precision is not None
                         else (data.get("precision", DEFAULT_PRECISION), f"{source}: precision"))
    return SuiteConfig(
        name=name, source=source, description=data.get("description", ""), problems=tuple(problems),
        strategies=strategies, defined=defined, seeds=tuple(seeds), steps=_budget(data, "steps", flags.steps, source),
        problem_steps=_problem_steps(data, flags, source),
        eval_every=_budget(data, "eval_every", None, source), options=options, inputs=inputs, lr_schedule=schedule,
        diagnostics=diagnostics, diagnostics_at=diagnostics_at, precision=precision, precision_origin=origin,
        device=flags.device, use_tuned=flags.use_tuned and tuning is None,  # a tuning suite spreads around defaults
        cuda_graphs=flags.cuda_graphs, tuning=tuning, plugins=tuple(plugins),
        references=tuple(_references(data, source, problems, list(strategies))), warnings=tuple(warnings))


def _plugins(data: dict[str, Any], path: Path | None, flags: Flags, source: str) -> list[Path]:
    """Load --plugin files, then the suite's (relative to its folder); return their paths."""
    paths = []
    for plugin in flags.plugins:
        load_plugin(Path(plugin), "--plugin")
        paths.append(Path(plugin))
    for plugin in _names(data["plugins"], "plugins", source) if "plugins" in data else []:
        if not plugin.endswith(".py"):
            raise SpecError(f"{source}: plugins must be paths to .py files, got {plugin!r}")
        plugin_path = (path.parent / plugin) if path is not None else Path(plugin)
        load_plugin(plugin_path, source)
        paths.append(plugin_path)
    return paths


def _strategies(data: dict[str, Any], flags: Flags, source: str) -> tuple[dict[str, Strategy], frozenset[str]]:
    """The strategies run (by name, in order) and the names the suite file defines."""
    defined = {}
    tables = data.get("strategy", {})
    if not isinstance(tables, dict):
        raise SpecError(f"{source}: strategy must be a table of [strategy.NAME] tables")
    for name, table in tables.items():
        if name in STRATEGIES:
            raise SpecError(f"{source}: [strategy.{name}] would redefine the preset {name!r}; give it another name")
        defined[name] = define_strategy(name, table, source)
    known = {**STRATEGIES, **defined}
    names = _chosen(data, flags.strategies, "strategies", "strategy", known, source)
    return {name: known[name] for name in names}, frozenset(defined)


def _problem_names(data: dict[str, Any], flags: Flags, source: str) -> list[str]:
    return _chosen(data, flags.problems, "problems", "problem", PROBLEMS, source)


def _chosen(data: dict[str, Any], flag, key: str, kind: str, known, source: str) -> list[str]:
    """The names the --KEY flag gives, else the suite's `KEY` list; each must be in `known`."""
    if flag is not None:
        names, where = _names(flag, f"--{key}", f"--{key}"), f"--{key}"
    elif key in data:
        names, where = _names(data[key], key, source), source
    else:
        raise SpecError(f"{source}: no {key} given (a suite's `{key}` or --{key})")
    for name in names:
        if name not in known:
            raise SpecError(f"{where}: {_choices_message(kind, name, known)}")
    return names


def _seeds(data: dict[str, Any], flags: Flags, source: str) -> list[int]:
    if flags.seeds is not None:
        return list(range(_int(flags.seeds, "--seeds", "flags", maximum=MAX_SEEDS)))
    if isinstance(data.get("seeds"), list):
        seeds = [_int(s, "seeds[]", source, minimum=0, maximum=2**31 - 1) for s in data["seeds"]]
        if not seeds:
            raise SpecError(f"{source}: seeds must not be empty")
        return seeds
    return list(range(_int(data.get("seeds", 3), "seeds", source, maximum=MAX_SEEDS)))


def _problem_steps(data: dict[str, Any], flags: Flags, source: str) -> dict[str, int]:
    """`[problem_steps]`: a budget per problem where the suite's `steps` does not suit it (the
    grid needs more steps than the ring to stop improving); --steps overrides every budget."""
    table = data.get("problem_steps", {})
    if not isinstance(table, dict):
        raise SpecError(f"{source}: problem_steps must be a table of PROBLEM = steps")
    for name in table:
        if name not in PROBLEMS:
            raise SpecError(f"{source}: [problem_steps]: {_choices_message('problem', name, PROBLEMS)}")
    if flags.steps is not None:
        return {}
    return {name: _int(n, f"[problem_steps] {name}", source, maximum=MAX_STEPS) for name, n in table.items()}


def _budget(data: dict[str, Any], key: str, flag: int | None, source: str) -> int | None:
    """`steps` or `eval_every`: the flag's, else the file's, else None (each problem's default)."""
    if flag is not None:
        return _int(flag, f"--{key}", "flags", maximum=MAX_STEPS)
    return _int(data[key], key, source, maximum=MAX_STEPS) if key in data else None


def _problem_options(data: dict[str, Any], path: Path | None, flags: Flags, problems: list[str],
                     source: str) -> tuple[dict, dict, list[str]]:
    """Every [problem.NAME] table checked (run or not), and the files of the problems run:
    (options, inputs, warnings)."""
    tables = data.get("problem", {})
    if not isinstance(tables, dict):
        raise SpecError(f"{source}: problem must be a table of [problem.NAME] tables")
    for name, table in tables.items():
        if name not in PROBLEMS:
            raise SpecError(f"{source}: [problem.{name}]: {_choices_message('problem', name, PROBLEMS)}")
        if not isinstance(table, dict):
            raise SpecError(f"{source}: [problem.{name}] must be a table of options")
    if path is not None:  # a suite file's relative paths are read from its folder, like its plugins
        tables = {name: _paths_from(path.parent.absolute(), get_problem(name).PATH_OPTIONS, table)
                  for name, table in tables.items()}
    if flags.data_dir is not None:
        tables = _with_data_dir(tables, flags.data_dir, problems)
    options = {}
    for name in sorted(set(tables) | set(problems)):
        try:
            options[name] = get_problem(name).check_options(tables.get(name, {}))
        except (ValueError, TypeError) as e:
            raise SpecError(f"{source}: [problem.{name}]: {e}") from None
    inputs, warnings = {}, []
    for name in problems:  # the files the run problems read: checked now, not mid-sweep
        try:
            inputs[name], said = get_problem(name).check_inputs(options[name])
        except (ValueError, OSError) as e:
            where = f"{source} with --data-dir" if flags.data_dir is not None else source
            raise SpecError(f"{where}: [problem.{name}]: {e}") from None
        warnings += said
    return options, inputs, warnings


def _with_data_dir(tables: dict[str, dict], data_dir: Any, problems: list[str]) -> dict[str, dict]:
    """--data-dir: the data folder of every problem run that reads one."""
    if not isinstance(data_dir, str) or not data_dir.strip():
        raise SpecError(f"--data-dir must be a folder path, got {data_dir!r}")
    readers = [n for n in problems if "data_dir" in get_problem(n).options]
    if not readers:
        raise SpecError("--data-dir applies to problems that read a data set (e.g. mnist); none is in this suite")
    folder = str(Path(data_dir).expanduser().absolute())
    return {**tables, **{n: {**tables.get(n, {}), "data_dir": folder} for n in readers}}


def _check_size(source: str, n_problems: int, n_strategies: int, n_seeds: int, tuning: Tuning | None,
                max_runs: int | None) -> None:
    """Refuse a plan past --max-runs before the plan itself costs time and memory."""
    per_cell = n_seeds + (tuning.trials * len(tuning.tune_seeds) if tuning else 0)
    planned = n_problems * n_strategies * per_cell
    if max_runs is not None and planned > max_runs:
        raise SpecError(f"{source}: {n_problems} problems x {n_strategies} strategies x {per_cell} "
                        f"runs each is {planned:,} runs, more than --max-runs {max_runs:,}; run fewer, or raise "
                        "--max-runs")


def _diagnostics(data: dict[str, Any], flags: Flags, source: str) -> tuple[bool, tuple[float, ...]]:
    """(on, the fractions of the budget that get a spectrum): --diagnostics and --diagnostics-at
    turn them on whatever the file says; --diagnostics-at replaces the file's fractions."""
    on = True if flags.diagnostics or flags.diagnostics_at is not None else data.get("diagnostics", False)
    if not isinstance(on, bool):
        raise SpecError(f"{source}: diagnostics must be true or false, got {on!r}")
    if flags.diagnostics_at is not None:
        at, where = list(flags.diagnostics_at), "--diagnostics-at"
    else:
        at, where = data.get("diagnostics_at", list(SPECTRUM_AT)), f"{source}: diagnostics_at"
    if (not isinstance(at, list) or not at
            or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and 0 <= f <= 1 for f in at)):
        raise SpecError(f"{where} must be a non-empty list of fractions of the budget in [0, 1] "
                        f"(e.g. [0, 0.5, 1]), got {at!r}")
    if "diagnostics_at" in data and not on:
        raise SpecError(f"{source}: diagnostics_at goes with diagnostics = true")
    return on, tuple(sorted({float(f) for f in at}))


def _references(data: dict[str, Any], source: str, problems: list[str], strategies: list[str]) -> list[Reference]:
    """The file's [[reference]] tables, checked against the file's own lists, kept for the
    problems and strategies run."""
    if "reference" not in data:
        return []
    file_problems = _names(data.get("problems", problems), "problems", source)
    file_strategies = _names(data.get("strategies", strategies), "strategies", source)
    try:
        references = parse_references(data["reference"], source, file_problems, file_strategies,
                                      {p: {m.name for m in declarations(get_problem(p))} for p in file_problems
                                       if p in PROBLEMS})
    except ValueError as e:
        raise SpecError(str(e)) from None
    return [r for r in references if r.problem in problems and r.strategy in strategies]


# -- expansion: a SuiteConfig into one StackSpec per stack ----------------------------------------

def expand(config: SuiteConfig) -> Suite:
    """The grid (problem x strategy) and its runs, grouped once into StackSpecs: per problem, one
    per stack key (and per CUDA graphs or not).  With tuning the runs are the tuning trials."""
    grid, warnings = [], list(config.warnings)
    plugins = plugins_fingerprint(config.plugins)
    for problem in config.problems:
        cells, said = _problem_cells(config, problem, plugins)
        grid += cells
        warnings += said
    tuning = config.tuning
    if tuning is None:
        runs = [cell.run(seed) for cell in grid for seed in config.seeds]
    else:
        runs = [cell.run(seed, "tune", t, cell.trials[t]) for cell in grid for t in range(tuning.trials)
                for seed in tuning.tune_seeds]
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):
        raise SpecError(f"{config.source}: the suite lists the same run twice (a repeated seed?)")
    return Suite(config, tuple(group_stacks(runs)), tuple(grid), tuple(warnings))


def _problem_cells(config: SuiteConfig, name: str, plugins: str) -> tuple[list[GridCell], list[str]]:
    """One problem's cells, those of one stack sharing one StackSettings; and warnings."""
    problem, options = get_problem(name), config.options[name]
    schedule = config.lr_schedule or problem.lr_schedule
    steps = config.problem_steps.get(name) or config.steps or problem.steps
    eval_every = min(config.eval_every or problem.eval_every, steps)
    shared = {"problem": name, "options": options, "steps": steps, "eval_every": eval_every, "device": config.device,
              "inputs": config.inputs[name], "lr_schedule": schedule, "diagnostics": config.diagnostics,
              "diagnostics_at": config.diagnostics_at, "precision": config.precision, "plugins": plugins}
    warnings = _tuned_rate_warnings(config, name, options, schedule)
    settings: dict[tuple, StackSettings] = {}
    cells = []
    for sname, strategy in config.strategies.items():
        resolved, trials, source = _resolve(config, name, sname, strategy, options, schedule)
        graphs = False
        if config.cuda_graphs:
            why = cuda_graph_refusal(config.device, resolved.scheme, [resolved.base], config.diagnostics)
            graphs = why is None
            if why:
                warnings.append(f"--cuda-graphs: {name} · {sname} trains eagerly: {why}")
        own = plugins if plugins and (registry_replacements() or not built_in(problem, resolved)) else ""
        key = (resolved.stack_key, graphs, own)
        if key not in settings:
            try:
                settings[key] = StackSettings(stack_key=resolved.stack_key, cuda_graphs=graphs,
                                              **{**shared, "plugins": own})
            except ValueError as e:
                raise SpecError(f"{config.precision_origin}: {e}") from None
        cells.append(GridCell(settings[key], resolved, trials, source))
    return cells, warnings


def _resolve(config: SuiteConfig, problem: str, name: str, strategy: Strategy, options: dict[str, Any],
             schedule: str) -> tuple[Strategy, tuple[Strategy, ...], str]:
    """The strategy with concrete rates on this problem (a preset gets its tuned rates,
    ganopt.tuned, unless the suite tunes them now), its tuning trials' settings, and where its
    rates came from (LR_SOURCES)."""
    tuned = tuned_lr(problem, name, options, schedule) if config.use_tuned and name not in config.defined else None
    source = "suite" if strategy.lr_g is not None else "tuned-table" if tuned is not None else "problem-default"
    try:  # learning rates are products (lr_ratio, tuning multipliers): they may over- or underflow
        resolved = strategy.resolve(get_problem(problem).default_lr(options), tuned)
        trials = tuple(config.tuning.setting(resolved, t) for t in range(config.tuning.trials)) if config.tuning else ()
    except (ValueError, ArithmeticError) as e:
        raise SpecError(f"{config.source}: on {problem}, {e} (the product of its learning rates and multipliers "
                        "leaves the floating-point range)") from None
    return resolved, trials, source


def _tuned_rate_warnings(config: SuiteConfig, problem: str, options: dict[str, Any], schedule: str) -> list[str]:
    """Where presets run at untuned default rates, and why."""
    if not config.use_tuned:
        return []
    presets = [s for s in config.strategies if s not in config.defined]
    differ = options_mismatch(problem, options, schedule)
    if differ:
        if not presets:
            return []
        what = ", ".join(f"{k} {given!r} (tuned with {tuned!r})" for k, (tuned, given) in differ.items())
        return [(f"{problem}: the presets' tuned rates were chosen for other models; with {what} they "
                 "run at the problem's untuned default rates")]
    untuned = [s for s in presets if tuned_lr(problem, s) is None]
    if not untuned:
        return []
    return [(f"{problem}: no tuned rates for {', '.join(untuned)} (`python -m bench tune`); they run "
             "at the problem's untuned default rates")]


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


__all__ = ["Flags", "RunSpec", "SpecError", "StackSettings", "StackSpec", "Suite", "SuiteConfig", "available_suites",
           "build_suite", "expand", "find_suite", "get_strategy", "parse_suite"]
