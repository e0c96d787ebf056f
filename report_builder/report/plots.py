"""Figures from experiment views: SVG text to inline in the report, plus SVG and PNG files to paste elsewhere."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from report_builder.results.analysis import ExperimentView  # noqa: E402

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#7f7f7f", "#bcbd22"]
WIDTH, HEIGHT = 6.4, 2.5
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.spines.top": False, "axes.spines.right": False,
         "legend.frameon": False, "svg.fonttype": "none", "figure.dpi": 100}


@dataclass(frozen=True)
class Figure:
    key: str
    svg: str
    """Inline-ready SVG markup (no XML prolog), ids unique to this figure."""
    svg_path: Path
    png_path: Path


def colors_for(names: list[str]) -> dict[str, str]:
    """One colour per experiment, the same in every figure of the report."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def _save(fig, key: str, figures_dir: Path) -> Figure:
    figures_dir.mkdir(parents=True, exist_ok=True)
    svg_path, png_path = figures_dir / f"{key}.svg", figures_dir / f"{key}.png"
    # A per-figure salt keeps matplotlib's generated ids unique when several SVGs share one HTML page.
    with plt.rc_context({"svg.hashsalt": key}):
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buffer.getvalue()
    svg_path.write_text(svg, encoding="utf-8")
    fig.savefig(png_path, format="png", dpi=200, bbox_inches="tight")
    plt.close(fig)
    inline = _unique_ids(svg[svg.index("<svg"):], key)
    inline = re.sub(r'<svg ([^>]*?)height="[^"]*"', r'<svg \1', inline, count=1)
    inline = inline.replace("<svg ", f'<svg role="img" class="plot" aria-label="{key}" ', 1)
    return Figure(key=key, svg=inline, svg_path=svg_path, png_path=png_path)


def _unique_ids(svg: str, prefix: str) -> str:
    """Prefix every id (and every reference to it) so that figures inlined in one page never collide."""
    for old in set(re.findall(r'id="([^"]+)"', svg)):
        new = f"{prefix}-{old}"
        svg = svg.replace(f'id="{old}"', f'id="{new}"').replace(f"#{old})", f"#{new})")
        svg = svg.replace(f'href="#{old}"', f'href="#{new}"')
    return svg


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


def _line(ax, view: ExperimentView, metric: str, color: str, label: str, style: str = "-") -> None:
    xs, means, lows, highs = _series(view, metric)
    if not xs:
        return
    ax.plot(xs, means, style, color=color, marker="o", markersize=3, label=label)
    if view.repeats > 1:
        ax.fill_between(xs, lows, highs, color=color, alpha=0.18, linewidth=0)


def _epoch_axis(ax, views: list[ExperimentView]) -> None:
    last = max((e.epoch for v in views for e in v.epochs), default=1)
    ax.set_xticks(range(1, last + 1))
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)


def accuracy_figure(key: str, views: list[ExperimentView], colors: dict[str, str], figures_dir: Path) -> Figure:
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH, HEIGHT))
        for view in views:
            _line(ax, view, "test_accuracy", colors[view.name], view.title)
        _epoch_axis(ax, views)
        ax.set_ylabel("test accuracy")
        ax.legend(loc="best")
        return _save(fig, key, figures_dir)


def loss_figure(key: str, views: list[ExperimentView], colors: dict[str, str], figures_dir: Path) -> Figure:
    with plt.rc_context(STYLE):
        fig, (train_ax, test_ax) = plt.subplots(1, 2, figsize=(WIDTH, HEIGHT), sharey=True)
        for view in views:
            _line(train_ax, view, "train_loss", colors[view.name], view.title)
            _line(test_ax, view, "test_loss", colors[view.name], view.title)
        for ax, title in ((train_ax, "training loss"), (test_ax, "test loss")):
            _epoch_axis(ax, views)
            ax.set_title(title)
        train_ax.set_ylabel("cross-entropy")
        test_ax.legend(loc="best")
        return _save(fig, key, figures_dir)


def epoch_time_figure(key: str, views: list[ExperimentView], colors: dict[str, str], figures_dir: Path) -> Figure:
    timed = [v for v in views if v.mean_epoch_seconds is not None]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH, 0.45 * len(timed) + 0.9))
        positions = list(range(len(timed)))[::-1]
        means = [v.mean_epoch_seconds.mean for v in timed]
        errors = [v.mean_epoch_seconds.std or 0.0 for v in timed]
        ax.barh(positions, means, xerr=errors, color=[colors[v.name] for v in timed], height=0.6, capsize=3)
        ax.set_yticks(positions, [v.title for v in timed])
        for y, m in zip(positions, means):
            ax.text(m + 0.02 * max(means), y, f"{m:.2f} s", va="center", fontsize=8)
        ax.set_xlabel("training seconds per epoch")
        ax.set_xlim(0, max(means, default=1) * 1.25)
        ax.grid(True, axis="x", alpha=0.3)
        return _save(fig, key, figures_dir)


PROBE_LABELS = {"relu_active": "active ReLU inputs (count)", "relu_grad_sq": "Σ (∂loss/∂ReLU input)²"}


def probe_figure(key: str, view: ExperimentView, colors: dict[str, str], figures_dir: Path) -> Figure:
    names = view.probe_names
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(names), figsize=(WIDTH, HEIGHT), squeeze=False)
        for ax, name in zip(axes[0], names):
            _line(ax, view, name, colors[view.name], view.title)
            _epoch_axis(ax, [view])
            ax.set_title(PROBE_LABELS.get(name, name))
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
        fig.tight_layout()
        return _save(fig, key, figures_dir)
