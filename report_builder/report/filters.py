"""Jinja filters and helpers: number formatting and comparisons that templates turn into sentences.

Filters format; helpers pick and compare. Neither writes prose — that is the templates' job.
Every name here is documented in templates/README.md.
"""

from __future__ import annotations

from typing import Iterable

from markupsafe import Markup

from report_builder.results.analysis import ExperimentView, Stat

DASH = "—"
MINUS = "−"


def num(value: float | Stat | None, digits: int = 3) -> str:
    """0.87543 → "0.875"; a Stat gives its mean; None → "—"."""
    if isinstance(value, Stat):
        value = value.mean
    if value is None:
        return DASH
    return f"{value:.{digits}f}".replace("-", MINUS)


def pm(stat: Stat | None, digits: int = 3, scale: float = 1.0) -> str:
    """A Stat as "mean ± std" (just the mean for one run); scale=100 shows fractions as percent points."""
    if stat is None:
        return DASH
    text = f"{stat.mean * scale:.{digits}f}"
    if stat.std is not None:
        text += f" ± {stat.std * scale:.{digits}f}"
    return text.replace("-", MINUS)


def pct(value: float | Stat | None, digits: int = 1) -> str:
    """0.8754 → "87.5%"."""
    if isinstance(value, Stat):
        value = value.mean
    return DASH if value is None else f"{100 * value:.{digits}f}%"


def seconds(value: float | Stat | None, digits: int = 2) -> str:
    """2.137 → "2.14 s"; a Stat with spread → "2.14 ± 0.05 s"."""
    if isinstance(value, Stat):
        return DASH if value is None else pm(value, digits) + " s"
    return DASH if value is None else f"{value:.{digits}f} s"


def times(value: float | None, digits: int = 1) -> str:
    """1.734 → "1.7×"."""
    return DASH if value is None else f"{value:.{digits}f}×"


def signed(value: float | None, digits: int = 1) -> str:
    """0.43 → "+0.4", -0.43 → "−0.4"."""
    if value is None:
        return DASH
    return f"{value:+.{digits}f}".replace("-", MINUS)


def count(value: float | Stat | None) -> str:
    """3679789.0 → "3,679,789"."""
    if isinstance(value, Stat):
        value = value.mean
    return DASH if value is None else f"{round(value):,}"


def sig(value: float | Stat | None, digits: int = 4) -> str:
    """Significant digits for numbers of any size: 3.50196 → "3.502", 1234567 → "1.235e+06"."""
    if isinstance(value, Stat):
        value = value.mean
    return DASH if value is None else f"{value:.{digits}g}"


FILTERS = {"num": num, "pm": pm, "pct": pct, "seconds": seconds, "times": times, "signed": signed,
           "count": count, "sig": sig}


# ---- helpers: choose and compare experiments -------------------------------------------------

def _timed(views: Iterable[ExperimentView]) -> list[ExperimentView]:
    return [v for v in views if v.mean_epoch_seconds is not None]


def fastest(views: Iterable[ExperimentView]) -> ExperimentView | None:
    """The experiment with the fewest training seconds per epoch."""
    timed = _timed(views)
    return min(timed, key=lambda v: v.mean_epoch_seconds.mean) if timed else None


def slowest(views: Iterable[ExperimentView]) -> ExperimentView | None:
    timed = _timed(views)
    return max(timed, key=lambda v: v.mean_epoch_seconds.mean) if timed else None


def _scored(views: Iterable[ExperimentView]) -> list[ExperimentView]:
    return [v for v in views if v.final is not None and v.final.test_accuracy is not None]


def most_accurate(views: Iterable[ExperimentView]) -> ExperimentView | None:
    """The experiment with the highest final (last-epoch) test accuracy."""
    scored = _scored(views)
    return max(scored, key=lambda v: v.final.test_accuracy.mean) if scored else None


def least_accurate(views: Iterable[ExperimentView]) -> ExperimentView | None:
    scored = _scored(views)
    return min(scored, key=lambda v: v.final.test_accuracy.mean) if scored else None


def speedup(fast: ExperimentView, slow: ExperimentView) -> float | None:
    """How many times fewer seconds per epoch `fast` took than `slow`."""
    if fast.mean_epoch_seconds is None or slow.mean_epoch_seconds is None:
        return None
    return slow.mean_epoch_seconds.mean / fast.mean_epoch_seconds.mean


def accuracy_gap(a: ExperimentView, b: ExperimentView) -> float | None:
    """|final accuracy of a − final accuracy of b| in percentage points."""
    if not _scored([a]) or not _scored([b]):
        return None
    return abs(a.final.test_accuracy.mean - b.final.test_accuracy.mean) * 100


def relative_change(view: ExperimentView, metric: str) -> float | None:
    """Percent change of a metric or probe from the first to the last epoch (−31.0 = fell by 31%)."""
    def value(epoch):
        stat = epoch.probes.get(metric) if metric in epoch.probes else getattr(epoch, metric, None)
        return stat.mean if stat is not None else None

    if len(view.epochs) < 2:
        return None
    first, last = value(view.epochs[0]), value(view.epochs[-1])
    if first in (None, 0) or last is None:
        return None
    return 100 * (last - first) / first


def epochs_where_falling(view: ExperimentView, metric: str) -> bool:
    """True when the metric fell from every epoch to the next."""
    values = [e.probes[metric].mean if metric in e.probes else getattr(e, metric).mean for e in view.epochs]
    return all(b < a for a, b in zip(values, values[1:]))


class Numbering:
    """Figure and table numbers in document order, and cross-references to them.

    The report is rendered twice: the first pass learns where every figure and table stands, so the
    second can refer to one before it appears ("see Figure 5") with the same numbers in HTML and PDF.
    """

    LABELS = {"fig": "Figure", "tab": "Table"}

    def __init__(self, known: dict[str, str] | None = None):
        self.known = dict(known or {})
        self.assigned: dict[str, str] = {}
        self._counters = {kind: 0 for kind in self.LABELS}

    def number(self, key: str) -> str:
        """Place figure/table `key` ("fig:..." or "tab:...") here and return its label, e.g. "Figure 3"."""
        if key not in self.assigned:
            kind = key.split(":", 1)[0]
            self._counters[kind] += 1
            self.assigned[key] = f"{self.LABELS[kind]} {self._counters[kind]}"
        return self.assigned[key]

    def ref(self, key: str) -> Markup:
        """A link to figure/table `key`, wherever it stands in the report."""
        label = self.known.get(key) or self.assigned.get(key) or "(unnumbered)"
        return Markup('<a class="ref" href="#{}">{}</a>').format(key, label)

    def has(self, key: str) -> bool:
        """Whether `key` is placed anywhere in the report (known after the first pass)."""
        return key in self.known or key in self.assigned


HELPERS = {"fastest": fastest, "slowest": slowest, "most_accurate": most_accurate,
           "least_accurate": least_accurate, "speedup": speedup, "accuracy_gap": accuracy_gap,
           "relative_change": relative_change, "epochs_where_falling": epochs_where_falling}
