"""Every conclusion the report draws between experiments, as data: what is compared, the numbers, the test
and its verdict. claims.json exports them, "What changed" compares them across results, and Findings states
them first; templates/claims/ words each one.

The statistics come from comparison.py (the same calls the group sections make); `_judged` is the one
adapter from its difference objects to a claim's fields, so that a richer test (a paired interval, a
multiplicity-adjusted p) fills `interval` and `adjusted_p` there and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from report_builder.config import Suite
from report_builder.results.analysis import ExperimentView
from report_builder.results.comparison import accuracy_spread, compare, least_accurate, most_accurate
from report_builder.results.statistics import LEVEL, Difference

METRIC = "test_accuracy"
"""The metric claims are about: final test accuracy (a fraction)."""
TEST = "welch"
"""The test behind `p`, as statistics.py states it: Welch's t-test, two-sided, over shared seeds."""


@dataclass(frozen=True)
class Claim:
    """One conclusion: experiments[0] against experiments[1] in `metric`, with the test's verdict."""

    id: str
    """"GROUP/A-vs-B": the same comparison keeps its id across results, so that a flip can be found."""
    kind: str
    """"baseline": a member against its group's baseline; "spread": the most against the least accurate."""
    group: str
    group_title: str
    experiments: tuple[str, str]
    titles: tuple[str, str]
    metric: str
    values: tuple[float | None, float | None]
    """Each experiment's final mean (over all its seeds, as the tables show it)."""
    difference: float | None
    """experiments[0] − experiments[1] over the seeds both trained with."""
    seeds: tuple[int, ...]
    interval: tuple[float, float] | None
    test: str | None
    p: float | None
    adjusted_p: float | None
    level: float
    verdict: str
    """"beyond_noise" (p < level), "within_noise", or "unknown" (fewer than two shared seeds)."""
    section: str = ""
    """The HTML id of the section that states it ("group-NAME")."""


    @property
    def conclusion(self) -> tuple:
        """What the claim concludes: its verdict, and beyond noise also which experiment is ahead. Two claims
        with the same id and different conclusions are a flip."""
        if self.verdict != "beyond_noise":
            return (self.verdict,)
        ahead = self.experiments if self.difference > 0 else self.experiments[::-1]
        return (self.verdict, ahead)


def _judged(d: Difference) -> dict[str, Any]:
    """A difference object as a claim's statistical fields. Welch's test gives no interval and no adjusted p;
    a paired test with an interval and Holm-adjusted p fills them here."""
    verdict = "unknown" if d.beyond_noise is None else "beyond_noise" if d.beyond_noise else "within_noise"
    return {"difference": d.delta, "seeds": d.seeds, "interval": None, "test": TEST if d.p_value is not None else None,
            "p": d.p_value, "adjusted_p": None, "level": LEVEL, "verdict": verdict}


def _final(view: ExperimentView) -> float | None:
    return view.final.test_accuracy.mean if view.final and view.final.test_accuracy else None


def _claim(kind: str, group: tuple[str, str], a: ExperimentView, b: ExperimentView, d: Difference) -> Claim:
    name, title = group
    return Claim(id=f"{name}/{a.name}-vs-{b.name}" if kind == "baseline" else f"{name}/spread", kind=kind,
                 group=name, group_title=title, experiments=(a.name, b.name), titles=(a.title, b.title), metric=METRIC,
                 values=(_final(a), _final(b)), section=f"group-{name}", **_judged(d))


def group_claims(group: tuple[str, str], members: list[ExperimentView], baseline: ExperimentView | None) -> list[Claim]:
    """A group's (name, title) claims in the order its section makes them: the spread of its members, then each member
    against the baseline. Pairs the report does not compare (different epoch counts, no shared seed) make
    no claim."""
    trained = [m for m in members if m.epochs]
    claims = []
    if len({len(m.epochs) for m in trained}) == 1:
        spread = accuracy_spread(trained)
        if spread is not None:
            claims.append(_claim("spread", group, most_accurate(trained), least_accurate(trained), spread))
    if baseline is not None:
        for member in members:
            if member.name != baseline.name:
                c = compare(member, baseline, speed=False)
                if c.accuracy is not None:
                    claims.append(_claim("baseline", group, member, baseline, c.accuracy))
    return claims


def suite_claims(suite: Suite, views: dict[str, ExperimentView]) -> list[Claim]:
    """Every group's claims, groups in file order."""
    claims = []
    for g in suite.groups.values():
        members = [views[n] for n in g.experiments if n in views]
        claims += group_claims((g.name, g.title), members, views.get(g.baseline) if g.baseline else None)
    return claims
