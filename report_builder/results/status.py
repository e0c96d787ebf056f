"""What `list` shows: each declared experiment, what it changes, and the state of its results."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from report_builder.config import Suite, TrainConfig
from report_builder.errors import ResultsError
from report_builder.results import history, store
from report_builder.results.identity import timed_experiments, trained_alone

_DEFAULTS = TrainConfig()


def overrides(cfg: TrainConfig) -> str:
    """The settings that differ from the built-in defaults, e.g. "lr=0.01, optimizer=sgd"."""
    parts = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if value != getattr(_DEFAULTS, f.name):
            parts.append(f"{f.name}={list(value) if isinstance(value, tuple) else value}")
    return ", ".join(parts) or "defaults"


def result_state(results_dir: Path, name: str, cfg: TrainConfig, timed: bool = False) -> str:
    """not run / failed / partial / damaged / edited / stale (config changed, or trained in a stack where a
    timing group needs it alone) / diverged / done — judged from the file alone."""
    try:
        result = store.read_result(store.result_path(results_dir, name))
    except FileNotFoundError:
        return "not run"
    except ResultsError:
        return "damaged results file"
    if store.edited(result):
        return "edited after the run"
    if result["status"] != "done":
        return result["status"]
    stale = store.stale_reasons(result, cfg.identity())
    if timed and not all(trained_alone(run) for run in result["runs"]):
        stale.append("trained in a stack, a timing group needs it alone")
    if stale:
        return f"stale ({', '.join(stale)})"
    return "diverged" if any(r.get("diverged_at") for r in result["runs"]) else "done"


def describe(suite: Suite, results_dir: Path) -> list[str]:
    width = max(len(n) for n in suite.experiments)
    timed = timed_experiments(suite)
    lines = []
    for name, exp in suite.experiments.items():
        kept = history.entries(results_dir, name)
        previous = f"  [{len(kept)} previous result{'s' if len(kept) > 1 else ''} kept]" if kept else ""
        lines.append(f"{name:<{width}}  {result_state(results_dir, name, exp.config, name in timed):<12}  "
                     f"{exp.title} — {overrides(exp.config)}{previous}")
    for group in suite.groups.values():
        lines.append(f"group {group.name}: {', '.join(group.experiments)}")
    for sweep in suite.sweeps.values():
        lines.append(f"sweep {sweep.name}: " + ", ".join(f"{p.label} ({p.experiment})" for p in sweep.points))
    return lines
