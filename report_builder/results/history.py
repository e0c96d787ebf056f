"""The results a re-run replaces, kept in results/.history/NAME/ so that the report can say what changed.

Each entry is a small JSON file: the replaced result's measured part (status, identity, config, and per
run its seed and per-epoch losses, accuracy and seconds; no probes, no provenance), with when it was
replaced. Only a finished ("done") result that one with other numbers replaces is kept (seconds are
no numbers of a result: they move with the machine's load); an unfinished or hand-edited one is not.
Pruning rule: the KEEP newest entries of each experiment are kept, older ones deleted when a new one is
added.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from report_builder import paths

KEEP = 5
"""Entries kept per experiment (the newest)."""
EPOCH_KEYS = ("epoch", "train_loss", "test_loss", "test_accuracy", "train_seconds", "eval_seconds")
RUN_KEYS = ("repeat", "seed", "diverged_at", "stacked_with", "engine")


def slim(result: dict[str, Any]) -> dict[str, Any]:
    """What of a replaced result the history keeps: enough to rebuild its finals and its claims."""
    return {
        "format": result.get("format"), "experiment": result["experiment"], "status": result["status"],
        "identity": result["identity"], "config": result["config"], "digest": result.get("digest"),
        "replaced_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "runs": [{**{k: run[k] for k in RUN_KEYS if k in run},
                  "epochs": [{k: e.get(k) for k in EPOCH_KEYS} for e in run["epochs"]]} for run in result["runs"]],
    }


NUMBER_KEYS = ("epoch", "train_loss", "test_loss", "test_accuracy", "probes", "val_loss", "val_accuracy")
"""What an epoch measured. Its seconds are left out: they move with the machine's load, and the report
gives them as timings, never as a new result."""


def numbers(result: dict[str, Any]) -> list:
    """A result's measured numbers, seed by seed: what must differ for a replacement to be a change."""
    return [(run.get("seed"), run.get("diverged_at"), [{k: e.get(k) for k in NUMBER_KEYS} for e in run["epochs"]])
            for run in result.get("runs", [])]


def worth_keeping(old: dict[str, Any] | None, new: dict[str, Any], edited: bool) -> bool:
    """Whether `old`, about to be replaced by `new`, goes into the history: a finished result, not edited
    by hand, whose numbers differ from the new ones (identical numbers timed anew are no change)."""
    return (old is not None and old.get("status") == "done" and not edited
            and (new.get("status") != "done" or numbers(old) != numbers(new)))


def entries(results_dir: Path, name: str) -> list[Path]:
    """An experiment's history entries, oldest first: each name starts with its sequence number."""
    folder = paths.history_dir(results_dir, name)
    found = [p for p in folder.glob("*.json") if p.name.split("-", 1)[0].isdigit()] if folder.is_dir() else []
    return sorted(found, key=lambda p: int(p.name.split("-", 1)[0]))


def entry_path(results_dir: Path, entry: dict[str, Any]) -> Path:
    """The next entry's file, NUMBER-YYYYMMDDTHHMMSSZ.json: numbered, since two re-runs can share a second."""
    kept = entries(results_dir, entry["experiment"])
    number = int(kept[-1].name.split("-", 1)[0]) + 1 if kept else 1
    stamp = entry["replaced_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    return paths.history_file(results_dir, entry["experiment"], f"{number:06d}-{stamp}.json")


def prune(results_dir: Path, name: str) -> None:
    """Delete all but the KEEP newest entries of one experiment."""
    for old in entries(results_dir, name)[:-KEEP]:
        old.unlink(missing_ok=True)


def previous(results_dir: Path, name: str) -> dict[str, Any] | None:
    """The newest kept result of an experiment (the one its current result replaced); None if none is kept
    or it cannot be read."""
    for path in reversed(entries(results_dir, name)):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(entry, dict) and entry.get("experiment") == name and "runs" in entry:
            return entry
    return None
