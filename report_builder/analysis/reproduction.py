"""Do our results reproduce a reference's (the 2021 writeup's)? Three outcomes, as the report states them.

The reference's final test accuracy is one run. With n ≥ statistics.MIN_SEEDS seeds of ours, two tests per
experiment, each Holm-adjusted over the experiments the reference has (the "reproduction" family, whatever
[report] family says: it asks its own question):
- NOT_REPRODUCED: the reference is not where one more run of our recipe would land — the two-sided t-test
  of the prediction interval mean ± t(0.975, n − 1) · SD · √(1 + 1/n) (statistics.prediction_p), adjusted p
  below the level;
- REPRODUCED: two one-sided t-tests (standard error SD · √(1 + 1/n), n − 1 df) show it within
  ± [reference] tolerance_points of our recipe (statistics.equivalence), adjusted p below the level;
- INCONCLUSIVE: neither.
Below MIN_SEEDS seeds there is no test (outcome None): one run's binomial error from the test images alone
would understate the noise that seeds add to it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from report_builder.analysis.precision import spread_decimals
from report_builder.analysis.statistics import (
    ACCURACY_BOUNDS,
    LEVEL,
    equivalence,
    holm,
    prediction_interval,
    prediction_p,
)
from report_builder.analysis.views import ExperimentView, Stat
from report_builder.config.reference import Reference

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not_reproduced", "inconclusive"
FAMILY = "reproduction"

TEST_EXAMPLES = 10_000
"""Fashion-MNIST's test set: the N of the binomial standard error where a result does not record its own."""


@dataclass(frozen=True)
class Reproduction:
    experiment: ExperimentView
    epoch: int
    """The reference's last epoch, where both are compared."""
    reference_accuracy: float | None
    ours: Stat | None
    """Our test accuracy at that epoch, over seeds."""
    reference_seconds: float | None
    """The reference's training seconds per epoch (its own hardware): shown, never compared with ours."""
    margin_points: float
    """The equivalence margin ([reference] tolerance_points)."""
    low: float | None = None
    """The 95% prediction interval of one more run of ours (fractions, cut to 0–1); None below MIN_SEEDS seeds."""
    high: float | None = None
    difference_p: float | None = None
    """The prediction t-test's two-sided p (below LEVEL exactly when the reference is outside [low, high])."""
    equivalence_p: float | None = None
    """The TOST p (equivalent within ± margin_points when below LEVEL)."""
    difference_adjusted_p: float | None = None
    """difference_p, Holm-adjusted over the family: what NOT_REPRODUCED is decided by."""
    equivalence_adjusted_p: float | None = None
    """equivalence_p, Holm-adjusted over the family: what REPRODUCED is decided by."""
    family_size: int = 0
    """The experiments of the family with a test (Holm's m)."""
    family: str = FAMILY

    @property
    def decimals(self) -> int:
        """The decimals, in points, that ours is printed with (the precision rule on its SD; one run: 1); the
        reference and Δ are printed with them too, so that Δ is the difference of the printed values."""
        if self.ours is None or not self.ours.std:
            return 1
        return max(0, spread_decimals(100 * self.ours.std))

    @property
    def delta_points(self) -> float | None:
        """Ours − the reference in points, as the difference of the two values as printed (at `decimals`)."""
        if self.ours is None or self.reference_accuracy is None:
            return None
        return round(100 * self.ours.mean, self.decimals) - round(100 * self.reference_accuracy, self.decimals)

    @property
    def outside_interval(self) -> bool | None:
        """Whether the reference lies outside our 95% prediction interval (unadjusted)."""
        return None if self.difference_p is None else self.difference_p < LEVEL

    @property
    def outcome(self) -> str | None:
        """REPRODUCED, NOT_REPRODUCED or INCONCLUSIVE on the adjusted p's; None where it cannot be judged (no
        accuracy on one side, our run is shorter, or fewer than MIN_SEEDS seeds)."""
        if self.difference_adjusted_p is None or self.equivalence_adjusted_p is None:
            return None
        if self.difference_adjusted_p < LEVEL:
            return NOT_REPRODUCED
        return REPRODUCED if self.equivalence_adjusted_p < LEVEL else INCONCLUSIVE

    @property
    def reproduced(self) -> bool | None:
        """True: reproduced; False: not reproduced; None: inconclusive or not judged."""
        return {REPRODUCED: True, NOT_REPRODUCED: False}.get(self.outcome)


def reproduction(view: ExperimentView, reference: Reference) -> Reproduction | None:
    """One experiment against the reference, unadjusted (reproductions adjusts a family of them); None when the
    reference has nothing for this experiment."""
    final = reference.final(view.name)
    if final is None:
        return None
    epoch, values = final
    ours = next((e.test_accuracy for e in view.epochs if e.epoch == epoch), None)
    theirs = values.get("test_accuracy")
    common = dict(experiment=view, epoch=epoch, reference_accuracy=theirs, ours=ours,
                  reference_seconds=values.get("train_seconds"), margin_points=reference.tolerance_points)
    if ours is None or theirs is None:
        return Reproduction(**common)
    per_seed = [r[epoch - 1]["test_accuracy"] for r in view.per_seed.values()
                if len(r) >= epoch and _finite(r[epoch - 1].get("test_accuracy"))]
    interval = prediction_interval(per_seed, ACCURACY_BOUNDS)
    if interval is None:
        return Reproduction(**common)
    return Reproduction(**common, low=interval.low, high=interval.high, difference_p=prediction_p(per_seed, theirs),
                        equivalence_p=equivalence(per_seed, theirs, reference.tolerance_points / 100))


def reproductions(views: list[ExperimentView], reference: Reference) -> list[Reproduction]:
    """Every experiment the reference has, in order, each test Holm-adjusted over those with a test."""
    found = [r for r in (reproduction(v, reference) for v in views) if r is not None]
    tested = [r for r in found if r.difference_p is not None]
    differences = holm([r.difference_p for r in tested])
    equivalences = holm([r.equivalence_p for r in tested])
    adjusted = {id(r): (d, e) for r, d, e in zip(tested, differences, equivalences)}
    return [dataclasses.replace(r, difference_adjusted_p=adjusted[id(r)][0], equivalence_adjusted_p=adjusted[id(r)][1],
                                family_size=len(tested)) if id(r) in adjusted else r
            for r in found]


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
