"""The report's speed claims: every pair of experiments in a `timing = true` group, from the timing rounds
(results/timing/rounds.json), each stated with its ratio, interval and rounds, or withheld with its reason.

The rules are analysis/timing.py's, applied to what the phase stored: the per-round ratio of seconds per
epoch (a sample's seconds per step × the experiment's steps per epoch), rounds left out by the exclusion
rule, the drift check, and the withholding. Templates word each claim (templates/claims/speed.txt.j2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from report_builder.analysis.precision import interval_decimals
from report_builder.analysis.timing import (
    DRIFT_LIMIT,
    GATE_LIMITS,
    MIN_KEPT_ROUNDS,
    SPEEDUP_CONFIDENCE,
    RoundRatio,
    busy_figures,
    excluded_rounds,
    round_ratio,
    samples_drift,
    withheld_reason,
)
from report_builder.config import Suite
from report_builder.results.timing_file import stale_reasons

NOT_TIMED, STALE, DEVICES = "not_timed", "stale", "devices"
"""Withheld for want of a measurement: no timing rounds for it, rounds timed before its settings or training
code changed, or the two timed on different devices (the others, BUSY and DRIFT, are analysis/timing.py's)."""


@dataclass(frozen=True)
class TimingRounds:
    """What the timing phase found about the machine, for section 1 and the withheld sentences."""

    rounds: int
    excluded: tuple[int, ...]
    """Rounds left out, whole, by the exclusion rule."""
    busy: bool
    """Fewer than MIN_KEPT_ROUNDS rounds were kept: every speed claim is withheld."""
    figures: dict[str, float | None]
    """Median of each gate figure over the phase's readings (analysis/timing.busy_figures)."""
    limits: dict[str, float]
    waited_seconds: float
    wait_limit_seconds: float
    drift: float | None
    """How far the reference step moved from the start of the rounds to their end (a fraction)."""
    drift_limit: float
    reference: str
    """The reference step's experiment's title."""
    threads: int | None
    started_at: str | None
    phase_seconds: float | None
    failed: dict[str, str]
    """Experiments whose step could not be timed, with the error."""
    retried_drifts: tuple[float, ...] = ()
    """The drift of each earlier attempt, timed again because its reference step moved more than drift_limit."""
    min_kept: int = MIN_KEPT_ROUNDS

    @property
    def over(self) -> list[str]:
        """The gate figures whose median was over its limit."""
        return [k for k, v in self.figures.items() if v is not None and v > self.limits[k]]

    @property
    def kept(self) -> int:
        return self.rounds - len(self.excluded)


@dataclass(frozen=True)
class SpeedClaim:
    """experiments[0] trained `ratio` times faster per epoch than experiments[1], paired over timing rounds."""

    id: str
    """"GROUP/A-vs-B-speed": stable across renders."""
    kind: str
    """"speedup"."""
    group: str
    section: str
    experiments: tuple[str, str]
    """(faster, slower): by the kept rounds, or where withheld by all rounds (declared order without any)."""
    titles: tuple[str, str]
    ratio: float | None
    """The slower's seconds per epoch ÷ the faster's: the geometric mean of the per-round ratios over the kept
    rounds; None when withheld."""
    interval: tuple[float, float] | None
    """Its SPEEDUP_CONFIDENCE t interval over the kept rounds; None when withheld."""
    rounds: int
    """Rounds the ratio summarises (0 when withheld)."""
    withheld: bool
    reason: str | None
    """Why withheld: "busy", "drift", "not_timed", "stale" or "devices"; None when stated."""
    rounds_run: int = 0
    excluded: tuple[int, ...] = ()
    all_rounds: RoundRatio | None = None
    """The same ratio over every round, stated beside the kept rounds' where the rule left some out."""
    cpu_ratio: float | None = None
    """The same over CPU seconds (this process tree's), kept rounds: how much of a gap is work, not waiting."""
    confidence: float = SPEEDUP_CONFIDENCE

    @property
    def decimals(self) -> int:
        """Decimals its ratio and interval are printed with, wherever they are: as many as the interval tells
        apart (precision.interval_decimals)."""
        return interval_decimals(*(self.interval or (None, None)))

    @property
    def equal_speed_possible(self) -> bool:
        """Whether the interval reaches 1 (equal speed): the order of the two is then not shown."""
        return self.interval is not None and self.interval[0] <= 1.0


def _epoch_seconds(document: dict[str, Any], name: str, timing_round: dict[str, Any], cpu: bool = False) -> float | None:
    sample = timing_round["samples"].get(name)
    meta = document["experiments"].get(name)
    if not sample or not meta or not sample.get("steps"):
        return None
    seconds = sample["cpu_seconds" if cpu else "wall_seconds"]
    return None if seconds is None else seconds / sample["steps"] * meta["steps_per_epoch"]


def summary(document: dict[str, Any] | None, suite: Suite) -> TimingRounds | None:
    """The machine as the timing phase found it; None without timing rounds."""
    if document is None:
        return None
    rounds = document["rounds"]
    readings = [r[k] for r in rounds for k in ("before", "after") if r.get(k)]
    excluded = tuple(excluded_rounds(rounds))
    reference = document["reference"]
    moved = samples_drift(document["drift"])
    exp = suite.experiments.get(reference)
    return TimingRounds(rounds=len(rounds), excluded=excluded, busy=len(rounds) - len(excluded) < MIN_KEPT_ROUNDS,
                        figures=busy_figures(readings), limits=dict(GATE_LIMITS),
                        waited_seconds=document.get("waited_seconds", 0.0),
                        wait_limit_seconds=document["settings"].get("wait_seconds", 0.0), drift=moved,
                        drift_limit=DRIFT_LIMIT, reference=exp.title if exp else reference,
                        threads=document["provenance"].get("threads"),
                        started_at=document["provenance"].get("started_at"),
                        phase_seconds=document.get("phase_seconds"), failed=dict(document.get("failed", {})),
                        retried_drifts=tuple(r["drift"] for r in document.get("retried", [])))


def _claim(group, a: str, b: str, suite: Suite, document: dict[str, Any] | None,
           timing: TimingRounds | None) -> SpeedClaim:
    titles = {n: e.title for n, e in suite.experiments.items()}
    base = {"kind": "speedup", "group": group.name, "section": f"group-{group.name}"}

    def made(faster: str, slower: str, **numbers) -> SpeedClaim:
        return SpeedClaim(id=f"{group.name}/{faster}-vs-{slower}-speed", experiments=(faster, slower),
                          titles=(titles[faster], titles[slower]), **base, **numbers)

    if document is None or timing is None:
        return made(a, b, ratio=None, interval=None, rounds=0, withheld=True, reason=NOT_TIMED)
    for name in (a, b):
        why = stale_reasons(document, name, suite.experiments[name].config)
        if why:
            return made(a, b, ratio=None, interval=None, rounds=0, withheld=True,
                        reason=NOT_TIMED if why == ["not timed"] else STALE)
    devices = tuple(document["experiments"][n].get("device") for n in (a, b))
    if devices[0] != devices[1]:
        return made(a, b, ratio=None, interval=None, rounds=0, withheld=True, reason=DEVICES)
    rounds = document["rounds"]
    kept = [r for r in rounds if r["round"] not in timing.excluded]

    def ratio(over: list[dict], cpu: bool = False) -> RoundRatio | None:
        return round_ratio([_epoch_seconds(document, a, r, cpu) for r in over],
                           [_epoch_seconds(document, b, r, cpu) for r in over])

    every, chosen, cpu = ratio(rounds), ratio(kept), ratio(kept, cpu=True)
    reason = withheld_reason(0 if chosen is None else chosen.rounds, timing.drift)
    shown = every if reason else chosen
    flip = shown is not None and shown.estimate < 1
    faster, slower = (b, a) if flip else (a, b)

    def oriented(r: RoundRatio | None) -> RoundRatio | None:
        if r is None or not flip:
            return r
        return RoundRatio(1 / r.estimate, None if r.high is None else 1 / r.high, None if r.low is None else 1 / r.low,
                          r.rounds)

    chosen, every, cpu = oriented(chosen), oriented(every), oriented(cpu)
    stated = reason is None and chosen is not None
    return made(faster, slower, ratio=chosen.estimate if stated else None,
                interval=(chosen.low, chosen.high) if stated and chosen.low is not None else None,
                rounds=chosen.rounds if stated else 0, withheld=not stated, reason=reason,
                rounds_run=len(rounds), excluded=timing.excluded, all_rounds=every,
                cpu_ratio=cpu.estimate if stated and cpu is not None else None)


def speed_claims(suite: Suite, document: dict[str, Any] | None, names: Iterable[str] | None = None) -> list[SpeedClaim]:
    """One claim per pair of experiments in each `timing = true` group (declared order), limited to `names`
    (the experiments with current results) where given."""
    timing = summary(document, suite)
    shown = set(suite.experiments if names is None else names)
    claims = []
    for group in suite.groups.values():
        if not group.timing:
            continue
        members = [n for n in group.experiments if n in shown]
        claims += [_claim(group, a, b, suite, document, timing)
                   for i, a in enumerate(members) for b in members[i + 1:]]
    return claims


def headline(claims: list[SpeedClaim]) -> SpeedClaim | None:
    """A group's speed claim to lead with: the widest stated one (fastest against slowest: per-round ratios
    multiply, so it is the pair with the largest ratio), else the first withheld one."""
    stated = [c for c in claims if not c.withheld]
    if stated:
        return max(stated, key=lambda c: c.ratio)
    return claims[0] if claims else None
