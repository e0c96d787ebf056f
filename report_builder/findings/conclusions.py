"""The report's tested claims (claims.family) as flat records: what is compared, the numbers, the test, the
Holm-adjusted p and the verdict. claims.json exports them, "What changed" compares them across results, and
Findings states them first; templates/claims/ words each one.

Only the declared family is here: every member against its group's baseline. A best-against-worst range is
picked after seeing the data, so it is never tested and never a conclusion (the group sections describe it).
"""

from __future__ import annotations

from dataclasses import dataclass

from report_builder.config import Suite
from report_builder.analysis.views import ExperimentView
from report_builder.findings.claims import Claim, family
from report_builder.analysis.statistics import LEVEL

METRIC = "test_accuracy"
"""The metric conclusions are about: final test accuracy (a fraction)."""


@dataclass(frozen=True)
class Conclusion:
    """One claim of the family: experiments[0] (a member) against experiments[1] (its group's baseline)."""

    id: str
    """"GROUP/A-vs-B": the same comparison keeps its id across results, so that a flip can be found."""
    kind: str
    """"baseline": a member against its group's baseline (the only kind the family holds)."""
    group: str
    group_title: str
    experiments: tuple[str, str]
    titles: tuple[str, str]
    metric: str
    values: tuple[float | None, float | None]
    """Each experiment's final mean over all its seeds, as the tables show it."""
    difference: float
    """experiments[0] − experiments[1]: mean of the per-seed differences (paired) or of the runs (Welch)."""
    seeds: tuple[int, ...]
    interval: tuple[float, float] | None
    """95% confidence interval of the difference; None where no test was possible."""
    test: str | None
    """statistics.PAIRED or statistics.WELCH; None with too few runs."""
    p: float | None
    """The test's two-sided p, before adjustment."""
    adjusted_p: float | None
    """Holm-adjusted over the report's family: the p the verdict uses."""
    family_size: int
    wins: int | None
    """Seeds on which experiments[0] was above experiments[1] (paired only)."""
    detectable: float | None
    """The smallest true difference the design detects at 80% power (paired; a fraction)."""
    level: float
    verdict: str
    """claims.BEYOND, claims.WITHIN or claims.UNTESTED."""
    section: str = ""
    """The HTML id of the section that states it ("group-NAME")."""

    @property
    def conclusion(self) -> tuple:
        """What the claim concludes: its verdict, and beyond noise also which experiment is ahead. Two claims
        with the same id and different conclusions are a flip."""
        if self.beyond_noise:
            return (self.verdict, self.experiments if self.difference > 0 else self.experiments[::-1])
        return (self.verdict,)

    def difference_points(self, decimals: int = 1) -> float:
        """The difference in points as printed beside the two values: where it is the difference of their
        means (every seed shared), the difference of the values as rounded, so that the three printed numbers
        agree ("86.5%, +7.1 points against 79.4%"); else the difference over the shared seeds."""
        a, b = self.values
        if a is not None and b is not None and abs((a - b) - self.difference) < 1e-12:
            return round(100 * a, decimals) - round(100 * b, decimals)
        return 100 * self.difference

    @property
    def estimate(self) -> float:
        """The difference as the report prints it (Claim.estimate)."""
        return self.difference

    @property
    def beyond_noise(self) -> bool:
        return self.adjusted_p is not None and self.adjusted_p < self.level


def _final(view: ExperimentView) -> float | None:
    return view.final.test_accuracy.mean if view.final and view.final.test_accuracy else None


def _conclusion(claim: Claim, titles: dict[str, str], views: dict[str, ExperimentView]) -> Conclusion:
    d = claim.difference
    a, b = views[claim.experiment], views[claim.baseline]
    return Conclusion(
        id=f"{claim.group}/{a.name}-vs-{b.name}", kind="baseline", group=claim.group, group_title=titles[claim.group],
        experiments=(a.name, b.name), titles=(a.title, b.title), metric=claim.metric, values=(_final(a), _final(b)),
        difference=d.delta, seeds=d.seeds, interval=None if d.low is None else (d.low, d.high), test=d.test,
        p=d.p_value, adjusted_p=claim.p_adjusted, family_size=claim.family_size, wins=d.wins,
        detectable=claim.detectable, level=LEVEL, verdict=claim.verdict, section=f"group-{claim.group}")


def conclusions(suite: Suite, views: dict[str, ExperimentView], claims: list[Claim]) -> list[Conclusion]:
    """The family's claims as conclusions, in the family's order (groups in file order)."""
    titles = {g.name: g.title for g in suite.groups.values()}
    return [_conclusion(c, titles, views) for c in claims]


def suite_claims(suite: Suite, views: dict[str, ExperimentView]) -> list[Conclusion]:
    """The family of these results, as conclusions: what "What changed" compares between two sets of results."""
    declared = [(g.name, [views[n] for n in g.experiments if n in views], views.get(g.baseline) if g.baseline else None)
                for g in suite.groups.values()]
    return conclusions(suite, views, family(declared))
