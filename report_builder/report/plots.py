"""Figures from experiment views: SVG text to inline in the report, plus SVG and PNG files to paste elsewhere."""

from __future__ import annotations

import base64
import functools
import io
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib import font_manager, ft2font  # noqa: E402

from report_builder import paths  # noqa: E402
from report_builder.results.analysis import ExperimentView  # noqa: E402

# Okabe–Ito's colour-blind-safe palette (black left out: it is the text's colour), then darker extras.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C6D1F", "#5D3A9B", "#7F7F7F",
           "#1B7837"]
# Series are told apart without colour too (greyscale print, colour blindness): each experiment also gets
# its own marker and, past the markers, its own line style.
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINESTYLES = ["-", "--", "-.", ":"]
LEGEND_INSIDE_MAX = 4
"""More series than this and the legend goes beside the axes, where it cannot cover data."""
WIDTH, HEIGHT = 6.4, 2.5
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.spines.top": False, "axes.spines.right": False,
         "legend.frameon": False, "svg.fonttype": "none", "figure.dpi": 100}
# Fonts tried after DejaVu Sans for characters it lacks (titles in Chinese, Japanese, Korean, …): the first
# installed ones join matplotlib's fallback list.
FALLBACK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK KR", "Noto Sans CJK TC", "Source Han Sans SC",
                  "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Droid Sans Fallback", "NanumGothic", "UnDotum",
                  "Noto Sans", "Noto Sans Arabic", "Noto Sans Hebrew", "Noto Sans Devanagari", "Noto Sans Thai"]
FONT_PACKAGE_HINT = "a font that has them, e.g. Debian's fonts-noto-cjk (Chinese, Japanese, Korean) or fonts-noto"
warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
_warned_missing: set[str] = set()


@functools.lru_cache(maxsize=1)
def font_families() -> list[str]:
    """DejaVu Sans, then every installed fallback font (matplotlib draws each glyph with the first that has it)."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return ["DejaVu Sans"] + [name for name in FALLBACK_FONTS if name in installed]


@functools.lru_cache(maxsize=None)
def _charmap(family: str) -> frozenset[int]:
    try:
        path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        return frozenset(ft2font.FT2Font(path).get_charmap())
    except (ValueError, RuntimeError, OSError):
        return frozenset()


def _missing(texts: list[str]) -> list[str]:
    covered = frozenset().union(*(_charmap(f) for f in font_families()))
    return sorted({c for text in texts for c in text if not c.isspace() and ord(c) not in covered})


def _add_new_system_fonts() -> None:
    """Fonts installed after matplotlib cached its font list are unknown to it until added."""
    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in font_manager.findSystemFonts():
        if path not in known:
            try:
                font_manager.fontManager.addfont(path)
            except (RuntimeError, OSError, ValueError):
                continue
    font_families.cache_clear()


def check_glyphs(texts: list[str]) -> None:
    """Warn once (per character set) when no installed font can draw some characters of these texts."""
    missing = _missing(texts)
    if missing and not getattr(check_glyphs, "rescanned", False):
        check_glyphs.rescanned = True
        _add_new_system_fonts()
        missing = _missing(texts)
    new = [c for c in missing if c not in _warned_missing]
    if new:
        _warned_missing.update(new)
        print(f"warning: figures: no installed font has the characters {''.join(new)!r} ({len(new)} missing, drawn as "
              f"boxes); install {FONT_PACKAGE_HINT}", file=sys.stderr)


@dataclass(frozen=True)
class Series:
    """One line or bar of a figure, as numbers: what the figure's text alternative and data table say."""

    label: str
    panel: str
    """Which quantity (axis) of the figure it belongs to, e.g. "test accuracy"."""
    x: tuple[float, ...]
    y: tuple[float, ...]


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


@dataclass(frozen=True)
class Style:
    color: str
    marker: str
    linestyle: str


def styles_for(names: list[str]) -> dict[str, Style]:
    """One colour, marker and line style per experiment, the same in every figure of the report."""
    return {name: Style(PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)],
                        LINESTYLES[(i // len(MARKERS)) % len(LINESTYLES)]) for i, name in enumerate(names)}


def colors_for(names: list[str]) -> dict[str, Style]:
    return styles_for(names)


def _legend(ax, count: int) -> None:
    if count > LEGEND_INSIDE_MAX:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    else:
        ax.legend(loc="best")


def _save(fig, key: str, figures_dir: Path, series: list[Series] | None = None, kind: str = "line",
          x_label: str = "epoch") -> Figure:
    figures_dir.mkdir(parents=True, exist_ok=True)
    svg_path, png_path = paths.figure_file(figures_dir, key, "svg"), paths.figure_file(figures_dir, key, "png")
    # A fixed salt per figure makes matplotlib's generated ids, and so the SVG's bytes, the same each time.
    with plt.rc_context({"svg.hashsalt": key}):
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buffer.getvalue()
    svg_path.write_text(svg, encoding="utf-8")
    fig.savefig(png_path, format="png", dpi=200, bbox_inches="tight")
    plt.close(fig)
    # An <img> of the SVG as a data URI: the HTML stays one self-contained file, the figure is still vector
    # graphics, and it carries its text alternative in `alt`, which the tagged PDF keeps as /Alt.
    src = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return Figure(key=key, src=src, svg_path=svg_path, png_path=png_path, kind=kind, x_label=x_label,
                  series=tuple(series or ()))


def _series(view: ExperimentView, metric: str):
    xs, means, lows, highs = [], [], [], []
    for e in view.epochs:
        stat = getattr(e, metric) if metric in ("train_loss", "test_loss", "test_accuracy") else e.probes.get(metric)
        if stat is None:
            continue
        xs.append(e.epoch)
        means.append(stat.mean)
        spread = stat.std or 0.0
        lows.append(stat.mean - spread)
        highs.append(stat.mean + spread)
    return xs, means, lows, highs


def _line(ax, view: ExperimentView, metric: str, style: Style, label: str, panel: str,
          found: list[Series]) -> None:
    xs, means, lows, highs = _series(view, metric)
    if not xs:
        return
    ax.plot(xs, means, linestyle=style.linestyle, color=style.color, marker=style.marker, markersize=4, label=label)
    if view.repeats > 1:
        ax.fill_between(xs, lows, highs, color=style.color, alpha=0.18, linewidth=0)
    found.append(Series(label, panel, tuple(xs), tuple(means)))


def _epoch_axis(ax, views: list[ExperimentView]) -> None:
    last = max((e.epoch for v in views for e in v.epochs), default=1)
    ax.set_xticks(range(1, last + 1))
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)


def _drawing(views: list[ExperimentView]):
    """matplotlib's settings for one figure, with fonts for every script in its experiments' titles."""
    check_glyphs([v.title for v in views])
    return plt.rc_context({**STYLE, "font.family": font_families()})


def accuracy_figure(key: str, views: list[ExperimentView], styles: dict[str, Style], figures_dir: Path) -> Figure:
    found: list[Series] = []
    with _drawing(views):
        fig, ax = plt.subplots(figsize=(WIDTH, HEIGHT))
        for view in views:
            _line(ax, view, "test_accuracy", styles[view.name], view.title, "test accuracy", found)
        _epoch_axis(ax, views)
        ax.set_ylabel("test accuracy")
        _legend(ax, len(views))
        return _save(fig, key, figures_dir, series=found)


def loss_figure(key: str, views: list[ExperimentView], styles: dict[str, Style], figures_dir: Path) -> Figure:
    found: list[Series] = []
    with _drawing(views):
        fig, (train_ax, test_ax) = plt.subplots(1, 2, figsize=(WIDTH, HEIGHT), sharey=True)
        for view in views:
            _line(train_ax, view, "train_loss", styles[view.name], view.title, "training loss", found)
            _line(test_ax, view, "test_loss", styles[view.name], view.title, "test loss", found)
        for ax, title in ((train_ax, "training loss"), (test_ax, "test loss")):
            _epoch_axis(ax, views)
            ax.set_title(title)
        train_ax.set_ylabel("cross-entropy")
        _legend(test_ax, len(views))
        return _save(fig, key, figures_dir, series=found)


def epoch_time_figure(key: str, views: list[ExperimentView], styles: dict[str, Style], figures_dir: Path) -> Figure:
    timed = [v for v in views if v.mean_epoch_seconds is not None]
    with _drawing(timed):
        fig, ax = plt.subplots(figsize=(WIDTH, 0.45 * len(timed) + 0.9))
        positions = list(range(len(timed)))[::-1]
        means = [v.mean_epoch_seconds.mean for v in timed]
        errors = [v.mean_epoch_seconds.std or 0.0 for v in timed]
        bars = ax.barh(positions, means, xerr=errors, color=[styles[v.name].color for v in timed], height=0.6,
                       capsize=3, edgecolor="#333333", linewidth=0.6)
        for bar, v in zip(bars, timed):  # hatching tells the bars apart in greyscale
            bar.set_hatch(HATCHES[list(styles).index(v.name) % len(HATCHES)])
        ax.set_yticks(positions, [v.title for v in timed])
        for y, mean in zip(positions, means):
            ax.text(mean + 0.02 * max(means), y, f"{mean:.3g} s", va="center", fontsize=8)
        ax.set_xlabel("training seconds per epoch")
        ax.set_xlim(0, max(means, default=1) * 1.25)
        ax.grid(True, axis="x", alpha=0.3)
        series = tuple(Series(v.title, "training seconds per epoch", (), (m,)) for v, m in zip(timed, means))
        return _save(fig, key, figures_dir, series=list(series), kind="bar", x_label="")


HATCHES = ["", "//", "..", "xx", "\\\\", "++", "oo", "--"]
PROBE_LABELS = {"relu_active": "active ReLU inputs (count)", "relu_grad_sq": "Σ (∂loss/∂ReLU input)²",
                "per_active": "Σ (∂loss/∂ReLU input)² per active input"}


def probe_figure(key: str, view: ExperimentView, styles: dict[str, Style], figures_dir: Path) -> Figure:
    names = list(view.probe_names)
    per_active = "relu_active" in names and "relu_grad_sq" in names
    found: list[Series] = []
    with _drawing([view]):
        panels = len(names) + (1 if per_active else 0)
        fig, axes = plt.subplots(1, panels, figsize=(WIDTH * (1.2 if panels > 2 else 1.0), HEIGHT), squeeze=False)
        for ax, name in zip(axes[0], names):
            _line(ax, view, name, styles[view.name], view.title, PROBE_LABELS.get(name, name), found)
            ax.set_title(PROBE_LABELS.get(name, name))
        if per_active:
            ax = axes[0][-1]
            xs = [e.epoch for e in view.epochs if e.probes.get("relu_active") and e.probes.get("relu_grad_sq")]
            ys = [e.probes["relu_grad_sq"].mean / e.probes["relu_active"].mean for e in view.epochs
                  if e.probes.get("relu_active") and e.probes.get("relu_grad_sq")]
            style = styles[view.name]
            ax.plot(xs, ys, linestyle=style.linestyle, color=style.color, marker=style.marker, markersize=4)
            ax.set_title(PROBE_LABELS["per_active"])
            found.append(Series(view.title, PROBE_LABELS["per_active"], tuple(xs), tuple(ys)))
        for ax in axes[0]:
            _epoch_axis(ax, [view])
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
        fig.tight_layout()
        return _save(fig, key, figures_dir, series=found)
