"""Results files → the numbers a report shows: per-epoch means ± std over repeats, finals, bests, timings.

Everything here is computed from results documents alone; nothing trains and nothing formats prose.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable

METRICS = ("train_loss", "test_loss", "test_accuracy", "train_seconds", "eval_seconds")


@dataclass(frozen=True)
class Stat:
    """A value over repeats: mean, sample standard deviation (None for one run) and how many runs."""

    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Iterable[float | None]) -> "Stat | None":
        finite = [v for v in values if v is not None and math.isfinite(v)]
        if not finite:
            return None
        std = statistics.stdev(finite) if len(finite) > 1 else None
        return cls(mean=statistics.fmean(finite), std=std, n=len(finite))


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: Stat | None
    test_loss: Stat | None
    test_accuracy: Stat | None
    train_seconds: Stat | None
    eval_seconds: Stat | None
    probes: dict[str, Stat | None]


@dataclass(frozen=True)
class ExperimentView:
    """One experiment as the report sees it. `status` is "done", "diverged" or "failed"."""

    name: str
    title: str
    description: str
    status: str
    error: str | None
    config: dict[str, Any]
    seeds: list[int]
    epochs: list[EpochStats]
    probe_names: list[str]
    diverged: list[dict[str, int]]
    """[{"seed": s, "epoch": e}] for each repeat whose loss became NaN/inf."""
    final: EpochStats | None
    """The last epoch that every finished repeat reached."""
    best: EpochStats | None
    """The epoch with the highest mean test accuracy."""
    mean_epoch_seconds: Stat | None
    """Training seconds per epoch, averaged over epochs, then over repeats."""
    total_seconds: Stat | None
    """Training plus evaluation seconds of a whole run."""
    code_version: str | None = None
    stacked_with: int = 1
    """The largest number of models this experiment's runs were trained together with (1: alone)."""
    setup_seconds: Stat | None = None
    """One-off start-up per run before its first epoch (model, optimizer, CUDA graph capture)."""
    cuda_graphs: bool = False
    """Whether its train steps ran as captured CUDA graphs."""
    cuda_graph_error: str | None = None
    """Why graph capture failed where it was wanted (the run then trained eagerly)."""
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def repeats(self) -> int:
        return len(self.seeds)


def _epoch_stats(epoch: int, records: list[dict]) -> EpochStats:
    probe_names = sorted({name for r in records for name in r.get("probes", {})})
    return EpochStats(
        epoch=epoch,
        **{metric: Stat.of(r[metric] for r in records) for metric in METRICS},
        probes={name: Stat.of(r.get("probes", {}).get(name) for r in records) for name in probe_names},
    )


def experiment_view(result: dict[str, Any]) -> ExperimentView:
    runs = result["runs"]
    diverged = [{"seed": r["seed"], "epoch": r["diverged_at"]} for r in runs if r.get("diverged_at")]
    by_epoch: dict[int, list[dict]] = {}
    for run in runs:
        for record in run["epochs"]:
            by_epoch.setdefault(record["epoch"], []).append(record)
    epochs = [_epoch_stats(e, by_epoch[e]) for e in sorted(by_epoch)]
    healthy = [r for r in runs if not r.get("diverged_at") and r["epochs"]]
    final = None
    if healthy:
        last = min(r["epochs"][-1]["epoch"] for r in healthy)
        final = _epoch_stats(last, [r["epochs"][last - 1] for r in healthy])
    scored = [e for e in epochs if e.test_accuracy is not None]
    best = max(scored, key=lambda e: e.test_accuracy.mean) if scored else None
    status = result["status"]
    if status == "done" and diverged:
        status = "diverged"
    return ExperimentView(
        name=result["experiment"], title=result.get("title") or result["experiment"],
        description=result.get("description") or "", status=status, error=result.get("error"),
        config=result["config"], seeds=[r["seed"] for r in runs], epochs=epochs,
        probe_names=list(result["config"].get("probes", [])), diverged=diverged, final=final, best=best,
        mean_epoch_seconds=Stat.of(statistics.fmean(e["train_seconds"] for e in r["epochs"]) for r in healthy),
        total_seconds=Stat.of(sum(e["train_seconds"] + e["eval_seconds"] for e in r["epochs"]) for r in healthy),
        code_version=result.get("identity", {}).get("code_version"),
        stacked_with=max((r.get("stacked_with", 1) for r in runs), default=1),
        setup_seconds=Stat.of(r.get("setup_seconds") for r in runs),
        cuda_graphs=any(r.get("cuda_graphs") for r in runs),
        cuda_graph_error=next((r["cuda_graph_error"] for r in runs if r.get("cuda_graph_error")), None),
        provenance=result.get("provenance", {}),
    )


@dataclass(frozen=True)
class Comparison:
    """One member of a group measured against the group's baseline."""

    experiment: ExperimentView
    speedup: float | None
    """Baseline training seconds per epoch ÷ this experiment's (>1: faster than the baseline)."""
    accuracy_delta_points: float | None
    """Final test accuracy minus the baseline's, in percentage points."""


def compare(member: ExperimentView, baseline: ExperimentView | None) -> Comparison:
    speedup = delta = None
    if baseline is not None and member.mean_epoch_seconds and baseline.mean_epoch_seconds:
        speedup = baseline.mean_epoch_seconds.mean / member.mean_epoch_seconds.mean
    if (baseline is not None and member.final and baseline.final and member.final.test_accuracy
            and baseline.final.test_accuracy):
        delta = 100 * (member.final.test_accuracy.mean - baseline.final.test_accuracy.mean)
    return Comparison(member, speedup, delta)
