"""The one function that decides what templates see (documented in templates/README.md): the report's findings,
computed once (findings/report_findings.py), with their figures drawn and their tables built. Nothing here
judges a number: it lays out and formats what the findings hold."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from report_builder.analysis.statistics import LEVEL, MIN_SEEDS
from report_builder.analysis.sweeps import CONFIDENCE, SweepView
from report_builder.analysis.timing import (
    DRIFT_LIMIT,
    MIN_KEPT_ROUNDS,
    MIN_SPREAD_VALUES,
    SLOWDOWN_LIMIT,
    SPEEDUP_CONFIDENCE,
)
from report_builder.config import PROBES, Suite
from report_builder.findings.changes import WhatChanged
from report_builder.findings.groups import GroupView
from report_builder.findings.report_findings import ReportFindings
from report_builder.report import plots
from report_builder.report.glance_plot import glance_figure
from report_builder.report.sweep_plots import sweep_figure
from report_builder.report.tables import (
    epochs_table,
    group_tables,
    provenance_table,
    reference_seconds_table,
    reproduction_table,
    sweep_table,
)


@dataclass(frozen=True)
class SweepSection:
    """A sweep's report section: its numbers (analysis/sweeps.py) and its figure."""

    view: SweepView
    figure: plots.Figure | None
    """None when no point has a value to draw."""


FigureFiles = tuple[Path, Path | None, bool]
"""Where figures go: (figures_dir, cache_dir, whether to write their files)."""


def _curves_shown(group: GroupView, groups: list[GroupView]) -> bool:
    """A group's curves are drawn unless it has one trained member whose curves are drawn elsewhere: a probed
    member (its probe figure) or a member of a larger group (that group's curves)."""
    trained = group.trained
    if len(trained) != 1:
        return bool(trained)
    only = trained[0]
    elsewhere = any(only in g.trained and len(g.trained) > 1 for g in groups if g is not group)
    return not (only.probe_names or elsewhere)


def group_figures(group: GroupView, groups: list[GroupView], styles: dict[str, plots.Style],
                  where: FigureFiles) -> dict[str, plots.Figure]:
    """"curves" (test accuracy, training and test loss per epoch; see _curves_shown), "probes:NAME" per probed
    member and "gradient_flow" (2+ probed members: each layer's final squared gradient)."""
    figures_dir, cache_dir, files = where
    figures: dict[str, plots.Figure] = {}
    if _curves_shown(group, groups):
        figures["curves"] = plots.curves_figure(f"{group.name}-curves", group.trained, styles, figures_dir, cache_dir,
                                                files)
    for member in group.probed:
        figures[f"probes:{member.name}"] = plots.probe_figure(f"{group.name}-{member.name}-probes", member, styles,
                                                              figures_dir, cache_dir, files)
    if len(group.probed) > 1:
        figures["gradient_flow"] = plots.gradient_flow_figure(f"{group.name}-gradient-flow", group.probed, styles,
                                                              figures_dir, cache_dir, files)
    return figures


def new_descriptions(found: ReportFindings) -> dict[str, list]:
    """For each group, the members with a description that no section before it (in the reader's order) showed:
    each description is printed once."""
    shown: set[str] = set()
    out = {}
    by_id = {f"group-{g.name}": g for g in found.groups}
    for section in found.order:
        group = by_id.get(section)
        if group is None:
            continue
        out[group.name] = [m for m in group.members if m.description and m.name not in shown]
        shown |= {m.name for m in group.members}
    return out


def seeds_summary(found: ReportFindings) -> str:
    """The seeds every experiment ran, said once: "0, 1, 2 (dataloader: 0)"."""
    lists = {name: ", ".join(str(s) for s in seeds) for name, seeds in found.environment["seeds"].items()}
    if not lists:
        return ""
    common = Counter(lists.values()).most_common(1)[0][0]
    others = [f"{name}: {seeds}" for name, seeds in lists.items() if seeds != common]
    return common + (f" ({'; '.join(others)})" if others else "")


def build_context(suite: Suite, found: ReportFindings, figures_dir: Path, cache_dir: Path | None = None,
                  missing: list[str] | None = None, figure_files: bool = True,
                  what_changed: WhatChanged | None = None,
                  verdict_words: Callable[[str], str] = str) -> dict[str, Any]:
    """Everything the templates may use besides filters and helpers; see templates/README.md. `verdict_words`
    words a verdict code in a table cell (templates/claims/verdict.txt.j2's cell)."""
    styles = plots.styles_for(list(suite.experiments))
    where = (figures_dir, cache_dir, figure_files)
    groups = found.groups
    figures = {g.name: group_figures(g, groups, styles, where) for g in groups}
    sweeps = [SweepSection(s, sweep_figure(f"_sweep-{s.name}", s, *where) if s.measured else None)
              for s in found.sweeps]
    failed, diverged = found.failed, found.diverged
    # "What changed" is left out when nothing did since the results each replaced; asked for with
    # --compare DIR, it is there, if only to say that nothing changed.
    changed_shown = what_changed is not None and (what_changed.source == "snapshot" or not what_changed.nothing)
    section_ids = (found.order + (["failures"] if failed or diverged else []) + ["methods", "environment"]
                   + (["what-changed"] if changed_shown else []) + ["appendix"])
    group_of = {f"group-{g.name}": g for g in groups}
    sweep_of = {f"sweep-{s.view.name}": s for s in sweeps}
    titles = {**{k: g.title for k, g in group_of.items()}, **{k: s.view.title for k, s in sweep_of.items()}}
    if found.reference is not None:
        titles["reproduction"] = f"Reproduction of the {found.reference.label}"
    # Legend swatches as CSS classes: a background image is decoration (an artifact in the tagged PDF),
    # where an <img> would be a figure without text.
    swatches = {mark: f"swatch-{i}" for i, mark in enumerate(dict.fromkeys(
        mark for fig in [f for g in groups for f in figures[g.name].values()] + [s.figure for s in sweeps if s.figure]
        for _, mark in fig.legend))}
    tables = {g.name: group_tables(g, verdict_words) for g in groups}
    reproductions, reference = found.reproductions, found.reference
    reproduction = reproduction_table(reproductions, reference, verdict_words) if reproductions else None
    seconds = reference_seconds_table(reproductions, reference) if reproductions else None
    epochs = epochs_table(found.experiments.values())
    provenance = provenance_table(found.experiments.values())
    sweep_tables = {s.view.name: sweep_table(s.view, CONFIDENCE, verdict_words) for s in sweeps}
    every_table = [*([reproduction] if reproduction else []), *(t for ts in tables.values() for t in ts),
                   *sweep_tables.values(), epochs, *([seconds] if seconds else []), provenance]
    return {
        "swatches": swatches,
        "report": {"title": suite.title, "author": suite.author, "config_file": suite.path.name,
                   "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")},
        "findings": found,
        "environment": found.environment,
        "seeds_summary": seeds_summary(found),
        "experiments": found.experiments,
        "groups": groups,
        "group_of": group_of,
        "sweep_of": sweep_of,
        "section_title": titles,
        "figures": figures,
        "figures_written": figure_files,
        "glance": glance_figure(found.glance, figures_dir, cache_dir, figure_files),
        "new_descriptions": new_descriptions(found),
        "tables": tables,
        "table_of": {t.key: t for t in every_table},
        "report_tables": every_table,
        "epochs_table": epochs,
        "provenance_table": provenance,
        "reproduction_table": reproduction,
        "reference_seconds_table": seconds,
        "sweep_tables": sweep_tables,
        "conclusions": found.conclusions,
        "what_changed": what_changed,
        "what_changed_shown": changed_shown,
        "sweeps": sweeps,
        "sweep_confidence": CONFIDENCE,
        "failed": failed,
        "missing": missing or [],
        "diverged": diverged,
        "reference": reference,
        "reproductions": reproductions,
        "reproduction_of": found.reproduction_of,
        "section_number": {sid: i + 1 for i, sid in enumerate(section_ids)},
        "probe_descriptions": PROBES,
        "noise_level": LEVEL,
        "slowdown_limit": SLOWDOWN_LIMIT,
        "speedup_confidence": SPEEDUP_CONFIDENCE,
        "min_seeds": MIN_SEEDS,
        "min_spread_values": MIN_SPREAD_VALUES,
        "min_kept_rounds": MIN_KEPT_ROUNDS,
        "drift_limit": DRIFT_LIMIT,
        "claims": found.claims,
        "speed_claims": found.speed_claims,
        "speed_claims_of": {g.name: list(g.speed_claims) for g in groups},
        "speed_headline": {g.name: g.speed for g in groups},
        "speed_between": lambda a, b: next((c for c in found.speed_claims if set(c.experiments) == {a, b}), None),
        "timing_rounds": found.timing,
        "methods": found.methods,
    }
