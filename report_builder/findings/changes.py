"""What changed: each experiment's current result against the one it replaced (results/.history/) or
against a snapshot of results (`--compare DIR`): why it differs (the re-run reasons of identity.py), which
final numbers moved and whether by more than seed noise, and which claims' verdicts flipped.

An experiment counts as changed when its settings, code, data, device or seeds differ, or a final number
moved; seconds alone are no change (they vary with the machine's load).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from report_builder.config import Suite
from report_builder.errors import ResultsError
from report_builder.results import history, store
from report_builder.analysis.views import ExperimentView, experiment_view
from report_builder.findings.conclusions import Conclusion, suite_claims
from report_builder.results.identity import changes, seed_changes
from report_builder.analysis.statistics import Difference, difference

MOVED_METRICS = ("test_accuracy", "test_loss")


@dataclass(frozen=True)
class Move:
    """One final metric of one experiment, before and after, and the change over the seeds both have."""

    metric: str
    before: float | None
    after: float | None
    """Final means over each result's own seeds."""
    change: Difference | None
    """after − before over shared seeds, with its test against seed noise; None with no shared seed."""

    @property
    def moved(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class ExperimentChange:
    name: str
    title: str
    reasons: list[str]
    """What differs in what decides the numbers (identity.changes, seed_changes); empty: the same settings."""
    moves: list[Move]
    replaced_at: str | None
    """When the previous result was replaced (history), None for a snapshot."""


@dataclass(frozen=True)
class Flip:
    """A claim whose conclusion (conclusions.Conclusion.conclusion) differs between the previous results and these."""

    before: Conclusion
    after: Conclusion


@dataclass(frozen=True)
class WhatChanged:
    source: str
    """"history" (each result against the one it replaced) or "snapshot" (against --compare DIR)."""
    snapshot_dir: str | None
    experiments: list[ExperimentChange]
    flips: list[Flip]
    compared: list[str]
    """The experiments that have a previous result (history) or are in the snapshot too."""
    only_theirs: list[str]
    """Snapshot experiments this report does not have."""

    @property
    def nothing(self) -> bool:
        return not self.experiments and not self.flips


def _move(metric: str, before: ExperimentView, after: ExperimentView) -> Move:
    """The one place a moved number is judged against seed noise."""
    def final(view):
        stat = view.final.stat(metric) if view.final else None
        return stat.mean if stat else None

    change = difference({s: m[metric] for s, m in after.final_by_seed.items()},
                        {s: m[metric] for s, m in before.final_by_seed.items()})
    return Move(metric, final(before), final(after), change)


def _view(doc: dict[str, Any], title: str) -> ExperimentView:
    return experiment_view({**doc, "title": title, "description": ""})


def _experiment_change(name: str, title: str, before: dict[str, Any], after: dict[str, Any]) -> ExperimentChange | None:
    reasons = changes(before["identity"], after["identity"]) + seed_changes(before["config"], after["config"])
    moves = [_move(metric, _view(before, title), _view(after, title)) for metric in MOVED_METRICS]
    if not reasons and not any(m.moved for m in moves):
        return None
    return ExperimentChange(name, title, reasons, moves, before.get("replaced_at"))


def _current(results_dir: Path, names) -> dict[str, dict[str, Any]]:
    docs = {}
    for name in names:
        try:
            docs[name] = store.read_result(store.result_path(results_dir, name))
        except (FileNotFoundError, ResultsError):
            continue
    return docs


def check_snapshot_dir(snapshot_dir: Path) -> None:
    """A missing --compare folder, or a file, as one line (before a `report` trains anything)."""
    if not snapshot_dir.is_dir():
        raise ResultsError(f"--compare {snapshot_dir}: no such folder" if not snapshot_dir.exists()
                           else f"--compare {snapshot_dir}: not a folder (it is a file)")


def read_snapshot(snapshot_dir: Path, ours: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The finished results in a snapshot folder, by experiment. A ResultsError (one line, exit 2) when the
    folder is missing, holds no results files, or is from another configuration entirely: none of its
    results was trained on a dataset any of ours was."""
    check_snapshot_dir(snapshot_dir)
    theirs = {}
    for path in sorted(snapshot_dir.glob("*.json")):
        try:
            doc = store.read_result(path)
        except ResultsError:
            continue
        if doc["status"] == "done" and not store.edited(doc):
            theirs[doc["experiment"]] = doc
    if not theirs:
        raise ResultsError(f"--compare {snapshot_dir}: not a results folder (no finished results file NAME.json "
                           f"written by report_builder in it)")
    datasets = {d["identity"].get("data_fingerprint") for d in ours.values()}
    if ours and not datasets & {d["identity"].get("data_fingerprint") for d in theirs.values()}:
        raise ResultsError(f"--compare {snapshot_dir}: results of another configuration entirely (none was "
                           f"trained on the dataset of this report's results)")
    return theirs


def what_changed(suite: Suite, results_dir: Path, views: dict[str, ExperimentView],
                 snapshot_dir: Path | None = None) -> WhatChanged:
    """This report's results against the results they replaced, or against a snapshot folder."""
    current = _current(results_dir, views)
    if snapshot_dir is None:
        previous = {n: entry for n in current if (entry := history.previous(results_dir, n)) is not None}
        only_theirs = []
    else:
        snapshot = read_snapshot(snapshot_dir, current)
        previous = {n: doc for n, doc in snapshot.items() if n in current}
        only_theirs = [n for n in snapshot if n not in current]
    experiments = [c for n, before in previous.items()
                   if (c := _experiment_change(n, views[n].title, before, current[n])) is not None]
    before_views = {**views, **{n: _view(doc, views[n].title) for n, doc in previous.items()}}
    after_claims = {c.id: c for c in suite_claims(suite, views)}
    flips = [Flip(b, after_claims[b.id]) for b in suite_claims(suite, before_views)
             if b.id in after_claims and b.conclusion != after_claims[b.id].conclusion]
    return WhatChanged(source="history" if snapshot_dir is None else "snapshot",
                       snapshot_dir=str(snapshot_dir) if snapshot_dir else None, experiments=experiments,
                       flips=flips, compared=list(previous), only_theirs=only_theirs)
