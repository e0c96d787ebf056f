"""Repeat files: each task writes one per member repeat, results/.repeats/NAME/repeat-K.json, atomically;
the driver, holding the results lock, merges an experiment's repeats into results/NAME.json.

A repeat file outlives an interruption: the next run reuses the finished ones whose identity still holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from report_builder import paths
from report_builder.results import store


def read_repeat(results_dir: Path, name: str, repeat: int) -> dict[str, Any] | None:
    """A finished (or failed) repeat file, or None when absent or unreadable (it is then run again)."""
    try:
        return json.loads(paths.repeat_file(results_dir, name, repeat).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_repeat(results_dir: Path, doc: dict[str, Any]) -> dict[str, Any]:
    store.write_atomic(paths.repeat_file(results_dir, doc["experiment"], doc["repeat"]),
                       json.dumps(doc, allow_nan=False) + "\n")
    return doc


def clear_repeats(results_dir: Path, name: str) -> None:
    folder = paths.repeats_dir(results_dir, name)
    if folder.is_dir():
        for path in folder.iterdir():
            path.unlink(missing_ok=True)
        folder.rmdir()
    try:
        folder.parent.rmdir()  # only when no other experiment has repeats in flight
    except OSError:
        pass


def merge(header: dict[str, Any], repeats: list[dict[str, Any]], wanted: int) -> dict[str, Any]:
    """An experiment's results document from its repeat documents (status partial until all are in)."""
    repeats = sorted(repeats, key=lambda d: d["repeat"])
    failed = [d for d in repeats if d["status"] == "failed"]
    provs = [d["provenance"] for d in repeats]
    body = {
        "runs": [d["run"] for d in repeats if d["status"] == "done"],
        "status": "failed" if failed else ("done" if len(repeats) == wanted else "partial"),
        "error": failed[0]["error"] if failed else None,
        "provenance": {
            **provs[0],
            "started_at": min(p["started_at"] for p in provs),
            "finished_at": max(p["finished_at"] for p in provs),
            "wall_seconds": sum(p["wall_seconds"] for p in provs),
            "repeat_provenance": [{k: p.get(k) for k in ("device_name", "hostname", "cuda_visible_devices",
                                                         "slurm_job_id", "wall_seconds", "cpu_threads",
                                                         "threads_reason", "flush_denormal")} for p in provs],
        },
    }
    if failed and failed[0].get("log"):
        body["log"] = failed[0]["log"]
    # A repeat that ran on another kind of device than planned makes that the experiment's identity.
    identity = next((d["identity"] for d in repeats if d.get("identity")), header["identity"])
    return {**header, "identity": identity, **body}


def split(result: dict[str, Any], identity: dict[str, Any], first_seed: int, seeds: list[int]) -> list[dict[str, Any]]:
    """The repeat documents of a finished result's runs of `seeds`, numbered from `first_seed`, so that a
    result is reused seed by seed: merged with new repeats, they make the result for the declared seeds."""
    provenance = {k: v for k, v in result["provenance"].items() if k != "repeat_provenance"}
    runs = result["runs"]
    per_run = result["provenance"].get("repeat_provenance") or []
    if len(per_run) != len(runs):  # written without one entry per run: share the whole out
        per_run = [{"wall_seconds": provenance.get("wall_seconds", 0.0) / max(len(runs), 1)}] * len(runs)
    docs = []
    for run, own in zip(runs, per_run):
        if run.get("seed") in seeds:
            repeat = run["seed"] - first_seed
            docs.append({"experiment": result["experiment"], "repeat": repeat, "identity": identity,
                         "status": "done", "run": {**run, "repeat": repeat}, "error": None,
                         "provenance": {**provenance, **{k: v for k, v in own.items() if v is not None}}})
    return docs
