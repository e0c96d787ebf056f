"""Do our results reproduce a reference's (the 2021 writeup's)?

The rule, as the report states it: the reference's final test accuracy is one run. One more run of our
recipe lands within 2 × SD × √(1 + 1/n) of our mean over n seeds about 95% of the time (SD the sample
standard deviation over our seeds), so a reference value inside that band is reproduced. With one seed
of ours there is no SD, and the [reference] tolerance (points) is the band instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from report_builder.config.reference import Reference
from report_builder.results.analysis import ExperimentView, Stat


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
    band_points: float | None
    """Half-width of the band, in points."""
    rule: str
    """"spread" (2 × SD × √(1 + 1/n)) or "tolerance" (one seed of ours)."""

    @property
    def delta_points(self) -> float | None:
        if self.ours is None or self.reference_accuracy is None:
            return None
        return 100 * (self.ours.mean - self.reference_accuracy)

    @property
    def reproduced(self) -> bool | None:
        """None where it cannot be judged (no accuracy on one side, or our run is shorter)."""
        if self.delta_points is None or self.band_points is None:
            return None
        return abs(self.delta_points) <= self.band_points


def reproduction(view: ExperimentView, reference: Reference) -> Reproduction | None:
    """None when the reference has nothing for this experiment."""
    final = reference.final(view.name)
    if final is None:
        return None
    epoch, values = final
    ours = next((e.test_accuracy for e in view.epochs if e.epoch == epoch), None)
    if ours is not None and ours.std is not None and ours.n > 1:
        band, rule = 100 * 2 * ours.std * math.sqrt(1 + 1 / ours.n), "spread"
    else:
        band, rule = (reference.tolerance_points if ours is not None else None), "tolerance"
    return Reproduction(experiment=view, epoch=epoch, reference_accuracy=values.get("test_accuracy"), ours=ours,
                        reference_seconds=values.get("train_seconds"), band_points=band, rule=rule)
