"""The one table builder: each table of the report decided once — its rows, columns, cell text at its
precision, which columns hold text and which head their row — as data that the HTML (macros.html.j2
`data_table`, whose tags the PDF's structure tree follows: pdf_tables.py), the Markdown and the LaTeX exports
(templates/exports/) only write out. Captions are prose: templates/captions.html.j2 words each kind once.

Cell text is final (formatted numbers, "—" for none). tests/test_exports.py parses the Markdown back and
compares its cells with the HTML's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from report_builder.report.filters import (
    DASH,
    ci_points,
    digits_for,
    gap_decimals,
    gap_points,
    num,
    pct,
    pct_pm,
    pm,
    pvalue,
    seconds,
    seeds,
    signed,
    spread,
    times,
)
from report_builder.analysis import gradients
from report_builder.analysis.views import ExperimentView

from report_builder.findings.groups import GroupView


@dataclass(frozen=True)
class Row:
    cells: tuple[str, ...]
    span: bool = False
    """The last cell runs across the rest of the row (a member's name over its epochs, or why a member has no
    numbers)."""
    baseline: bool = False
    kind: str = ""
    """"member" (a heading row over the rows that follow: an experiment over its epochs), "bad" (a failure),
    or "" (numbers)."""


@dataclass(frozen=True)
class Table:
    key: str
    """"tab:GROUP-comparison", "tab:GROUP-epochs", "tab:GROUP-MEMBER-probes": the HTML table's key."""
    kind: str
    """"comparison", "epochs", "probes", "flow", "reproduction", "sweep" or "provenance": which caption the
    templates write."""
    group: GroupView | None
    """The group of a group's table; None for the reproduction, sweep and provenance tables."""
    header: tuple[str, ...]
    rows: tuple[Row, ...]
    member: ExperimentView | None = None
    """The experiment of a "probes" table."""
    sweep: Any = None
    """The SweepView of a "sweep" table."""
    text_columns: frozenset[int] = frozenset()
    """Columns of words (left-aligned, may wrap); the others hold numbers, which never wrap."""
    row_heads: int = 0
    """How many leading cells of a row head it (<th scope="row">)."""

    @property
    def name(self) -> str:
        """The key without "tab:": the table's file name in build/tables/ and its LaTeX label."""
        return self.key.split(":", 1)[1]

    @property
    def first_column_heads(self) -> bool:
        """Whether the first column names the row (a setting) rather than holding a number."""
        return self.row_heads > 0 or 0 in self.text_columns

    @property
    def columns(self) -> int:
        return len(self.header)


def _verdict(claim) -> str:
    """The verdict cell of macros.html.j2's comparison table: on the claim's Holm-adjusted p."""
    if claim.verdict == "beyond_noise":
        return f"beyond ({pvalue(claim.p_adjusted)})"
    if claim.verdict == "within_noise":
        detects = f"; detects ≥ {num(100 * claim.detectable, 1)}" if claim.detectable is not None else ""
        return f"within ({pvalue(claim.p_adjusted)}{detects})"
    return f"{seeds(claim.difference.seeds)} only: unknown"


def _difference(claim, member: ExperimentView, baseline: ExperimentView) -> str:
    """Δ in points as the difference of the printed accuracies, with its 95% CI (macros.claim_difference)."""
    a, b = member.final.test_accuracy, baseline.final.test_accuracy
    text = f"{gap_points(a, b)} points"
    if claim.difference.low is not None:
        text += " " + ci_points(claim.difference, gap_decimals(a, b))
    return text


def _speedup(comparison, is_baseline: bool) -> str:
    speed = comparison.speed
    text = times(comparison.speedup, 2)
    if speed is not None and speed.low is not None and not is_baseline:
        text += f" [{num(speed.low, 2)}, {num(speed.high, 2)}]"
    return text


def comparison_table(group: GroupView) -> Table:
    """Each member's finals, bests (with a validation split) and seconds, and against the baseline its Δ with
    its CI, the seeds it was ahead on and the verdict on seed noise."""
    trained = group.trained
    finals = [v.final for v in trained if v.final]
    picked = any(v.best for v in trained)
    d = {"train": digits_for(f.train_loss for f in finals), "test": digits_for(f.test_loss for f in finals),
         "sec": digits_for(v.mean_epoch_seconds for v in trained),
         "total": digits_for(v.total_seconds for v in trained)}
    ranked = group.timing and group.speed_compared
    baseline = group.baseline
    header = (["Setting", "Final accuracy"] + (["Test accuracy at best validation epoch (epoch)"] if picked else [])
              + ["Final train loss", "Final test loss", "Train s / epoch" + ("" if group.timing else " (per model)"),
                 "Total s"])
    if baseline:
        header += (["Speed-up"] if ranked else []) + ["Δ accuracy (points) [95% CI]", "Above (seeds)", "vs seed noise"]
    rows = []
    for c in group.comparisons:
        v = c.experiment
        is_baseline = baseline is not None and v.name == baseline.name
        if v.status == "failed":
            rows.append(Row((v.title, f"failed: {v.error}"), span=True, baseline=is_baseline, kind="bad"))
            continue
        cells = [v.title, pct_pm(v.final.test_accuracy) if v.final else "diverged"]
        if picked:
            cells.append(f"{pct_pm(v.best.test_accuracy)} ({v.best.epoch})" if v.best else DASH)
        cells += [pm(v.final.train_loss, d["train"]) if v.final else DASH,
                  pm(v.final.test_loss, d["test"]) if v.final else DASH,
                  pm(v.mean_epoch_seconds, d["sec"]), pm(v.total_seconds, d["total"])]
        if baseline:
            cells += [_speedup(c, is_baseline)] if ranked else []
            if is_baseline:
                cells += [DASH, DASH, "baseline"]
            elif c.claim is None:
                cells += [DASH, DASH, DASH]
            else:
                wins = c.claim.difference.wins
                cells += [_difference(c.claim, v, baseline),
                          DASH if wins is None else f"{wins} of {c.claim.difference.n}", _verdict(c.claim)]
        rows.append(Row(tuple(cells), baseline=is_baseline))
    return Table(f"tab:{group.name}-comparison", "comparison", group, tuple(header), tuple(rows),
                 text_columns=frozenset({0, len(header) - 1} if baseline else {0}), row_heads=1)


EPOCH_METRICS = ("train_loss", "test_loss", "train_seconds", "eval_seconds")


def epoch_table(group: GroupView) -> Table:
    """Every member's epochs: losses, accuracy and seconds, mean ± SD over seeds, one digits rule per column."""
    all_epochs = [e for v in group.members for e in v.epochs]
    d = {metric: digits_for(getattr(e, metric) for e in all_epochs) for metric in EPOCH_METRICS}
    validated = any(v.best for v in group.members)
    rows = []
    for v in group.members:
        rows.append(Row((v.title + (" (diverged)" if v.status == "diverged" else ""),), span=True, kind="member"))
        for e in v.epochs:
            disturbed = "†" if e.disturbed_runs else ""
            rows.append(Row((str(e.epoch), pm(e.train_loss, d["train_loss"]), pm(e.test_loss, d["test_loss"]),
                             pct_pm(e.test_accuracy), *((pct_pm(e.val_accuracy),) if validated else ()),
                             pm(e.train_seconds, d["train_seconds"]) + " s" + disturbed,
                             pm(e.eval_seconds, d["eval_seconds"]) + " s")))
        if not v.epochs:
            rows.append(Row((f"No epochs: the run failed ({v.error}).",), span=True, kind="bad"))
    header = ("Epoch", "Train loss", "Test loss", "Test accuracy", *(("Validation accuracy",) if validated else ()),
              "Train time", "Eval time")
    return Table(f"tab:{group.name}-epochs", "epochs", group, header, tuple(rows))


def probe_table(group: GroupView, view: ExperimentView) -> Table:
    """One experiment's measurements per epoch and activation layer (templates/groups/relu_gradient.html.j2's
    table): approach 1, approach 2 and their ratio run by run, mean ± SD over runs."""
    layers = gradients.layers_of(view)
    relu = gradients.activation_of(view) == "relu"
    # Plain words, which every export's fonts have (pdflatex has no Σ or ∂).
    header = ("Epoch", *(("Layer",) if len(layers) > 1 else ()),
              "Approach 1 (active inputs)" if relu else "Approach 1 (squared derivatives)",
              "Approach 2 (squared gradient)", "per active input" if relu else "per unit", "Test accuracy")
    rows = []
    for e in view.epochs:
        for layer in layers:
            rows.append(Row((str(e.epoch), *((str(layer.layer),) if len(layers) > 1 else ()),
                             spread(e.probes.get(layer.derivative)), spread(e.probes.get(layer.gradient)),
                             spread(gradients.per_unit(view, e.epoch, layer)), pct_pm(e.test_accuracy))))
    return Table(f"tab:{group.name}-{view.name}-probes", "probes", group, header, tuple(rows), member=view)


def flow_table(group: GroupView) -> Table:
    """Each probed member's activation layers at the last epoch, per input value (relu_gradient.html.j2's
    gradient-flow table)."""
    header = ("Experiment", "Activation", "Layer", "Width", "mean f′(x)²", "mean (∂loss/∂x)²", "Final test accuracy")
    rows = [Row((v.title, str(r.layer.activation), f"{r.layer.layer} of {len(gradients.layers_of(v))}",
                 str(r.layer.width), spread(r.derivative), spread(r.gradient),
                 pct_pm(v.final.test_accuracy) if v.final else DASH))
            for v in group.probed for r in gradients.gradient_rows(v)]
    return Table(f"tab:{group.name}-gradient-flow", "flow", group, header, tuple(rows), text_columns=frozenset({0, 1}))


def group_tables(group: GroupView) -> list[Table]:
    """A group's tables in the order its section shows them: the comparison (two or more members), each
    probed member's measurements, the gradient flow (two or more probed, as its figure), the epochs."""
    tables = [comparison_table(group)] if len(group.members) > 1 else []
    tables += [probe_table(group, v) for v in group.probed]
    if len(group.probed) > 1:
        tables.append(flow_table(group))
    return tables + [epoch_table(group)]


_OUTCOMES = {"reproduced": "reproduced", "not_reproduced": "not reproduced", "inconclusive": "inconclusive"}


def reproduction_table(reproductions, reference) -> Table:
    """templates/sections/reproduction.html.j2's table: the reference's final accuracy against ours, the
    prediction interval and TOST p of analysis/reproduction.py, and both seconds per epoch."""
    header = ("Experiment", "Epoch", reference.label, "Ours", "Δ (points)", "95% interval", "TOST p", "Outcome",
              f"{reference.label} s / epoch", "Ours s / epoch")
    rows = []
    for r in reproductions:
        interval = DASH
        if r.low is not None:
            interval = f"[{num(100 * r.low, 1)}, {num(100 * r.high, 1)}]%"
            interval += " (test sampling)" if r.rule == "test_sampling" else ""
        rows.append(Row((r.experiment.title, str(r.epoch),
                         pct(r.reference_accuracy) if r.reference_accuracy is not None else DASH,
                         pct_pm(r.ours) if r.ours else DASH, signed(r.delta_points), interval,
                         pvalue(r.equivalence_p, False) if r.equivalence_p is not None else DASH,
                         _OUTCOMES.get(r.outcome, "cannot tell"), seconds(r.reference_seconds),
                         seconds(r.experiment.mean_epoch_seconds))))
    return Table("tab:reproduction", "reproduction", None, header, tuple(rows), text_columns=frozenset({0, 7}),
                 row_heads=1)


def _against_best(point) -> tuple[str, str]:
    """The sweep table's last two cells for a point other than the best (sections/sweep.html.j2)."""
    d = point.vs_best
    if d is None:
        return DASH, DASH
    if d.beyond_noise:
        verdict = f"beyond ({pvalue(d.p_value)})"
    elif d.beyond_noise is False:
        verdict = f"within ({pvalue(d.p_value)})"
    else:
        verdict = f"{seeds(d.seeds)} only: unknown"
    return signed(-100 * d.delta), verdict


def sweep_table(sweep, confidence: float) -> Table:
    """A sweep's per-value table (templates/sections/sweep.html.j2): each seed's final accuracy, the mean with
    its confidence interval, and the difference from the best value judged against seed noise."""
    level = round(100 * confidence)
    header = (*sweep.keys, "Experiment", "Seeds (final accuracy)", "Mean", f"{level}% CI", "Δ from best (points)",
              "vs seed noise")
    rows = []
    for p in sweep.points:
        runs = ", ".join(f"{seed}: {pct(p.by_seed[seed])}" for seed in p.seeds)
        if p.diverged:
            runs += ("; " if p.seeds else "") + f"{p.diverged} diverged"
        if not p.experiment:
            runs += "no current results"
        best = p is sweep.best
        cells = (*(str(p.values[k]) for k in sweep.keys), p.experiment.name if p.experiment else DASH, runs,
                 pct(p.mean) if p.mean is not None else DASH,
                 f"{pct(p.interval[0])} to {pct(p.interval[1])}" if p.interval else DASH,
                 *((DASH, "best") if best else _against_best(p)))
        rows.append(Row(cells, baseline=best))
    keys = len(sweep.keys)
    return Table(f"tab:_sweep-{sweep.name}", "sweep", None, header, tuple(rows), sweep=sweep,
                 text_columns=frozenset({keys, keys + 1, keys + 5}), row_heads=keys)


def _settings(config: dict[str, Any]) -> str:
    text = f"batch {config['batch_size']}, {config['optimizer']}"
    if config["optimizer"] == "sgd" and config["momentum"]:
        text += f" (momentum {config['momentum']})"
    text += f", lr {config['lr']}, {config['epochs']} epochs"
    return text + (", no zero_grad" if not config["zero_grad"] else "") + (", probes" if config["probes"] else "")


def provenance_table(views) -> Table:
    """templates/sections/provenance.html.j2's table: where, when and how each experiment ran."""
    header = ("Experiment", "Settings", "Device", "Trained", "Seeds", "Start-up / run", "Started (UTC)", "Wall time")
    rows = []
    for v in views:
        device = v.provenance.get("device_name", DASH) + (f" on {', '.join(v.hosts)}" if v.hosts else "")
        trained = f"stacked ×{v.stacked_with}" if v.stacked_with > 1 else "alone"
        trained += ", CUDA graphs" if v.cuda_graphs else ""
        trained += f", eager: CUDA graph capture failed ({v.cuda_graph_error})" if v.cuda_graph_error else ""
        wall = v.provenance.get("wall_seconds")
        rows.append(Row((f"{v.title} ({v.name})", _settings(v.config), device + (" (Slurm)" if v.slurm else ""),
                         trained, ", ".join(str(s) for s in v.seeds), seconds(v.setup_seconds),
                         (v.provenance.get("started_at") or DASH)[:16].replace("T", " "),
                         DASH if wall is None else seconds(wall, 1))))
    return Table("tab:provenance", "provenance", None, header, tuple(rows), text_columns=frozenset({0, 1, 2, 3, 6}),
                 row_heads=1)
