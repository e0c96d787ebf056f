"""[reference]: published numbers to show beside ours, read from a CSV file and checked at load time."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

REFERENCE_METRICS = ("train_loss", "test_loss", "test_accuracy", "train_seconds")
"""Columns a reference CSV may hold besides experiment and epoch (the summary.csv names)."""


@dataclass(frozen=True)
class Reference:
    """A reference's numbers: values[experiment][epoch][metric] (a metric missing or empty is absent)."""

    label: str
    hardware: str
    tolerance_points: float
    source: str
    values: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)

    def final(self, name: str) -> tuple[int, dict[str, float]] | None:
        """(last epoch, its values) for an experiment, or None when the reference has none."""
        epochs = self.values.get(name)
        if not epochs:
            return None
        last = max(epochs)
        return last, epochs[last]


def read_reference_csv(path: Path, where: str, problems: list[str]) -> dict[str, dict[int, dict[str, float]]]:
    """The CSV's values; every problem (missing file, unknown column, bad number) is added to `problems`."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
            columns = list(rows[0].keys()) if rows else []
    except FileNotFoundError:
        problems.append(f"{where} file: no such file {path}")
        return {}
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        problems.append(f"{where} file: cannot read {path}: {e}")
        return {}
    missing = [c for c in ("experiment", "epoch") if c not in columns]
    if missing or not rows:
        problems.append(f"{where} file: {path.name} needs the columns experiment and epoch and at least one row"
                        + (f" (missing: {', '.join(missing)})" if missing else ""))
        return {}
    unknown = [c for c in columns if c not in ("experiment", "epoch", *REFERENCE_METRICS)]
    if unknown:
        problems.append(f"{where} file: {path.name} has unknown column(s) {', '.join(unknown)}; valid: experiment, "
                        f"epoch, {', '.join(REFERENCE_METRICS)}")
    values: dict[str, dict[int, dict[str, float]]] = {}
    for line, row in enumerate(rows, start=2):
        try:
            epoch = int(row["epoch"])
            numbers = {m: float(row[m]) for m in REFERENCE_METRICS if row.get(m) not in (None, "")}
        except ValueError as e:
            problems.append(f"{where} file: {path.name} line {line}: not a number ({e})")
            continue
        if epoch < 1 or not all(math.isfinite(v) for v in numbers.values()):
            problems.append(f"{where} file: {path.name} line {line}: epochs start at 1 and values must be finite")
            continue
        values.setdefault(row["experiment"], {})[epoch] = numbers
    return values
