"""Number formatting for templates, and the helpers they may call: each documented where template authors look."""

from __future__ import annotations

from conftest import REPO_DIR

from report_builder.report.filters import FILTERS, HELPERS, Numbering, gap_points, pm, pvalue, signed
from report_builder.analysis.views import Stat

GUIDE = (REPO_DIR / "templates" / "README.md").read_text(encoding="utf-8")


def test_a_spread_sets_the_decimals_of_its_mean():
    assert pm(Stat(0.0123, 0.0008, 3)) == "0.0123 ± 0.0008"
    assert pm(Stat(0.867, 0.015, 3)) == "0.867 ± 0.015"


def test_negative_numbers_carry_a_minus_sign_not_a_hyphen():
    assert signed(-0.43) == "−0.4" and pm(Stat(-1.5, None, 1), 1) == "−1.5"


def test_a_difference_that_rounds_to_zero_has_no_sign():
    # −0.04 points is printed 0.0, not "−0.0" (the reproduction table's lr 0.0001 row)
    assert signed(-0.04) == "0.0" and signed(0.04) == "0.0" and signed(0.05, 1) == "+0.1" and signed(-0.004, 2) == "0.00"


def test_an_sd_shows_one_significant_digit_or_two_when_it_starts_with_1():
    assert [pm(Stat(86.95, sd, 3)) for sd in (0.47, 0.15, 0.096, 2.5)] == \
        ["87.0 ± 0.5", "86.95 ± 0.15", "86.95 ± 0.10", "87 ± 2"]
    assert pm(Stat(3_680_282, 103_344, 3)) == "3,680,000 ± 100,000"


def test_a_difference_beside_its_values_is_their_printed_difference():
    # 86.94% and 79.36% print as 86.9 ± 0.5% and 79.4 ± 0.3%: 7.5 points apart as printed, not 7.58 → 7.6
    assert gap_points(Stat(0.8694, 0.005, 3), Stat(0.7936, 0.003, 3)) == "+7.5"


def test_small_p_values_are_bounded_not_rounded_to_zero():
    assert [pvalue(p) for p in (0.0002, 0.0123, 0.62)] == ["p < 0.001", "p = 0.012", "p = 0.62"]


def test_a_reference_before_its_figure_carries_the_first_pass_number():
    first = Numbering()
    first.number("tab:a")
    first.number("fig:b")
    second = Numbering(known=first.assigned)
    assert second.ref("fig:b") == '<a class="ref" href="#fig-b">Figure 1</a>'


def test_every_filter_and_helper_is_documented_for_template_authors():
    undocumented = [name for name in [*FILTERS, *HELPERS] if f"`{name}" not in GUIDE]
    assert undocumented == []


def test_a_timing_cell_says_how_many_values_it_summarises():
    from report_builder.report.filters import pm_n

    assert pm_n(Stat(mean=0.834, std=0.08, n=3), unit=" s") == "0.83 ± 0.08 s (n = 3)"
    assert pm_n(Stat(mean=0.834, std=None, n=2), 2, " s") == "0.83 s (n = 2)"
    assert pm_n(None) == "—"


def test_the_gradient_tables_sums_follow_the_precision_rule():
    from report_builder.report.filters import spread

    assert spread(Stat(3_690_290, 86_854, 3)) == "3,690,000 ± 90,000"  # the SD's one digit sets the mean's
    assert spread(Stat(9.43e-07, 1.8e-08, 3)) == "9.4e-07 ± 0.2e-07"  # one power of ten for both
    assert spread(Stat(1.16e-06, 1.4e-08, 3)) == "1.160e-06 ± 0.014e-06"  # an SD starting with 1 keeps two digits
    assert spread(Stat(2.38, 0.03, 3)) == "2.38 ± 0.03"
    assert spread(Stat(3_690_290, None, 1)) == "3,690,290" and spread(Stat(1.08e-06, None, 1)) == "1.08e-06"
