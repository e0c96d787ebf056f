"""A declared group as the report states it: its members, its baseline, each member against the baseline (the
claim of its family and, in a timing group, the speed claim from the timing rounds: findings/speed.py) and
whether its runs' own seconds were measured alike. No figure and no word here: report/ draws and words them."""

from __future__ import annotations

import math

from dataclasses import dataclass, field

from report_builder.analysis import gradients
from report_builder.analysis.views import ExperimentView, falls_every_epoch
from report_builder.analysis.statistics import BEYOND
from report_builder.findings.claims import Claim
from report_builder.findings.comparison import (
    Comparison,
    compare,
    least_accurate,
    most_accurate,
    speed_unranked,
    timed_alike,
)
from report_builder.findings.speed import SpeedClaim, headline

MANY = 2
"""A group with more claims than this is answered by its extremes and how many differ, not member by member."""


@dataclass(frozen=True)
class GradientChange:
    """One probed activation layer from its first to its last epoch (gradients.probe_change), and whether each
    approach fell at every epoch."""

    view: ExperimentView
    change: gradients.ProbeChange
    derivative_falls: bool
    """Approach 1 (for a ReLU: the count of active inputs) fell from every epoch to the next."""
    gradient_falls: bool
    """Approach 2 (the squared gradient) fell from every epoch to the next."""

    @property
    def layer(self) -> gradients.LayerProbes:
        return self.change.layer

    def percent(self, part: str) -> float:
        """How much `part` ("total", "derivative" or "per_unit") changed, in percent: 100 × (last ÷ first − 1), from
        the geometric mean over runs."""
        return 100 * (math.exp(getattr(self.change, part).mean) - 1)


def short_label(title: str, group_title: str) -> str:
    """A member's title without the group's title before it ("Batch size 16" in "Batch size" → "16"): the
    Findings print it beside the group's question."""
    prefix = group_title.strip() + " "
    return title[len(prefix):] if title.lower().startswith(prefix.lower()) and len(title) > len(prefix) else title

UNGROUPED = "_ungrouped"
"""The name of the section that collects experiments in no group: a user's group names follow
config.parse.NAME_PATTERN, which never starts with "_", so no user group can share it (its ids, figure files
and section number)."""


@dataclass(frozen=True)
class GroupView:
    name: str
    title: str
    description: str
    members: list[ExperimentView]
    baseline: ExperimentView | None
    comparisons: list[Comparison]
    timing: bool = False
    """Declared a comparison of speed (`timing = true`)."""
    timed_alike: bool = True
    """Whether the members' seconds were measured alike (one device; all alone, or all in one stack)."""
    speed_unranked: str | None = "not_timing"
    """Why its runs' own seconds do not rank its members: "not_timing" (not declared a timing comparison), else
    one of the reasons of comparison.speed_unranked; None when they would. Speed-ups never come from those
    seconds: they come from the timing rounds (speed_claims)."""
    question: str | None = None
    """The question the group answers (`question` in its [groups.NAME]); None: not declared."""
    speed_claims: tuple[SpeedClaim, ...] = ()
    """In a timing group: a speed claim per pair of its members (findings/speed.py), stated or withheld."""
    speed: SpeedClaim | None = None
    """The claim it leads with (speed.headline): the widest stated one (its fastest against its slowest), else
    the first withheld one; None outside timing groups."""
    gradients: tuple[GradientChange, ...] = ()
    """Each probed member's activation layers, first to last epoch."""
    labels: dict[str, str] = field(default_factory=dict)
    """Each member's short label (short_label)."""

    @property
    def trained(self) -> list[ExperimentView]:
        """Members with at least one recorded epoch (not failed)."""
        return [m for m in self.members if m.epochs]

    @property
    def probed(self) -> list[ExperimentView]:
        return [m for m in self.members if m.probe_names and m.epochs]

    @property
    def speed_compared(self) -> bool:
        """Whether the group's runs' own seconds would rank its members (comparison.speed_unranked)."""
        return self.speed_unranked is None

    @property
    def claims(self) -> list[Claim]:
        """The group's claims of the report's family, in member order."""
        return [c.claim for c in self.comparisons if c.claim is not None]

    @property
    def extremes(self) -> tuple[Claim, Claim] | None:
        """The claims with the lowest and the highest estimate; None without a claim."""
        claims = self.claims
        if not claims:
            return None
        ranked = sorted(claims, key=lambda c: c.difference.delta)
        return ranked[0], ranked[-1]

    @property
    def beyond(self) -> list[Claim]:
        """Claims whose verdict is beyond seed noise."""
        return [c for c in self.claims if c.verdict == BEYOND]

    @property
    def direction(self) -> str | None:
        """"lower" or "higher" when every claim is beyond noise the same way round; None otherwise."""
        claims = self.claims
        if not claims or len(self.beyond) < len(claims):
            return None
        signs = {c.difference.delta > 0 for c in claims}
        return None if len(signs) > 1 else ("higher" if signs.pop() else "lower")

    @property
    def detectable(self) -> float | None:
        """The smallest difference (a fraction) that the design detects, over the claims not beyond seed noise
        (one planning SD per family: the same for every comparison of one design)."""
        values = [c.detectable for c in self.claims if c.verdict != BEYOND and c.detectable is not None]
        return min(values) if values else None

    @property
    def many(self) -> bool:
        return len(self.claims) > MANY

    @property
    def scored(self) -> list[ExperimentView]:
        """Trained members with a final test accuracy."""
        return [m for m in self.trained if m.final is not None and m.final.test_accuracy is not None]

    @property
    def top(self) -> ExperimentView | None:
        return most_accurate(self.scored)

    @property
    def bottom(self) -> ExperimentView | None:
        return least_accurate(self.scored)

    @property
    def loss_stalls(self) -> list[ExperimentView]:
        """Trained members whose training loss did not fall at every epoch."""
        return [m for m in self.trained if len(m.epochs) > 1 and not falls_every_epoch(m, "train_loss")]

    @property
    def epoch_counts(self) -> list[int]:
        """The distinct numbers of epochs its trained members ran, sorted (two or more: finals not like for like)."""
        return sorted({len(m.epochs) for m in self.trained})


def group_view(name: str, title: str, description: str, members: list[ExperimentView],
               baseline: ExperimentView | None, timing: bool = False,
               claims: dict[tuple[str, str], Claim] | None = None, question: str | None = None,
               speeds: list[SpeedClaim] | None = None) -> GroupView:
    """The group with each member compared against its baseline; `claims` are the settled claims by (member,
    baseline), `speeds` the group's speed claims (speed.speed_claims)."""
    trained = [m for m in members if m.epochs]
    pairs = {frozenset(c.experiments): c for c in speeds or []}
    comparisons = [compare(m, baseline, speed=pairs.get(frozenset((m.name, baseline.name))),
                           claim=(claims or {}).get((m.name, baseline.name)))
                   if baseline else compare(m, None) for m in members]
    changes = []
    for view in (m for m in trained if m.probe_names):
        for layer in gradients.layers_of(view):
            change = gradients.probe_change(view, layer)
            if change is not None:
                changes.append(GradientChange(view, change, falls_every_epoch(view, layer.derivative),
                                              falls_every_epoch(view, layer.gradient)))
    return GroupView(name=name, title=title, description=description, members=members, baseline=baseline,
                     comparisons=comparisons, timing=timing, timed_alike=timed_alike(trained),
                     speed_unranked=speed_unranked(trained) if timing else "not_timing", question=question,
                     speed_claims=tuple(speeds or ()), speed=headline(list(speeds or [])) if timing else None,
                     gradients=tuple(changes),
                     labels={m.name: short_label(m.title, title) for m in members})
