"""The at-a-glance figure: every comparison of the report in one picture, its accuracy difference from the
baseline (with the interval; filled where beyond seed noise) beside its seconds per epoch as a ratio to the
baseline's (with the interval). Black and white only, marks told apart by shape and fill, so it reads in
greyscale print; each value is also written beside its mark."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib import ticker

from report_builder import paths
from report_builder.findings.report_findings import GlanceRow
from report_builder.report.fonts import check_glyphs
from report_builder.report.plots import FILE_FORMATS, WIDTH, Figure, _cached

_CODE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
"""This module's code, in the figure's cache key (plots._cached hashes plots.py's own)."""
SYMLOG_ABOVE = 20.0
"""Differences larger than this many points put the accuracy axis on a symmetric log scale (linear within ± 2),
so that a collapse of 70 points and a change of 0.2 both show."""

_ON_WHITE = {"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"}
"""Behind every word and value of the figure, so that no grid or reference line runs through it."""


def _label(row: GlanceRow) -> str:
    return f"{row.experiment.title} vs {row.baseline.title}"


def _numbers(rows: list[GlanceRow]) -> list[dict]:
    out = []
    for r in rows:
        c = r.claim
        out.append({"label": _label(r), "delta": None if c is None else 100 * c.estimate,
                    "decimals": None if c is None else c.decimals,
                    "interval": None if c is None or c.interval is None else [100 * x for x in c.interval],
                    "beyond": c is not None and c.verdict == "beyond_noise", "ratio": r.time_ratio,
                    "ratio_interval": list(r.time_interval) if r.time_interval else None,
                    "withheld": r.speed is not None and r.speed.withheld})
    return out


def _draw(numbers: list[dict]) -> plt.Figure:
    n = len(numbers)
    fig, (left, right) = plt.subplots(1, 2, figsize=(WIDTH, 0.27 * n + 0.8), sharey=True,
                                      gridspec_kw={"width_ratios": [1.25, 1]})
    ys = list(range(n))[::-1]
    for y, row in zip(ys, numbers):
        if row["delta"] is None:
            _note(left, y, "not compared")
        else:
            _accuracy_mark(left, y, row)
        if row["ratio"] is None:
            _note(right, y, "withheld" if row["withheld"] else "not timed")
            continue
        rlow, rhigh = row["ratio_interval"] or (row["ratio"], row["ratio"])
        right.plot([rlow, rhigh], [y, y], color="black", linewidth=1.2)
        right.plot([row["ratio"]], [y], marker="s", markersize=5, color="black", linestyle="none")
        right.annotate(f"{row['ratio']:.2g}×", (rhigh, y), xytext=(5, 0), textcoords="offset points", fontsize=7,
                       va="center", bbox=_ON_WHITE, zorder=3)
    left.axvline(0, color="#777777", linewidth=0.8, linestyle="--")
    right.axvline(1, color="#777777", linewidth=0.8, linestyle="--")
    ends = [x for r in numbers if r["delta"] is not None for x in (r["interval"] or [r["delta"]])]
    deltas = [abs(x) for x in ends]
    if max(deltas, default=0) > SYMLOG_ABOVE:
        left.set_xscale("symlog", linthresh=2)
        # room on a log scale for each end's mark and its label
        left.set_xlim(min(1.6 * min(ends), -3), max(1.6 * max(ends), 3))
        reach = max(deltas)
        # a decade apart at most: on a narrow panel −50 and −10 ran into each other
        left.xaxis.set_major_locator(ticker.FixedLocator([t for t in (-100, -30, -3, 0, 3, 30, 100)
                                                          if abs(t) <= 1.2 * reach]))
    left.xaxis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:g}".replace("-", "−")))
    right.set_xscale("log")
    right.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0,)))
    right.xaxis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:g}×"))
    right.xaxis.set_minor_formatter(ticker.NullFormatter())
    left.set_yticks(ys, [r["label"] for r in numbers])
    # Each row is "first vs second", and the second is not always the experiment titled Baseline.
    left.set_xlabel("Δ accuracy (points)\nfirst − second")
    right.set_xlabel("time per epoch\nfirst ÷ second")
    for ax in (left, right):
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_ylim(-0.7, n - 0.3)
    fig.tight_layout()
    return fig


def _accuracy_mark(ax, y: float, row: dict) -> None:
    """A difference with its interval: filled beyond seed noise, hollow otherwise, its value beside it."""
    low, high = row["interval"] or (row["delta"], row["delta"])
    ax.plot([low, high], [y, y], color="black", linewidth=1.2)
    ax.plot([row["delta"]], [y], marker="o", markersize=6, color="black",
            markerfacecolor="black" if row["beyond"] else "white", linestyle="none")
    # The claim's own decimals (Claim.decimals): the number printed here is the one printed everywhere else.
    ax.annotate(f"{row['delta']:+.{row['decimals']}f}".replace("-", "−"), (high, y), xytext=(5, 0),
                textcoords="offset points", fontsize=7, va="center", bbox=_ON_WHITE, zorder=3)


def _note(ax, y: float, text: str) -> None:
    """A word in place of a mark, at the panel's left edge, on white so that the reference line does not cross it."""
    ax.text(0.03, y, text, transform=ax.get_yaxis_transform(), ha="left", va="center", fontsize=7,
            color="#555555", zorder=3, bbox=_ON_WHITE)


def glance_figure(rows: list[GlanceRow], figures_dir: Path, cache_dir: Path | None = None,
                  files: bool = True) -> Figure | None:
    """The figure of `rows`; None without a row."""
    if not rows:
        return None
    numbers = _numbers(rows)
    check_glyphs([r["label"] for r in numbers])
    identity = {"key": "glance", "numbers": numbers, "glance_code": _CODE}
    drawn = _cached(identity, "glance", cache_dir, lambda: _draw(numbers), FILE_FORMATS if files else ("svg",))
    svg_path = None
    if files:
        figures_dir.mkdir(parents=True, exist_ok=True)
        for f in FILE_FORMATS:
            paths.figure_file(figures_dir, "glance", f).write_bytes(drawn[f])
        svg_path = paths.figure_file(figures_dir, "glance", "svg")
    src = "data:image/svg+xml;base64," + base64.b64encode(drawn["svg"]).decode("ascii")
    return Figure(key="glance", src=src, svg_path=svg_path, kind="glance", x_label="")
