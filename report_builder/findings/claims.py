"""The report's tested claims: every experiment against its group's baseline, once per pair across the report,
each a Claim with its per-seed values, difference, 95% CI, test, p, family, Holm-adjusted p, verdict, wins and
what its design could detect; and each sweep's comparisons with its best value, adjusted alike.

Families ([report] family) are declared before any number is looked at, from the configuration alone:
"question" (the default) makes each group's comparisons one family ("group:NAME") and each sweep's another
("sweep:NAME") — the assignment asks separate questions; "report" makes all of them one family ("report").
Holm's adjustment within a family bounds the chance of any false "beyond seed noise" in it at LEVEL. The
verdict (statistics.verdict) is on the adjusted p. Comparisons picked after seeing the numbers (best against
worst) are in no family and never tested. The reproduction's tests are a family of their own
(analysis/reproduction.py); gradient comparisons are described, not tested (analysis/gradients.py).

A claim's power is the design's, not its own seeds': one planning SD per family (power.planning_sd, pooled
over the family's experiments and seeds), at Holm's strictest threshold LEVEL ÷ the family's size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable

from report_builder.analysis import power
from report_builder.analysis.precision import spread_decimals
from report_builder.analysis.predictions import ImageComparison, compare_images
from report_builder.analysis.statistics import (
    ACCURACY_BOUNDS,
    LEVEL,
    MIN_SEEDS,
    Difference,
    OneSample,
    difference,
    holm,
    one_sample,
    verdict,
)
from report_builder.analysis.sweeps import SweepView
from report_builder.analysis.views import ExperimentView

MARGIN = 0.01
"""The difference (a fraction: 1 point of accuracy) for which the report says how many seeds would detect it."""

QUESTION, REPORT = "question", "report"
"""The [report] family choices (config.FAMILIES)."""


def family_name(choice: str, kind: str, name: str) -> str:
    """The family a group's ("group") or sweep's ("sweep") tests belong to under [report] family = choice."""
    return REPORT if choice == REPORT else f"{kind}:{name}"


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
    """Holm-adjusted p over the claim's family; None where no test was possible."""
    family: str = ""
    """"group:NAME" or "report" (family_name)."""
    family_size: int = 0
    """The tests in the family (Holm's m)."""
    planning: power.PlanningSD | None = None
    """The family's planning SD, which `detectable` and `seeds_for_margin` use."""
    detectable: float | None = None
    """The smallest true difference this design (its seeds, the planning SD, Holm's strictest threshold) detects
    with probability power.POWER (a fraction); None without a test."""
    seeds_for_margin: int | None = None
    """Seeds a paired comparison needs to detect MARGIN with probability power.POWER; None: more than
    power.MAX_SEEDS."""
    test_set: ImageComparison | None = None
    """Where both stored per-image predictions: the interval over seeds and test images, and McNemar's check of
    one seed; None for results without them."""

    @property
    def verdict(self) -> str:
        """statistics.verdict on the adjusted p: beyond_noise, not_significant_after_correction, within_noise
        or untestable."""
        return verdict(self.difference.p_value, self.p_adjusted)

    @property
    def beyond_noise(self) -> bool | None:
        return None if self.p_adjusted is None else self.p_adjusted < LEVEL

    @property
    def decimals(self) -> int:
        """Decimals of the difference in points: the precision rule on its standard error; one without a test,
        two where every seed moved alike (no error: an accuracy on 10,000 images moves in steps of 0.01)."""
        se = self.difference.se
        if se is None:
            return 1
        return max(0, spread_decimals(100 * se)) if se else 2

    @property
    def means(self) -> tuple[float, float]:
        """The experiment's and the baseline's final means over the seeds compared (difference.seeds: the shared
        seeds when paired, every run when not), whose difference is the estimate."""
        seeds = self.difference.seeds
        a = [v for s, v in self.values.items() if s in seeds]
        b = [v for s, v in self.baseline_values.items() if s in seeds]
        return sum(a) / len(a), sum(b) / len(b)

    @property
    def value_decimals(self) -> int:
        """Decimals of the two values printed beside the difference: `decimals`, or one more where the values
        at `decimals` would not differ by the printed difference (86.79 − 87.06 beside −0.26 needs 86.793 and
        87.057), so that the printed numbers add up."""
        a, b = (100 * m for m in self.means)
        delta = round(100 * self.difference.delta, self.decimals)
        agree = abs(round(a, self.decimals) - round(b, self.decimals) - delta) < 10 ** -(self.decimals + 3)
        return self.decimals if agree else self.decimals + 1

    @property
    def shown(self) -> tuple[float, float, float]:
        """(experiment, baseline, difference) in points as the report prints them: the means over the seeds
        compared at `value_decimals`, and the estimate at `decimals`."""
        a, b = (round(100 * m, self.value_decimals) for m in self.means)
        return a, b, round(100 * self.difference.delta, self.decimals)

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
    different epochs (finals that are not like for like)."""
    if member.final is None or baseline.final is None or member.final.epoch != baseline.final.epoch:
        return None
    values = {s: m[metric] for s, m in member.final_by_seed.items() if m.get(metric) is not None}
    base = {s: m[metric] for s, m in baseline.final_by_seed.items() if m.get(metric) is not None}
    d = difference(values, base)
    if d is None:
        return None
    return Claim(kind="accuracy_vs_baseline", group=group, experiment=member.name, baseline=baseline.name,
                 metric=metric, epoch=member.final.epoch, values=values, baseline_values=base, difference=d,
                 test_set=compare_images(member, baseline))


def power_level(family_size: int) -> float:
    """The level at which a claim's power is stated: Holm's first, strictest threshold, LEVEL / family size. A
    claim may face it, so a difference detectable there is detectable whatever its rank in the family."""
    return LEVEL / max(family_size, 1)


def _with_power(claim: Claim, planning: power.PlanningSD | None) -> Claim:
    if planning is None or claim.difference.p_value is None or claim.difference.n < MIN_SEEDS:
        return dataclasses.replace(claim, planning=planning)
    alpha, sd = power_level(claim.family_size), planning.difference
    return dataclasses.replace(claim, planning=planning, detectable=power.detectable_difference(sd, claim.difference.n, alpha),
                               seeds_for_margin=power.seeds_needed(sd, MARGIN, alpha=alpha))


def _pairs(groups: Iterable[tuple[str, list[ExperimentView], ExperimentView | None]]) -> list[Claim]:
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
    return list(claims.values())


def settle(groups: Iterable[tuple[str, list[ExperimentView], ExperimentView | None]], sweeps: list[SweepView] = (),
           choice: str = QUESTION) -> tuple[list[Claim], list[SweepView]]:
    """Every member of every (name, members, baseline) group against its baseline, once per pair, in order, and
    the sweeps, each test Holm-adjusted within its family (`choice`), each claim with its family's power."""
    claims = _pairs(groups)
    tests: dict[str, list[tuple[object, float]]] = {}  # family → [(claim or sweep point, p)]
    for c in claims:
        if c.difference.p_value is not None:
            tests.setdefault(family_name(choice, "group", c.group), []).append((c, c.difference.p_value))
    for s in sweeps:
        for p in s.tests:
            tests.setdefault(family_name(choice, "sweep", s.name), []).append((p, p.vs_best.p_value))
    adjusted: dict[int, tuple[float, int]] = {}
    for members in tests.values():
        for (item, _), p in zip(members, holm([p for _, p in members])):
            adjusted[id(item)] = (p, len(members))
    plans = _planning(claims, sweeps, choice)
    settled = []
    for c in claims:
        name = family_name(choice, "group", c.group)
        p, size = adjusted.get(id(c), (None, len(tests.get(name, ()))))
        settled.append(_with_power(dataclasses.replace(c, p_adjusted=p, family=name, family_size=size), plans.get(name)))
    if choice == REPORT:
        # analysis/sweeps.py adjusted each sweep as its own family; here they join the report's.
        sweeps = [_in_report(s, adjusted, len(tests.get(REPORT, ()))) for s in sweeps]
    return settled, list(sweeps)


def _in_report(sweep: SweepView, adjusted: dict[int, tuple[float, int]], size: int) -> SweepView:
    points = [dataclasses.replace(p, adjusted_p=adjusted.get(id(p), (None,))[0], family=REPORT, family_size=size)
              if p.vs_best is not None else p for p in sweep.points]
    best = next((p for p in points if sweep.best is not None and p.label == sweep.best.label), None)
    return dataclasses.replace(sweep, points=points, best=best)


def _planning(claims: list[Claim], sweeps: list[SweepView], choice: str) -> dict[str, power.PlanningSD | None]:
    """Each family's planning SD, pooled over its experiments (each once) and their seeds' final values."""
    samples: dict[str, dict[str, list[float]]] = {}
    for c in claims:
        family = samples.setdefault(family_name(choice, "group", c.group), {})
        family[c.experiment], family[c.baseline] = list(c.values.values()), list(c.baseline_values.values())
    for s in sweeps:
        family = samples.setdefault(family_name(choice, "sweep", s.name), {})
        for p in s.measured:
            family[p.experiment.name if p.experiment else p.label] = list(p.by_seed.values())
    return {name: power.planning_sd(found.values()) for name, found in samples.items()}


def family(groups: Iterable[tuple[str, list[ExperimentView], ExperimentView | None]],
           choice: str = QUESTION) -> list[Claim]:
    """The claims of `groups` (settle without sweeps)."""
    return settle(groups, (), choice)[0]


def against(view: ExperimentView, value: float, metric: str = "test_accuracy") -> OneSample | None:
    """An experiment's final metric over its seeds against a fixed value (chance accuracy), by the one-sample
    t-test. A family of its own: it compares with a known number, not with another experiment."""
    values = [m[metric] for m in view.final_by_seed.values() if m.get(metric) is not None]
    return one_sample(values, value, ACCURACY_BOUNDS)
