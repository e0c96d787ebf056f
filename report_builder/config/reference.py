"""[reference]: published numbers to show beside ours, read from a CSV file and checked at load time as
strictly as the experiments file (keys.py): each row's cells against ReferenceRow's declared columns."""

from __future__ import annotations

import csv
import dataclasses
import typing
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from report_builder.config.keys import check_table, key, suggest


@dataclass(frozen=True)
class ReferenceRow:
    """One row of a reference CSV: an experiment's numbers after one epoch (the names summary.csv uses)."""

    experiment: str = key("", "The experiment of ours these numbers stand beside.", required=True,
                          refers_to="experiment")
    epoch: int = key(1, "The epoch they were measured after, counted from 1.", required=True, minimum=1)
    train_loss: float | None = key(None, "Mean training loss over the epoch.", minimum=0.0)
    test_loss: float | None = key(None, "Loss on the test set.", minimum=0.0)
    test_accuracy: float | None = key(None, "Fraction of the test set classified correctly (0.75, not 75).",
                                      minimum=0.0, maximum=1.0)
    train_seconds: float | None = key(None, "Seconds the epoch's training took.", minimum=0.0)


COLUMNS = tuple(f.name for f in dataclasses.fields(ReferenceRow))
REFERENCE_METRICS = COLUMNS[2:]
"""Columns a reference CSV may hold besides experiment and epoch."""


@dataclass(frozen=True)
class Reference:
    """A reference's numbers: values[experiment][epoch][metric] (a metric missing or empty is absent)."""

    label: str
    hardware: str
    tolerance_points: float
    source: str
    values: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)
    question: str | None = None
    """The question the reproduction answers ([reference] question); None: not declared."""

    def final(self, name: str) -> tuple[int, dict[str, float]] | None:
        """(last epoch, its values) for an experiment, or None when the reference has none."""
        epochs = self.values.get(name)
        if not epochs:
            return None
        last = max(epochs)
        return last, epochs[last]


def _cell(text: str, column: str) -> Any:
    """A cell as the number its column holds, or the text itself, which the check then names as wrong."""
    hint = typing.get_type_hints(ReferenceRow)[column]
    for number in (int, float):
        if hint is number or number in typing.get_args(hint):
            try:
                return number(text)
            except ValueError:
                return text
    return text


def read_reference_csv(path: Path, where: str, problems: list[str],
                       experiments: Collection[str]) -> dict[str, dict[int, dict[str, float]]]:
    """The CSV's values; every problem (missing file, unknown column or experiment, a value out of its range,
    a row given twice) is added to `problems`, naming the file, its line and the column."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: a spreadsheet's BOM is read past
            reader = csv.DictReader(f)
            rows = [(reader.line_num, row) for row in reader]
            columns = list(reader.fieldnames or [])
    except FileNotFoundError:
        problems.append(f"{where} file: no such file {path}")
        return {}
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        problems.append(f"{where} file: cannot read {path}: {e}")
        return {}
    missing = [c for c in ("experiment", "epoch") if c not in columns]
    if missing or not rows:
        problems.append(f"{where} {path.name}: needs the columns experiment and epoch and at least one row"
                        + (f" (missing: {', '.join(missing)})" if missing else ""))
        return {}
    for column in columns:
        if column not in COLUMNS:
            problems.append(f"{where} {path.name} unknown column '{column}'{suggest(column, COLUMNS)}; valid: "
                            f"{', '.join(COLUMNS)}")
    values: dict[str, dict[int, dict[str, float]]] = {}
    first_line: dict[tuple[str, int], int] = {}
    for line, row in rows:
        at = f"{where} {path.name} line {line}"
        if None in row:  # DictReader's place for cells beyond the header's columns
            problems.append(f"{at}: more cells than the header has columns")
            continue
        cells = {c: _cell(text, c) for c, text in row.items() if c in COLUMNS and text not in (None, "")}
        count = len(problems)
        (checked,) = check_table(cells, at, problems, ReferenceRow, names={"experiment": experiments})
        if len(problems) > count:
            continue
        name, epoch = checked.pop("experiment"), checked.pop("epoch")
        if (name, epoch) in first_line:
            problems.append(f"{at}: a second row for {name} epoch {epoch} (the first is line "
                            f"{first_line[name, epoch]})")
            continue
        first_line[name, epoch] = line
        values.setdefault(name, {})[epoch] = checked
    return values
