"""A sweep's numbers: the final test accuracy of every seed at every point, each point's mean with its 95%
confidence interval, the best point, each other point's difference from it judged against seed noise,
and the shape of the curve (sweep_templates only format these).

The shape, over a single numeric key, from the means in the order of the swept values: "rises" (each
mean above the one before), "falls" (each below), else "peaks" where the best point lies inside the range
and "varies" where it lies at an end without the means being monotone. Whether the best point is at an end
of the range (`best_at_edge`) and whether the points on both sides of it are below it by more than seed
noise (`bracketed`) are stated separately: a monotone curve of means says nothing of noise. Each point's
difference from the best is tested and Holm-adjusted over the sweep ("sweep:NAME"; findings/claims.py
adjusts it over the whole report where [report] family = "report").
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass
from typing import Any

from scipy import stats

from report_builder.config import Sweep
from report_builder.analysis.views import ExperimentView
from report_builder.analysis.statistics import (
    ACCURACY_BOUNDS,
    BEYOND,
    MIN_SEEDS,
    NOT_AFTER_CORRECTION,
    WITHIN,
    Difference,
    bounded,
    difference,
    holm,
    verdict,
)

CONFIDENCE = 0.95
"""The confidence level of each point's interval, as the report states it."""

LOG_AXIS_RATIO = 10.0
"""Swept values, all positive, whose largest is at least this many times the smallest (a decade) are
drawn on a logarithmic axis."""


def against_best(best: dict[int, float], other: dict[int, float]) -> Difference | None:
    """The best point minus another, over their seeds: the one place a sweep judges a difference."""
    return difference(best, other)


def mean_interval(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The t interval of the mean of `values` (accuracies: cut to 0–1); None below statistics.MIN_SEEDS."""
    if len(values) < MIN_SEEDS:
        return None
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    if sd == 0.0:
        return mean, mean
    low, high = stats.t.interval(confidence, len(values) - 1, loc=mean, scale=sd / math.sqrt(len(values)))
    return bounded(float(low), float(high), ACCURACY_BOUNDS)


@dataclass(frozen=True)
class SweepPointView:
    """One point of a sweep as the report shows it."""

    label: str
    """"lr = 0.01" (every varied key)."""
    values: dict[str, Any]
    experiment: ExperimentView | None
    """None when the experiment has no current results (a partial render)."""
    by_seed: dict[int, float]
    """Final test accuracy of each seed that finished without diverging."""
    mean: float | None
    interval: tuple[float, float] | None
    """The CONFIDENCE interval of the mean; None with fewer than two seeds."""
    diverged: int
    """Seeds whose loss became NaN/inf (left out of the mean)."""
    vs_best: Difference | None = None
    """The best point minus this one (None for the best itself and for points without values)."""
    adjusted_p: float | None = None
    """vs_best's p, Holm-adjusted over its family; None without a test."""
    family: str = ""
    """The family it was adjusted in: "sweep:NAME" (each sweep one family), or "report" ([report] family)."""
    family_size: int = 0

    @property
    def seeds(self) -> list[int]:
        return sorted(self.by_seed)

    @property
    def verdict(self) -> str | None:
        """statistics.verdict of vs_best on the adjusted p; None for the best itself and points without values."""
        return None if self.vs_best is None else verdict(self.vs_best.p_value, self.adjusted_p)


@dataclass(frozen=True)
class SweepView:
    """A sweep as the report shows it: see the module's docstring for `shape`."""

    name: str
    title: str
    description: str
    keys: tuple[str, ...]
    points: list[SweepPointView]
    best: SweepPointView | None
    shape: str | None
    """"rises", "falls", "peaks" or "varies" (one numeric key, 2+ points with means); None otherwise."""
    log_axis: bool
    best_at_edge: bool | None
    """Whether the best value is the smallest or largest swept (one numeric key); None otherwise."""
    question: str | None = None
    """The question the sweep answers ([sweeps.NAME] question); None: not declared."""

    @property
    def x_key(self) -> str:
        return self.keys[0]

    @property
    def line_key(self) -> str | None:
        """The second key: one line per value of it."""
        return self.keys[1] if len(self.keys) > 1 else None

    @property
    def measured(self) -> list[SweepPointView]:
        """Points with a mean (some seed finished without diverging)."""
        return [p for p in self.points if p.mean is not None]

    @property
    def within_noise_of_best(self) -> list[SweepPointView]:
        """Points not shown below the best once adjusted (within noise, or not significant after correction)."""
        return [p for p in self.measured if p.verdict in (WITHIN, NOT_AFTER_CORRECTION)]

    @property
    def below_best(self) -> list[SweepPointView]:
        """Points below the best by more than seed noise (on the adjusted p)."""
        return [p for p in self.measured if p.verdict == BEYOND]

    @property
    def unjudged(self) -> list[SweepPointView]:
        """Points whose difference from the best has no test (fewer than statistics.MIN_SEEDS seeds)."""
        return [p for p in self.measured if p is not self.best and p.verdict not in (BEYOND, NOT_AFTER_CORRECTION, WITHIN)]

    @property
    def bracketed(self) -> bool:
        """The best point lies inside the range and its neighbours on both sides are below it beyond seed noise."""
        if len(self.keys) != 1 or self.best is None or self.best_at_edge is not False:
            return False
        ordered = sorted(self.measured, key=lambda p: p.values[self.keys[0]])
        index = ordered.index(self.best)
        return ordered[index - 1].verdict == BEYOND and ordered[index + 1].verdict == BEYOND

    @property
    def tests(self) -> list[SweepPointView]:
        """The points whose difference from the best was tested: the sweep's members of its family."""
        return [p for p in self.points if p.vs_best is not None and p.vs_best.p_value is not None]


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _point(label: str, values: dict[str, Any], view: ExperimentView | None) -> SweepPointView:
    by_seed = {}
    if view is not None and view.final is not None:
        by_seed = {s: m["test_accuracy"] for s, m in view.final_by_seed.items()
                   if m.get("test_accuracy") is not None and math.isfinite(m["test_accuracy"])}
    finals = list(by_seed.values())
    return SweepPointView(label=label, values=values, experiment=view, by_seed=by_seed,
                          mean=statistics.fmean(finals) if finals else None, interval=mean_interval(finals),
                          diverged=len(view.diverged) if view else 0)


def shape_of(means: list[float], best_index: int) -> str:
    """"rises", "falls", "peaks" or "varies" for means in the order of the swept values."""
    steps = list(zip(means, means[1:]))
    if all(b > a for a, b in steps):
        return "rises"
    if all(b < a for a, b in steps):
        return "falls"
    return "peaks" if 0 < best_index < len(means) - 1 else "varies"


def sweep_view(sweep: Sweep, views: dict[str, ExperimentView]) -> SweepView:
    points = [_point(p.label, dict(p.values), views.get(p.experiment)) for p in sweep.points]
    measured = [p for p in points if p.mean is not None]
    best = max(measured, key=lambda p: p.mean) if measured else None
    if best is not None:
        points = [dataclasses.replace(p, vs_best=against_best(best.by_seed, p.by_seed))
                  if p.mean is not None and p is not best else p for p in points]
        points = adjusted(points, f"sweep:{sweep.name}")
        best = next(p for p in points if p.label == best.label)
    xs = [p.values[sweep.keys[0]] for p in points]
    numeric = all(_numeric(x) for x in xs)
    log_axis = numeric and min(xs) > 0 and max(xs) / min(xs) >= LOG_AXIS_RATIO
    shape, at_edge = None, None
    if len(sweep.keys) == 1 and numeric and best is not None:
        ordered = sorted((p for p in points if p.mean is not None), key=lambda p: p.values[sweep.keys[0]])
        index = ordered.index(best)
        at_edge = index in (0, len(ordered) - 1)
        if len(ordered) >= 2:
            shape = shape_of([p.mean for p in ordered], index)
    return SweepView(name=sweep.name, title=sweep.title, description=sweep.description, keys=sweep.keys,
                     points=points, best=best, shape=shape, log_axis=log_axis, best_at_edge=at_edge,
                     question=sweep.question)


def adjusted(points: list[SweepPointView], family: str) -> list[SweepPointView]:
    """The points with their tests' p Holm-adjusted over the sweep's own tests, as one family."""
    tested = [p for p in points if p.vs_best is not None and p.vs_best.p_value is not None]
    p_values = dict(zip(map(id, tested), holm([p.vs_best.p_value for p in tested])))
    return [dataclasses.replace(p, adjusted_p=p_values.get(id(p)), family=family, family_size=len(tested))
            if p.vs_best is not None else p for p in points]
