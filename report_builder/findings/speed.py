"""Speed claims: how many times faster one experiment trains per epoch than another, with its interval, or why
the report withholds the comparison. The Findings' speed lines (batch size's speed, where the time goes) and
the at-a-glance figure read only these.

Today a claim comes from the runs' clean seconds per epoch (timing.speedup_interval, over runs trained alone
on one device); `rounds` is the number of runs on the side with fewer. An interleaved timing phase can fill
the same fields without a change to any template.
"""

from __future__ import annotations

from dataclasses import dataclass

from report_builder.analysis.views import ExperimentView
from report_builder.findings.comparison import speed_unranked, speedup_ci

WITHHELD_REASONS = ("not_alike", "stacked", "disturbed", "one")
"""The reasons a comparison of speed is withheld today (comparison.speed_unranked's codes); templates word each."""


@dataclass(frozen=True)
class SpeedClaim:
    """experiments[0] trains `ratio` times faster per epoch than experiments[1]."""

    experiments: tuple[str, str]
    """(faster, slower) by name."""
    titles: tuple[str, str]
    ratio: float | None
    """Slower's seconds per epoch ÷ faster's (≥ 1); None when withheld."""
    interval: tuple[float, float] | None
    """The 95% interval of the ratio; None with a single run (or round) on either side, or when withheld."""
    rounds: int
    """Runs behind the side with fewer (today: repeats trained alone)."""
    withheld: bool = False
    """The machine or the setup gave no fair comparison: the report says why instead of a ratio."""
    reason: str | None = None
    """Why it is withheld: a code of WITHHELD_REASONS, or a sentence from the timing phase."""
    group: str = ""
    kind: str = "speedup"

    @property
    def section(self) -> str:
        return f"group-{self.group}"


def speed_claim(fast: ExperimentView, slow: ExperimentView, group: str = "") -> SpeedClaim | None:
    """`fast` against `slow`, oriented so that the ratio is ≥ 1; withheld where they may not be ranked; None
    where either has no timed run at all."""
    reason = speed_unranked([fast, slow])
    if reason is not None:
        return SpeedClaim((fast.name, slow.name), (fast.title, slow.title), None, None, 0, withheld=True,
                          reason=reason, group=group)
    ci = speedup_ci(fast, slow)
    if ci is None:
        return None
    if ci.estimate < 1:
        fast, slow = slow, fast
        ci = speedup_ci(fast, slow)
    interval = None if ci.low is None else (ci.low, ci.high)
    return SpeedClaim((fast.name, slow.name), (fast.title, slow.title), ci.estimate, interval, min(ci.n), group=group)


def extreme_speed(views: list[ExperimentView], group: str = "") -> SpeedClaim | None:
    """The fastest of `views` against the slowest (by mean seconds per epoch), or the comparison withheld."""
    timed = [v for v in views if v.mean_epoch_seconds is not None]
    if len(views) < 2:
        return None
    if len(timed) < 2 or speed_unranked(views) is not None:
        reason = speed_unranked(views) or "disturbed"
        return SpeedClaim((views[0].name, views[-1].name), (views[0].title, views[-1].title), None, None, 0,
                          withheld=True, reason=reason, group=group)
    fast = min(timed, key=lambda v: v.mean_epoch_seconds.mean)
    slow = max(timed, key=lambda v: v.mean_epoch_seconds.mean)
    return speed_claim(fast, slow, group)
