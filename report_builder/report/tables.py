"""The report's tables as data: header cells and rows of cell text, computed once with the same filters and
digits as the HTML, so that the Markdown and LaTeX exports (templates/exports/) state the same numbers.

Cell text is final (formatted numbers, "—" for none); templates own only the format around it and the
captions. tests/test_exports.py parses the Markdown back and compares its cells with the HTML's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from report_builder.report.filters import DASH, digits_for, pm, pvalue, seeds, signed, spread, times
from report_builder.results import gradients
from report_builder.results.analysis import ExperimentView

# A group is a context.GroupView; context imports this module, so it is not imported here (no cycle).
GroupView = Any


@dataclass(frozen=True)
class Row:
    cells: tuple[str, ...]
    span: bool = False
    """One cell across the whole table (a member's name over its epochs, or why a member has no numbers)."""
    baseline: bool = False


@dataclass(frozen=True)
class Table:
    key: str
    """"tab:GROUP-comparison", "tab:GROUP-epochs", "tab:GROUP-MEMBER-probes": the HTML table's key."""
    kind: str
    """"comparison", "epochs" or "probes": which caption the templates write."""
    group: GroupView
    header: tuple[str, ...]
    rows: tuple[Row, ...]
    member: ExperimentView | None = None
    """The experiment of a "probes" table."""

    @property
    def name(self) -> str:
        """The key without "tab:": the table's file name in build/tables/ and its LaTeX label."""
        return self.key.split(":", 1)[1]

    @property
    def first_column_heads(self) -> bool:
        """Whether the first column names the row (a setting) rather than holding a number."""
        return self.kind == "comparison"


def _verdict(comparison) -> str:
    d = comparison.accuracy
    if d is None:
        return DASH
    if d.beyond_noise:
        return f"beyond ({pvalue(d.p_value)})"
    if d.beyond_noise is False:
        return f"within ({pvalue(d.p_value)})"
    return f"{seeds(d.seeds)} only: unknown"


def comparison_table(group: GroupView) -> Table:
    """Each member's finals, bests and seconds, and against the baseline its Δ and the verdict on seed noise."""
    trained = group.trained
    finals = [v.final for v in trained if v.final]
    bests = [v.best for v in trained if v.best]
    d = {"acc": digits_for(f.test_accuracy for f in finals), "best": digits_for(b.test_accuracy for b in bests),
         "train": digits_for(f.train_loss for f in finals), "test": digits_for(f.test_loss for f in finals),
         "sec": digits_for(v.mean_epoch_seconds for v in trained),
         "total": digits_for(v.total_seconds for v in trained)}
    ranked = group.timing and group.speed_compared
    baseline = group.baseline
    header = ["Setting", "Final accuracy", "Best accuracy (epoch)", "Final train loss", "Final test loss",
              "Train s / epoch" + ("" if group.timing else " (per model)"), "Total s"]
    if baseline:
        header += (["Speed-up"] if ranked else []) + ["Δ accuracy (points)", "vs seed noise"]
    rows = []
    for c in group.comparisons:
        v = c.experiment
        is_baseline = baseline is not None and v.name == baseline.name
        if v.status == "failed":
            rows.append(Row((v.title, f"failed: {v.error}"), span=True, baseline=is_baseline))
            continue
        cells = [v.title,
                 pm(v.final.test_accuracy, d["acc"]) if v.final else "diverged",
                 f"{pm(v.best.test_accuracy, d['best'])} ({v.best.epoch})" if v.best else DASH,
                 pm(v.final.train_loss, d["train"]) if v.final else DASH,
                 pm(v.final.test_loss, d["test"]) if v.final else DASH,
                 pm(v.mean_epoch_seconds, d["sec"]), pm(v.total_seconds, d["total"])]
        if baseline:
            cells += [times(c.speedup, 2)] if ranked else []
            cells += [DASH, "baseline"] if is_baseline else [signed(c.accuracy_delta_points), _verdict(c)]
        rows.append(Row(tuple(cells), baseline=is_baseline))
    return Table(f"tab:{group.name}-comparison", "comparison", group, tuple(header), tuple(rows))


EPOCH_METRICS = ("train_loss", "test_loss", "test_accuracy", "train_seconds", "eval_seconds")


def epoch_table(group: GroupView) -> Table:
    """Every member's epochs: losses, accuracy and seconds, mean ± SD over seeds, one digits rule per column."""
    all_epochs = [e for v in group.members for e in v.epochs]
    d = {metric: digits_for(getattr(e, metric) for e in all_epochs) for metric in EPOCH_METRICS}
    rows = []
    for v in group.members:
        rows.append(Row((v.title + (" (diverged)" if v.status == "diverged" else ""),), span=True))
        for e in v.epochs:
            rows.append(Row((str(e.epoch), pm(e.train_loss, d["train_loss"]), pm(e.test_loss, d["test_loss"]),
                             pm(e.test_accuracy, d["test_accuracy"]), pm(e.train_seconds, d["train_seconds"]) + " s",
                             pm(e.eval_seconds, d["eval_seconds"]) + " s")))
        if not v.epochs:
            rows.append(Row((f"No epochs: the run failed ({v.error}).",), span=True))
    header = ("Epoch", "Train loss", "Test loss", "Test accuracy", "Train time", "Eval time")
    return Table(f"tab:{group.name}-epochs", "epochs", group, header, tuple(rows))


def probe_table(group: GroupView, view: ExperimentView) -> Table:
    """One experiment's measurements per epoch and activation layer (templates/groups/relu_gradient.html.j2's
    table): approach 1, approach 2 and their ratio run by run, mean ± SD over runs."""
    layers = gradients.layers_of(view)
    relu = gradients.activation_of(view) == "relu"
    d_acc = digits_for(e.test_accuracy for e in view.epochs)
    # Plain words, which every export's fonts have (pdflatex has no Σ or ∂).
    header = ("Epoch", *(("Layer",) if len(layers) > 1 else ()),
              "Approach 1 (active inputs)" if relu else "Approach 1 (squared derivatives)",
              "Approach 2 (squared gradient)", "per active input" if relu else "per unit", "Test accuracy")
    rows = []
    for e in view.epochs:
        for layer in layers:
            rows.append(Row((str(e.epoch), *((str(layer.layer),) if len(layers) > 1 else ()),
                             spread(e.probes.get(layer.derivative)), spread(e.probes.get(layer.gradient)),
                             spread(gradients.per_unit(view, e.epoch, layer)), pm(e.test_accuracy, d_acc))))
    return Table(f"tab:{group.name}-{view.name}-probes", "probes", group, header, tuple(rows), member=view)


def group_tables(group: GroupView) -> list[Table]:
    """A group's tables in the order its section shows them: the comparison (two or more members), each
    probed member's measurements, the epochs."""
    tables = [comparison_table(group)] if len(group.members) > 1 else []
    tables += [probe_table(group, v) for v in group.probed]
    return tables + [epoch_table(group)]
