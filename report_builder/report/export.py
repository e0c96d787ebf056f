"""The report's exports, written into a render's version directory beside report.html and published with it
(publish.py): report.md (GitHub-flavoured Markdown), tables/*.tex (LaTeX booktabs tables) with a README,
and claims.json (every claim with its sentence; schema in docs/claims-schema.json). The figures' PDFs are
drawn with their SVGs (plots.py).

Each is rendered by a template under templates/exports/ from the same context as the HTML; the tables come
from tables.py, so every format states the same numbers with the same digits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2

from report_builder import paths
from report_builder.report.filters import Numbering
from report_builder.results import store

MARKDOWN_TEMPLATE = "exports/report.md.j2"
TABLE_TEMPLATE = "exports/table.tex.j2"
TABLES_README_TEMPLATE = "exports/tables-README.txt.j2"
TABLES_DIR = "tables"
SENTENCE_TEMPLATE = "claims/sentence.txt.j2"
SPEED_TEMPLATE = "claims/speed.txt.j2"
CLAIMS_FORMAT = 1


def write_markdown(env: jinja2.Environment, context: dict[str, Any], version_dir: Path) -> Path:
    """version_dir/report.md: the report with its tables as pipe tables and figures as relative links."""
    template = env.get_template(MARKDOWN_TEMPLATE)
    # Two passes, as for the HTML (render.render_html): the sections' own templates number and refer to tables
    # and figures, and a reference may come before what it names.
    first = Numbering()
    template.render(**context, numbering=first, ref=first.ref)
    final = Numbering(known=first.assigned)
    path = paths.build_file(version_dir, "report.md")
    store.write_atomic(path, template.render(**context, numbering=final, ref=final.ref) + "\n")
    return path


def report_tables(context: dict[str, Any]) -> list:
    """Every table of the report (report/tables.py, built once by context.build_context)."""
    return list(context["report_tables"])


def write_latex_tables(env: jinja2.Environment, context: dict[str, Any], version_dir: Path) -> list[Path]:
    """version_dir/tables/NAME.tex for every table of the report, and the README saying how to include them.

    File names are the tables' keys, whose parts are group and experiment names: paths.inside refuses any
    that would leave the folder."""
    tables_dir = paths.build_file(version_dir, TABLES_DIR)
    tables_dir.mkdir(exist_ok=True)
    template = env.get_template(TABLE_TEMPLATE)
    written = []
    for table in report_tables(context):
        path = paths.inside(tables_dir, f"{table.name}.tex")
        store.write_atomic(path, template.render(**context, table=table) + "\n")
        written.append(path)
    readme = env.get_template(TABLES_README_TEMPLATE).render(**context, files=[p.name for p in written])
    store.write_atomic(paths.inside(tables_dir, "README"), readme + "\n")
    return written


def claim_record(claim, sentence: str) -> dict[str, Any]:
    """One claim as claims.json holds it (docs/claims-schema.json)."""
    return {"id": claim.id, "kind": claim.kind, "group": claim.group, "section": claim.section,
            "experiments": list(claim.experiments), "metric": claim.metric,
            "values": dict(zip(claim.experiments, claim.values)), "difference": claim.difference,
            "seeds": list(claim.seeds), "interval": list(claim.interval) if claim.interval else None,
            "test": claim.test, "p": claim.p, "adjusted_p": claim.adjusted_p, "family": claim.family,
            "family_size": claim.family_size, "wins": claim.wins, "detectable": claim.detectable, "level": claim.level,
            "verdict": claim.verdict, "decimals": claim.decimals, "value_decimals": claim.value_decimals,
            "seeds_and_images": list(claim.seeds_and_images) if claim.seeds_and_images else None,
            "check": claim.check, "equivalence_p": claim.equivalence_p,
            "equivalence_adjusted_p": claim.equivalence_adjusted_p, "margin_points": claim.margin_points,
            "sentence": " ".join(sentence.split())}


def speed_record(claim, sentence: str) -> dict[str, Any]:
    """One speed claim (findings/speed.py) as claims.json holds it (docs/claims-schema.json, kind "speedup")."""
    every = claim.all_rounds
    return {"id": claim.id, "kind": claim.kind, "group": claim.group, "section": claim.section,
            "experiments": list(claim.experiments), "ratio": claim.ratio,
            "interval": list(claim.interval) if claim.interval else None, "rounds": claim.rounds,
            "withheld": claim.withheld, "reason": claim.reason, "confidence": claim.confidence,
            "rounds_run": claim.rounds_run, "excluded_rounds": list(claim.excluded),
            "all_rounds": None if every is None else {
                "ratio": every.estimate, "interval": None if every.low is None else [every.low, every.high],
                "rounds": every.rounds},
            "cpu_ratio": claim.cpu_ratio, "sentence": " ".join(sentence.split())}


def write_claims(env: jinja2.Environment, context: dict[str, Any], version_dir: Path) -> Path:
    """version_dir/claims.json: every claim the report computes, each with its sentence as rendered."""
    sentence = env.get_template(SENTENCE_TEMPLATE).make_module(context).sentence
    speed = env.get_template(SPEED_TEMPLATE).make_module(context).speed_sentence
    document = {"format": CLAIMS_FORMAT, "report": context["report"]["title"],
                "generated_at": context["report"]["generated_at"],
                "claims": [claim_record(c, str(sentence(c))) for c in context["conclusions"]]
                + [speed_record(c, str(speed(c, context["timing_rounds"]))) for c in context["speed_claims"]]}
    path = paths.build_file(version_dir, "claims.json")
    store.write_atomic(path, json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    return path
