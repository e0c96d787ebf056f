"""The report's family of tested claims: every experiment against its group's baseline, once per pair across
the report, each a Claim with its per-seed values, difference, 95% CI, test, p, Holm-adjusted p, verdict,
wins and what the design could detect.

The family is declared before the data are looked at (it follows from the groups' baselines alone), so
Holm's adjustment over it bounds the chance of any false "beyond seed noise" in the report at LEVEL.
Comparisons picked after seeing the numbers (best against worst) are not in it and are never tested.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable

from report_builder.analysis import power
from report_builder.analysis.views import ExperimentView
from report_builder.analysis.statistics import LEVEL, Difference, OneSample, difference, holm, one_sample

MARGIN = 0.01
"""The difference (a fraction: 1 point of accuracy) for which the report says how many seeds would detect it."""

BEYOND, WITHIN, UNTESTED = "beyond_noise", "within_noise", "untested"
NOT_SIGNIFICANT = "not_significant_after_correction"
"""The interval (unadjusted) excludes 0, but the Holm-adjusted p is not below LEVEL."""


@dataclass(frozen=True)
class Claim:
    """One tested statement: `experiment` − `baseline` in `metric` after `epoch`, over seeds."""

    kind: str
    """"accuracy_vs_baseline" (the only kind so far)."""
    group: str
    """The first group (in config order) whose baseline the pair is compared against."""
    experiment: str
    baseline: str
    metric: str
    epoch: int
    values: dict[int, float]
    """The experiment's final metric, by seed."""
    baseline_values: dict[int, float]
    difference: Difference
    """experiment − baseline (fractions): estimate, CI, test, raw p, SD of the paired differences, wins."""
    p_adjusted: float | None = None
    """Holm-adjusted p over the family; None where no test was possible."""
    family_size: int = 0
    detectable: float | None = None
    """The smallest true difference this design detects with probability power.POWER (paired; a fraction)."""
    seeds_for_margin: int | None = None
    """Seeds a paired comparison needs to detect MARGIN with probability power.POWER, at the observed SD."""

    @property
    def verdict(self) -> str:
        """BEYOND (adjusted p < LEVEL); NOT_SIGNIFICANT (adjusted p ≥ LEVEL, but the unadjusted interval excludes
        0); WITHIN (adjusted p ≥ LEVEL, the interval includes 0); UNTESTED (too few runs for a test)."""
        if self.p_adjusted is None:
            return UNTESTED
        if self.p_adjusted < LEVEL:
            return BEYOND
        return NOT_SIGNIFICANT if self.difference.beyond_noise else WITHIN

    @property
    def beyond_noise(self) -> bool | None:
        return None if self.p_adjusted is None else self.p_adjusted < LEVEL

    # The names claims.json (conclusions.Conclusion) uses, so that one set of templates words either.
    @property
    def estimate(self) -> float:
        """experiment − baseline (a fraction): the difference the report prints."""
        return self.difference.delta

    @property
    def interval(self) -> tuple[float, float] | None:
        d = self.difference
        return None if d.low is None else (d.low, d.high)

    @property
    def adjusted_p(self) -> float | None:
        return self.p_adjusted

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(self.difference.seeds)

    @property
    def wins(self) -> int | None:
        return self.difference.wins

    @property
    def test(self) -> str | None:
        return self.difference.test


def pair_claim(group: str, member: ExperimentView, baseline: ExperimentView,
               metric: str = "test_accuracy") -> Claim | None:
    """member − baseline in a final metric; None where either has no final epoch or they stopped after
    different epochs (finals that are not like for like), or they share no runs to compare."""
    if member.final is None or baseline.final is None or member.final.epoch != baseline.final.epoch:
        return None
    values = {s: m[metric] for s, m in member.final_by_seed.items() if m.get(metric) is not None}
    base = {s: m[metric] for s, m in baseline.final_by_seed.items() if m.get(metric) is not None}
    d = difference(values, base)
    if d is None:
        return None
    return Claim(kind="accuracy_vs_baseline", group=group, experiment=member.name, baseline=baseline.name,
                 metric=metric, epoch=member.final.epoch, values=values, baseline_values=base, difference=d)


def power_level(family_size: int) -> float:
    """The level at which a claim's power is stated: Holm's first, strictest threshold, LEVEL / family size. A
    claim may face it, so a difference detectable there is detectable whatever its rank in the family."""
    return LEVEL / max(family_size, 1)


def _with_power(claim: Claim, family_size: int) -> Claim:
    d, alpha = claim.difference, power_level(family_size)
    if d.sd is None:
        return claim
    return dataclasses.replace(claim, detectable=power.detectable_difference(d.sd, d.n, alpha=alpha),
                               seeds_for_margin=power.seeds_needed(d.sd, MARGIN, alpha=alpha))


def family(groups: Iterable[tuple[str, list[ExperimentView], ExperimentView | None]]) -> list[Claim]:
    """Every member of every (name, members, baseline) group against its baseline, once per pair, in order,
    with Holm-adjusted p over those that could be tested."""
    claims: dict[tuple[str, str], Claim] = {}
    for name, members, baseline in groups:
        if baseline is None:
            continue
        for member in members:
            if member.name == baseline.name or (member.name, baseline.name) in claims:
                continue
            claim = pair_claim(name, member, baseline)
            if claim is not None:
                claims[member.name, baseline.name] = claim
    tested = [c for c in claims.values() if c.difference.p_value is not None]
    adjusted = dict(zip(map(id, tested), holm([c.difference.p_value for c in tested])))
    return [_with_power(dataclasses.replace(c, p_adjusted=adjusted.get(id(c)), family_size=len(tested)), len(tested))
            for c in claims.values()]


def against(view: ExperimentView, value: float, metric: str = "test_accuracy") -> OneSample | None:
    """An experiment's final metric over its seeds against a fixed value (chance accuracy), by the one-sample
    t-test. Not part of the family: it compares with a known number, not with another experiment."""
    values = [m[metric] for m in view.final_by_seed.values() if m.get(metric) is not None]
    return one_sample(values, value)
