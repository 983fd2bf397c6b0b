"""Strategies = scheme x base update x learning rates x gradient estimate, and the presets.

A Strategy whose learning rates are None takes them from the problem's defaults for its base
update (`Problem.lr`); `lr_ratio` then sets lr_D = lr_ratio * lr_G (TTUR, Heusel et al.
2017, use lr_D = 3e-4 and lr_G = 1e-4, a ratio of 3).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .hyperparameters import FIELD_HYPERPARAMETERS, Hyperparameter
from .registry import record_replacement
from .schemes import SCHEMES
from .updates import BASE_UPDATES, BETA, BETA1, BETA2, EPS, hyperparameter_names

ESTIMATES = ("full", "minibatch")
MAX_WRAPPING = 8
REAL_FIELDS = ("lr_g", "lr_d", "lr_ratio", "beta", "beta1", "beta2", "eps")
FIELD_DECLARATIONS = (BETA, BETA1, BETA2, EPS)  # the built-in updates' settings, also Strategy fields


@dataclass(frozen=True)
class Strategy:
    name: str
    scheme: str = "simultaneous"
    base: str = "sgd"
    estimate: str = "minibatch"
    lr_g: float | None = None
    lr_d: float | None = None
    lr_ratio: float = 1.0
    # the built-in base updates' settings: each declared once, in ganopt.updates (default and
    # range); a field here so that a suite's `beta = -0.5` and Strategy(beta=-0.5) read plainly
    beta: float = BETA.default  # momentum
    beta1: float = BETA1.default  # adam; 0.5 is the usual GAN setting (Radford et al. 2016)
    beta2: float = BETA2.default
    eps: float = EPS.default
    d_steps: int = 1  # alternating: D-steps per G-step
    description: str = ""
    # the declared hyperparameters of the scheme (and its inner schemes) and of the base update,
    # as sorted (name, value) pairs, every declared one present (a dict is accepted and checked)
    hyper: Any = ()

    def __post_init__(self):
        for key in REAL_FIELDS:  # a real setting written as an integer (TOML `eps = 1`) is that float: stored
            value = getattr(self, key)  # as a REAL, and one beyond any float (10**400) refused here, not when stored
            if isinstance(value, int) and not isinstance(value, bool):
                try:
                    object.__setattr__(self, key, float(value))
                except OverflowError:
                    raise ValueError(f"strategy {self.name!r}: {key} is too large, got {value!r}") from None
        _choice("scheme", self.scheme, SCHEMES)
        _choice("base", self.base, BASE_UPDATES)
        _choice("estimate", self.estimate, ESTIMATES)
        for key in ("lr_g", "lr_d"):
            value = getattr(self, key)
            if value is not None and not _positive_number(value):
                raise ValueError(f"strategy {self.name!r}: {key} must be a positive number, got {value!r}")
        if not _positive_number(self.lr_ratio):
            raise ValueError(f"strategy {self.name!r}: lr_ratio must be a positive number, got {self.lr_ratio!r}")
        for h in FIELD_DECLARATIONS:  # the base updates' own declarations: one range each
            h.check(getattr(self, h.name), f"strategy {self.name!r}")
        if not (isinstance(self.d_steps, int) and not isinstance(self.d_steps, bool) and 1 <= self.d_steps <= 1000):
            raise ValueError(f"strategy {self.name!r}: d_steps must be an integer from 1 to 1000, got {self.d_steps!r}")
        if not isinstance(self.description, str):
            raise ValueError(f"strategy {self.name!r}: description must be a string")
        self._check_hyper()

    def _check_hyper(self) -> None:
        where = f"strategy {self.name!r}"
        try:
            given = flatten_settings(dict(self.hyper))
        except (TypeError, ValueError):
            raise ValueError(f"{where}: hyper must map hyperparameter names to values, got {self.hyper!r}") from None
        declared = self.declared(given)
        unknown = sorted(set(given) - set(declared), key=str)
        if unknown:
            valid = ", ".join(sorted(declared)) or "none"
            raise ValueError(f"{where}: unknown hyperparameter {unknown[0]!r} for scheme {self.scheme!r} and base "
                             f"update {self.base!r}; valid: {valid}")
        values = {name: h.check(given.get(name, h.default), where, SCHEMES) for name, h in declared.items()}
        object.__setattr__(self, "hyper", tuple(sorted(values.items())))

    def declared(self, given: dict | None = None) -> dict[str, Hyperparameter]:
        """The hyperparameters this strategy's schemes and base update declare, by the key a
        strategy sets them with: the scheme's own by name (`gamma`, lookahead's `k`), a wrapped
        scheme's under its wrapper's setting (`inner.unroll_steps`: each scheme owns its names,
        so lookahead's `alpha` and an inner scheme's never meet), and the base update's by name,
        or as `BASE.name` where the scheme declares the same name.  The built-in updates'
        settings are Strategy fields and not listed.  Also checks that every scheme of the
        chain accepts the base update."""
        given = flatten_settings(dict(self.hyper)) if given is None else given
        out = self._scheme_declared(given)
        for h in BASE_UPDATES[self.base].hyperparameters:
            if h.name not in FIELD_HYPERPARAMETERS:
                out[f"{self.base}.{h.name}" if h.name in out else h.name] = h
        return out

    def _scheme_declared(self, given: dict) -> dict[str, Hyperparameter]:
        where = f"strategy {self.name!r}"
        out: dict[str, Hyperparameter] = {}
        scheme, prefix, chain = self.scheme, "", []
        while scheme is not None:  # each wrapper owns its inner scheme's settings: lookahead may wrap lookahead
            chain.append(scheme)
            if len(chain) > MAX_WRAPPING:  # a wrapper whose default inner scheme is itself never ends
                raise ValueError(f"{where}: the schemes wrap each other more than {MAX_WRAPPING} deep: "
                                 f"{' -> '.join(chain)}")
            cls = SCHEMES[scheme]
            if cls.bases is not None and self.base not in cls.bases:
                raise ValueError(f"{where}: scheme {scheme!r} works with the base updates {', '.join(cls.bases)} "
                                 f"only, got {self.base!r}")
            scheme, wrapper = None, prefix
            for h in cls.hyperparameters:
                out[wrapper + h.name] = h
                if h.kind == "scheme":  # the wrapped scheme's settings live under this one's name
                    scheme = h.check(given.get(wrapper + h.name, h.default), where, SCHEMES)
                    prefix = f"{wrapper}{h.name}."
        return out

    def value(self, name: str):
        """A hyperparameter's value by its key (declared): a Strategy field's, or a declared one's."""
        if name in FIELD_HYPERPARAMETERS:
            return getattr(self, name)
        return dict(self.hyper)[name]

    def base_setting(self, name: str):
        """The value of a setting the base update declares (`name` as the update reads it), or
        None when this strategy's base update has no such setting."""
        if name in FIELD_HYPERPARAMETERS:
            return getattr(self, name)
        if name not in hyperparameter_names(self.base):
            return None
        hyper = dict(self.hyper)
        return hyper.get(f"{self.base}.{name}", hyper.get(name))

    def scheme_settings(self) -> dict[str, Hyperparameter]:
        """The declared settings of the scheme chain, by key (what the schemes read)."""
        return self._scheme_declared(dict(self.hyper))

    def resolve(self, default_lr: dict[str, float], tuned: tuple[float, float] | None = None) -> Strategy:
        """Fill missing learning rates: from `tuned` (lr_G, lr_D: the preset's tuned rates on
        the problem, ganopt.tuned) when given, else from the problem's defaults (base update ->
        lr).  Rates the strategy sets itself always win."""
        if tuned is not None and self.lr_g is None:
            lr_g = tuned[0]
            lr_d = self.lr_d if self.lr_d is not None else tuned[1]
            return dataclasses.replace(self, lr_g=lr_g, lr_d=lr_d)
        base = self.base if self.base in default_lr else BASE_UPDATES[self.base].lr_like
        lr_g = self.lr_g if self.lr_g is not None else default_lr[base]
        lr_d = self.lr_d if self.lr_d is not None else lr_g * self.lr_ratio
        return dataclasses.replace(self, lr_g=lr_g, lr_d=lr_d)

    @property
    def stack_key(self) -> tuple:
        """Runs whose strategies share this key can train in one stack (base update, estimate
        and real hyperparameters may differ per run; integer ones and inner schemes may not)."""
        declared = self.declared()
        return (self.scheme, self.d_steps, *((n, v) for n, v in self.hyper if not declared[n].per_run))

    def settings(self) -> dict:
        """The fields that define the strategy's behaviour (no name, no description); the
        declared hyperparameters as a dict `hyper`, present only when there are some."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("name", "description", "hyper")}
        if self.hyper:
            out["hyper"] = dict(self.hyper)
        return out


def flatten_settings(given: dict, prefix: str = "") -> dict:
    """Nested settings as dotted keys: a wrapper's `inner = {scheme = "unrolled", unroll_steps = 3}`
    becomes inner = "unrolled" and inner.unroll_steps = 3; a TOML dotted key (`rmsprop.alpha`)
    arrives nested and comes out dotted again."""
    out = {}
    for key, value in given.items():
        if not isinstance(key, str):
            raise TypeError(f"a setting's name must be a string, got {key!r}")
        if isinstance(value, dict):
            inner = dict(value)
            if "scheme" in inner:  # a wrapped scheme with its settings
                out[prefix + key] = inner.pop("scheme")
            out.update(flatten_settings(inner, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _positive_number(x) -> bool:
    return _number(x) and x > 0


def _choice(key: str, value, valid) -> None:
    if not isinstance(value, str) or value not in valid:
        raise ValueError(f"unknown {key} {value!r}; valid: {', '.join(sorted(valid))}")


STRATEGIES: dict[str, Strategy] = {}


def _summary(strategy: Strategy) -> str:
    return f"{strategy.scheme} x {strategy.base}, {strategy.estimate}: {strategy.description}"


def register_strategy(strategy: Strategy, replace: bool = False) -> Strategy:
    """Make a strategy available by name to suites and the CLI.  A name already taken by another
    strategy is refused unless `replace` (a plugin silently redefining `adam` would change what
    every suite means by it); registering the same strategy again is harmless."""
    existing = STRATEGIES.get(strategy.name)
    if existing is not None and existing != strategy and not replace:
        raise ValueError(f"strategy {strategy.name!r} is already registered ({existing.description or existing.scheme}); "
                         "choose another name, or register_strategy(..., replace=True)")
    if existing is not None and existing != strategy:
        record_replacement("strategy", strategy.name, _summary(existing), _summary(strategy))
    STRATEGIES[strategy.name] = strategy
    return strategy


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise KeyError(f"unknown strategy {name!r}; valid: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name]


for _preset in [
    Strategy("gd", "simultaneous", "sgd", "full", description="plain gradient descent: full batch, simultaneous"),
    Strategy("sgd", "simultaneous", "sgd", description="stochastic gradient descent, simultaneous"),
    Strategy("momentum", "simultaneous", "momentum", beta=0.9, description="SGD with heavy-ball momentum 0.9"),
    Strategy("adam", "simultaneous", "adam", description="Adam (beta1 0.5, beta2 0.999), simultaneous"),
    Strategy("extragradient", "extragradient", "sgd", description="ExtraSGD (Gidel et al. 2019)"),
    Strategy("extra-adam", "extragradient", "adam", description="Extra-Adam (Gidel et al. 2019)"),
    Strategy("ttur", "simultaneous", "adam", lr_ratio=3.0, description="Adam with lr_D = 3 lr_G (Heusel et al. 2017)"),
    Strategy("optimistic", "optimistic", "sgd", description="optimistic gradient descent (Daskalakis et al. 2018)"),
    Strategy("optimistic-adam", "optimistic", "adam", description="optimistic Adam (Daskalakis et al. 2018)"),
    Strategy("past-extragradient", "past-extragradient", "sgd", description="extrapolation from the past (Gidel et al. 2019)"),
    Strategy("negative-momentum", "alternating", "momentum", beta=-0.5, description="alternating, momentum -0.5 (Gidel et al. 2019)"),
    Strategy("alt-gd", "alternating", "sgd", "full", description="plain gradient descent, alternating"),
    Strategy("alt-sgd", "alternating", "sgd", description="SGD, alternating"),
    Strategy("alt-adam", "alternating", "adam", description="Adam, alternating"),
    Strategy("consensus", "consensus", "sgd", "full", hyper={"gamma": 1.0},
             description="consensus optimization, gamma 1, full batch (Mescheder et al. 2017)"),
    Strategy("consensus-adam", "consensus", "adam", hyper={"gamma": 10.0},
             description="consensus optimization, gamma 10, Adam (Mescheder et al. 2017)"),
    Strategy("sga", "sga", "sgd", "full", hyper={"sga_lambda": 1.0},
             description="symplectic gradient adjustment, lambda 1, aligned, full batch (Balduzzi et al. 2018)"),
    Strategy("sga-adam", "sga", "adam", hyper={"sga_lambda": 1.0},
             description="symplectic gradient adjustment, lambda 1, aligned, Adam (Balduzzi et al. 2018)"),
    Strategy("unrolled", "unrolled", "adam", hyper={"unroll_steps": 5},
             description="unrolled GAN, 5 unrolled Adam D-steps (Metz et al. 2017)"),
    Strategy("cgd", "cgd", "sgd", "full", description="competitive gradient descent, full batch (Schäfer & Anandkumar 2019)"),
    Strategy("lookahead-gd", "lookahead", "sgd", "full", hyper={"inner": "simultaneous"},
             description="Lookahead-minmax (k 5, alpha 0.5) over simultaneous GD (Chavdarova et al. 2021)"),
    Strategy("lookahead-extra-adam", "lookahead", "adam", hyper={"inner": "extragradient"},
             description="Lookahead-minmax (k 5, alpha 0.5) over Extra-Adam (Chavdarova et al. 2021)"),
    Strategy("lookahead-alt-adam", "lookahead", "adam", hyper={"inner": "alternating"},
             description="Lookahead-minmax (k 5, alpha 0.5) over alternating Adam (Chavdarova et al. 2021)"),
]:
    register_strategy(_preset)

PRESETS: tuple[str, ...] = tuple(STRATEGIES)  # the built-in names (plugins may register more)
