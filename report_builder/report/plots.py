"""Figures from experiment views: each figure's numbers first (what its text alternative and data table say),
then the drawing, as an SVG data URI for the self-contained HTML plus SVG and PNG files.

Drawing is the slow part of a render, so every figure is cached by what it shows: the hash of its
numbers, labels, styles, fonts, matplotlib's version and this module's code names an SVG and a PNG in
the cache folder (build/.cache/figures). A render whose figures did not change copies them from there.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from report_builder import paths  # noqa: E402
from report_builder.report.fonts import check_glyphs, font_families  # noqa: E402
from report_builder.results.analysis import ExperimentView  # noqa: E402

# Okabe–Ito's colour-blind-safe palette (black left out: it is the text's colour), then darker extras.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C6D1F", "#5D3A9B", "#7F7F7F",
           "#1B7837"]
# Series are told apart without colour too (greyscale print, colour blindness): each experiment also gets
# its own marker and, past the markers, its own line style; bars get hatching.
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINESTYLES = ["-", "--", "-.", ":"]
HATCHES = ["", "//", "..", "xx", "\\\\", "++", "oo", "--"]
LEGEND_INSIDE_MAX = 4
"""More series than this and the legend goes beside the axes, where it cannot cover data."""
WIDTH, HEIGHT = 6.4, 2.5
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.spines.top": False, "axes.spines.right": False,
         "legend.frameon": False, "svg.fonttype": "none", "figure.dpi": 100}
PROBE_LABELS = {"relu_active": "active ReLU inputs (count)", "relu_grad_sq": "Σ (∂loss/∂ReLU input)²",
                "per_active": "Σ (∂loss/∂ReLU input)² per active input"}
_CODE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


@dataclass(frozen=True)
class Style:
    color: str
    marker: str
    linestyle: str
    hatch: str


def styles_for(names: list[str]) -> dict[str, Style]:
    """One colour, marker, line style and hatch per experiment, the same in every figure of the report."""
    return {name: Style(PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)],
                        LINESTYLES[(i // len(MARKERS)) % len(LINESTYLES)], HATCHES[i % len(HATCHES)])
            for i, name in enumerate(names)}


@dataclass(frozen=True)
class Series:
    """One line (a value per epoch) or bar of a figure, as numbers."""

    label: str
    panel: str
    """The quantity it shows, e.g. "test accuracy"; a figure has one panel per quantity."""
    x: tuple[float, ...]
    y: tuple[float, ...]
    low: tuple[float, ...] = ()
    """Mean − SD per point (the shaded band), when there are several seeds."""
    high: tuple[float, ...] = ()
    style: Style | None = None


@dataclass(frozen=True)
class Figure:
    key: str
    src: str
    """The SVG as a data: URI, for an <img> in the self-contained HTML."""
    svg_path: Path
    png_path: Path
    kind: str = "line"
    """"line" (a value per epoch) or "bar" (one value per experiment)."""
    x_label: str = "epoch"
    series: tuple[Series, ...] = ()


# ---- the numbers ---------------------------------------------------------------------------------

def _stat_of(epoch, metric: str):
    return getattr(epoch, metric) if metric in ("train_loss", "test_loss", "test_accuracy") else epoch.probes.get(metric)


def epoch_series(view: ExperimentView, metric: str, panel: str, style: Style) -> Series | None:
    xs, ys, lows, highs = [], [], [], []
    for e in view.epochs:
        stat = _stat_of(e, metric)
        if stat is None:
            continue
        xs.append(e.epoch)
        ys.append(stat.mean)
        lows.append(stat.mean - (stat.std or 0.0))
        highs.append(stat.mean + (stat.std or 0.0))
    if not xs:
        return None
    banded = view.repeats > 1
    return Series(view.title, panel, tuple(xs), tuple(ys), tuple(lows) if banded else (), tuple(highs) if banded else (),
                  style)


def per_active_series(view: ExperimentView, style: Style) -> Series | None:
    points = [(e.epoch, e.probes["relu_grad_sq"].mean / e.probes["relu_active"].mean) for e in view.epochs
              if e.probes.get("relu_active") and e.probes.get("relu_grad_sq") and e.probes["relu_active"].mean]
    if not points:
        return None
    return Series(view.title, PROBE_LABELS["per_active"], tuple(p[0] for p in points), tuple(p[1] for p in points),
                  style=style)


# ---- drawing, cached by what is drawn ------------------------------------------------------------

def _panels(series: list[Series]) -> list[str]:
    return list(dict.fromkeys(s.panel for s in series))


def _draw_lines(series: list[Series], titles: bool, ylabel: str | None, width: float) -> plt.Figure:
    panels = _panels(series)
    fig, axes = plt.subplots(1, len(panels), figsize=(width, HEIGHT), squeeze=False, sharey=ylabel is not None)
    labelled = len({s.label for s in series})
    for ax, panel in zip(axes[0], panels):
        for s in (s for s in series if s.panel == panel):
            ax.plot(s.x, s.y, linestyle=s.style.linestyle, color=s.style.color, marker=s.style.marker, markersize=4,
                    label=s.label)
            if s.low:
                ax.fill_between(s.x, s.low, s.high, color=s.style.color, alpha=0.18, linewidth=0)
        last = max((max(s.x) for s in series), default=1)
        ax.set_xticks(range(1, int(last) + 1))
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        if titles:
            ax.set_title(panel)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    if ylabel:
        axes[0][0].set_ylabel(ylabel)
    if labelled > 1:
        ax = axes[0][-1]
        if labelled > LEGEND_INSIDE_MAX:
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        else:
            ax.legend(loc="best")
    fig.tight_layout()
    return fig


def _draw_bars(series: list[Series], xlabel: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(WIDTH, 0.45 * len(series) + 0.9))
    positions = list(range(len(series)))[::-1]
    means = [s.y[0] for s in series]
    errors = [(s.high[0] - s.y[0]) if s.high else 0.0 for s in series]
    bars = ax.barh(positions, means, xerr=errors, color=[s.style.color for s in series], height=0.6, capsize=3,
                   edgecolor="#333333", linewidth=0.6)
    for bar, s in zip(bars, series):
        bar.set_hatch(s.style.hatch)
    ax.set_yticks(positions, [s.label for s in series])
    right = max((m + e for m, e in zip(means, errors)), default=1)
    for y, mean, error in zip(positions, means, errors):  # beyond the whisker, where it cannot cover it
        ax.text(mean + error + 0.02 * right, y, f"{mean:.3g} s", va="center", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_xlim(0, right * 1.3)
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def _figure(key: str, kind: str, series: list[Series], figures_dir: Path, cache_dir: Path | None,
            draw: Callable[[], plt.Figure], x_label: str = "epoch") -> Figure:
    """The figure from the cache when it holds one for exactly these numbers and looks, else drawn now."""
    check_glyphs([s.label for s in series])
    identity = json.dumps({"key": key, "kind": kind, "series": [asdict(s) for s in series], "fonts": font_families(),
                           "matplotlib": matplotlib.__version__, "code": _CODE}, sort_keys=True, default=str)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:20]
    svg_path, png_path = paths.figure_file(figures_dir, key, "svg"), paths.figure_file(figures_dir, key, "png")
    figures_dir.mkdir(parents=True, exist_ok=True)
    cached_svg = paths.figure_file(cache_dir, digest, "svg") if cache_dir else None
    cached_png = paths.figure_file(cache_dir, digest, "png") if cache_dir else None
    if cached_svg and cached_svg.exists() and cached_png.exists():
        shutil.copyfile(cached_svg, svg_path)
        shutil.copyfile(cached_png, png_path)
        svg = svg_path.read_text(encoding="utf-8")
    else:
        with plt.rc_context({**STYLE, "font.family": font_families(), "svg.hashsalt": key}):
            fig = draw()
            buffer = io.StringIO()
            # no date in the SVG, and a fixed id salt: the same figure is the same bytes every time
            fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
            fig.savefig(png_path, format="png", dpi=200, bbox_inches="tight")
            plt.close(fig)
        svg = buffer.getvalue()
        svg_path.write_text(svg, encoding="utf-8")
        if cache_dir:
            cache_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(svg_path, cached_svg)
            shutil.copyfile(png_path, cached_png)
    # An <img> of the SVG as a data URI: the HTML stays one self-contained file, the figure is still vector
    # graphics, and it carries its text alternative in `alt`, which the tagged PDF keeps as /Alt.
    src = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    public = tuple(Series(s.label, s.panel, s.x, s.y) for s in series)
    return Figure(key=key, src=src, svg_path=svg_path, png_path=png_path, kind=kind, x_label=x_label, series=public)


# ---- the report's figures ------------------------------------------------------------------------

def accuracy_figure(key: str, views: list[ExperimentView], styles: dict[str, Style], figures_dir: Path,
                    cache_dir: Path | None = None) -> Figure:
    series = [s for v in views if (s := epoch_series(v, "test_accuracy", "test accuracy", styles[v.name]))]
    return _figure(key, "line", series, figures_dir, cache_dir,
                   lambda: _draw_lines(series, titles=False, ylabel="test accuracy", width=WIDTH))


def loss_figure(key: str, views: list[ExperimentView], styles: dict[str, Style], figures_dir: Path,
                cache_dir: Path | None = None) -> Figure:
    series = [s for panel, metric in (("training loss", "train_loss"), ("test loss", "test_loss")) for v in views
              if (s := epoch_series(v, metric, panel, styles[v.name]))]
    return _figure(key, "line", series, figures_dir, cache_dir,
                   lambda: _draw_lines(series, titles=True, ylabel="cross-entropy", width=WIDTH))


def epoch_time_figure(key: str, views: list[ExperimentView], styles: dict[str, Style], figures_dir: Path,
                      cache_dir: Path | None = None) -> Figure:
    panel = "training seconds per epoch"
    series = [Series(v.title, panel, (), (v.mean_epoch_seconds.mean,), (),
                     (v.mean_epoch_seconds.mean + (v.mean_epoch_seconds.std or 0.0),), styles[v.name])
              for v in views if v.mean_epoch_seconds is not None]
    return _figure(key, "bar", series, figures_dir, cache_dir, lambda: _draw_bars(series, panel), x_label="")


def probe_figure(key: str, view: ExperimentView, styles: dict[str, Style], figures_dir: Path,
                 cache_dir: Path | None = None) -> Figure:
    style = styles[view.name]
    series = [s for name in view.probe_names if (s := epoch_series(view, name, PROBE_LABELS.get(name, name), style))]
    if "relu_active" in view.probe_names and "relu_grad_sq" in view.probe_names:
        series += [s for s in [per_active_series(view, style)] if s]
    width = WIDTH * (1.2 if len(_panels(series)) > 2 else 1.0)
    return _figure(key, "line", series, figures_dir, cache_dir,
                   lambda: _draw_lines(series, titles=True, ylabel=None, width=width))
