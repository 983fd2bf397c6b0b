"""The harness's layers (DESIGN.md, "Layers"): bench/ imports without a circle, scoring sits
below everything that ranks, only the CLI writes reports, and no problem or metric name is
written into bench/: what the harness knows of a problem comes from its declarations."""

import ast
from pathlib import Path

from ganopt import PROBLEMS, declarations

BENCH = Path(__file__).resolve().parent.parent / "bench"

# A string in bench/ that equals a problem's or a declared metric's name, and why it must stay.
ALLOWED_NAMES = {
    # the v1 schema is frozen history: its columns are metric names by definition
    ("migrate.py", "*"): "bench.migrate rebuilds v1 stores, whose columns were fixed metric names",
    # a spec and provenance field (the training arithmetic, ganopt.precision) that shares its name
    # with the image problems' `precision` metric; never read as a metric in bench/
    ("*", "precision"): "the spec field of the training arithmetic, not the metric",
    # `bench perf` times the perf nets, which are ring8's (DESIGN.md, "Stacks"): its default problem
    ("cli.py", "ring8"): "the default --problems of `bench perf`",
    # the planner weighs a stack's work in ring8 run-steps (the unit its thresholds were measured in)
    ("plan.py", "ring8"): "the reference problem of the work estimate",
}


def _names() -> dict[str, str]:
    names = {name: "problem" for name in PROBLEMS}
    for problem in PROBLEMS.values():
        names.update({m.name: f"metric of {problem.name}" for m in declarations(problem) if m.name not in names})
    return names


def test_no_problem_or_metric_name_is_written_in_bench():
    names = _names()
    found = []
    for path in sorted(BENCH.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                if not {(path.name, node.value), (path.name, "*"), ("*", node.value)} & set(ALLOWED_NAMES):
                    found.append(f"{path.name}:{node.lineno}: {node.value!r} ({names[node.value]})")
    assert not found, "names in bench/ (read them from the declarations):\n" + "\n".join(found)


def test_the_check_sees_a_planted_name():
    """The instrument fires: a metric name in a bench-like module is found."""
    names = _names()
    tree = ast.parse('if "rotation_share" in curves: pass')
    assert any(isinstance(n, ast.Constant) and n.value in names for n in ast.walk(tree))


def _imports() -> dict[str, set[str]]:
    """bench module -> the bench modules it imports (at the top or inside a function)."""
    graph = {}
    for path in BENCH.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level == 1 or (node.module or "").startswith("bench")):
                module = (node.module or "").removeprefix("bench").lstrip(".")
                deps |= {a.name for a in node.names} if not module else {module.split(".")[0]}
            elif isinstance(node, ast.Import):
                deps |= {a.name.split(".")[1] for a in node.names if a.name.startswith("bench.")}
        graph[path.stem] = {d for d in deps if (BENCH / f"{d}.py").is_file()} - {path.stem}
    return graph


def test_scoring_is_below_its_readers_and_only_the_cli_writes_reports():
    graph = _imports()
    for reader in ("report", "compare", "presets", "results"):
        assert "scoring" in graph[reader], reader
    for low in ("scoring", "load", "schema", "store", "migrate"):
        assert not graph[low] & {"report", "compare", "presets", "results", "cli"}, low
    assert {m for m, deps in graph.items() if "report" in deps} == {"cli"}
    assert not graph["schema"] and "store" not in graph["migrate"]
