"""Experiments against each other: whose run seconds compare, rankings by accuracy, each member against its
baseline (accuracy from the claims family, speed from the timing rounds' claims: speed.py), and one seed's
numbers side by side.

Every rule the report states about two or more experiments is decided here, from their views alone;
templates only put the verdicts into words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from report_builder.analysis.views import ExperimentView
from report_builder.findings.claims import Claim
from report_builder.analysis.statistics import Difference, difference
from report_builder.analysis.timing import RoundRatio
from report_builder.findings.speed import SpeedClaim


# ---- whose seconds compare -------------------------------------------------------------------------

def timed_alike(views: list[ExperimentView]) -> bool:
    """Whether these experiments' seconds were measured alike: one device, one torch thread count in every
    clean epoch (where the results record it), and every run alone or all in one stack. Alike is not enough
    to rank speed (see speed_unranked): shares of one stack's time are alike."""
    setups = [v.timing for v in views if v.timing is not None]
    if len(setups) < 2:
        return True
    if len({s.device for s in setups}) > 1:
        return False
    if len({n for s in setups for n in s.threads}) > 1:
        return False
    alone = all(s.stacked_with == 1 for s in setups)
    one_stack = len({(s.stacked_with, s.stack) for s in setups}) == 1 and setups[0].stacked_with > 1
    return alone or one_stack


def speed_unranked(views: list[ExperimentView]) -> str | None:
    """Why these experiments' training speeds may not be ranked against each other; None when they may.

    "not_alike": not timed alike (timed_alike). "stacked": timed alike, but in one stack, whose per-model
    shares of the stack's time say nothing of how fast each trains alone. "one": fewer than two
    experiments. "disturbed": some have no epoch timed on an otherwise idle machine.
    """
    if not timed_alike(views):
        return "not_alike"
    if any(v.stacked_with > 1 for v in views):
        return "stacked"
    if len(views) < 2:
        return "one"
    if any(v.mean_epoch_seconds is None for v in views):
        return "disturbed"
    return None


# ---- rankings ----------------------------------------------------------------------------------------

def _scored(views: Iterable[ExperimentView]) -> list[ExperimentView]:
    return [v for v in views if v.final is not None and v.final.test_accuracy is not None]


def most_accurate(views: Iterable[ExperimentView]) -> ExperimentView | None:
    """The experiment with the highest final (last-epoch) test accuracy."""
    scored = _scored(views)
    return max(scored, key=lambda v: v.final.test_accuracy.mean) if scored else None


def least_accurate(views: Iterable[ExperimentView]) -> ExperimentView | None:
    """The experiment with the lowest final (last-epoch) test accuracy; of equals the last, so that a tie is
    never reported as an experiment against itself."""
    scored = _scored(views)
    return min(reversed(scored), key=lambda v: v.final.test_accuracy.mean) if scored else None


# ---- accuracy against the baseline ----------------------------------------------------------------------

def final_difference(a: ExperimentView, b: ExperimentView, metric: str = "test_accuracy") -> Difference | None:
    """a − b in a final-epoch metric (see statistics.difference: paired over shared seeds, else Welch's)."""
    return difference({s: m[metric] for s, m in a.final_by_seed.items()},
                      {s: m[metric] for s, m in b.final_by_seed.items()})


@dataclass(frozen=True)
class Comparison:
    """One member of a group measured against the group's baseline."""

    experiment: ExperimentView
    speedup: float | None
    """Baseline training seconds per epoch ÷ this experiment's (>1: faster than the baseline), from the timing
    rounds (speed.estimate); None where the group is no comparison of speed or its speed claim is withheld."""
    accuracy_delta_points: float | None
    """Final test accuracy minus the baseline's, in percentage points (claim.difference.delta × 100)."""
    accuracy: Difference | None = None
    """The same difference (as a fraction) with its CI and unadjusted test (claim.difference)."""
    speed: RoundRatio | None = None
    """The speed-up with its interval over the kept timing rounds; None where speedup is."""
    speed_claim: SpeedClaim | None = None
    """The speed claim of this member and the baseline (speed.py), stated or withheld; None outside timing
    groups and for the baseline itself."""
    claim: Claim | None = None
    """The tested claim of the report's family (claims.family) for this member against the baseline; None for
    the baseline itself and where finals are not like for like."""


def compare(member: ExperimentView, baseline: ExperimentView | None, speed: SpeedClaim | None = None,
            claim: Claim | None = None) -> Comparison:
    """`speed` is this pair's speed claim (speed.speed_claims), `claim` its member of the report's family
    (claims.family), which decides the accuracy verdict."""
    faster = None
    if speed is not None and not speed.withheld and baseline is not None:
        ratio = RoundRatio(speed.ratio, *(speed.interval or (None, None)), speed.rounds)
        if speed.experiments == (baseline.name, member.name):  # the baseline is the faster: invert
            ratio = RoundRatio(1 / ratio.estimate, None if ratio.high is None else 1 / ratio.high,
                               None if ratio.low is None else 1 / ratio.low, ratio.rounds)
        faster = ratio
    accuracy = claim.difference if claim is not None else None
    return Comparison(member, None if faster is None else faster.estimate,
                      None if accuracy is None else 100 * accuracy.delta, accuracy, speed=faster, claim=claim,
                      speed_claim=speed)


# ---- one seed, side by side ----------------------------------------------------------------------------

SAME_ACCURACY = 0.00005
"""Accuracies closer than this (a fraction) are "the same to the digits shown" (percent to two decimals)."""
SAME_LOSS = 0.0005
"""Test losses closer than this are "the same to the digits shown"."""


@dataclass(frozen=True)
class LikeForLike:
    """Two experiments' test numbers for one seed both trained with, after the epochs both of its runs reached."""

    seed: int
    epoch: int
    a: dict[str, float | None]
    """a's train_loss, test_loss and test_accuracy after `epoch`."""
    b: dict[str, float | None]
    accuracy_points: float | None
    """b's test accuracy minus a's, in percentage points; None where either has none."""
    same: bool | None
    """Whether the two are the same to the digits shown (SAME_ACCURACY, SAME_LOSS); None where
    accuracy_points is."""


def like_for_like(a: ExperimentView, b: ExperimentView) -> LikeForLike | None:
    """a and b at the lowest seed both trained with; None when they share no seed (or a run has no epoch)."""
    shared = [s for s in a.seeds if s in b.seeds]
    if not shared:
        return None
    seed = min(shared)
    runs = a.per_seed.get(seed, []), b.per_seed.get(seed, [])
    epoch = min(len(r) for r in runs)
    if epoch == 0:
        return None
    ours, theirs = runs[0][epoch - 1], runs[1][epoch - 1]
    points = same = None
    if ours["test_accuracy"] is not None and theirs["test_accuracy"] is not None:
        points = 100 * (theirs["test_accuracy"] - ours["test_accuracy"])
        losses = ours["test_loss"], theirs["test_loss"]
        same = (abs(theirs["test_accuracy"] - ours["test_accuracy"]) < SAME_ACCURACY
                and (None in losses or abs(losses[0] - losses[1]) < SAME_LOSS))
    return LikeForLike(seed=seed, epoch=epoch, a=ours, b=theirs, accuracy_points=points, same=same)
