"""The precision rule: how many decimals a number deserves, from its spread or its standard error.

An SD (or any spread) shows one significant digit, two when that digit is 1 (0.47 → 1 decimal, "0.5";
0.15 → 2, "0.15"; 103,344 → −4, "100,000"); its mean shows the same decimals. With a handful of seeds the SD
itself is uncertain by a factor of two or more, so more digits mean nothing. A difference follows its
standard error the same way, so that "−0.43 [−0.72, −0.13]" keeps the digits its interval can tell apart.
Findings use it to choose the digits of the numbers they state; report/filters.py formats with it.
"""

from __future__ import annotations

import math


def spread_decimals(spread: float) -> int:
    """Decimals for a value with this spread (see the module's docstring)."""
    exponent = math.floor(math.log10(abs(spread)))
    # Rounding may carry into the next digit (0.096 → 0.1): take the leading digit after rounding.
    leading = round(abs(spread), -exponent) / 10 ** exponent
    if leading >= 10:
        exponent, leading = exponent + 1, leading / 10
    return -exponent + (1 if round(leading) == 1 else 0)


def interval_decimals(low: float | None, high: float | None, default: int = 2) -> int:
    """Decimals for an estimate with this 95% interval (a speed-up, say): its half-width taken as 1.96 standard
    errors, by the spread rule, between 0 and 3; `default` without an interval ("17.2× [15.4, 19.3]",
    "2.64× [2.52, 2.78]")."""
    if low is None or high is None or high <= low:
        return default
    return min(3, max(0, spread_decimals((high - low) / 2 / 1.96)))
