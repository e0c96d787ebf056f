"""The Findings: one answer per question the report answers — each group, each sweep and the reproduction — in
the reader's order, each with the numbers it states and the section it links to.

The reader's order is the assignment's: the groups and sweeps in file order, with the reproduction placed right
after the last of them whose experiments the reference covers entirely (the questions it re-asks), so that a
question it does not cover (where the time goes) follows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from report_builder.analysis.reproduction import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Reproduction
from report_builder.analysis.sweeps import SweepView
from report_builder.config.reference import Reference
from report_builder.findings.groups import GroupView


@dataclass(frozen=True)
class ReproductionSummary:
    """How many of the reference's final accuracies our results reproduce (analysis/reproduction.py)."""

    judged: tuple[Reproduction, ...]
    """The reproductions with an outcome, in file order."""
    tolerance_points: float

    def with_outcome(self, outcome: str) -> list[Reproduction]:
        return [r for r in self.judged if r.outcome == outcome]

    @property
    def reproduced(self) -> list[Reproduction]:
        return self.with_outcome(REPRODUCED)

    @property
    def inconclusive(self) -> list[Reproduction]:
        return self.with_outcome(INCONCLUSIVE)

    @property
    def not_reproduced(self) -> list[Reproduction]:
        return self.with_outcome(NOT_REPRODUCED)


@dataclass(frozen=True)
class Answer:
    """One line of the Findings."""

    kind: str
    """"group", "sweep" or "reproduction": which template words it (findings/_KIND.html.j2, unless a file
    findings/KEY.html.j2 overrides it)."""
    key: str
    """The group's or sweep's name; "reproduction"."""
    title: str
    question: str | None
    """As declared (`question = "…"`); None: the template prints the title instead."""
    section: str
    """The HTML id of the section that holds the details."""
    group: GroupView | None = None
    sweep: SweepView | None = None
    reproduction: ReproductionSummary | None = None


def _covered(names: list[str], reference: Reference) -> bool:
    return bool(names) and all(reference.final(n) is not None for n in names)


def reader_order(groups: list[GroupView], sweeps: list[SweepView], reference: Reference | None,
                 reproductions: list[Reproduction]) -> list[str]:
    """The body's section ids in the reader's order: groups and sweeps in file order (the experiments in no group
    last), the reproduction after the last of them that the reference covers entirely."""
    declared = [g for g in groups if not g.name.startswith("_")]
    rest = [g for g in groups if g.name.startswith("_")]
    ids = [f"group-{g.name}" for g in declared] + [f"sweep-{s.name}" for s in sweeps]
    if reproductions and reference is not None:
        members = ([[m.name for m in g.members] for g in declared]
                   + [[p.experiment.name for p in s.points if p.experiment] for s in sweeps])
        covered = [i for i, names in enumerate(members) if _covered(names, reference)]
        ids.insert(covered[-1] + 1 if covered else len(ids), "reproduction")
    return ids + [f"group-{g.name}" for g in rest]


def answers(order: list[str], groups: list[GroupView], sweeps: list[SweepView], reference: Reference | None,
            reproductions: list[Reproduction]) -> list[Answer]:
    """One answer per section of the reader's order."""
    by_id = {f"group-{g.name}": g for g in groups}
    sweep_of = {f"sweep-{s.name}": s for s in sweeps}
    found = []
    for section in order:
        if section in by_id:
            g = by_id[section]
            found.append(Answer("group", g.name, g.title, g.question, section, group=g))
        elif section in sweep_of:
            s = sweep_of[section]
            found.append(Answer("sweep", s.name, s.title, s.question, section, sweep=s))
        elif section == "reproduction" and reference is not None:
            summary = ReproductionSummary(tuple(r for r in reproductions if r.outcome is not None),
                                          reference.tolerance_points)
            found.append(Answer("reproduction", "reproduction", f"Reproduction of the {reference.label}",
                                reference.question, section, reproduction=summary))
    return found
