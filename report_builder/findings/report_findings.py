"""The report's analysis, computed once: every number and verdict the writeup states, in one frozen object that
claims.json, the Findings and every section read (report/ only formats it).

`report_findings(suite, views, timing_rounds)` is the one entry: the families are fixed by the configuration
([report] family) before any number is looked at, Holm's adjustment runs within each, the speed claims come
from the timing rounds (findings/speed.py), and each group, sweep and reproduction is judged here once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from report_builder.config import Suite
from report_builder.config.reference import Reference
from report_builder.analysis.environment import environment
from report_builder.analysis.reproduction import Reproduction, reproductions as reproductions_of
from report_builder.analysis.sweeps import SweepView, sweep_view
from report_builder.analysis.views import ExperimentView
from report_builder.findings.answers import Answer, answers, reader_order
from report_builder.findings.claims import Claim, settle
from report_builder.findings.conclusions import Conclusion, conclusions
from report_builder.findings.groups import UNGROUPED, GroupView, group_view
from report_builder.findings.methods import Methods, methods
from report_builder.findings.speed import SpeedClaim, TimingRounds, speed_claims, summary


@dataclass(frozen=True)
class GlanceRow:
    """One comparison of the at-a-glance figure: a member against its group's baseline."""

    group: str
    experiment: ExperimentView
    baseline: ExperimentView
    claim: Claim | None
    """Final accuracy: member − baseline, with its interval and verdict; None where not like for like."""
    time_ratio: float | None
    """Member's training seconds per epoch ÷ the baseline's (< 1: faster), from the timing rounds; None where
    speed is not compared or its claim is withheld."""
    time_interval: tuple[float, float] | None
    speed: SpeedClaim | None = None
    """The pair's speed claim (stated or withheld); None where the pair is not timed."""


def glance_rows(groups: list[GroupView]) -> list[GlanceRow]:
    """Every claim of the family, once, with its time ratio where its group compares speed; and each timed
    comparison without a claim (finals not like for like)."""
    rows, seen = [], set()
    for g in groups:
        for c in g.comparisons:
            if g.baseline is None or c.experiment.name == g.baseline.name:
                continue
            pair = (c.experiment.name, g.baseline.name)
            if pair in seen or (c.claim is None and c.speed_claim is None):
                continue
            seen.add(pair)
            rows.append(GlanceRow(g.name, c.experiment, g.baseline, c.claim, *_ratio(c.speed), c.speed_claim))
    # A time ratio where the claim's pair has none (the pair is claimed in a group that does not time it).
    timed = {(c.experiment.name, g.baseline.name): c for g in groups if g.baseline for c in g.comparisons
             if c.speed_claim is not None}
    return [r if r.speed is not None or (r.experiment.name, r.baseline.name) not in timed else
            GlanceRow(r.group, r.experiment, r.baseline, r.claim, *_ratio(timed[r.experiment.name, r.baseline.name].speed),
                      timed[r.experiment.name, r.baseline.name].speed_claim)
            for r in rows]


def _ratio(speed) -> tuple[float | None, tuple[float, float] | None]:
    """A speed-up over the baseline (timing.RoundRatio) as a time ratio to it, with its interval."""
    if speed is None:
        return None, None
    return 1 / speed.estimate, None if speed.low is None else (1 / speed.high, 1 / speed.low)


@dataclass(frozen=True)
class ReportFindings:
    """What the report says, before it is worded: see templates/README.md ("The context")."""

    experiments: dict[str, ExperimentView]
    """Every declared experiment with current results, in file order."""
    groups: list[GroupView]
    """Every group with results, in file order, then `_ungrouped` (experiments in no group or sweep)."""
    sweeps: list[SweepView]
    """Every sweep with some current results, in file order."""
    claims: list[Claim]
    """Every member against its group's baseline (claims.settle), Holm-adjusted within its family."""
    conclusions: list[Conclusion]
    """The same claims flattened, as claims.json, Findings and "What changed" state them."""
    reproductions: list[Reproduction]
    """Per experiment the reference has, in file order; empty without [reference]."""
    reference: Reference | None
    methods: Methods
    environment: dict[str, Any]
    failed: list[ExperimentView]
    diverged: list[ExperimentView]
    order: list[str]
    """The body's section ids in the reader's order (answers.reader_order)."""
    answers: list[Answer]
    """The Findings: one per section of `order`."""
    speeds: list[SpeedClaim]
    """Each timing group's headline speed claim (its fastest against its slowest, or withheld)."""
    speed_claims: list[SpeedClaim]
    """Every speed claim: a pair of a timing group's members each (speed.speed_claims)."""
    timing: TimingRounds | None
    """The machine as the timing phase found it (speed.summary); None without timing rounds."""
    glance: list[GlanceRow]
    """The at-a-glance figure's comparisons."""
    baseline: ExperimentView | None
    """The experiment that is the baseline of the most groups (the first of equals): the report's baseline."""

    @property
    def repeats(self) -> int | None:
        """The most common number of seeds per experiment."""
        counts = Counter(v.repeats for v in self.experiments.values())
        return counts.most_common(1)[0][0] if counts else None

    @property
    def fewer_seeds(self) -> list[ExperimentView]:
        """Experiments with another number of seeds than `repeats`."""
        return [v for v in self.experiments.values() if v.repeats != self.repeats]

    @property
    def reproduction_of(self) -> dict[str, Reproduction]:
        return {r.experiment.name: r for r in self.reproductions}

    def conclusions_of(self, group: str) -> list[Conclusion]:
        return [c for c in self.conclusions if c.group == group]


def report_findings(suite: Suite, views: dict[str, ExperimentView],
                    timing_rounds: dict[str, Any] | None = None) -> ReportFindings:
    """Every number and verdict of the report on these views, computed once; `timing_rounds`: the timing phase's
    stored samples (results/timing_file.read_rounds), where it ran."""
    declared = [(g, [views[n] for n in g.experiments if n in views], views.get(g.baseline) if g.baseline else None)
                for g in suite.groups.values() if any(n in views for n in g.experiments)]
    # The families are fixed by the configuration before any number is looked at ([report] family).
    swept = [sweep_view(s, views) for s in suite.sweeps.values() if any(p.experiment in views for p in s.points)]
    claims, sweeps = settle([(g.name, members, baseline) for g, members, baseline in declared], swept, suite.family)
    by_pair = {(c.experiment, c.baseline): c for c in claims}
    speeds = speed_claims(suite, timing_rounds, names=views)
    groups = [group_view(g.name, g.title, g.description, members, baseline, timing=g.timing, claims=by_pair,
                         question=g.question, speeds=[c for c in speeds if c.group == g.name])
              for g, members, baseline in declared]
    # A sweep's experiments are shown in its own section, not again among "Other experiments".
    grouped = ({n for g in suite.groups.values() for n in g.experiments}
               | {p.experiment for s in suite.sweeps.values() for p in s.points})
    ungrouped = [v for n, v in views.items() if n not in grouped]
    if ungrouped:
        groups.append(group_view(UNGROUPED, "Other experiments", "", ungrouped, None))
    ordered = list(views.values())
    reproductions = reproductions_of(ordered, suite.reference) if suite.reference is not None else []
    timed = {n for g in suite.groups.values() if g.timing for n in g.experiments}
    order = reader_order(groups, sweeps, suite.reference, reproductions)
    baselines = Counter(g.baseline.name for g in groups if g.baseline is not None)
    return ReportFindings(
        experiments=views, groups=groups, sweeps=sweeps, claims=claims,
        conclusions=conclusions(suite, views, claims, reproductions), reproductions=reproductions,
        reference=suite.reference, methods=methods(claims, ordered, suite.reference, suite.family, reproductions),
        environment=environment(ordered, timed),
        failed=[v for v in ordered if v.status == "failed"], diverged=[v for v in ordered if v.status == "diverged"],
        order=order, answers=answers(order, groups, sweeps, suite.reference, reproductions),
        speeds=[g.speed for g in groups if g.speed is not None], speed_claims=speeds,
        timing=summary(timing_rounds, suite), glance=glance_rows(groups),
        baseline=views[baselines.most_common(1)[0][0]] if baselines else None)
