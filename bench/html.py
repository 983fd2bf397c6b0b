"""One self-contained HTML report: tables and PNGs embedded as data URIs, no external URL,
no script: it opens anywhere, offline, and prints as a paper's appendix."""

from __future__ import annotations

import base64
import html
import json
from collections import Counter
from pathlib import Path

import pandas as pd

from . import files

STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2rem auto; max-width: 1200px;
       color: #222; line-height: 1.4; padding: 0 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.85rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.4rem 0; }
.notes { font-size: 0.85rem; color: #444; }
.verdict { background: #f4f8fb; border-left: 4px solid #0072B2; padding: 0.5rem 0.8rem; }
pre { background: #f7f7f7; padding: 0.6rem; font-size: 0.75rem; overflow-x: auto; }
"""


def _image(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(Path(path).stem)}" src="data:image/png;base64,{data}">'


def _table(table: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in table.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _provenance(provenance: dict[str, dict]) -> str:
    """The settings shared by the runs, and how many runs each distinct value covers."""
    keys = sorted({k for p in provenance.values() for k in p if k not in ("seed", "command", "metric_protocol")})
    lines = []
    for key in keys:
        counts = Counter(json.dumps(p.get(key)) for p in provenance.values())
        values = ", ".join(f"{v} ({n} runs)" if len(counts) > 1 else v for v, n in counts.most_common())
        lines.append(f"{key}: {values}")
    protocols = Counter(json.dumps(p.get("metric_protocol"), sort_keys=True) for p in provenance.values())
    lines += [f"metric protocol: {p} ({n} runs)" for p, n in protocols.most_common()]
    return "<pre>" + html.escape("\n".join(lines)) + "</pre>"


def write_html(path: Path, title: str, notes: list[str], reports: dict, figures: dict[str, list[Path]],
               provenance: dict[str, dict], literature: pd.DataFrame | None = None) -> Path:
    """`reports`: problem -> ProblemReport (its verdict and table), in the suite's order."""
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    for problem, report in reports.items():
        parts += [f"<h2>{html.escape(problem)}</h2>",
                  f"<p class=verdict><b>Verdict.</b> {html.escape(report.verdict.text())}</p>", _table(report.table)]
        parts += [_image(p) for p in figures.get(problem, [])]
    if literature is not None:
        parts += ["<h2>Beside the literature</h2>", _table(literature)]
    for section, paths in figures.items():
        if section not in reports:
            parts += [f"<h2>{html.escape(section)}</h2>"] + [_image(p) for p in paths]
    parts += ["<h2>Notes</h2>", "<ul class=notes>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"]
    parts += ["<h2>Provenance</h2>", _provenance(provenance), "</body></html>"]
    files.write_text(path, "\n".join(parts))
    return path
