"""Planning: which repeats of which experiments must (re-)run (tasks.py then groups them into tasks).

An experiment is re-run only when something that decides its numbers changed (store.rerun_reasons);
repeats finished before an interruption are kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from report_builder.config import ExecutorConfig, Experiment
from report_builder.errors import ResultsError
from report_builder.execution.repeats import clear_repeats, read_repeat
from report_builder.progress import Progress
from report_builder.results import store
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


def plan_experiment(exp: Experiment, identity: dict, results_dir: Path, force: bool, progress: Progress) -> Plan | None:
    """None when the stored results are current; else the repeats still to run."""
    try:
        stored = store.read_result(store.result_path(results_dir, exp.name))
    except FileNotFoundError:
        stored = None
    except ResultsError as e:
        stored = {"status": f"damaged ({e})"}
    reasons = ["--force"] if force else store.rerun_reasons(stored, identity)
    if not reasons:
        progress.say(f"{exp.name}: cached")
        return None
    if force:
        clear_repeats(results_dir, exp.name)
    finished = []
    for repeat in range(exp.config.repeats):
        doc = read_repeat(results_dir, exp.name, repeat)
        if doc and doc.get("status") == "done" and doc.get("identity") == identity:
            finished.append(doc)
    if finished:
        progress.say(f"{exp.name}: resuming, {len(finished)} of {exp.config.repeats} repeats already done")
    else:
        progress.say(f"{exp.name}: {'running' if stored is None else 're-run'}, {', '.join(reasons)}")
    header = {"experiment": exp.name, "title": exp.title, "description": exp.description,
              "identity": identity, "config": dataclasses.asdict(exp.config)}
    done = {d["repeat"] for d in finished}
    return Plan(exp, header, finished, [r for r in range(exp.config.repeats) if r not in done],
                replaces_complete=(stored or {}).get("status") == "done")
