"""Figures from experiment views: each figure's numbers first (what its text alternative and data table say),
then the drawing, as an SVG data URI for the self-contained HTML plus SVG and PNG files.

The figure in the report carries no legend: the template writes it beside the figure as text, each
experiment's title after a swatch of its line or bar. So a figure's image depends on its numbers and
styles only, and renaming an experiment redraws nothing. The files in figures/ (to paste elsewhere)
are drawn with a legend, and only by a render that writes them (`make render`; not the preview).
Drawing is the slow part of a render, so every image is cached by what it shows: the hash of its
numbers, styles (and, for the files, labels), fonts, matplotlib's version and this module's code names
it in the cache folder (build/.cache/figures). A render whose figures did not change copies them.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import io
import json
import os
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from report_builder import paths  # noqa: E402
from report_builder.report.fonts import check_glyphs, font_families  # noqa: E402
from report_builder.analysis import gradients  # noqa: E402
from report_builder.analysis.views import ExperimentView  # noqa: E402

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
FLAT = 0.01
"""A line whose last value is within this fraction of its first is described as staying near it."""
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

    @property
    def trend(self) -> str:
        """What the figure's text alternative says of the line: "one" (a single point), "flat" (its last value
        equal to its first, or within FLAT of it relatively), else "rises" or "falls"."""
        if len(self.y) < 2:
            return "one"
        first, last = self.y[0], self.y[-1]
        if last == first or (first != 0 and abs((last - first) / first) < FLAT):
            return "flat"
        return "rises" if last > first else "falls"


@dataclass(frozen=True)
class Figure:
    key: str
    src: str
    """The SVG as a data: URI, for an <img> in the self-contained HTML."""
    svg_path: Path | None
    """figures/KEY.svg (with a legend, beside figures/KEY.png), or None when this render writes no figure
    files (the preview)."""
    kind: str = "line"
    """"line" (a value per epoch) or "bar" (one value per experiment)."""
    x_label: str = "epoch"
    series: tuple[Series, ...] = ()
    legend: tuple[tuple[str, str], ...] = ()
    """(label, swatch) per experiment, in the order of the lines (or bars, top to bottom): the swatch an
    SVG data URI of its line and marker (or its bar's fill and hatching)."""


# ---- the numbers ---------------------------------------------------------------------------------

def epoch_series(view: ExperimentView, metric: str, panel: str, style: Style) -> Series | None:
    xs, ys, lows, highs = [], [], [], []
    for e in view.epochs:
        stat = e.stat(metric)
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


# ---- drawing, cached by what is drawn ------------------------------------------------------------

def _panels(series: list[Series]) -> list[str]:
    return list(dict.fromkeys(s.panel for s in series))


def _draw_lines(series: list[Series], titles: bool, ylabel: str | None, width: float, legend: bool,
                xlabel: str = "epoch", log_y: bool = False) -> plt.Figure:
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
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
        if titles:
            ax.set_title(panel)
        if log_y:  # gradients of different layers and activations lie decades apart
            ax.set_yscale("log")
        else:
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    if ylabel:
        axes[0][0].set_ylabel(ylabel)
    if legend and labelled > 1:
        ax = axes[0][-1]
        if labelled > LEGEND_INSIDE_MAX:
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        else:
            ax.legend(loc="best")
    fig.tight_layout()
    return fig


def _draw_bars(series: list[Series], xlabel: str, legend: bool) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(WIDTH, 0.45 * len(series) + 0.9))
    positions = list(range(len(series)))[::-1]
    means = [s.y[0] for s in series]
    errors = [(s.high[0] - s.y[0]) if s.high else 0.0 for s in series]
    bars = ax.barh(positions, means, xerr=errors, color=[s.style.color for s in series], height=0.6, capsize=3,
                   edgecolor="#333333", linewidth=0.6)
    for bar, s in zip(bars, series):
        bar.set_hatch(s.style.hatch)
    ax.set_yticks(positions, [s.label for s in series] if legend else [""] * len(series))
    right = max((m + e for m, e in zip(means, errors)), default=1)
    for y, mean, error in zip(positions, means, errors):  # beyond the whisker, where it cannot cover it
        ax.text(mean + error + 0.02 * right, y, f"{mean:.3g} s", va="center", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_xlim(0, right * 1.3)
    ax.grid(True, axis="x", alpha=0.3)
    return fig


# No date in an SVG or PDF: the same figure is the same bytes every time.
_NO_DATE = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}


DRAWN_KEPT = 64
"""Drawings kept in memory (a few MB): a process that renders again (a preview, a test session) skips drawing
and reading back what it has drawn, for the same digest as the on-disk cache."""
_DRAWN: OrderedDict[tuple[str, tuple[str, ...]], dict[str, bytes]] = OrderedDict()


def _cached(identity: dict, key: str, cache_dir: Path | None, draw: Callable[[], plt.Figure],
            formats: tuple[str, ...]) -> dict[str, Path | bytes]:
    """{format: bytes} of a drawing, from memory or the cache folder when either holds these exact inputs, else
    drawn now."""
    digest = hashlib.sha256(json.dumps({**identity, "fonts": font_families(), "matplotlib": matplotlib.__version__,
                                        "code": _CODE}, sort_keys=True, default=str).encode()).hexdigest()[:20]
    cached = {f: paths.figure_file(cache_dir, digest, f) for f in formats} if cache_dir else {}
    on_disk = bool(cached) and all(p.exists() for p in cached.values())
    out = _DRAWN.get((digest, formats))
    if out is not None:
        _DRAWN.move_to_end((digest, formats))
    elif on_disk:
        out = {f: p.read_bytes() for f, p in cached.items()}
    else:
        out = {}
        with plt.rc_context({**STYLE, "font.family": font_families(), "svg.hashsalt": key}):
            fig = draw()
            for f in formats:
                buffer = io.BytesIO()
                # with _NO_DATE and a fixed id salt, the same figure is the same bytes every time
                fig.savefig(buffer, format=f, bbox_inches="tight", dpi=200, metadata=_NO_DATE.get(f))
                out[f] = buffer.getvalue()
            plt.close(fig)
    if cached and not on_disk:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for f, data in out.items():
            tmp = cached[f].with_name(f".{cached[f].name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(cached[f])
    _DRAWN[(digest, formats)] = out
    if len(_DRAWN) > DRAWN_KEPT:
        _DRAWN.popitem(last=False)
    return dict(out)


FILE_FORMATS = ("svg", "png", "pdf")
"""The figure files beside the report: SVG for the web and Markdown, PNG for slides, PDF for LaTeX's
\\includegraphics (vector, like the SVG)."""


def _figure(key: str, kind: str, series: list[Series], figures_dir: Path, cache_dir: Path | None,
            draw: Callable[[bool], plt.Figure], files: bool, x_label: str = "epoch") -> Figure:
    check_glyphs([s.label for s in series])
    looks = {"key": key, "kind": kind, "series": [{**asdict(s), "label": ""} for s in series]}
    image = _cached(looks, key, cache_dir, lambda: draw(False), ("svg",))["svg"]
    svg_path = None
    if files:
        drawn = _cached({**looks, "labels": [s.label for s in series]}, key, cache_dir, lambda: draw(True),
                        FILE_FORMATS)
        figures_dir.mkdir(parents=True, exist_ok=True)
        for f in FILE_FORMATS:
            paths.figure_file(figures_dir, key, f).write_bytes(drawn[f])
        svg_path = paths.figure_file(figures_dir, key, "svg")
    # An <img> of the SVG as a data URI: the HTML stays one self-contained file, the figure is still vector
    # graphics, and it carries its text alternative in `alt`, which the tagged PDF keeps as /Alt.
    src = "data:image/svg+xml;base64," + base64.b64encode(image).decode("ascii")
    public = tuple(Series(s.label, s.panel, s.x, s.y) for s in series)
    legend = tuple(dict.fromkeys((s.label, swatch(s.style, kind)) for s in series))
    return Figure(key=key, src=src, svg_path=svg_path, kind=kind, x_label=x_label, series=public, legend=legend)


# ---- legend swatches -----------------------------------------------------------------------------

_DASHES = {"-": "", "--": "6 3", "-.": "6 2 1.5 2", ":": "1.5 2"}
_MARKER_SHAPES = {
    "o": '<circle cx="14" cy="7" r="3.6"/>', "s": '<rect x="10.6" y="3.6" width="6.8" height="6.8"/>',
    "^": '<polygon points="14,2.8 18.2,10.6 9.8,10.6"/>', "v": '<polygon points="14,11.2 18.2,3.4 9.8,3.4"/>',
    "D": '<polygon points="14,2.4 18.6,7 14,11.6 9.4,7"/>',
    "P": '<polygon points="12.6,2.8 15.4,2.8 15.4,5.6 18.2,5.6 18.2,8.4 15.4,8.4 15.4,11.2 12.6,11.2 12.6,8.4 9.8,8.4 '
         '9.8,5.6 12.6,5.6"/>',
    "X": '<polygon points="10.4,4.4 11.4,3.4 14,6 16.6,3.4 17.6,4.4 15,7 17.6,9.6 16.6,10.6 14,8 11.4,10.6 10.4,9.6 '
         '13,7"/>',
    "*": '<polygon points="14,2.4 15.1,5.6 18.5,5.6 15.8,7.6 16.8,10.9 14,8.9 11.2,10.9 12.2,7.6 9.5,5.6 12.9,5.6"/>'}
_HATCH_PATHS = {"//": "M0,6 L6,0", "\\\\": "M0,0 L6,6", "xx": "M0,6 L6,0 M0,0 L6,6", "++": "M3,0 L3,6 M0,3 L6,3",
                "--": "M0,3 L6,3", "..": "M2,2 L2.6,2.6", "oo": "M1.5,3 a1.5,1.5 0 1,0 3,0 a1.5,1.5 0 1,0 -3,0"}


@functools.lru_cache(maxsize=None)
def swatch(style: Style, kind: str) -> str:
    """A small SVG (data URI) of a legend entry: the line with its marker, or the bar's fill and hatching."""
    if kind == "bar":
        hatch = _HATCH_PATHS.get(style.hatch, "")
        pattern = (f'<defs><pattern id="h" width="6" height="6" patternUnits="userSpaceOnUse"><path d="{hatch}" '
                   f'stroke="#333" stroke-width="1"/></pattern></defs>') if hatch else ""
        body = (f'{pattern}<rect x="4" y="1.5" width="20" height="11" fill="{style.color}" stroke="#333" '
                f'stroke-width="0.8"/>' + ('<rect x="4" y="1.5" width="20" height="11" fill="url(#h)"/>' if hatch else ""))
    else:
        dash = _DASHES.get(style.linestyle, "")
        body = (f'<line x1="1" y1="7" x2="27" y2="7" stroke="{style.color}" stroke-width="1.6"'
                + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"
                + f'<g fill="{style.color}">{_MARKER_SHAPES.get(style.marker, _MARKER_SHAPES["o"])}</g>')
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="14" viewBox="0 0 28 14">{body}</svg>'
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


# ---- the report's figures ------------------------------------------------------------------------

def accuracy_figure(key: str, views: list[ExperimentView], styles: dict[str, Style], figures_dir: Path,
                    cache_dir: Path | None = None, files: bool = True) -> Figure:
    series = [s for v in views if (s := epoch_series(v, "test_accuracy", "test accuracy", styles[v.name]))]
    return _figure(key, "line", series, figures_dir, cache_dir,
                   lambda legend: _draw_lines(series, titles=False, ylabel="test accuracy", width=WIDTH, legend=legend),
                   files)


def loss_figure(key: str, views: list[ExperimentView], styles: dict[str, Style], figures_dir: Path,
                cache_dir: Path | None = None, files: bool = True) -> Figure:
    series = [s for panel, metric in (("training loss", "train_loss"), ("test loss", "test_loss")) for v in views
              if (s := epoch_series(v, metric, panel, styles[v.name]))]
    return _figure(key, "line", series, figures_dir, cache_dir,
                   lambda legend: _draw_lines(series, titles=True, ylabel="cross-entropy", width=WIDTH, legend=legend),
                   files)


def curves_figure(key: str, views: list[ExperimentView], styles: dict[str, Style], figures_dir: Path,
                  cache_dir: Path | None = None, files: bool = True) -> Figure:
    """A group's curves in one figure: test accuracy, training loss and test loss per epoch, one panel each."""
    series = [s for panel, metric in (("test accuracy", "test_accuracy"), ("training loss", "train_loss"),
                                      ("test loss", "test_loss")) for v in views
              if (s := epoch_series(v, metric, panel, styles[v.name]))]
    return _figure(key, "line", series, figures_dir, cache_dir,
                   lambda legend: _draw_lines(series, titles=True, ylabel=None, width=WIDTH * 1.15, legend=legend),
                   files)


def epoch_time_figure(key: str, views: list[ExperimentView], styles: dict[str, Style], figures_dir: Path,
                      cache_dir: Path | None = None, files: bool = True) -> Figure:
    panel = "training seconds per epoch"
    series = [Series(v.title, panel, (), (v.mean_epoch_seconds.mean,), (),
                     (v.mean_epoch_seconds.mean + (v.mean_epoch_seconds.std or 0.0),), styles[v.name])
              for v in views if v.mean_epoch_seconds is not None]
    return _figure(key, "bar", series, figures_dir, cache_dir, lambda legend: _draw_bars(series, panel, legend), files,
                   x_label="")


def probe_labels(activation: str) -> dict[str, str]:
    """The panels of a probe figure: approach 1, approach 2 and their ratio, in the activation's words."""
    if activation == "relu":
        return {"derivative": PROBE_LABELS["relu_active"], "gradient": PROBE_LABELS["relu_grad_sq"],
                "per_unit": PROBE_LABELS["per_active"]}
    return {"derivative": "Σ f′(x)² over the layer's inputs x", "gradient": "Σ (∂loss/∂x)²",
            "per_unit": "Σ (∂loss/∂x)² per unit of Σ f′(x)²"}


def layer_series(view: ExperimentView, layer: gradients.LayerProbes, label: str, style: Style) -> list[Series]:
    """One layer's probes per epoch: approach 1, approach 2 (mean ± SD over runs), and their ratio per run."""
    labels = probe_labels(layer.activation)
    series = [s for key, panel in ((layer.derivative, labels["derivative"]), (layer.gradient, labels["gradient"]))
              if key and (s := epoch_series(view, key, panel, style))]
    points = [(e.epoch, stat) for e in view.epochs if (stat := gradients.per_unit(view, e.epoch, layer))]
    if points:
        banded = view.repeats > 1
        series.append(Series(label, labels["per_unit"], tuple(p[0] for p in points), tuple(p[1].mean for p in points),
                             tuple(p[1].mean - (p[1].std or 0.0) for p in points) if banded else (),
                             tuple(p[1].mean + (p[1].std or 0.0) for p in points) if banded else (), style))
    return [dataclasses.replace(s, label=label) for s in series]


LAYER_STYLES = styles_for([f"layer {i}" for i in range(1, 9)])


def probe_figure(key: str, view: ExperimentView, styles: dict[str, Style], figures_dir: Path,
                 cache_dir: Path | None = None, files: bool = True) -> Figure:
    """An experiment's probes per epoch: one panel per approach (and their ratio), one line per layer (a
    one-layer network's line in the experiment's own style)."""
    layers = gradients.layers_of(view)
    series = []
    for layer in layers:
        if len(layers) == 1:
            series += layer_series(view, layer, view.title, styles[view.name])
        else:
            name = f"layer {layer.layer}"
            series += layer_series(view, layer, name, LAYER_STYLES.get(name, styles[view.name]))
    width = WIDTH * (1.2 if len(_panels(series)) > 2 else 1.0)
    return _figure(key, "line", series, figures_dir, cache_dir,
                   lambda legend: _draw_lines(series, titles=True, ylabel=None, width=width, legend=legend,
                                              log_y=len(layers) > 1), files)


GRADIENT_PANEL = "mean (∂loss/∂x)² per input value, final epoch"


def gradient_flow_figure(key: str, views: list[ExperimentView], styles: dict[str, Style], figures_dir: Path,
                         cache_dir: Path | None = None, files: bool = True) -> Figure:
    """Each experiment's final-epoch mean squared gradient per activation layer (layer 1: the input side), on
    a log scale: the gradient's flow through the depth, experiments side by side."""
    series = []
    for v in views:
        rows = [r for r in gradients.gradient_rows(v) if r.gradient is not None]
        if rows:
            series.append(Series(v.title, GRADIENT_PANEL, tuple(r.layer.layer for r in rows),
                                 tuple(r.gradient.mean for r in rows), style=styles[v.name]))
    return _figure(key, "line", series, figures_dir, cache_dir,
                   lambda legend: _draw_lines(series, titles=False, ylabel="mean (∂loss/∂x)²", width=WIDTH,
                                              legend=legend, xlabel="activation layer", log_y=True),
                   files, x_label="activation layer")
