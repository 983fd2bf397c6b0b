"""Rewrite the generated tables of the documentation from the data they come from.

    python tools/docs_tables.py            # rewrite every generated region in README.md and docs/*.md
    python tools/docs_tables.py --check    # exit 1, naming each stale region, when a page is not current

A generated region sits between two markers:

    <!-- generated: tuned-rates ring8 -->
    ... (written by this tool: do not edit by hand)
    <!-- end generated -->

Regions:
  tuned-rates PROBLEM         the preset learning rates tuned on PROBLEM, the chosen trial's score and
                              every trial (ganopt/assets/tuned_lr.json)
  tuned-rates-games A,B       the tuned rates of several problems side by side, without the trials
  tuned-provenance            per problem: the tuning suite, trials, seeds, budget, schedule, date, commit
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tool runs from a checkout: its ganopt, not another installed one
from ganopt.tuned import range_edge  # noqa: E402
TUNED_PATH = ROOT / "ganopt" / "assets" / "tuned_lr.json"

BEGIN = re.compile(r"<!-- generated: (?P<name>[\w-]+)(?: (?P<arg>[^>]*?))? -->")
END = "<!-- end generated -->"

# the column header of each primary metric, and how its scores are written
METRIC_LABELS = {"mode_overlap": "mode overlap", "coverage": "coverage",
                 "modes_covered": "modes covered (precise)", "dist_to_eq": "distance"}
METRIC_FORMATS = {"mode_overlap": "{:.2f}", "coverage": "{:.3f}", "modes_covered": "{:.1f}",
                  "dist_to_eq": "{:.2g}"}
# a problem's name in a table header, where the entry says more than its name
PROBLEM_LABELS = {"mnist": "mnist (MLP pair)", "stacked-mnist": "stacked-mnist (MLP 256×256)"}


def load_table(path: Path = TUNED_PATH) -> dict[str, Any]:
    return json.loads(path.read_text())["problems"]


def preset_order() -> tuple[str, ...]:
    """The built-in presets in the order `bench list` shows them; () when ganopt cannot be imported."""
    try:
        sys.path.insert(0, str(ROOT))
        from ganopt.strategies import PRESETS
    except Exception:  # noqa: BLE001 - the tables still render, in the data's order
        return ()
    finally:
        sys.path.pop(0)
    return PRESETS


def _ordered(names, order: tuple[str, ...]) -> list[str]:
    rank = {name: i for i, name in enumerate(order)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), list(names).index(n)))


def _lr(x: float) -> str:
    return f"{float(x):.3g}"


def _score(metric: str, x: float | str) -> str:
    if isinstance(x, str):  # "inf" / "-inf"
        return x
    return METRIC_FORMATS.get(metric, "{:.3g}").format(float(x))


EDGE_MARKS = {"lowest": " ⇤", "highest": " ⇥"}  # the chosen rate is the smallest / largest tried


def _chosen(entry: dict[str, Any]) -> str:
    flag = "" if entry["reached_target"] else " ✗"
    return _score(entry["metric"], entry["score"]) + flag


def _rates(entry: dict[str, Any]) -> str:
    return f"{_lr(entry['lr_g'])} / {_lr(entry['lr_d'])}{EDGE_MARKS.get(range_edge(entry), '')}"


def _trial(entry: dict[str, Any], trial: dict[str, Any]) -> str:
    lr = _lr(trial["lr_g"])
    if _lr(trial["lr_d"]) != lr:
        lr += "/" + _lr(trial["lr_d"])
    text = f"{lr} → {_score(entry['metric'], trial['score'])}"
    diverged, runs = trial.get("diverged", 0), entry.get("runs_per_trial", 0)
    if diverged:
        text += " (diverged)" if diverged >= runs else f" ({diverged} of {runs} diverged)"
    return text


def tuned_rates(table: dict[str, Any], arg: str, order: tuple[str, ...]) -> list[str]:
    problem = arg.strip()
    if problem not in table:
        raise ValueError(f"tuned-rates: no problem {problem!r} in {TUNED_PATH.name}")
    strategies = table[problem]["strategies"]
    metrics = {e["metric"] for e in strategies.values()}
    metric = metrics.pop() if len(metrics) == 1 else "score"
    label = METRIC_LABELS.get(metric, metric)
    lines = [f"| strategy | {PROBLEM_LABELS.get(problem, problem)} lr_G / lr_D | {label} "
             f"| every trial: lr_G (/ lr_D) → {label} |",
             "| --- | --- | --- | --- |"]
    for name in _ordered(list(strategies), order):
        e = strategies[name]
        trials = ", ".join(_trial(e, t) for t in sorted(e["trials"], key=lambda t: (t["lr_g"], t["lr_d"])))
        lines.append(f"| `{name}` | {_rates(e)} | {_chosen(e)} | {trials} |")
    return lines


def tuned_rates_side_by_side(table: dict[str, Any], arg: str, order: tuple[str, ...]) -> list[str]:
    problems = [p.strip() for p in arg.split(",") if p.strip()]
    missing = [p for p in problems if p not in table]
    if not problems or missing:
        raise ValueError(f"tuned-rates-games: no problem {missing or arg!r} in {TUNED_PATH.name}")
    header, rule = ["strategy"], ["---"]
    for p in problems:
        metric = next(iter(table[p]["strategies"].values()))["metric"]
        header += [f"{PROBLEM_LABELS.get(p, p)} lr_G / lr_D", METRIC_LABELS.get(metric, metric)]
        rule += ["---", "---"]
    names: list[str] = []
    for p in problems:
        names += [n for n in table[p]["strategies"] if n not in names]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    for name in _ordered(names, order):
        cells = [f"`{name}`"]
        for p in problems:
            e = table[p]["strategies"].get(name)
            cells += [_rates(e), _chosen(e)] if e else ["–", "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def tuned_provenance(table: dict[str, Any], arg: str, order: tuple[str, ...]) -> list[str]:
    lines = ["| problem | suite | presets | trials × tuning seeds | rates tried (× default) | steps | schedule "
             "| tuned in parts | dates | first commit |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for problem, entry in table.items():
        pv = entry["provenance"]
        seeds = pv.get("tune_seeds", [])
        schedule = pv.get("lr_schedule", "constant")
        if isinstance(schedule, list):
            schedule = ", ".join(schedule)
        low, high = pv.get("lr_range", ["–", "–"])
        updates = pv.get("updates", [])
        dates = sorted({d for d in [pv.get("date"), *(u.get("date") for u in updates)] if d})
        when = dates[0] if len(dates) == 1 else f"{dates[0]} – {dates[-1]}" if dates else "–"
        commit = str(pv.get("git_commit") or "–")[:10]
        lines.append(f"| `{problem}` | `{pv.get('suite', '–')}` | {len(entry['strategies'])} "
                     f"| {pv.get('trials', '–')} × {len(seeds)} | {low:g}–{high:g} | {pv.get('steps', '–'):,} "
                     f"| `{schedule}` | {1 + len(updates)} | {when} | {commit} |")
    return lines


GENERATORS: dict[str, Callable[[dict[str, Any], str, tuple[str, ...]], list[str]]] = {
    "tuned-rates": tuned_rates,
    "tuned-rates-games": tuned_rates_side_by_side,
    "tuned-provenance": tuned_provenance,
}


def pages(root: Path = ROOT) -> list[Path]:
    return [p for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if p.is_file()]


def render(text: str, table: dict[str, Any], order: tuple[str, ...], where: str = "page") -> tuple[str, list[str]]:
    """(the text with every generated region rewritten, the names of the regions that changed)."""
    lines = text.split("\n")
    out: list[str] = []
    changed: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        match = BEGIN.search(line)
        i += 1
        if not match:
            continue
        name, arg = match["name"], (match["arg"] or "").strip()
        region = f"{name} {arg}".strip()
        if name not in GENERATORS:
            raise ValueError(f"{where}: unknown generated region {region!r} (known: {', '.join(GENERATORS)})")
        try:
            end = lines.index(END, i)
        except ValueError:
            raise ValueError(f"{where}: region {region!r} has no closing {END}") from None
        if any(BEGIN.search(x) for x in lines[i:end]):
            raise ValueError(f"{where}: region {region!r} holds another region's marker before its {END}")
        new = GENERATORS[name](table, arg, order)
        if lines[i:end] != new:
            changed.append(region)
        out += new
        out.append(END)
        i = end + 1
    return "\n".join(out), changed


def check(root: Path = ROOT, table_path: Path = TUNED_PATH) -> list[str]:
    """'PAGE: REGION' for every generated region that differs from what this tool would write."""
    table, order = load_table(table_path), preset_order()
    stale = []
    for page in pages(root):
        _, changed = render(page.read_text(), table, order, page.relative_to(root).as_posix())
        stale += [f"{page.relative_to(root).as_posix()}: {region}" for region in changed]
    return stale


def write(root: Path = ROOT, table_path: Path = TUNED_PATH) -> list[str]:
    table, order = load_table(table_path), preset_order()
    written = []
    for page in pages(root):
        text = page.read_text()
        new, changed = render(text, table, order, page.relative_to(root).as_posix())
        if changed:
            page.write_text(new)
            written += [f"{page.relative_to(root).as_posix()}: {region}" for region in changed]
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a region is stale")
    args = parser.parse_args(argv)
    try:
        regions = check() if args.check else write()
    except ValueError as e:
        print(f"docs_tables: {e}", file=sys.stderr)
        return 2
    if args.check:
        for region in regions:
            print(f"stale: {region} (run python tools/docs_tables.py)")
        return 1 if regions else 0
    for region in regions:
        print(f"rewrote {region}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
