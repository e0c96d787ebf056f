"""What a plan's seeds can detect: each group's comparison of an experiment with its baseline, judged by the
rules the report states it with (one planning SD per family, from earlier results of the family's
experiments, at Holm's strictest level), so that `plan` and the report agree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from report_builder.analysis.power import PlanningSD, detectable_difference, planning_sd, seeds_needed
from report_builder.config import Experiment, Suite
from report_builder.findings.claims import family_name, power_level
from report_builder.results import store
from report_builder.results.identity import declared_seeds


@dataclass(frozen=True)
class Detection:
    """What a group's comparison of an experiment with its baseline can detect with the planned seeds, as the
    report will state it: the family's planning SD (power.planning_sd over the earlier results of the
    family's experiments), at LEVEL ÷ the family's planned size (claims.power_level)."""

    group: str
    experiment: str
    baseline: str
    seeds: int
    """Seeds both will have trained (a paired comparison uses those)."""
    family: str = ""
    """claims.family_name: "group:NAME" or "report"."""
    family_size: int = 0
    """The comparisons of that family: the size Holm's adjustment will have once each has MIN_SEEDS seeds."""
    planning: PlanningSD | None = None
    """The family's planning SD from earlier results; None: none known."""
    detectable: float | None = None
    """The smallest true difference (a fraction) detected with probability POWER; None: cannot tell."""
    needed: int | None = None
    """Seeds needed for [report] detect_points; None: not asked, cannot tell, or more than MAX_SEEDS."""

    @property
    def alpha(self) -> float:
        return power_level(self.family_size)


def _finals(stored: dict | None) -> dict[int, float]:
    if not stored or stored.get("status") != "done" or store.edited(stored):
        return {}
    return {run["seed"]: run["epochs"][-1]["test_accuracy"] for run in stored["runs"]
            if run["epochs"] and run.get("diverged_at") is None and run["epochs"][-1]["test_accuracy"] is not None}


def _planned(exp: Experiment, baseline: Experiment) -> int:
    return len(set(declared_seeds(exp.config.identity())) & set(declared_seeds(baseline.config.identity())))


def detections(suite: Suite, results_dir: Path, chosen: set[str]) -> list[Detection]:
    """Each group's comparisons with its baseline that touch a chosen experiment, with their families as the
    report will declare them (claims.settle: a pair once, in its first group; sweeps' comparisons with their
    best value count in their families)."""
    pairs: dict[tuple[str, str], str] = {}
    for g in suite.groups.values():
        for n in g.experiments if g.baseline else ():
            if n != g.baseline:
                pairs.setdefault((n, g.baseline), g.name)
    sizes: dict[str, int] = {}
    members: dict[str, set[str]] = {}
    for (n, b), group in pairs.items():
        name = family_name(suite.family, "group", group)
        members.setdefault(name, set()).update((n, b))
        sizes[name] = sizes.get(name, 0) + 1
    for sweep in suite.sweeps.values():
        name = family_name(suite.family, "sweep", sweep.name)
        members.setdefault(name, set()).update(p.experiment for p in sweep.points)
        sizes[name] = sizes.get(name, 0) + len(sweep.points) - 1
    finals = {e: _finals(store.stored_result(results_dir, e)) for found in members.values() for e in found}
    planning = {name: planning_sd(list(finals[e].values()) for e in sorted(found)) for name, found in members.items()}
    found = []
    for (n, b), group in pairs.items():
        if not chosen & {n, b}:
            continue
        name, seeds = family_name(suite.family, "group", group), _planned(suite.experiments[n], suite.experiments[b])
        plan, alpha = planning[name], power_level(sizes[name])
        detectable = needed = None
        if plan is not None:
            detectable = detectable_difference(plan.difference, seeds, alpha)
            needed = seeds_needed(plan.difference, suite.detect_points / 100, alpha) if suite.detect_points else None
        found.append(Detection(group, n, b, seeds, name, sizes[name], plan, detectable, needed))
    return found
