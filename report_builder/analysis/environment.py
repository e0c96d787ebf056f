"""Where the numbers came from: the devices, versions, code, data and seeds behind the views, each distinct
value once, and whether they came from more than one place."""

from __future__ import annotations

from typing import Any, Collection

from report_builder.analysis import gradients
from report_builder.analysis.views import ExperimentView


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
