"""Jinja filters and helpers: number formatting, and the results-side rules that templates turn into sentences.

Filters format. Helpers pick and compare; they are computed in results/ (analysis, comparison) and only
named here. Neither writes prose — that is the templates' job. Every name here is documented in
templates/README.md.
"""

from __future__ import annotations

import math
from typing import Iterable

from markupsafe import Markup

from report_builder.results import gradients
from report_builder.results.analysis import Stat, falls_every_epoch, seed_range
from report_builder.results.comparison import (
    fastest,
    least_accurate,
    like_for_like,
    most_accurate,
    slowest,
    speedup,
    speedup_ci,
)

DASH = "—"
MINUS = "−"


AUTO_DIGITS_DEFAULT = 3
"""Decimals for a value with no spread to go by (one run)."""


def _decimals(stat: Stat | None, scale: float = 1.0) -> int | None:
    """Decimals that show the spread with one significant digit, two where it starts with 1 or 2
    (0.0123 ± 0.0008: 4; 0.867 ± 0.015: 3); None for no spread."""
    if stat is None or not stat.std:
        return None
    spread = abs(stat.std * scale)
    exponent = math.floor(math.log10(spread))
    leading = spread / 10 ** exponent
    return -exponent + (1 if leading < 3 else 0)


def _plain_decimals(value: float | None) -> int:
    """Decimals for three significant digits of a value without a known spread (at most 6, at least 0)."""
    if not value:
        return AUTO_DIGITS_DEFAULT
    return max(0, min(6, 2 - math.floor(math.log10(abs(value)))))


def digits_for(stats: Iterable[Stat | None], scale: float = 1.0) -> int:
    """One number of decimals for a whole table column: enough for the column's smallest spread (or, with
    no spread known, three significant digits of its smallest value), so that digits are consistent
    within the column."""
    stats = [s for s in stats if s is not None]
    found = [d for d in (_decimals(s, scale) for s in stats) if d is not None]
    if found:
        return max(0, max(found))
    return max((_plain_decimals(s.mean * scale) for s in stats), default=AUTO_DIGITS_DEFAULT)


def _fixed(value: float, digits: int) -> str:
    """value with `digits` decimals; negative digits round to tens, hundreds, … with thousands separators."""
    if digits < 0:
        return f"{round(value, digits):,.0f}"
    return f"{value:,.{digits}f}" if abs(value) >= 1000 else f"{value:.{digits}f}"


def num(value: float | Stat | None, digits: int = 3) -> str:
    """0.87543 → "0.875"; a Stat gives its mean; None → "—"."""
    if isinstance(value, Stat):
        value = value.mean
    if value is None:
        return DASH
    return f"{value:.{digits}f}".replace("-", MINUS)


def pm(stat: Stat | None, digits: int | None = None, scale: float = 1.0) -> str:
    """A Stat as "mean ± SD" (just the mean for one run). Without `digits`, the SD gets one significant
    digit (two from 1 to 2.9) and the mean as many decimals (0.0123 ± 0.0008); scale=100 shows fractions
    as percent points."""
    if stat is None:
        return DASH
    if digits is None:
        digits = _decimals(stat, scale)
        digits = _plain_decimals(stat.mean * scale) if digits is None else min(digits, 8)
    text = _fixed(stat.mean * scale, digits)
    if stat.std == 0:
        text += " ± 0"
    elif stat.std is not None:
        text += f" ± {_fixed(stat.std * scale, digits)}"
    return text.replace("-", MINUS)


def pct(value: float | Stat | None, digits: int = 1) -> str:
    """0.8754 → "87.5%"."""
    if isinstance(value, Stat):
        value = value.mean
    return DASH if value is None else f"{100 * value:.{digits}f}%"


def pct_pm(stat: Stat | None) -> str:
    """A fraction's Stat in percent with the precision its spread supports: "86.7 ± 0.3%"."""
    if stat is None:
        return DASH
    digits = _decimals(stat, 100)
    return pm(stat, 1 if digits is None else max(0, min(digits, 4)), 100) + "%"


def seconds(value: float | Stat | None, digits: int | None = None) -> str:
    """2.137 → "2.14 s"; a Stat → "2.14 ± 0.05 s", "0.0123 ± 0.0008 s" (decimals from its spread)."""
    if value is None:
        return DASH
    if isinstance(value, Stat):
        return pm(value, digits) + " s"
    if digits is None:
        digits = 2 if abs(value) >= 0.1 else max(2, 1 - math.floor(math.log10(abs(value) or 1)))
    return f"{value:.{digits}f} s"


def pvalue(value: float | None) -> str:
    """A p-value as a reader expects it: "p = 0.62", "p = 0.003", "p < 0.001"."""
    if value is None:
        return DASH
    return "p < 0.001" if value < 0.001 else f"p = {value:.2g}" if value < 0.1 else f"p = {value:.2f}"


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


def squash(text: str) -> str:
    """Whitespace runs as one space (for attribute values written by multi-line macros)."""
    return " ".join(str(text).split())


def anchor(key: str) -> str:
    """A figure or table key ("fig:batch_size-accuracy") as an HTML id: letters, digits, - and _ only."""
    return key.replace(":", "-")


def seeds(values: Iterable[int]) -> str:
    """[0, 1, 2] → "seeds 0, 1, 2"; [0] → "seed 0"."""
    values = list(values)
    return ("seed " if len(values) == 1 else "seeds ") + ", ".join(str(v) for v in values)


def spread(stat: Stat | None) -> str:
    """A sum over runs as the gradient section shows it: large sums as whole numbers with separators
    ("459,754 ± 13,612"), small ones to 3 significant digits with the SD to 1 ("1.08e-06 ± 2e-08")."""
    if stat is None:
        return DASH
    if abs(stat.mean) >= 1000:
        return count(stat.mean) + ("" if stat.std is None else f" ± {count(stat.std)}")
    return sig(stat.mean, 3) + ("" if stat.std is None else f" ± {sig(stat.std, 1)}")


FILTERS = {"num": num, "pm": pm, "pct": pct, "pct_pm": pct_pm, "seconds": seconds, "pvalue": pvalue,
           "times": times, "signed": signed, "count": count, "sig": sig, "seeds": seeds, "anchor": anchor,
           "squash": squash, "spread": spread}


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
        return Markup('<a class="ref" href="#{}">{}</a>').format(anchor(key), label)


HELPERS = {"digits_for": digits_for, "fastest": fastest, "slowest": slowest, "most_accurate": most_accurate,
           "least_accurate": least_accurate, "speedup": speedup, "speedup_ci": speedup_ci,
           "falls_every_epoch": falls_every_epoch, "seed_range": seed_range, "like_for_like": like_for_like,
           "ln": math.log,
           # the gradient section (results/gradients.py)
           **{name: getattr(gradients, name) for name in ("probe_change", "layers_of", "per_unit", "gradient_rows",
                                                         "first_vs_last", "against_baseline", "activation_of",
                                                         "activations_of")}}
