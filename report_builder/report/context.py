"""The one function that decides what templates see (documented in templates/README.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Collection

from report_builder.config import PROBES, Suite
from report_builder.errors import RenderError, ResultsError
from report_builder.report import plots
from report_builder.report.tables import group_tables, provenance_table, reproduction_table, sweep_table
from report_builder.results import store
from report_builder.analysis import gradients
from report_builder.analysis.views import ExperimentView, experiment_view
from report_builder.findings.changes import WhatChanged
from report_builder.findings.claims import Claim, settle
from report_builder.findings.comparison import Comparison, compare, speed_unranked, timed_alike
from report_builder.findings.speed import SpeedClaim, headline, speed_claims, summary
from report_builder.findings.conclusions import conclusions
from report_builder.findings.methods import methods
from report_builder.analysis.reproduction import reproductions as reproductions_of
from report_builder.analysis.statistics import LEVEL, MIN_SEEDS
from report_builder.analysis.timing import MIN_SPREAD_VALUES, SLOWDOWN_LIMIT, SPEEDUP_CONFIDENCE
from report_builder.analysis.sweeps import CONFIDENCE, SweepView, sweep_view
from report_builder.report.sweep_plots import sweep_figure

UNGROUPED = "_ungrouped"
"""The name of the section that collects experiments in no group: a user's group names follow
config.parse.NAME_PATTERN, which never starts with "_", so no user group can share it (its ids, figure files
and section number)."""


@dataclass(frozen=True)
class GroupView:
    name: str
    title: str
    description: str
    members: list[ExperimentView]
    baseline: ExperimentView | None
    comparisons: list[Comparison]
    figures: dict[str, plots.Figure]
    """"accuracy", "loss", "epoch_time" (2+ timed members), "probes:NAME" per probed member and
    "gradient_flow" (2+ probed members: each layer's final squared gradient)."""
    timing: bool = False
    """Declared a comparison of speed (`timing = true`)."""
    timed_alike: bool = True
    """Whether the members' seconds were measured alike (one device; all alone, or all in one stack)."""
    speed_unranked: str | None = "not_timing"
    """Why its members are not ranked by speed: "not_timing" (not declared a timing comparison), else one
    of the reasons of comparison.speed_unranked; None when they are."""

    @property
    def trained(self) -> list[ExperimentView]:
        """Members with at least one recorded epoch (not failed)."""
        return [m for m in self.members if m.epochs]

    @property
    def probed(self) -> list[ExperimentView]:
        return [m for m in self.members if m.probe_names and m.epochs]

    @property
    def speed_compared(self) -> bool:
        """Whether the report may rank these members by speed (comparison.speed_unranked)."""
        return self.speed_unranked is None


@dataclass(frozen=True)
class SweepSection:
    """A sweep's report section: its numbers (analysis/sweeps.py) and its figure."""

    view: SweepView
    figure: plots.Figure | None
    """None when no point has a value to draw."""


def _sweep_section(view: SweepView, figures: tuple[Path, Path | None, bool]) -> SweepSection:
    figures_dir, cache_dir, files = figures
    figure = sweep_figure(f"_sweep-{view.name}", view, figures_dir, cache_dir, files) if view.measured else None
    return SweepSection(view=view, figure=figure)


def load_views(suite: Suite, results_dir: Path, partial: bool = False) -> tuple[dict[str, ExperimentView], list[str]]:
    """Every declared experiment's current results, and one line per experiment that has none.

    Missing, partial, damaged or stale results are a RenderError, unless `partial` asks to render the rest.
    """
    views, problems = {}, []
    for name, exp in suite.experiments.items():
        how = f"run `{store.rerun_command(suite.path, results_dir, name)}`"
        path = store.result_path(results_dir, name)
        try:
            result = store.read_result(path)
        except FileNotFoundError:
            problems.append(f"{name}: no results in {results_dir} — {how}")
            continue
        except ResultsError as e:
            problems.append(f"{name}: {e} — {how} to re-run it")
            continue
        if result["status"] == "partial":
            problems.append(f"{name}: unfinished ({len(result['runs'])} of {exp.config.repeats} repeats) — {how} "
                            f"to finish it")
            continue
        if store.edited(result):
            problems.append(f"{name}: its numbers were edited after the run (the digest written with them does not "
                            f"match), so they are not shown as measured — {how} to measure them again")
            continue
        if result["status"] == "done":
            stale = store.stale_reasons(result, exp.config.identity())
            if stale:
                problems.append(f"{name}: results are out of date ({', '.join(stale)}) — {how}")
                continue
        views[name] = experiment_view({**result, "title": exp.title, "description": exp.description})
    if problems and not partial:
        raise RenderError(f"cannot render: {len(problems)} experiment(s) lack current results "
                          f"(`{store.rerun_command(suite.path, results_dir)}` runs everything that is missing; "
                          f"`render --partial` renders the rest)",
                          problems)
    return views, problems


def _distinct(values) -> list:
    seen = []
    for v in values:
        if v is not None and v not in seen:
            seen.append(v)
    return seen


def _repeats(provenance: dict[str, Any]) -> list[dict[str, Any]]:
    return provenance.get("repeat_provenance") or [provenance]


def environment(views: list[ExperimentView], timed: Collection[str] = ()) -> dict[str, Any]:
    """Where the numbers came from, and whether they came from more than one place; `timed` names the
    experiments of timing groups."""
    prov = [v.provenance for v in views if v.provenance]
    devices = _distinct(p.get("device_name") for p in prov)
    kinds = _distinct(p.get("device_kind") for p in prov)
    code_versions = _distinct(v.code_version for v in views)
    return {
        "devices": devices,
        "device_kinds": kinds,
        "any_cpu": "cpu" in kinds,
        "all_cpu": kinds == ["cpu"],
        "mixed_devices": len(devices) > 1,
        "cpu_experiments": [v.title for v in views if v.provenance.get("device_kind") == "cpu"],
        "code_versions": code_versions,
        "mixed_code": len(code_versions) > 1,
        "torch_versions": _distinct(p.get("torch_version") for p in prov),
        "cuda_versions": _distinct(p.get("cuda_version") for p in prov),
        "cpu_models": _distinct(p.get("cpu_model") for p in prov),
        # Each repeat's own count and reason where the results keep them per repeat, else the experiment's.
        "cpu_threads": _distinct(r.get("cpu_threads", p.get("cpu_threads")) for p in prov for r in _repeats(p)),
        "thread_reasons": _distinct(r.get("threads_reason") for p in prov for r in _repeats(p)),
        "threads_auto": "auto" in _distinct(p.get("threads_setting") for p in prov),
        "flush_denormal": _distinct(r.get("flush_denormal", p.get("flush_denormal")) for p in prov for r in _repeats(p)),
        "python_versions": _distinct(p.get("python_version") for p in prov),
        "platforms": _distinct(p.get("platform") for p in prov),
        "git_commits": _distinct((p.get("git_commit") or "")[:10] + (" (uncommitted changes)" if p.get("git_dirty") else "")
                                 for p in prov if p.get("git_commit")),
        "data_sources": _distinct(p.get("data_source") for p in prov),
        "train_examples": _distinct(p.get("train_examples") for p in prov),
        "test_examples": _distinct(p.get("test_examples") for p in prov),
        "first_started": min((p["started_at"] for p in prov if p.get("started_at")), default=None),
        "last_finished": max((p["finished_at"] for p in prov if p.get("finished_at")), default=None),
        "seeds": {v.name: v.seeds for v in views},
        "networks": _distinct(gradients.network_of(v) for v in views),
        "datasets": _distinct(gradients.dataset_of(v) for v in views),
        "engines": _distinct(v.timing.engine for v in views if v.timing),
        "stack_settings": _distinct(v.config.get("stack") for v in views),
        "stacked": [v for v in views if v.stacked_with > 1],
        "largest_stack": max((v.stacked_with for v in views), default=1),
        "timing_stacked": [v for v in views if v.stacked_with > 1 and v.name in timed],
        "disturbed": [{"experiment": v.title, **d} for v in views for d in v.disturbed_epochs],
        "slowed": [{"experiment": v.title, "run": s} for v in views for s in v.slowed],
    }


def _group_view(name: str, title: str, description: str, members: list[ExperimentView],
                baseline: ExperimentView | None, styles: dict[str, plots.Style],
                figures: tuple[Path, Path | None, bool],
                timing: bool = False, claims: dict[tuple[str, str], Claim] | None = None,
                speeds: list[SpeedClaim] | None = None) -> GroupView:
    trained = [m for m in members if m.epochs]
    figures_dir, cache_dir, files = figures
    figures: dict[str, plots.Figure] = {}
    if trained:
        figures["accuracy"] = plots.accuracy_figure(f"{name}-accuracy", trained, styles, figures_dir, cache_dir, files)
        figures["loss"] = plots.loss_figure(f"{name}-loss", trained, styles, figures_dir, cache_dir, files)
    if len([m for m in trained if m.mean_epoch_seconds]) > 1:
        figures["epoch_time"] = plots.epoch_time_figure(f"{name}-epoch-time", trained, styles, figures_dir, cache_dir, files)
    for member in trained:
        if member.probe_names:
            figures[f"probes:{member.name}"] = plots.probe_figure(f"{name}-{member.name}-probes", member, styles,
                                                                  figures_dir, cache_dir, files)
    if len([m for m in trained if m.probe_names]) > 1:
        figures["gradient_flow"] = plots.gradient_flow_figure(f"{name}-gradient-flow", [m for m in trained if m.probe_names],
                                                              styles, figures_dir, cache_dir, files)
    pairs = {frozenset(c.experiments): c for c in speeds or []}
    return GroupView(name=name, title=title, description=description, members=members, baseline=baseline,
                     comparisons=[compare(m, baseline, speed=pairs.get(frozenset((m.name, baseline.name))),
                                          claim=(claims or {}).get((m.name, baseline.name)))
                                  if baseline else compare(m, None) for m in members], figures=figures,
                     timing=timing, timed_alike=timed_alike(trained),
                     speed_unranked=speed_unranked(trained) if timing else "not_timing")


def build_context(suite: Suite, views: dict[str, ExperimentView], figures_dir: Path, cache_dir: Path | None = None,
                  missing: list[str] | None = None, figure_files: bool = True,
                  what_changed: WhatChanged | None = None, timing_rounds: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the templates may use besides filters and helpers; see templates/README.md. `timing_rounds`:
    the timing phase's stored samples (results/timing_file.read_rounds), where it ran."""
    styles = plots.styles_for(list(suite.experiments))
    figures = (figures_dir, cache_dir, figure_files)
    declared = [(g, [views[n] for n in g.experiments if n in views], views.get(g.baseline) if g.baseline else None)
                for g in suite.groups.values() if any(n in views for n in g.experiments)]
    # The families are fixed by the configuration before any number is looked at ([report] family).
    swept = [sweep_view(s, views) for s in suite.sweeps.values() if any(p.experiment in views for p in s.points)]
    claims, swept = settle([(g.name, members, baseline) for g, members, baseline in declared], swept, suite.family)
    by_pair = {(c.experiment, c.baseline): c for c in claims}
    ordered = list(views.values())
    reproductions = reproductions_of(ordered, suite.reference) if suite.reference is not None else []
    found = conclusions(suite, views, claims, reproductions)
    speeds = speed_claims(suite, timing_rounds, names=views)
    speeds_of = {g.name: [c for c in speeds if c.group == g.name] for g in suite.groups.values()}
    groups = [_group_view(g.name, g.title, g.description, members, baseline, styles, figures, timing=g.timing,
                          claims=by_pair, speeds=speeds_of[g.name])
              for g, members, baseline in declared]
    sweeps = [_sweep_section(s, figures) for s in swept]
    # A sweep's experiments are shown in its own section, not again among "Other experiments".
    grouped = ({n for g in suite.groups.values() for n in g.experiments}
               | {p.experiment for s in suite.sweeps.values() for p in s.points})
    ungrouped = [v for n, v in views.items() if n not in grouped]
    if ungrouped:
        groups.append(_group_view(UNGROUPED, "Other experiments", "", ungrouped, None, styles, figures))
    failed = [v for v in ordered if v.status == "failed"]
    diverged = [v for v in ordered if v.status == "diverged"]
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
        mark for fig in [f for g in groups for f in g.figures.values()] + [s.figure for s in sweeps if s.figure]
        for _, mark in fig.legend))}
    return {
        "swatches": swatches,
        "report": {"title": suite.title, "author": suite.author, "config_file": suite.path.name,
                   "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")},
        "environment": environment(ordered, {n for g in suite.groups.values() if g.timing for n in g.experiments}),
        "experiments": views,
        "groups": groups,
        "tables": {g.name: group_tables(g) for g in groups},
        "provenance_table": provenance_table(views.values()),
        "sweep_tables": {s.view.name: sweep_table(s.view, CONFIDENCE) for s in sweeps},
        "conclusions": found,
        "conclusions_of": {g.name: [c for c in found if c.group == g.name] for g in groups},
        "min_seeds": MIN_SEEDS,
        "what_changed": what_changed,
        "what_changed_shown": changed_shown,
        "sweeps": sweeps,
        "sweep_confidence": CONFIDENCE,
        "failed": failed,
        "missing": missing or [],
        "diverged": diverged,
        "reference": suite.reference,
        "reproductions": reproductions,
        "reproduction_of": {r.experiment.name: r for r in reproductions},
        "reproduction_table": reproduction_table(reproductions, suite.reference) if reproductions else None,
        "section_number": {sid: i + 1 for i, sid in enumerate(section_ids)},
        "probe_descriptions": PROBES,
        "noise_level": LEVEL,
        "slowdown_limit": SLOWDOWN_LIMIT,
        "speedup_confidence": SPEEDUP_CONFIDENCE,
        "min_spread_values": MIN_SPREAD_VALUES,
        "claims": claims,
        "speed_claims": speeds,
        "speed_claims_of": speeds_of,
        "speed_headline": {name: headline(of) for name, of in speeds_of.items()},
        "speed_between": lambda a, b: next((c for c in speeds if set(c.experiments) == {a, b}), None),
        "timing_rounds": summary(timing_rounds, suite),
        "methods": methods(claims, ordered, suite.reference, suite.family, reproductions),
    }
