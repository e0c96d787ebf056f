"""A sweep's figure: final test accuracy against the swept value, every seed a point, each mean with its 95%
confidence interval, one line per value of a second key. Drawn and cached as plots.py draws every figure
(Okabe–Ito colours with a marker and line style per line, legend as text beside the image); its text
alternative and data table come from the SweepView's numbers (templates/sections/sweep.html.j2)."""

from __future__ import annotations

import base64
from pathlib import Path

from report_builder import paths
from report_builder.config.sweeps import value_label
from report_builder.report.fonts import check_glyphs
from report_builder.report.plots import (
    FILE_FORMATS,
    LINESTYLES,
    MARKERS,
    PALETTE,
    WIDTH,
    Figure,
    Style,
    _cached,
    plt,
    swatch,
)
from report_builder.analysis.sweeps import SweepPointView, SweepView

SEED_ALPHA = 0.6
"""Seeds are drawn fainter than the means, so that the means read first."""
SEED_SHIFT = 0.03
"""Seeds are drawn this fraction of the axis's width right of their value, where the mean's marker and
whiskers cannot hide them (the caption says so)."""


def lines_of(sweep: SweepView) -> list[tuple[str, list[SweepPointView]]]:
    """(legend label, points in the order of the swept values) per line: one per value of the second key."""
    if sweep.line_key is None:
        return [("", list(sweep.points))]
    lines: dict[str, list[SweepPointView]] = {}
    for point in sweep.points:
        lines.setdefault(f"{sweep.line_key} = {value_label(point.values[sweep.line_key])}", []).append(point)
    return list(lines.items())


def _styles(count: int) -> list[Style]:
    return [Style(PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)], LINESTYLES[i % len(LINESTYLES)], "")
            for i in range(count)]


def _positions(sweep: SweepView) -> dict:
    """Where each swept value stands on the x axis: the value itself when numeric, else its rank."""
    xs = list(dict.fromkeys(p.values[sweep.x_key] for p in sweep.points))
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    return {x: (x if numeric else i) for i, x in enumerate(xs)}


def _draw(sweep: SweepView, lines, styles: list[Style], legend: bool) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(WIDTH, 2.8))
    where = _positions(sweep)
    span = [min(where.values()), max(where.values())]
    if sweep.log_axis:
        shift = lambda x: x * (span[1] / span[0]) ** SEED_SHIFT  # noqa: E731
    else:
        shift = lambda x: x + SEED_SHIFT * ((span[1] - span[0]) or 1.0)  # noqa: E731
    for (label, points), style in zip(lines, styles):
        ordered = sorted((p for p in points if p.mean is not None), key=lambda p: where[p.values[sweep.x_key]])
        for p in points:
            x = where[p.values[sweep.x_key]]
            ax.plot([shift(x)] * len(p.by_seed), list(p.by_seed.values()), linestyle="none", marker=style.marker,
                    markersize=3.5, markerfacecolor="none", color=style.color, alpha=SEED_ALPHA)
        xs = [where[p.values[sweep.x_key]] for p in ordered]
        means = [p.mean for p in ordered]
        low = [p.mean - p.interval[0] if p.interval else 0.0 for p in ordered]
        high = [p.interval[1] - p.mean if p.interval else 0.0 for p in ordered]
        ax.errorbar(xs, means, yerr=[low, high], color=style.color, marker=style.marker, markersize=5,
                    linestyle=style.linestyle, capsize=3, label=label or None)
    if sweep.log_axis:
        ax.set_xscale("log")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in where):
        ax.set_xticks(list(where.values()), [str(x) for x in where])
    elif not sweep.log_axis:
        ax.set_xticks(sorted(where.values()))
    ax.set_xlabel(sweep.x_key + (" (log scale)" if sweep.log_axis else ""))
    ax.set_ylabel("final test accuracy")
    ax.grid(True, alpha=0.3)
    if legend and len(lines) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return fig


def sweep_figure(key: str, sweep: SweepView, figures_dir: Path, cache_dir: Path | None = None,
                 files: bool = True) -> Figure:
    lines = lines_of(sweep)
    styles = _styles(len(lines))
    check_glyphs([label for label, _ in lines] + [sweep.x_key])
    looks = {"key": key, "kind": "sweep", "log": sweep.log_axis, "x": sweep.x_key,
             "lines": [[[p.values, p.by_seed, p.mean, p.interval] for p in points] for _, points in lines],
             "styles": [s.__dict__ for s in styles]}
    image = _cached(looks, key, cache_dir, lambda: _draw(sweep, lines, styles, False), ("svg",))["svg"]
    svg_path = None
    if files:
        drawn = _cached({**looks, "labels": [label for label, _ in lines]}, key, cache_dir,
                        lambda: _draw(sweep, lines, styles, True), FILE_FORMATS)
        figures_dir.mkdir(parents=True, exist_ok=True)
        for f in FILE_FORMATS:  # the formats every other figure is written in (the PDF for LaTeX)
            paths.figure_file(figures_dir, key, f).write_bytes(drawn[f])
        svg_path = paths.figure_file(figures_dir, key, "svg")
    src = "data:image/svg+xml;base64," + base64.b64encode(image).decode("ascii")
    legend = tuple((label, swatch(style, "line")) for (label, _), style in zip(lines, styles)) if len(lines) > 1 else ()
    return Figure(key=key, src=src, svg_path=svg_path, kind="sweep", x_label=sweep.x_key, legend=legend)
