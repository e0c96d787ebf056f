"""The one function that decides what templates see (documented in templates/README.md): the report's findings,
computed once (findings/report_findings.py), with their figures drawn and their tables built. Nothing here
judges a number: it formats what the findings hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from report_builder.analysis.statistics import LEVEL
from report_builder.analysis.sweeps import CONFIDENCE, SweepView
from report_builder.analysis.timing import SLOWDOWN_LIMIT, SPEEDUP_CONFIDENCE
from report_builder.config import PROBES, Suite
from report_builder.findings.changes import WhatChanged
from report_builder.findings.groups import GroupView
from report_builder.findings.report_findings import ReportFindings
from report_builder.report import plots
from report_builder.report.sweep_plots import sweep_figure
from report_builder.report.tables import group_tables, provenance_table, reproduction_table, sweep_table


@dataclass(frozen=True)
class SweepSection:
    """A sweep's report section: its numbers (analysis/sweeps.py) and its figure."""

    view: SweepView
    figure: plots.Figure | None
    """None when no point has a value to draw."""


FigureFiles = tuple[Path, Path | None, bool]
"""Where figures go: (figures_dir, cache_dir, whether to write their files)."""


def group_figures(group: GroupView, styles: dict[str, plots.Style], where: FigureFiles) -> dict[str, plots.Figure]:
    """"accuracy", "loss", "epoch_time" (2+ timed members), "probes:NAME" per probed member and "gradient_flow"
    (2+ probed members: each layer's final squared gradient)."""
    figures_dir, cache_dir, files = where
    name, trained = group.name, group.trained
    figures: dict[str, plots.Figure] = {}
    if trained:
        figures["accuracy"] = plots.accuracy_figure(f"{name}-accuracy", trained, styles, figures_dir, cache_dir, files)
        figures["loss"] = plots.loss_figure(f"{name}-loss", trained, styles, figures_dir, cache_dir, files)
    if len([m for m in trained if m.mean_epoch_seconds]) > 1:
        figures["epoch_time"] = plots.epoch_time_figure(f"{name}-epoch-time", trained, styles, figures_dir, cache_dir,
                                                        files)
    for member in group.probed:
        figures[f"probes:{member.name}"] = plots.probe_figure(f"{name}-{member.name}-probes", member, styles,
                                                              figures_dir, cache_dir, files)
    if len(group.probed) > 1:
        figures["gradient_flow"] = plots.gradient_flow_figure(f"{name}-gradient-flow", group.probed, styles,
                                                              figures_dir, cache_dir, files)
    return figures


def build_context(suite: Suite, found: ReportFindings, figures_dir: Path, cache_dir: Path | None = None,
                  missing: list[str] | None = None, figure_files: bool = True,
                  what_changed: WhatChanged | None = None) -> dict[str, Any]:
    """Everything the templates may use besides filters and helpers; see templates/README.md."""
    styles = plots.styles_for(list(suite.experiments))
    where = (figures_dir, cache_dir, figure_files)
    groups = found.groups
    figures = {g.name: group_figures(g, styles, where) for g in groups}
    sweeps = [SweepSection(s, sweep_figure(f"_sweep-{s.name}", s, *where) if s.measured else None)
              for s in found.sweeps]
    reproductions = found.reproductions
    failed, diverged = found.failed, found.diverged
    # "What changed" is left out when nothing did since the results each replaced; asked for with
    # --compare DIR, it is there, if only to say that nothing changed.
    changed_shown = what_changed is not None and (what_changed.source == "snapshot" or not what_changed.nothing)
    section_ids = (["environment", "methods"] + (["reproduction"] if reproductions else [])
                   + [f"group-{g.name}" for g in groups]
                   + [f"sweep-{s.view.name}" for s in sweeps] + (["failures"] if failed or diverged else [])
                   + (["what-changed"] if changed_shown else []) + ["provenance"])
    # Legend swatches as CSS classes: a background image is decoration (an artifact in the tagged PDF),
    # where an <img> would be a figure without text.
    swatches = {mark: f"swatch-{i}" for i, mark in enumerate(dict.fromkeys(
        mark for fig in [f for g in groups for f in figures[g.name].values()] + [s.figure for s in sweeps if s.figure]
        for _, mark in fig.legend))}
    tables = {g.name: group_tables(g) for g in groups}
    reproduction = reproduction_table(reproductions, found.reference) if reproductions else None
    provenance = provenance_table(found.experiments.values())
    sweep_tables = {s.view.name: sweep_table(s.view, CONFIDENCE) for s in sweeps}
    every_table = [*([reproduction] if reproduction else []), *(t for ts in tables.values() for t in ts),
                   *sweep_tables.values(), provenance]
    return {
        "swatches": swatches,
        "report": {"title": suite.title, "author": suite.author, "config_file": suite.path.name,
                   "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")},
        "findings": found,
        "environment": found.environment,
        "experiments": found.experiments,
        "groups": groups,
        "figures": figures,
        "tables": tables,
        "table_of": {t.key: t for t in every_table},
        "provenance_table": provenance,
        "sweep_tables": sweep_tables,
        "conclusions": found.conclusions,
        "conclusions_of": {g.name: found.conclusions_of(g.name) for g in groups},
        "what_changed": what_changed,
        "what_changed_shown": changed_shown,
        "sweeps": sweeps,
        "sweep_confidence": CONFIDENCE,
        "failed": failed,
        "missing": missing or [],
        "diverged": diverged,
        "reference": found.reference,
        "reproductions": reproductions,
        "reproduction_of": found.reproduction_of,
        "reproduction_table": reproduction,
        "section_number": {sid: i + 1 for i, sid in enumerate(section_ids)},
        "probe_descriptions": PROBES,
        "noise_level": LEVEL,
        "slowdown_limit": SLOWDOWN_LIMIT,
        "speedup_confidence": SPEEDUP_CONFIDENCE,
        "claims": found.claims,
        "methods": found.methods,
    }
