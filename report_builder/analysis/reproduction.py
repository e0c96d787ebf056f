"""Do our results reproduce a reference's (the 2021 writeup's)? Three outcomes, as the report states them.

The reference's final test accuracy is one run. With n ≥ 2 seeds of ours:
- NOT_REPRODUCED: it lies outside our 95% prediction interval, mean ± t(0.975, n − 1) · SD · √(1 + 1/n),
  where one more run of our recipe lands 95% of the time;
- REPRODUCED: two one-sided t-tests (standard error SD · √(1 + 1/n), n − 1 df) show it within
  ± [reference] tolerance_points of our recipe at the 5% level (statistics.equivalence);
- INCONCLUSIVE: neither — too few seeds to tell.
With one seed of ours there is no SD: the only known uncertainty is test-set sampling, one run's binomial
standard error √(p(1 − p)/N) on N test images, on each side; the same three outcomes use a normal interval
and normal TOST with that standard error (a lower bound on the true noise, which seeds add to).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from report_builder.config.reference import Reference
from report_builder.analysis.views import ExperimentView, Stat
from report_builder.analysis.statistics import (
    LEVEL,
    binomial_se,
    equivalence,
    equivalence_normal,
    normal_quantile,
    prediction_interval,
)

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not_reproduced", "inconclusive"

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
    """The 95% interval (fractions) the reference must lie in not to be "not reproduced"."""
    high: float | None = None
    equivalence_p: float | None = None
    """The TOST p (equivalent within ± margin_points when below LEVEL)."""
    rule: str = "seeds"
    """"seeds" (prediction interval and t-tests from our SD over seeds) or "test_sampling" (one seed of ours:
    binomial standard errors)."""
    standard_error_points: float | None = None
    """For "test_sampling": the standard error of the gap, in points."""

    @property
    def delta_points(self) -> float | None:
        if self.ours is None or self.reference_accuracy is None:
            return None
        return 100 * (self.ours.mean - self.reference_accuracy)

    @property
    def outcome(self) -> str | None:
        """REPRODUCED, NOT_REPRODUCED or INCONCLUSIVE; None where it cannot be judged (no accuracy on one side,
        or our run is shorter)."""
        if self.reference_accuracy is None or self.low is None or self.equivalence_p is None:
            return None
        if not self.low <= self.reference_accuracy <= self.high:
            return NOT_REPRODUCED
        return REPRODUCED if self.equivalence_p < LEVEL else INCONCLUSIVE

    @property
    def reproduced(self) -> bool | None:
        """True: reproduced; False: not reproduced; None: inconclusive or not judged."""
        return {REPRODUCED: True, NOT_REPRODUCED: False}.get(self.outcome)


def reproduction(view: ExperimentView, reference: Reference) -> Reproduction | None:
    """None when the reference has nothing for this experiment."""
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
    margin = reference.tolerance_points / 100
    per_seed = [r[epoch - 1]["test_accuracy"] for r in view.per_seed.values()
                if len(r) >= epoch and _finite(r[epoch - 1].get("test_accuracy"))]
    if len(per_seed) >= 2:
        interval = prediction_interval(per_seed)
        return Reproduction(**common, low=interval.low, high=interval.high,
                            equivalence_p=equivalence(per_seed, theirs, margin))
    n_test = view.provenance.get("test_examples") or TEST_EXAMPLES
    se = math.sqrt(binomial_se(ours.mean, n_test) ** 2 + binomial_se(theirs, n_test) ** 2)
    half = normal_quantile() * se
    return Reproduction(**common, low=ours.mean - half, high=ours.mean + half,
                        equivalence_p=equivalence_normal(ours.mean - theirs, se, margin), rule="test_sampling",
                        standard_error_points=100 * se)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
