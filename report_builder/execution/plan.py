"""Planning: which repeats of which experiments must (re-)run (tasks.py then groups them into tasks).

An experiment is re-run only when something that decides its numbers changed (the rule is in
results/identity.py), and then only the seeds it changed for; repeats finished before an interruption
are kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from report_builder.config import ExecutorConfig, Experiment
from report_builder.execution.repeats import clear_repeats, read_repeat, split
from report_builder.progress import Progress
from report_builder.results import store
from report_builder.results.identity import declared_seeds, seed_changes, seed_list, trained_alone
from report_builder.training.device import resolve_device


def planned_device_kind(wish: str, executor: ExecutorConfig, where: str) -> str:
    """The device kind an experiment will train on, as far as the driver can tell before it runs."""
    if executor.kind == "slurm":
        return "cuda" if wish == "cuda" or (wish == "auto" and executor.gpus_per_job > 0) else "cpu"
    return resolve_device(wish, where).type


@dataclass
class Plan:
    """What one experiment still needs, and the repeat documents it has so far."""

    experiment: Experiment
    header: dict
    docs: list[dict]
    pending: list[int]
    replaces_complete: bool = False
    """A complete result is published now: it stays so until this plan's result is complete too."""
    announce: str = ""
    """The line that says why it runs, e.g. "sgd: re-run, lr changed 0.05 → 0.01"."""


def plan_experiment(exp: Experiment, identity: dict, results_dir: Path, force: bool, progress: Progress,
                    timed: bool = False) -> Plan | None:
    """None when the stored results are current; else the runs it keeps and the repeats still to run.

    Stored runs are reused seed by seed (see results/identity.py); a member of a timing group (`timed`)
    reuses only runs that trained alone: a stack's seconds are each model's share of a shared step.
    """
    cfg = exp.config
    stored = store.stored_result(results_dir, exp.name)
    declared = declared_seeds(cfg.identity())
    if force:
        clear_repeats(results_dir, exp.name)
    reasons = ["--force"] if force else store.rerun_reasons(stored, identity)
    kept: list[int] = []
    if not reasons:
        held = {run.get("seed"): run for run in stored["runs"]}
        if timed and not all(trained_alone(held[s]) for s in declared if s in held):
            reasons.append("trained in a stack, a timing group needs it alone")
        kept = [s for s in declared if s in held and (not timed or trained_alone(held[s]))]
        reasons += seed_changes(stored["config"], cfg.identity())
        if not reasons:
            progress.say(f"{exp.name}: cached")
            return None
    docs = split(stored, identity, cfg.seed, kept) if kept else []
    resumed = []
    for seed in declared:
        doc = None if seed in kept else read_repeat(results_dir, exp.name, seed - cfg.seed)
        if (doc and doc.get("status") == "done" and doc.get("identity") == identity
                and doc["run"].get("seed") == seed and (not timed or trained_alone(doc["run"]))):
            resumed.append(doc)
    docs += resumed
    done = {d["repeat"] for d in docs}
    pending = [r for r in range(cfg.repeats) if r not in done]
    if resumed:
        announce = f"{exp.name}: resuming, {len(docs)} of {cfg.repeats} repeats already done"
    elif kept:
        todo = f"training {seed_list([cfg.seed + r for r in pending])}" if pending else "nothing to train"
        announce = f"{exp.name}: {todo}, {', '.join(reasons)} ({seed_list(kept)} kept)"
    else:
        announce = f"{exp.name}: {'running' if stored is None else 're-run'}, {', '.join(reasons)}"
    header = {"experiment": exp.name, "title": exp.title, "description": exp.description,
              "identity": identity, "config": dataclasses.asdict(cfg)}
    return Plan(exp, header, docs, pending, replaces_complete=(stored or {}).get("status") == "done",
                announce=announce)
