"""The report's conclusions as flat records — what claims.json exports, "What changed" compares across results
and Findings states first; templates/claims/ words each one. Three kinds:

- "baseline": a member against its group's baseline, tested (claims.settle: family, Holm-adjusted p, verdict);
- "spread": in a group without a baseline, its most against its least accurate member — a pair picked after
  seeing the data, so described and never tested (verdict "untestable");
- "reproduction": an experiment against the reference's number (analysis/reproduction.py: the "reproduction"
  family; verdict reproduced / not_reproduced / inconclusive / untestable).
"""

from __future__ import annotations

from dataclasses import dataclass

from report_builder.analysis.precision import spread_decimals
from report_builder.analysis.reproduction import Reproduction, reproductions
from report_builder.analysis.statistics import LEVEL, UNTESTABLE
from report_builder.analysis.sweeps import sweep_view
from report_builder.analysis.views import ExperimentView, Stat
from report_builder.config import Suite
from report_builder.findings.claims import Claim, settle
from report_builder.findings.comparison import least_accurate, most_accurate

METRIC = "test_accuracy"
"""The metric conclusions are about: final test accuracy (a fraction)."""

BASELINE, SPREAD, REPRODUCTION = "baseline", "spread", "reproduction"


@dataclass(frozen=True)
class Conclusion:
    """One conclusion: experiments[0] against experiments[1] (a member and its group's baseline; the most and
    least accurate of a group; or an experiment and the reference)."""

    id: str
    """"GROUP/A-vs-B", "GROUP/spread" or "reproduction/A": kept across results, so that a flip can be found."""
    kind: str
    """BASELINE, SPREAD or REPRODUCTION."""
    group: str | None
    """The group; None for a reproduction."""
    group_title: str
    experiments: tuple[str, str]
    """For a reproduction: (the experiment, "reference")."""
    titles: tuple[str, str]
    metric: str
    values: tuple[float | None, float | None]
    """Each side's final mean over all its seeds (the reference: its one value)."""
    difference: float
    """experiments[0] − experiments[1]: mean of the per-seed differences (paired) or of the runs (Welch)."""
    seeds: tuple[int, ...]
    interval: tuple[float, float] | None
    """95% confidence interval of the difference (for a reproduction: the 95% prediction interval of one more
    run of ours, which the reference is tested against); None where no test was possible."""
    test: str | None
    p: float | None
    """The test's two-sided p, before adjustment (a reproduction: the prediction t-test's)."""
    adjusted_p: float | None
    """Holm-adjusted over `family`: the p the verdict uses."""
    family: str | None
    """"group:NAME", "report" or "reproduction"; None for a spread, which is not tested."""
    family_size: int
    wins: int | None
    """Seeds on which experiments[0] was above experiments[1] (paired only)."""
    detectable: float | None
    """The smallest true difference the design detects at 80% power (paired; a fraction)."""
    level: float
    verdict: str
    """statistics.VERDICTS (baseline, spread), or reproduced / not_reproduced / inconclusive / untestable."""
    decimals: int = 1
    """Decimals, in points, of the difference and of the values printed beside it (the precision rule on its
    standard error; a reproduction's on our SD)."""
    shown: tuple[float | None, float | None, float | None] = (None, None, None)
    """(value, value, difference) in points as printed: the difference at `decimals`, the values at
    `value_decimals`, so that they add up."""
    value_decimals: int = 1
    """Decimals of the values printed beside the difference (`decimals`, or one more where needed to add up)."""
    section: str = ""
    """The HTML id of the section that states it ("group-NAME", "reproduction")."""
    seeds_and_images: tuple[float, float] | None = None
    """The difference's 95% interval over seeds and test images (stored predictions); None without them."""
    check: dict | None = None
    """McNemar's check of one seed: {"seed", "p", "a_only", "b_only"}; None without predictions."""
    equivalence_p: float | None = None
    """A reproduction's TOST p, and Holm-adjusted over the family."""
    equivalence_adjusted_p: float | None = None
    margin_points: float | None = None

    @property
    def conclusion(self) -> tuple:
        """What the claim concludes: its verdict, and beyond noise also which experiment is ahead. Two claims
        with the same id and different conclusions are a flip."""
        if self.beyond_noise:
            return (self.verdict, self.experiments if self.difference > 0 else self.experiments[::-1])
        return (self.verdict,)

    def difference_points(self) -> float:
        """The difference in points as printed (shown[2])."""
        return self.shown[2] if self.shown[2] is not None else round(100 * self.difference, self.decimals)

    @property
    def estimate(self) -> float:
        """The difference as the report prints it (Claim.estimate)."""
        return self.difference

    @property
    def beyond_noise(self) -> bool:
        return self.kind == BASELINE and self.adjusted_p is not None and self.adjusted_p < self.level


def _final(view: ExperimentView) -> float | None:
    return view.final.test_accuracy.mean if view.final and view.final.test_accuracy else None


def baseline_conclusion(claim: Claim, title: str, views: dict[str, ExperimentView]) -> Conclusion:
    d, t = claim.difference, claim.test_set
    a, b = views[claim.experiment], views[claim.baseline]
    return Conclusion(
        id=f"{claim.group}/{a.name}-vs-{b.name}", kind=BASELINE, group=claim.group, group_title=title,
        experiments=(a.name, b.name), titles=(a.title, b.title), metric=claim.metric, values=(_final(a), _final(b)),
        difference=d.delta, seeds=d.seeds, interval=None if d.low is None else (d.low, d.high), test=d.test,
        p=d.p_value, adjusted_p=claim.p_adjusted, family=claim.family, family_size=claim.family_size, wins=d.wins,
        detectable=claim.detectable, level=LEVEL, verdict=claim.verdict, decimals=claim.decimals, shown=claim.shown,
        value_decimals=claim.value_decimals,
        section=f"group-{claim.group}",
        seeds_and_images=None if t is None or t.interval is None else (t.interval.low, t.interval.high),
        check=None if t is None else {"seed": t.check_seed, "p": t.check.p_value, "a_only": t.check.a_only,
                                      "b_only": t.check.b_only})


def _decimals(*stats: Stat | None) -> int:
    """The coarser of the values' printed decimals (the precision rule on each SD; one run: 1)."""
    found = [spread_decimals(100 * s.std) for s in stats if s is not None and s.std]
    return max(0, min(found)) if found else 1


def spread_conclusion(group, views: list[ExperimentView]) -> Conclusion | None:
    """A group without a baseline: its most against its least accurate member, described; None with fewer
    than two scored members or one number of epochs not shared by all."""
    scored = [v for v in views if v.final is not None and v.final.test_accuracy is not None]
    if len(scored) < 2 or len({v.final.epoch for v in scored}) > 1:
        return None
    top, bottom = most_accurate(scored), least_accurate(scored)
    places = _decimals(top.final.test_accuracy, bottom.final.test_accuracy)
    a, b = round(100 * _final(top), places), round(100 * _final(bottom), places)
    return Conclusion(
        id=f"{group.name}/spread", kind=SPREAD, group=group.name, group_title=group.title,
        experiments=(top.name, bottom.name), titles=(top.title, bottom.title), metric=METRIC,
        values=(_final(top), _final(bottom)), difference=_final(top) - _final(bottom),
        seeds=tuple(sorted(set(top.final_by_seed) | set(bottom.final_by_seed))), interval=None, test=None, p=None,
        adjusted_p=None, family=None, family_size=0, wins=None, detectable=None, level=LEVEL, verdict=UNTESTABLE,
        decimals=places, shown=(a, b, round(a - b, places)), value_decimals=places, section=f"group-{group.name}")


def reproduction_conclusion(r: Reproduction, label: str) -> Conclusion | None:
    """An experiment against the reference; None where either side has no accuracy."""
    if r.ours is None or r.reference_accuracy is None:
        return None
    v, places = r.experiment, r.decimals
    a, b = round(100 * r.ours.mean, places), round(100 * r.reference_accuracy, places)
    return Conclusion(
        id=f"reproduction/{v.name}", kind=REPRODUCTION, group=None, group_title=label,
        experiments=(v.name, "reference"), titles=(v.title, label), metric=METRIC,
        values=(r.ours.mean, r.reference_accuracy), difference=r.ours.mean - r.reference_accuracy,
        seeds=tuple(sorted(s for s, run in v.per_seed.items() if len(run) >= r.epoch)),
        interval=None if r.low is None else (r.low, r.high),
        test=None if r.difference_p is None else "prediction t-test and TOST", p=r.difference_p,
        adjusted_p=r.difference_adjusted_p, family=r.family if r.difference_p is not None else None,
        family_size=r.family_size, wins=None, detectable=None, level=LEVEL, verdict=r.outcome or UNTESTABLE,
        decimals=places, shown=(a, b, r.delta_points), value_decimals=places, section="reproduction",
        equivalence_p=r.equivalence_p,
        equivalence_adjusted_p=r.equivalence_adjusted_p, margin_points=r.margin_points)


def conclusions(suite: Suite, views: dict[str, ExperimentView], claims: list[Claim],
                found: list[Reproduction] = ()) -> list[Conclusion]:
    """Groups in file order — each group's claims, or its spread where it has no baseline — then the
    reproductions."""
    titles = {g.name: g.title for g in suite.groups.values()}
    records = []
    for g in suite.groups.values():
        if g.baseline:
            records += [baseline_conclusion(c, titles[c.group], views) for c in claims if c.group == g.name]
        else:
            spread = spread_conclusion(g, [views[n] for n in g.experiments if n in views])
            records += [spread] if spread else []
    label = suite.reference.label if suite.reference else "reference"
    return records + [c for c in (reproduction_conclusion(r, label) for r in found) if c is not None]


def suite_claims(suite: Suite, views: dict[str, ExperimentView]) -> list[Conclusion]:
    """The conclusions of these results: what "What changed" compares between two sets of results."""
    declared = [(g.name, [views[n] for n in g.experiments if n in views], views.get(g.baseline) if g.baseline else None)
                for g in suite.groups.values()]
    sweeps = [sweep_view(s, views) for s in suite.sweeps.values() if any(p.experiment in views for p in s.points)]
    claims, _ = settle(declared, sweeps, suite.family)
    found = reproductions(list(views.values()), suite.reference) if suite.reference else []
    return conclusions(suite, views, claims, found)
