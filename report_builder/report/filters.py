"""Jinja filters and helpers: number formatting, and the results-side rules that templates turn into sentences.

Filters format. Helpers pick and compare; they are computed in results/ (analysis, comparison) and only
named here. Neither writes prose — that is the templates' job. Every name here is documented in
templates/README.md.
"""

from __future__ import annotations

import math
import re
from typing import Iterable

from markupsafe import Markup, escape

from report_builder.analysis import gradients
from report_builder.analysis.precision import spread_decimals
from report_builder.analysis.statistics import LEVEL
from report_builder.analysis.views import Stat, falls_every_epoch, seed_range
from report_builder.findings.claims import against
from report_builder.findings.comparison import least_accurate, like_for_like, most_accurate

DASH = "—"
MINUS = "−"


AUTO_DIGITS_DEFAULT = 3
"""Decimals for a value with no spread to go by (one run)."""


def _decimals(stat: Stat | None, scale: float = 1.0) -> int | None:
    """Decimals for a Stat by spread_decimals; None for no spread (one run, or every run the same)."""
    if stat is None or not stat.std:
        return None
    return spread_decimals(stat.std * scale)


def _plain_decimals(value: float | None) -> int:
    """Decimals for three significant digits of a value without a known spread (at most 6, at least 0)."""
    if not value:
        return AUTO_DIGITS_DEFAULT
    return max(0, min(6, 2 - math.floor(math.log10(abs(value)))))


def digits_for(stats: Iterable[Stat | None], scale: float = 1.0) -> int:
    """Decimals for the values of a table column that have no spread (pm gives a value with a spread its
    own, so that one quantity is shown one way everywhere): the column's finest spread, or with none known
    three significant digits of its smallest value."""
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
    """A Stat as "mean ± SD" (just the mean for one run), by the precision rule (spread_decimals) wherever
    it has a spread; `digits` (else three significant digits) only for one without. scale=100 shows
    fractions as percent points."""
    if stat is None:
        return DASH
    spread_digits = _decimals(stat, scale)
    if spread_digits is not None:
        digits = min(spread_digits, 8)
    elif digits is None:
        digits = _plain_decimals(stat.mean * scale)
    text = _fixed(stat.mean * scale, digits)
    if stat.std == 0:
        text += " ± 0"
    elif stat.std is not None:
        text += f" ± {_fixed(stat.std * scale, digits)}"
    return text.replace("-", MINUS)


def pm_n(stat: Stat | None, digits: int | None = None, unit: str = "") -> str:
    """pm with how many values it summarises: "0.83 ± 0.08 s (n = 3)", "0.83 s (n = 2)" (a timing cell)."""
    if stat is None:
        return DASH
    return f"{pm(stat, digits)}{unit} (n = {stat.n})"


def pct(value: float | Stat | None, digits: int = 1) -> str:
    """0.8754 → "87.5%"."""
    if isinstance(value, Stat):
        value = value.mean
    return DASH if value is None else f"{100 * value:.{digits}f}%"


def pct_pm(stat: Stat | None) -> str:
    """A fraction's Stat in percent by the precision rule: "86.7 ± 0.3%" (one run: one decimal, "86.7%")."""
    if stat is None:
        return DASH
    return pm(stat, 1, 100) + "%"


def shown(stat: Stat | None, scale: float = 1.0, digits: int = 1) -> tuple[float, int] | None:
    """The value pm prints for a Stat, as a number, with its decimals (`digits` for one without spread)."""
    if stat is None:
        return None
    places = _decimals(stat, scale)
    places = digits if places is None else min(places, 8)
    return round(stat.mean * scale, places), places


def gap_points(a: Stat | None, b: Stat | None, sign: bool = True) -> str:
    """a − b of two accuracies (fractions) in points, signed, as the difference of their printed percentages
    ("86.9%" and "79.4%" give "+7.5"), at the coarser of their decimals."""
    shown_a, shown_b = shown(a, 100), shown(b, 100)
    if shown_a is None or shown_b is None:
        return DASH
    places = max(0, min(shown_a[1], shown_b[1]))
    gap = round(shown_a[0], places) - round(shown_b[0], places)
    return signed(gap, places) if sign else num(gap, places)


def gap_decimals(a: Stat | None, b: Stat | None) -> int:
    """The decimals gap_points prints a − b with (for its CI beside it)."""
    places = [s[1] for s in (shown(a, 100), shown(b, 100)) if s is not None]
    return max(0, min(places, default=1))


def ci_points(difference, digits: int = 1) -> str:
    """A difference's 95% CI (fractions) in points: "[−2.5, −0.7]"; a dash where it has none."""
    if difference is None or difference.low is None:
        return DASH
    low, high = (f"{100 * x:.{digits}f}".replace("-", MINUS) for x in (difference.low, difference.high))
    return f"[{low}, {high}]"


def estimate_points(claim, sign: bool = True) -> str:
    """A claim's estimate (member − baseline, a fraction; a Claim or a claims.json Conclusion) in points at its
    `decimals` (the precision rule on its standard error): "−0.43"; sign=False: its size, "0.43"."""
    value = 100 * claim.estimate
    return signed(value, claim.decimals) if sign else num(abs(value), claim.decimals)


def interval_points(claim, size: bool = False) -> str:
    """A claim's 95% interval in points at its `decimals`: "[−6.1, −3.1]"; size=True: the interval of its size,
    "[3.1, 6.1]" (for "4.6 points lower [3.1, 6.1]"); "" without an interval."""
    if claim.interval is None:
        return ""
    digits = claim.decimals
    low, high = (100 * x for x in claim.interval)
    if size and claim.estimate < 0:
        low, high = -high, -low
    if size:
        return f"[{num(low, digits)}, {num(high, digits)}]"
    return f"[{signed(low, digits)}, {signed(high, digits)}]"


def percent(value: float | None, digits: int = 0) -> str:
    """A value already in percent, unsigned: 43.6 → "44%", −43.6 → "44%" (the words say which way)."""
    return DASH if value is None else f"{abs(value):.{digits}f}%"


def seconds(value: float | Stat | None, digits: int | None = None) -> str:
    """2.137 → "2.14 s"; a Stat → "2.14 ± 0.05 s", "0.0123 ± 0.0008 s" (decimals from its spread)."""
    if value is None:
        return DASH
    if isinstance(value, Stat):
        return pm(value, digits) + " s"
    if digits is None:
        digits = 2 if abs(value) >= 0.1 else max(2, 1 - math.floor(math.log10(abs(value) or 1)))
    return f"{value:.{digits}f} s"


def pvalue(value: float | None, label: bool = True) -> str:
    """A p-value as a reader expects it: "p = 0.62", "p = 0.003", "p < 0.001"; without `label` (a table cell
    under a "p" heading): "0.62", "< 0.001". A p that two digits would round onto the level gets a third
    ("p = 0.0502", "p = 0.0497"): "p = 0.05" beside a verdict could read either way."""
    if value is None:
        return DASH
    text = "p < 0.001" if value < 0.001 else f"p = {value:.2g}" if value < 0.1 else f"p = {value:.2f}"
    if value != LEVEL and text == f"p = {LEVEL:.2g}":
        text = f"p = {value:.3g}"
    return text if label else text.removeprefix("p = ").removeprefix("p ")


def times(value: float | None, digits: int = 1) -> str:
    """1.734 → "1.7×"."""
    return DASH if value is None else f"{value:.{digits}f}×"


def signed(value: float | None, digits: int = 1) -> str:
    """0.43 → "+0.4", -0.43 → "−0.4"; a value that rounds to zero has no sign ("0.0", never "−0.0")."""
    if value is None:
        return DASH
    if round(value, digits) == 0:
        return f"{0:.{digits}f}"
    return f"{value:+.{digits}f}".replace("-", MINUS)


def count(value: float | Stat | None) -> str:
    """3679789.0 → "3,679,789"; a Stat with a spread by the precision rule: "3,680,000 ± 100,000"."""
    if isinstance(value, Stat):
        if value.std:
            return pm(value)
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


_BRACKETS = re.compile(r"\[[^\[\]<>]*\]|\b[pn] (?:=|&lt;|&gt;) [\d.]+")
"""In escaped HTML: a bracketed interval, or a p-value or count with its sign ("p = 0.0502", "p &lt; 0.001")."""


def unbroken(text: str) -> Markup:
    """Text for HTML (escaped, as `{{ text }}` would be) with each bracketed interval and each "p = 0.05" kept on
    one line (in a span that never wraps): a Findings line or a verdict cell wraps, the numbers in it do not."""
    html = str(escape(str(text)))
    return Markup(_BRACKETS.sub(lambda m: f'<span class="num">{m.group(0)}</span>', html))


def anchor(key: str) -> str:
    """A figure or table key ("fig:batch_size-accuracy") as an HTML id: letters, digits, - and _ only."""
    return key.replace(":", "-")


def seeds(values: Iterable[int]) -> str:
    """[0, 1, 2] → "seeds 0, 1, 2"; [0] → "seed 0"."""
    values = list(values)
    return ("seed " if len(values) == 1 else "seeds ") + ", ".join(str(v) for v in values)


def spread(stat: Stat | None) -> str:
    """A sum over runs as the gradient section shows it, by the precision rule where it has a spread: large sums
    rounded to the SD's digit with separators ("3,690,000 ± 90,000"), very small ones in one power of ten
    ("9.4e-07 ± 0.2e-07"), others as pm does; one run: whole numbers, or 3 significant digits."""
    if stat is None:
        return DASH
    if not stat.std:
        return (count(stat.mean) if abs(stat.mean) >= 1000 else sig(stat.mean, 3)) + (" ± 0" if stat.std == 0 else "")
    if stat.mean and abs(stat.mean) < 0.001:
        exponent = math.floor(math.log10(abs(stat.mean)))
        digits = max(0, spread_decimals(stat.std / 10 ** exponent))
        mean, sd = stat.mean / 10 ** exponent, stat.std / 10 ** exponent
        return f"{mean:.{digits}f}".replace("-", MINUS) + f"e{exponent:03d} ± {sd:.{digits}f}e{exponent:03d}"
    return pm(stat)


FILTERS = {"num": num, "pm": pm, "pm_n": pm_n, "pct": pct, "pct_pm": pct_pm, "seconds": seconds, "pvalue": pvalue,
           "times": times, "signed": signed, "count": count, "sig": sig, "seeds": seeds, "anchor": anchor,
           "squash": squash, "unbroken": unbroken, "ci_points": ci_points, "spread": spread,
           "estimate_points": estimate_points, "interval_points": interval_points, "percent": percent}


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


HELPERS = {"digits_for": digits_for, "most_accurate": most_accurate, "least_accurate": least_accurate,
           "falls_every_epoch": falls_every_epoch, "seed_range": seed_range, "like_for_like": like_for_like,
           "ln": math.log, "gap_points": gap_points, "gap_decimals": gap_decimals, "against": against,
           # the gradient section (analysis/gradients.py)
           **{name: getattr(gradients, name) for name in ("probe_change", "layers_of", "per_unit", "gradient_rows",
                                                         "first_vs_last", "against_baseline", "activation_of",
                                                         "activations_of")}}
