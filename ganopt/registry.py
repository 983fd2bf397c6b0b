"""Registering by name: a taken name is refused unless the caller says `replace=True`, and every
replacement is recorded, so that a run's provenance can say that `adam` was not ganopt's Adam.

A plugin that silently registered a scheme `simultaneous` or a base update `adam` would change
what every suite means by those names while its results stayed labelled with them (issue 28).
Registering the same definition again is harmless: a plugin file may be run twice (named by a
suite and by --plugin, or once more in a worker), and each run makes new class objects.
"""

from __future__ import annotations

from typing import Any

_REPLACEMENTS: list[dict[str, str]] = []


def _where(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def same_definition(old: Any, new: Any) -> bool:
    """The same object, or the same definition made again: a class of the same module and
    qualified name, or an instance of such a class with equal attributes."""
    if old is new:
        return True
    if _where(old) != _where(new) or isinstance(old, type) != isinstance(new, type):
        return False
    if isinstance(old, type):
        return True
    try:
        return bool(vars(old) == vars(new))
    except (TypeError, ValueError, RuntimeError):  # attributes that do not compare (tensors, say)
        return False


def claim(kind: str, registry: dict[str, Any], name: str, obj: Any, replace: bool, how: str) -> None:
    """Put `obj` in `registry` under `name`, or refuse: ValueError naming the holder and `how`
    (the call that would replace it).  A replacement is recorded (see registry_replacements)."""
    existing = registry.get(name)
    if existing is not None and not same_definition(existing, obj):
        if not replace:
            raise ValueError(f"{kind} {name!r} is already registered ({_where(existing)}); "
                             f"choose another name, or {how}(..., replace=True)")
        _REPLACEMENTS.append({"kind": kind, "name": name, "was": _where(existing), "now": _where(obj)})
    registry[name] = obj


def record_replacement(kind: str, name: str, was: str, now: str) -> None:
    _REPLACEMENTS.append({"kind": kind, "name": name, "was": was, "now": now})


def registry_replacements() -> list[dict[str, str]]:
    """Every name replaced in this process so far (kind, name, was, now), oldest first: what a
    run's provenance records as `registry_replacements` when a plugin replaced a name."""
    return [dict(r) for r in _REPLACEMENTS]
