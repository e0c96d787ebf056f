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
from report_builder.results.identity import SEED_KEYS, changes, declared_seeds, seed_list
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


def seed_differences(before: dict[str, Any], after: dict[str, Any], there: str | None = None) -> list[str]:
    """How two results' seeds differ, in the words of a comparison: "repeats changed 2 → 3; seed 2 added"
    (against the result it replaced) or "seed 2 only here" (against `there`, a --compare folder). Not
    identity.seed_changes, which says what `run` still has to train ("seed 2 not run yet")."""
    held, now = declared_seeds(before), declared_seeds(after)
    if held == now:
        return []
    new, gone = [s for s in now if s not in held], [s for s in held if s not in now]
    words = ("only here", f"only in {there}") if there else ("added", "dropped")
    return ([f"{key} changed {before[key]} → {after[key]}" for key in SEED_KEYS if before[key] != after[key]]
            + ([f"{seed_list(new)} {words[0]}"] if new else []) + ([f"{seed_list(gone)} {words[1]}"] if gone else []))


def _experiment_change(name: str, title: str, before: dict[str, Any], after: dict[str, Any],
                       there: str | None = None) -> ExperimentChange | None:
    reasons = changes(before["identity"], after["identity"]) + seed_differences(before["config"], after["config"], there)
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


def _finished_results(snapshot_dir: Path) -> dict[str, dict[str, Any]]:
    """The finished, unedited results files of a folder, by experiment."""
    theirs = {}
    for path in sorted(snapshot_dir.glob("*.json")):
        try:
            doc = store.read_result(path)
        except ResultsError:
            continue
        if doc["status"] == "done" and not store.edited(doc):
            theirs[doc["experiment"]] = doc
    return theirs


def check_snapshot_dir(snapshot_dir: Path) -> dict[str, dict[str, Any]]:
    """The finished results in a --compare folder; a folder that is missing, a file, or holds no finished
    results file is one line (the CLI asks before a `report` trains anything)."""
    if not snapshot_dir.is_dir():
        raise ResultsError(f"--compare {snapshot_dir}: no such folder" if not snapshot_dir.exists()
                           else f"--compare {snapshot_dir}: not a folder (it is a file)")
    theirs = _finished_results(snapshot_dir)
    if not theirs:
        raise ResultsError(f"--compare {snapshot_dir}: not a results folder (no finished results file NAME.json "
                           f"written by report_builder in it)")
    return theirs


def read_snapshot(snapshot_dir: Path, ours: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The finished results in a snapshot folder, by experiment. A ResultsError (one line, exit 2) when the
    folder is missing, holds no results files, or is from another configuration entirely: none of its
    results was trained on a dataset any of ours was."""
    theirs = check_snapshot_dir(snapshot_dir)
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
    there = str(snapshot_dir) if snapshot_dir is not None else None
    experiments = [c for n, before in previous.items()
                   if (c := _experiment_change(n, views[n].title, before, current[n], there)) is not None]
    before_views = {**views, **{n: _view(doc, views[n].title) for n, doc in previous.items()}}
    after_claims = {c.id: c for c in suite_claims(suite, views)}
    flips = [Flip(b, after_claims[b.id]) for b in suite_claims(suite, before_views)
             if b.id in after_claims and b.conclusion != after_claims[b.id].conclusion]
    return WhatChanged(source="history" if snapshot_dir is None else "snapshot",
                       snapshot_dir=str(snapshot_dir) if snapshot_dir else None, experiments=experiments,
                       flips=flips, compared=list(previous), only_theirs=only_theirs)
