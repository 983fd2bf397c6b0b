"""Suites and run specs: read a suite (TOML) and CLI flags, validate everything before anything
runs, and expand the grid into RunSpecs with stable ids.

A suite file:

    name = "quick"
    problems = ["ring8", "grid25"]          # registered problem names
    strategies = ["adam", "my-adam"]        # presets or strategies defined below
    seeds = 3                               # seeds 0..2 (or an explicit list)
    steps = 1500                            # optional: else each problem's default
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
import runpy
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ganopt
from ganopt import Strategy, get_problem, get_strategy
from ganopt.problems import PROBLEMS
from ganopt.strategies import STRATEGIES

SUITES_DIR = Path(__file__).parent / "suites"
SUITE_KEYS = ("name", "description", "problems", "strategies", "seeds", "steps", "eval_every", "plugins",
              "problem", "strategy")
STRATEGY_KEYS = tuple(f.name for f in dataclasses.fields(Strategy) if f.name != "name") + ("like",)


MAX_STEPS = 10**8
MAX_SEEDS = 10**5


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

    def describe(self) -> dict[str, Any]:
        """The resolved spec and the code version, as plain JSON-able data."""
        return {
            "problem": self.problem, "options": self.options, "strategy": self.strategy.name,
            "settings": self.strategy.settings(), "seed": self.seed, "steps": self.steps,
            "eval_every": self.eval_every, "device": self.device, "version": ganopt.__version__,
            "code": self.code,
        }

    @property
    def run_id(self) -> str:
        """A hash of the resolved spec and the code version: the same run, the same id."""
        canonical = json.dumps(self.describe(), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class Suite:
    name: str
    source: str  # file path or "flags", for error messages and provenance
    description: str
    runs: list[RunSpec]


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
        if not path.is_file():
            raise SpecError(f"suite file {name_or_path!r} does not exist")
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
        raise SpecError(f"{source}: plugin file {str(path)!r} does not exist")
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


def define_strategy(name: str, table: Any, source: str) -> Strategy:
    where = f"{source}: [strategy.{name}]"
    if not isinstance(table, dict):
        raise SpecError(f"{where} must be a table of settings")
    unknown = sorted(set(table) - set(STRATEGY_KEYS))
    if unknown:
        raise SpecError(f"{where}: {_choices_message('key', unknown[0], STRATEGY_KEYS)}")
    settings = dict(table)
    like = settings.pop("like", None)
    if like is not None:
        if not isinstance(like, str) or like not in STRATEGIES:
            raise SpecError(f"{where}: like: {_choices_message('strategy', like, STRATEGIES)}")
        base = dataclasses.asdict(STRATEGIES[like])
    else:
        base = {}
    base.update(settings, name=name, description=settings.get("description", f"defined in {source}"))
    try:
        return Strategy(**base)
    except ValueError as e:
        raise SpecError(f"{where}: {e}") from None


def build_suite(
    path: Path | None,
    problems: str | None = None,
    strategies: str | None = None,
    seeds: int | None = None,
    steps: int | None = None,
    plugins: list[str] | None = None,
    device: str = "cpu",
) -> Suite:
    """Read a suite file (or none) and apply CLI overrides; raise SpecError on any bad input."""
    data: dict[str, Any] = read_suite_file(path) if path is not None else {}
    return suite_from_data(data, path, problems, strategies, seeds, steps, plugins, device)


def suite_from_data(
    data: dict[str, Any],
    path: Path | None = None,
    problems: str | None = None,
    strategies: str | None = None,
    seeds: int | None = None,
    steps: int | None = None,
    plugins: list[str] | None = None,
    device: str = "cpu",
) -> Suite:
    """Validate a parsed suite (`path` names it in messages and anchors its plugins)."""
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
        seed_list = list(range(_int(seeds, "--seeds", "--seeds", maximum=MAX_SEEDS)))
    elif isinstance(data.get("seeds"), list):
        seed_list = [_int(s, "seeds[]", source, minimum=0, maximum=2**31 - 1) for s in data["seeds"]]
        if not seed_list:
            raise SpecError(f"{source}: seeds must not be empty")
    else:
        seed_list = list(range(_int(data.get("seeds", 3), "seeds", source, maximum=MAX_SEEDS)))

    steps_override = _int(steps, "--steps", "--steps", maximum=MAX_STEPS) if steps is not None else (
        _int(data["steps"], "steps", source, maximum=MAX_STEPS) if "steps" in data else None)
    eval_override = _int(data["eval_every"], "eval_every", source, maximum=MAX_STEPS) if "eval_every" in data else None

    option_tables = data.get("problem", {})
    if not isinstance(option_tables, dict):
        raise SpecError(f"{source}: problem must be a table of [problem.NAME] tables")
    checked_options = {}
    for name in sorted(set(option_tables) | set(problem_names)):  # every table, run or not
        if name not in PROBLEMS:
            raise SpecError(f"{source}: [problem.{name}]: {_choices_message('problem', name, PROBLEMS)}")
        table = option_tables.get(name, {})
        if not isinstance(table, dict):
            raise SpecError(f"{source}: [problem.{name}] must be a table of options")
        try:
            checked_options[name] = get_problem(name).check_options(table)
        except (ValueError, TypeError) as e:
            raise SpecError(f"{source}: [problem.{name}]: {e}") from None

    runs = []
    for pname in problem_names:
        problem = get_problem(pname)
        options = checked_options[pname]
        run_steps = steps_override or problem.steps
        eval_every = min(eval_override or problem.eval_every, run_steps)
        for sname in strategy_names:
            strategy = known_strategies[sname]
            resolved = strategy.resolve(problem.lr)
            for seed in seed_list:
                runs.append(RunSpec(pname, options, resolved, seed, run_steps, eval_every, device, code))
    run_ids = [r.run_id for r in runs]
    if len(set(run_ids)) != len(run_ids):
        raise SpecError(f"{source}: the suite lists the same run twice (a repeated seed?)")
    name = data.get("name", path.stem if path is not None else "custom")
    if not isinstance(name, str) or not name.strip() or "/" in name or name.startswith("."):
        raise SpecError(f"{source}: name must be a non-empty string usable as a folder name, got {name!r}")
    if not isinstance(data.get("description", ""), str):
        raise SpecError(f"{source}: description must be a string")
    return Suite(name=name, source=source, description=str(data.get("description", "")), runs=runs)


__all__ = ["RunSpec", "SpecError", "Suite", "available_suites", "build_suite", "find_suite", "get_strategy"]
