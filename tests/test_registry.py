"""Registries refuse a taken name unless told to replace it, and record every replacement
(issue 28, item 5): a plugin registering a scheme `simultaneous` or a base update `adam` that
is really SGD must not pass for ganopt's own."""

import pytest
from helpers import run_bench

import ganopt
from ganopt import (BASE_UPDATES, PROBLEMS, SCHEMES, BaseUpdate, Scheme, get_problem, register_base_update,
                    register_problem, register_scheme, registry_replacements)
from ganopt import registry as registry_mod
from ganopt.problems.games import BilinearProblem
from ganopt.updates import SGD


@pytest.fixture(autouse=True)
def restore_registries():
    saved = [(r, dict(r)) for r in (SCHEMES, BASE_UPDATES, PROBLEMS)]
    replacements = list(registry_mod._REPLACEMENTS)
    registry_mod._REPLACEMENTS.clear()  # other tests of this session may have replaced names
    yield
    for registry, content in saved:
        registry.clear()
        registry.update(content)
    registry_mod._REPLACEMENTS[:] = replacements


def fake_simultaneous():
    class Idle(Scheme):
        name = "simultaneous"

        def step(self):
            pass
    return Idle


def fake_adam():
    class NotAdam(SGD):
        name = "adam"
    return NotAdam


def test_a_taken_scheme_name_is_refused_and_the_builtin_stays():
    builtin = SCHEMES["simultaneous"]
    with pytest.raises(ValueError, match=r"scheme 'simultaneous' is already registered.*replace=True"):
        register_scheme(fake_simultaneous())
    assert SCHEMES["simultaneous"] is builtin
    assert registry_replacements() == []


def test_a_taken_base_update_name_is_refused_and_the_builtin_stays():
    builtin = BASE_UPDATES["adam"]
    with pytest.raises(ValueError, match=r"base update 'adam' is already registered.*replace=True"):
        register_base_update(fake_adam())
    assert BASE_UPDATES["adam"] is builtin


def test_a_taken_problem_name_is_refused_and_the_builtin_stays():
    builtin = get_problem("bilinear")
    other = BilinearProblem(name="bilinear", description="not the built-in one", steps=10, eval_every=5,
                            lr={"sgd": 0.1, "momentum": 0.1, "adam": 0.01}, options={"dim": 3, "coupling": 2.0})
    with pytest.raises(ValueError, match=r"problem 'bilinear' is already registered.*replace=True"):
        register_problem(other)
    assert PROBLEMS["bilinear"] is builtin


def test_replace_true_replaces_in_each_form_and_is_recorded():
    fake = fake_simultaneous()
    assert register_scheme(replace=True)(fake) is fake  # the decorator form
    assert SCHEMES["simultaneous"] is fake
    not_adam = fake_adam()
    register_base_update(not_adam, replace=True)  # the call form
    assert BASE_UPDATES["adam"] is not_adam
    other = BilinearProblem(name="bilinear", description="3-d", steps=10, eval_every=5,
                            lr={"sgd": 0.1, "momentum": 0.1, "adam": 0.01}, options={"dim": 3, "coupling": 2.0})
    register_problem(other, replace=True)
    assert get_problem("bilinear") is other
    replaced = registry_replacements()
    assert [(r["kind"], r["name"]) for r in replaced] == [("scheme", "simultaneous"), ("base update", "adam"),
                                                        ("problem", "bilinear")]
    assert replaced[0]["was"] == "ganopt.schemes.Simultaneous" and replaced[0]["now"].endswith("Idle")
    assert replaced[1]["was"] == "ganopt.updates.Adam"
    assert ganopt.registry_replacements is registry_replacements


def test_registering_the_same_definition_again_is_harmless():
    """A plugin file run twice makes new class objects of the same definition: accepted, not
    recorded.  A plain decorator on a new name still works."""
    def define():
        @register_scheme
        class Twice(Scheme):
            name = "test-twice"

            def step(self):
                pass

        @register_base_update
        class TwiceUpdate(BaseUpdate):
            name = "test-twice-update"

            def apply(self, grads, state):
                return grads, state
        return Twice, TwiceUpdate

    first, _ = define()
    second, second_update = define()
    assert first is not second and SCHEMES["test-twice"] is second
    assert BASE_UPDATES["test-twice-update"] is second_update
    register_scheme(second)
    register_problem(get_problem("dirac"))
    assert registry_replacements() == []


def test_a_plugin_replacing_a_builtin_scheme_fails_the_cli_in_one_line(tmp_path):
    plugin = tmp_path / "evil.py"
    plugin.write_text("from ganopt import Scheme, register_scheme\n"
                      "@register_scheme\nclass Idle(Scheme):\n    name = 'simultaneous'\n"
                      "    def step(self):\n        pass\n")
    result = run_bench("run", "--plugin", str(plugin), "--problems", "bilinear", "--strategies", "gd", "--seeds", "1",
                       "--steps", "20", "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "'simultaneous' is already registered" in errors[0] and "replace=True" in errors[0]
    assert not (tmp_path / "s.sqlite").exists()


def test_a_replacement_with_replace_true_lands_in_every_run_provenance(tmp_path):
    import json
    import sqlite3

    plugin = tmp_path / "mine.py"
    plugin.write_text("from ganopt import SCHEMES, register_scheme\n"
                      "@register_scheme(replace=True)\nclass MySimultaneous(SCHEMES['simultaneous']):\n"
                      "    name = 'simultaneous'\n")
    store = tmp_path / "s.sqlite"
    result = run_bench("run", "--plugin", str(plugin), "--problems", "bilinear", "--strategies", "gd", "--seeds", "1",
                       "--steps", "20", "--executor", "inprocess", "--store", str(store), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(store) as db:
        provenance = [json.loads(p) for (p,) in db.execute("SELECT provenance FROM runs")]
    assert provenance and all(p["registry_replacements"] == [
        {"kind": "scheme", "name": "simultaneous", "was": "ganopt.schemes.Simultaneous",
         "now": "ganopt_plugin_mine.MySimultaneous"}] for p in provenance)
