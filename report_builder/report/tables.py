"""The one table builder: each table of the report decided once — its rows, columns, cell text at its
precision, which columns hold text and which head their row — as data that the HTML (macros.html.j2
`data_table`, whose tags the PDF's structure tree follows: pdf_tables.py), the Markdown and the LaTeX exports
(templates/exports/) only write out. Captions are prose: templates/captions.html.j2 words each kind once.

Cell text is final (formatted numbers, "—" for none). tests/test_exports.py parses the Markdown back and
compares its cells with the HTML's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from report_builder.report.filters import (
    DASH,
    digits_for,
    estimate_points,
    interval_points,
    num,
    pct,
    pct_pm,
    pm,
    pm_n,
    pvalue,
    seconds,
    seeds,
    signed,
    spread,
    times,
)
from report_builder.config.sweeps import value_label
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
    time_runs: tuple[int | None, tuple[tuple[str, int], ...]] = (None, ())
    """An "epochs" or "comparison" table's (the runs most experiments' times summarise, (title, runs) of the
    others) for its caption to say once; times that summarise different numbers of runs say so in each cell."""

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


Words = Callable[[str], str]
"""A verdict code → the words of its table cell (templates/claims/verdict.txt.j2's cell)."""


def _verdict(claim, words: Words) -> str:
    """The verdict cell: the verdict's words, with the Holm-adjusted p behind it (the seeds where untested)."""
    if claim.adjusted_p is None:
        return f"{words(claim.verdict)} ({seeds(claim.seeds)})"
    return f"{words(claim.verdict)} ({pvalue(claim.adjusted_p)})"


def _difference(claim) -> str:
    """The claim's estimate in points with its 95% interval, at the claim's decimals (Claim.decimals)."""
    interval = interval_points(claim)
    return estimate_points(claim) + (f" {interval}" if interval else "")


def _speedup(speed) -> str:
    """A speed-up from the timing rounds (timing.RoundRatio) with its interval: "2.87× [2.70, 3.05]"; "—" where
    its claim is withheld."""
    if speed is None:
        return DASH
    d = speed.decimals
    return times(speed.estimate, d) + ("" if speed.low is None else f" [{num(speed.low, d)}, {num(speed.high, d)}]")


def _seconds_cell(stat, digits: int, runs_in_caption: bool) -> str:
    """A time in seconds, with how many runs it summarises unless its table's caption says that once."""
    if not runs_in_caption:
        return pm_n(stat, digits, " s")
    return DASH if stat is None else pm(stat, digits) + " s"


def comparison_table(group: GroupView, words: Words) -> Table:
    """Each member's final accuracy (or its best-validation accuracy, with a validation split) and, against the
    baseline, its difference with the interval, the seeds it was above on and the verdict; then its seconds per
    training epoch (with n, the runs behind it) and, in a timing group, its speed-up from the timing rounds with
    the interval: at most 7 columns. Losses and totals are in the appendix's per-epoch table."""
    trained = group.trained
    picked = any(v.best for v in trained)
    ranked = group.timing
    baseline = group.baseline
    header = ["Setting", "Final accuracy"] + (["Best-validation accuracy (epoch)"] if picked else [])
    if baseline:
        header += ["Δ (points) [95% CI]"] + ([] if picked else ["Seeds above"]) + ["Verdict"]
    header += ["Seconds / epoch"] + (["Speed-up [95% CI]"] if ranked else [])
    sec = digits_for(v.mean_epoch_seconds for v in trained)
    # How many runs each time summarises: said once, in the caption, where every member's is the same (a column
    # of "(n = 3)" pushed the table past the page), else in each cell.
    counts = {v.mean_epoch_seconds.n for v in trained if v.mean_epoch_seconds is not None}
    runs = counts.pop() if len(counts) == 1 else None
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
        if baseline:
            if is_baseline or c.claim is None:
                cells += [DASH] + ([] if picked else [DASH]) + ["baseline" if is_baseline else DASH]
            else:
                wins = c.claim.wins
                cells += ([_difference(c.claim)] + ([] if picked else [DASH if wins is None else f"{wins} of {len(c.claim.seeds)}"])
                          + [_verdict(c.claim, words)])
        cells.append(_seconds_cell(v.mean_epoch_seconds, sec, runs is not None))
        if ranked:
            cells.append("baseline" if is_baseline else _speedup(c.speed))
        rows.append(Row(tuple(cells), baseline=is_baseline))
    verdict = header.index("Verdict") if "Verdict" in header else None
    return Table(f"tab:{group.name}-comparison", "comparison", group, tuple(header), tuple(rows),
                 text_columns=frozenset({0} | ({verdict} if verdict else set())), row_heads=1, time_runs=(runs, ()))


GRADIENT_PARAGRAPHS = 2
"""Up to this many probed layers are described a paragraph each; more get one table of their changes."""
EPOCH_METRICS = ("train_loss", "test_loss", "train_seconds", "eval_seconds")


def epochs_table(views: Iterable[ExperimentView]) -> Table:
    """Every experiment's epochs, each experiment once (the appendix): losses, accuracy and seconds, mean ± SD
    over seeds, one digits rule per column; † marks an epoch whose time some run had disturbed."""
    views = list(views)
    all_epochs = [e for v in views for e in v.epochs]
    d = {metric: digits_for(getattr(e, metric) for e in all_epochs) for metric in EPOCH_METRICS}
    validated = any(v.best for v in views)
    rows, runs = [], {}
    for v in views:
        # How many runs each time summarises: said once, in the caption, where it is the same for all of an
        # experiment's times (the usual case), else in each time's own cell.
        counts = {s.n for e in v.epochs for s in (e.train_seconds, e.eval_seconds) if s is not None}
        n = counts.pop() if len(counts) == 1 else None
        if n is not None:
            runs[v.title] = n
        rows.append(Row((v.title + (" (diverged)" if v.status == "diverged" else ""),), span=True, kind="member"))

        for e in v.epochs:
            disturbed = "†" if e.disturbed_runs else ""
            rows.append(Row((str(e.epoch), pm(e.train_loss, d["train_loss"]), pm(e.test_loss, d["test_loss"]),
                             pct_pm(e.test_accuracy), *((pct_pm(e.val_accuracy),) if validated else ()),
                             _seconds_cell(e.train_seconds, d["train_seconds"], n is not None) + disturbed,
                             _seconds_cell(e.eval_seconds, d["eval_seconds"], n is not None))))
        if not v.epochs:
            rows.append(Row((f"No epochs: the run failed ({v.error}).",), span=True, kind="bad"))
    header = ("Epoch", "Train loss", "Test loss", "Test accuracy", *(("Validation accuracy",) if validated else ()),
              "Train time", "Eval time")
    common = Counter(runs.values()).most_common(1)[0][0] if runs else None
    others = tuple((title, n) for title, n in runs.items() if n != common)
    return Table("tab:epochs", "epochs", None, header, tuple(rows), time_runs=(common, others))


def probe_table(group: GroupView, view: ExperimentView) -> Table:
    """One experiment's measurements per epoch and activation layer (templates/groups/relu_gradient.html.j2's
    table): approach 1, approach 2 and their ratio run by run, mean ± SD over runs."""
    layers = gradients.layers_of(view)
    relu = gradients.activation_of(view) == "relu"
    # Plain words, which every export's fonts have (pdflatex has no Σ or ∂).
    header = ("Epoch", *(("Layer",) if len(layers) > 1 else ()),
              "Approach 1 (active inputs)" if relu else "Approach 1 (squared derivatives)",
              "Approach 2 (squared gradient)", "per active input" if relu else "per unit")
    rows = []
    for e in view.epochs:
        for layer in layers:
            rows.append(Row((str(e.epoch), *((str(layer.layer),) if len(layers) > 1 else ()),
                             spread(e.probes.get(layer.derivative)), spread(e.probes.get(layer.gradient)),
                             spread(gradients.per_unit(view, e.epoch, layer)))))
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


def _percent(value: float) -> str:
    return signed(value, 0) + "%"


def gradient_changes_table(group: GroupView) -> Table:
    """Each probed layer from its first epoch to its last (findings/groups.py: GradientChange), in percent: the
    squared gradient, approach 1 and the gradient per unit of approach 1, and which approach fell at every epoch."""
    header = ("Experiment", "Layer", "Squared gradient", "Approach 1", "Per unit", "Falls at every epoch")
    rows = []
    for g in group.gradients:
        falls = {(True, True): "both", (True, False): "approach 1", (False, True): "approach 2",
                 (False, False): "neither"}[g.derivative_falls, g.gradient_falls]
        rows.append(Row((g.view.title, f"{g.layer.layer} ({g.layer.activation})", _percent(g.percent("total")),
                         _percent(g.percent("derivative")), _percent(g.percent("per_unit")), falls)))
    return Table(f"tab:{group.name}-gradient-changes", "gradient_changes", group, header, tuple(rows),
                 text_columns=frozenset({0, 1, 5}), row_heads=1)


def group_tables(group: GroupView, words: Words) -> list[Table]:
    """A group's tables in the order its section shows them: each probed member's measurements, the gradient
    flow (two or more probed, as its figure), the comparison (two or more members)."""
    tables = [gradient_changes_table(group)] if len(group.gradients) > GRADIENT_PARAGRAPHS else []
    tables += [probe_table(group, v) for v in group.probed]
    if len(group.probed) > 1:
        tables.append(flow_table(group))
    return tables + ([comparison_table(group, words)] if len(group.members) > 1 else [])


def reproduction_table(reproductions, reference, words: Words) -> Table:
    """The reference's final accuracy against ours (sections/reproduction.html.j2): Δ as ours minus theirs from
    the values as printed (Reproduction.decimals), our 95% prediction interval, the TOST p Holm-adjusted over the
    reproduction family, and the outcome. The epoch is named in the experiment's cell where it is not the last
    of ours."""
    header = ("Experiment", reference.label, "Ours", "Δ (points)", "95% prediction interval", "TOST p (Holm)",
              "Outcome")
    rows = []
    for r in reproductions:
        interval = DASH if r.low is None else f"[{num(100 * r.low, 1)}, {num(100 * r.high, 1)}]%"
        final = r.experiment.final is not None and r.experiment.final.epoch == r.epoch
        ours = pct_pm(r.ours) if r.ours else DASH
        theirs = pct(r.reference_accuracy, r.decimals) if r.reference_accuracy is not None else DASH
        rows.append(Row((r.experiment.title + ("" if final else f" (epoch {r.epoch})"), theirs, ours,
                         signed(r.delta_points, r.decimals), interval,
                         pvalue(r.equivalence_adjusted_p, False) if r.equivalence_adjusted_p is not None else DASH,
                         words(r.outcome or "untestable"))))
    return Table("tab:reproduction", "reproduction", None, header, tuple(rows), text_columns=frozenset({0, 6}),
                 row_heads=1)


def reference_seconds_table(reproductions, reference) -> Table | None:
    """The reference's training seconds per epoch (mean over its epochs, on its own hardware) beside ours:
    shown, never compared. None when the reference records no seconds."""
    rows = []
    for r in reproductions:
        epochs = reference.values.get(r.experiment.name, {})
        theirs = [v["train_seconds"] for v in epochs.values() if v.get("train_seconds") is not None]
        if theirs:
            rows.append(Row((r.experiment.title, seconds(sum(theirs) / len(theirs)),
                             pm_n(r.experiment.mean_epoch_seconds, unit=" s"))))
    if not rows:
        return None
    return Table("tab:reference-seconds", "reference_seconds", None,
                 ("Experiment", f"{reference.label} s / epoch", "Ours s / epoch"), tuple(rows),
                 text_columns=frozenset({0}), row_heads=1)


def _against_best(point, words: Words) -> tuple[str, str]:
    """The sweep table's last two cells for a point other than the best (sections/sweep.html.j2)."""
    d = point.vs_best
    if d is None:
        return DASH, DASH
    verdict = words(point.verdict) + (f" ({pvalue(point.adjusted_p)})" if point.adjusted_p is not None
                                      else f" ({seeds(d.seeds)})")
    return signed(-100 * d.delta), verdict


def sweep_table(sweep, confidence: float, words: Words) -> Table:
    """A sweep's per-value table (templates/sections/sweep.html.j2): each seed's final accuracy, the mean with
    its confidence interval, and the difference from the best value judged against seed noise."""
    level = round(100 * confidence)
    header = (*sweep.keys, "Final accuracy by seed", "Mean", f"{level}% CI", "Δ from best (points)", "Verdict")
    rows = []
    for p in sweep.points:
        runs = ", ".join(f"{seed}: {pct(p.by_seed[seed])}" for seed in p.seeds)
        if p.diverged:
            runs += ("; " if p.seeds else "") + f"{p.diverged} diverged"
        if not p.experiment:
            runs += "no current results"
        best = p is sweep.best
        cells = (*(value_label(p.values[k]) for k in sweep.keys), runs,
                 pct(p.mean) if p.mean is not None else DASH,
                 f"{pct(p.interval[0])} to {pct(p.interval[1])}" if p.interval else DASH,
                 *((DASH, "best") if best else _against_best(p, words)))
        rows.append(Row(cells, baseline=best))
    keys = len(sweep.keys)
    return Table(f"tab:_sweep-{sweep.name}", "sweep", None, header, tuple(rows), sweep=sweep,
                 text_columns=frozenset({keys, keys + 4}), row_heads=keys)


def _settings(config: dict[str, Any]) -> str:
    text = f"batch {config['batch_size']}, {config['optimizer']}"
    if config["optimizer"] == "sgd" and config["momentum"]:
        text += f" (momentum {config['momentum']})"
    text += f", lr {config['lr']}, {config['epochs']} epoch{'s' if config['epochs'] != 1 else ''}"
    return text + (", no zero_grad" if not config["zero_grad"] else "") + (", probes" if config["probes"] else "")


def provenance_table(views) -> Table:
    """The appendix's provenance: where, when and how each experiment ran (at most 7 columns)."""
    views = list(views)
    header = ("Experiment", "Settings", "Device, how", "Seeds", "Start-up / run", "Total / run",
              "Started (UTC), wall time")
    total = digits_for(v.total_seconds for v in views)
    rows = []
    for v in views:
        device = v.provenance.get("device_name", DASH) + (f" on {', '.join(v.hosts)}" if v.hosts else "")
        device += " (Slurm)" if v.slurm else ""
        device += f", stacked ×{v.stacked_with}" if v.stacked_with > 1 else ", alone"
        device += ", CUDA graphs" if v.cuda_graphs else ""
        device += f", eager: CUDA graph capture failed ({v.cuda_graph_error})" if v.cuda_graph_error else ""
        wall = v.provenance.get("wall_seconds")
        started = (v.provenance.get("started_at") or DASH)[:16].replace("T", " ")
        rows.append(Row((f"{v.title} ({v.name})", _settings(v.config), device, ", ".join(str(s) for s in v.seeds),
                         pm_n(v.setup_seconds, unit=" s"), pm_n(v.total_seconds, total, " s"),
                         started + ("" if wall is None else f", {seconds(wall, 1)}"))))
    return Table("tab:provenance", "provenance", None, header, tuple(rows), text_columns=frozenset({0, 1, 2, 6}),
                 row_heads=1)
