"""Results files → the numbers a report shows of each experiment: per-epoch means ± std over repeats,
finals, bests, timings, and what its probes say. Comparisons between experiments are in comparison.py.

Everything here is computed from results documents alone; nothing trains and nothing formats prose.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable

from report_builder.config import PROBES, split_probe_key
from report_builder.analysis.timing import (
    MIN_SPREAD_VALUES,
    SlowRun,
    clean_epoch_seconds,
    clean_run_seconds,
    slowed_runs,
)

METRICS = ("train_loss", "test_loss", "test_accuracy", "train_seconds", "eval_seconds", "val_loss", "val_accuracy")


@dataclass(frozen=True)
class Stat:
    """A value over repeats: mean, sample standard deviation (None for one run) and how many runs."""

    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Iterable[float | None], min_spread: int = 2) -> "Stat | None":
        """Over the finite values; a standard deviation only from `min_spread` or more of them (seconds:
        timing.MIN_SPREAD_VALUES)."""
        finite = [v for v in values if v is not None and math.isfinite(v)]
        if not finite:
            return None
        std = statistics.stdev(finite) if len(finite) >= max(min_spread, 2) else None
        return cls(mean=statistics.fmean(finite), std=std, n=len(finite))


SECONDS = ("train_seconds", "eval_seconds")


def _seconds(values: Iterable[float | None]) -> Stat | None:
    """Seconds over runs: no standard deviation from fewer than MIN_SPREAD_VALUES runs (timing.spread)."""
    return Stat.of(values, min_spread=MIN_SPREAD_VALUES)


@dataclass(frozen=True)
class EpochStats:
    """One epoch of an experiment over its repeats: each metric and probe as a Stat (None where unrecorded)."""

    epoch: int
    train_loss: Stat | None
    test_loss: Stat | None
    test_accuracy: Stat | None
    train_seconds: Stat | None
    eval_seconds: Stat | None
    val_loss: Stat | None
    val_accuracy: Stat | None
    """On the held-out training images (`validation`); None without a split."""
    probes: dict[str, Stat | None]
    disturbed_runs: int = 0
    """Runs whose training time of this epoch was disturbed by other work: left out of train_seconds."""

    def stat(self, metric: str) -> Stat | None:
        """A metric of METRICS or a probe of config.PROBES by name; a KeyError for any other name, so that a
        misspelt name fails instead of reading as "not recorded"."""
        if metric in METRICS:
            return getattr(self, metric)
        if split_probe_key(metric)[0] in PROBES:  # a probe of any layer (config.probe_key)
            return self.probes.get(metric)
        raise KeyError(f"no metric or probe named {metric!r} (metrics: {', '.join(METRICS)}; "
                       f"probes: {', '.join(PROBES)})")

    @property
    def per_active(self) -> float | None:
        """relu_grad_sq ÷ relu_active (of the means over repeats): the squared gradient per active ReLU input.
        None unless both probes were recorded and some input was active."""
        active, grad_sq = self.probes.get("relu_active"), self.probes.get("relu_grad_sq")
        if not active or not grad_sq or not active.mean:
            return None
        return grad_sq.mean / active.mean


@dataclass(frozen=True)
class TimingSetup:
    """How an experiment's seconds were measured: two experiments' times compare only where these agree."""

    device: str
    engine: str
    stacked_with: int
    """1: each run trained alone; K: in a stack of K models, whose time is shared out per model."""
    stack: tuple[str, ...] = ()
    """The experiments of that stack (empty when alone)."""
    threads: tuple[int, ...] = ()
    """The torch thread counts its clean epochs trained with (empty where the results do not say)."""


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
    """The epoch with the highest mean validation accuracy (its test numbers are the honest estimate); None
    without a validation split: an epoch picked by its test accuracy would overstate it."""
    mean_epoch_seconds: Stat | None
    """Training seconds per epoch, averaged over each run's clean epochs, then over runs (timing.py's rules:
    disturbed epochs and slowed runs are left out)."""
    total_seconds: Stat | None
    """Training plus evaluation seconds of a whole run, over the runs with no disturbed epoch (not slowed)."""
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
    final_by_seed: dict[int, dict[str, float | None]] = field(default_factory=dict)
    """The final epoch's train_loss, test_loss and test_accuracy of each healthy run, by seed."""
    timing: TimingSetup | None = None
    disturbed_epochs: list[dict[str, Any]] = field(default_factory=list)
    """[{"seed", "epoch", "evidence"}] for epochs timed while something else loaded the machine; they are
    left out of mean_epoch_seconds."""
    hosts: list[str] = field(default_factory=list)
    """The machines its repeats ran on."""
    slurm: bool = False
    """Whether its repeats ran as Slurm jobs (whose nodes other jobs may share)."""
    per_seed: dict[int, list[dict[str, float | None]]] = field(default_factory=dict)
    """Each run's epochs (train_loss, test_loss, test_accuracy), by seed: for like-for-like comparisons."""
    probes_by_seed: dict[int, list[dict[str, float | None]]] = field(default_factory=dict)
    """Each run's epochs' probes (config.probe_key → value), by seed: for the gradient section (gradients.py)."""
    run_epoch_seconds: dict[int, float] = field(default_factory=dict)
    """Each run's mean training seconds over its clean epochs, by seed, slowed runs left out: what speed-ups
    and their intervals are computed from."""
    slowed: list[SlowRun] = field(default_factory=list)
    """Runs flagged as unexplained slowdowns (timing.slowed_runs), left out of every speed comparison."""
    unclean_totals: int = 0
    """Runs left out of total_seconds because some epoch of theirs was disturbed."""
    test_predictions: dict[int, str] = field(default_factory=dict)
    """Each healthy run's per-image predictions after its last epoch (results/store.py's layout, base64), by
    seed; empty for results written before runs kept them (analysis/predictions.py reads them)."""

    @property
    def repeats(self) -> int:
        return len(self.seeds)

    @property
    def has_per_active(self) -> bool:
        """Whether both ReLU probes were recorded, so that EpochStats.per_active can be known."""
        return "relu_active" in self.probe_names and "relu_grad_sq" in self.probe_names


def _epoch_stats(epoch: int, records: list[dict]) -> EpochStats:
    probe_names = sorted({name for r in records for name in r.get("probes", {})})
    stats = {metric: (_seconds if metric in SECONDS else Stat.of)(r.get(metric) for r in records) for metric in METRICS}
    # A disturbed epoch's seconds measure the other work as much as ours (timing.py).
    stats["train_seconds"] = _seconds(r["train_seconds"] for r in records if not r.get("timing_disturbed"))
    return EpochStats(
        epoch=epoch, **stats,
        probes={name: Stat.of(r.get("probes", {}).get(name) for r in records) for name in probe_names},
        disturbed_runs=sum(1 for r in records if r.get("timing_disturbed")),
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
    slowed = slowed_runs(healthy)
    timed = [r for r in healthy if r["seed"] not in {s.seed for s in slowed}]
    run_seconds = {r["seed"]: statistics.fmean(c) for r in timed if (c := clean_epoch_seconds(r))}
    totals = [clean_run_seconds(r) for r in timed]
    disturbed = [{"seed": r["seed"], "epoch": e["epoch"], "evidence": e.get("timing_evidence") or {}}
                 for r in runs for e in r["epochs"] if e.get("timing_disturbed")]
    validated = [e for e in epochs if e.val_accuracy is not None]
    best = max(validated, key=lambda e: e.val_accuracy.mean) if validated else None
    status = result["status"]
    if status == "done" and diverged:
        status = "diverged"
    return ExperimentView(
        name=result["experiment"], title=result.get("title") or result["experiment"],
        description=result.get("description") or "", status=status, error=result.get("error"),
        config=result["config"], seeds=[r["seed"] for r in runs], epochs=epochs,
        probe_names=list(result["config"].get("probes", [])), diverged=diverged, final=final, best=best,
        mean_epoch_seconds=_seconds(run_seconds.values()),
        total_seconds=_seconds(totals),
        code_version=result.get("identity", {}).get("code_version"),
        stacked_with=max((r.get("stacked_with", 1) for r in runs), default=1),
        setup_seconds=_seconds(r.get("setup_seconds") for r in runs),
        cuda_graphs=any(r.get("cuda_graphs") for r in runs),
        cuda_graph_error=next((r["cuda_graph_error"] for r in runs if r.get("cuda_graph_error")), None),
        provenance=result.get("provenance", {}),
        final_by_seed={r["seed"]: {m: r["epochs"][final.epoch - 1].get(m) for m in ("train_loss", "test_loss", "test_accuracy")}
                       for r in healthy} if final else {},
        timing=_timing_setup(result),
        disturbed_epochs=disturbed,
        hosts=sorted({p.get("hostname") for p in _repeat_provenance(result) if p.get("hostname")}),
        slurm=any(p.get("slurm_job_id") for p in _repeat_provenance(result)),
        per_seed={r["seed"]: [{m: e.get(m) for m in ("train_loss", "test_loss", "test_accuracy")} for e in r["epochs"]]
                  for r in runs},
        probes_by_seed={r["seed"]: [e.get("probes") or {} for e in r["epochs"]] for r in runs},
        run_epoch_seconds=run_seconds, slowed=slowed, unclean_totals=sum(1 for t in totals if t is None),
        test_predictions={r["seed"]: r["test_predictions"] for r in healthy
                          if r.get("test_predictions") and final and r["epochs"][-1]["epoch"] == final.epoch},
    )


def _repeat_provenance(result: dict[str, Any]) -> list[dict[str, Any]]:
    prov = result.get("provenance", {})
    return prov.get("repeat_provenance") or [prov]


def _timing_setup(result: dict[str, Any]) -> TimingSetup | None:
    runs = [r for r in result["runs"] if r["epochs"]]
    if not runs:
        return None
    prov = result.get("provenance", {})
    stacked_with = max(r.get("stacked_with", 1) for r in runs)
    threads = sorted({e["threads"] for r in runs for e in r["epochs"]
                      if e.get("threads") is not None and not e.get("timing_disturbed")})
    return TimingSetup(device=prov.get("device_name", ""), engine=runs[0].get("engine", "autograd"),
                       stacked_with=stacked_with,
                       stack=tuple(prov.get("stacked_experiments") or ()) if stacked_with > 1 else (),
                       threads=tuple(threads))


def falls_every_epoch(view: ExperimentView, metric: str) -> bool:
    """Whether a metric or probe fell from every epoch to the next (over the epochs that recorded it)."""
    values = [stat.mean for e in view.epochs if (stat := e.stat(metric)) is not None]
    return all(b < a for a, b in zip(values, values[1:]))


def seed_range(view: ExperimentView, metric: str = "test_accuracy") -> tuple[float, float] | None:
    """(lowest, highest) final value of a metric over the experiment's seeds."""
    values = [m[metric] for m in view.final_by_seed.values() if m.get(metric) is not None]
    return (min(values), max(values)) if values else None
