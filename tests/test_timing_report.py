"""The report's sentences about the runs' own seconds, each rendered with numbers that make it true and numbers
that point the other way: disturbed cells marked †, clean totals, unexplained slowdowns, how many runs each
time summarises (speed-ups come from the timing rounds: tests/test_speed_report.py)."""

from __future__ import annotations

import re
import shutil

from conftest import REPO_DIR, config_text, write_config, write_fixture_results

from report_builder.config import load_suite
from report_builder.report.render import render_report

SUITE = config_text("timing")

ACC = [0.80, 0.84, 0.86]


def render(tmp_path, specs: dict, suite: str = SUITE) -> str:
    config = write_config(tmp_path / "experiments.toml", suite)
    write_fixture_results(config, tmp_path / "results", specs)
    shutil.copytree(REPO_DIR / "templates", tmp_path / "templates")
    render_report(load_suite(config), tmp_path / "results", tmp_path / "build", tmp_path / "templates", pdf=False,
                  figure_files=False)  # the HTML alone: no figure files, no exports
    html = (tmp_path / "build" / "report.html").read_text(encoding="utf-8")
    return re.sub(r"\s+", " ", re.sub(r"<svg.*?</svg>", "", html, flags=re.S))


def spec(seconds, factors=(1.0, 1.1, 0.9), **more) -> dict:
    return {"accuracies": ACC, "repeats": 3, "seconds": seconds, "run_factors": list(factors), **more}


def epoch_rows(html: str, title: str) -> list[str]:
    """The per-epoch table's rows of one experiment."""
    table = html[html.index("Every experiment per epoch"):]
    block = table[table.index(f'scope="colgroup">{title}'):]
    block = block[:block.find('class="member"', 1)] if 'class="member"' in block[1:] else block
    return re.findall(r"<tr> ?<td>\d+</td>.*?</tr>", block)


def test_a_disturbed_epoch_cell_is_marked_and_footnoted(tmp_path):
    html = render(tmp_path, {"base": spec(2.0), "other": spec([1.0, 10.0, 1.0], disturbed=(2,))})
    rows = epoch_rows(html, "Other")
    assert "†" in rows[1] and "†" not in rows[0] + rows[2]
    assert "(†: some runs' epoch was disturbed and left out)" in html


def test_no_dagger_where_no_epoch_was_disturbed(tmp_path):
    html = render(tmp_path, {"base": spec(2.0), "other": spec(1.0)})
    assert "†" not in html


def test_totals_leave_out_runs_with_a_disturbed_epoch_and_say_so(tmp_path):
    html = render(tmp_path, {"base": spec(2.0), "other": spec([1.0, 10.0, 1.0], disturbed=(2,))})
    assert "a total per run leaves out runs with a disturbed epoch (Other: 3)" in html
    provenance = html[html.index('<table id="tab-provenance">'):]
    header = re.search(r"<thead><tr>(.*?)</tr>", provenance).group(1)
    total = re.findall(r'<th scope="col"[^>]*>(.*?)</th>', header).index("Total / run") - 1
    row = re.search(r'<th scope="row" class="text">Other \(other\)</th>(.*?)</tr>', provenance).group(1)
    assert re.findall(r"<td[^>]*>(.*?)</td>", row)[total] == "—"  # no run of Other is clean


def test_an_unexplained_slowdown_is_named_and_left_out(tmp_path):
    # seed 2 of Base ran 1.5× its experiment's median run with nothing seen loading the machine
    html = render(tmp_path, {"base": spec(2.0, factors=(1.0, 1.0, 1.5)), "other": spec(1.0)})
    assert "A run whose median epoch exceeds 1.25× its experiment's median run is an unexplained slowdown, left out " \
           "of its mean time (the appendix's per-epoch times keep it): Base, seed 2 (1.50×)." in html
    assert "Base, seed 2, is left out of the mean time per epoch: its median epoch took 1.50× the experiment's " \
           "median run." in html
    # the mean of Base is its two other runs alone, and its cell says so: no ± from two values
    row = re.search(r'<th scope="row" class="text">Base</th>(.*?)</tr>', html).group(1)
    assert "2.00 s (n = 2)" in row


def test_a_run_within_the_limit_is_not_called_a_slowdown(tmp_path):
    html = render(tmp_path, {"base": spec(2.0, factors=(1.0, 1.0, 1.2)), "other": spec(1.0)})
    assert "slowdown" not in html


def test_times_are_spread_over_runs_not_seeds(tmp_path):
    html = render(tmp_path, {"base": spec(2.0), "other": spec(1.0)})
    assert "A value ± a spread is the mean ± the sample standard deviation over seeds (for seconds, over runs, with n " \
           "the runs behind a time and no ± from fewer than 3)." in html


def test_every_time_says_how_many_runs_it_summarises_once_in_the_caption(tmp_path):
    html = render(tmp_path, {"base": spec(2.0), "other": spec([1.0, 10.0, 1.0], disturbed=(2,))})
    assert "seconds of training and evaluation over 3 runs each" in html
    rows = epoch_rows(html, "Other")
    assert "(n = " not in rows[0] and "1.0" in rows[0]
    # epoch 2 was disturbed in every run: no clean value, a dash, and the dagger says why
    assert "—†" in rows[1]
    assert "no ± from fewer than 3" in html


def test_times_over_different_numbers_of_runs_say_so_in_each_cell(tmp_path):
    from conftest import fixture_result

    from report_builder.analysis.views import experiment_view
    from report_builder.report.tables import epochs_table

    config = write_config(tmp_path / "experiments.toml", SUITE)
    result = fixture_result(config, "base", **spec(2.0))
    result["runs"][2]["epochs"] = result["runs"][2]["epochs"][:2]  # seed 2 stopped after epoch 2
    table = epochs_table([experiment_view(result)])
    assert table.rows[0].cells == ("Base",) and table.time_runs == (None, ())  # nothing said once for all
    assert "(n = 3)" in table.rows[1].cells[-2] and "(n = 2)" in table.rows[3].cells[-2]


def test_experiments_timed_over_other_numbers_of_runs_are_named_in_the_caption(tmp_path):
    html = render(tmp_path, {"base": spec(2.0), "other": {"accuracies": ACC, "repeats": 1, "seconds": 1.0}})
    assert "seconds of training and evaluation over 3 runs each (Other: 1)" in html


def comparison(html: str) -> str:
    """The timing group's comparison table, caption included."""
    start = html.index('<table id="tab-speed-comparison">')
    return html[start:html.index("</table>", start)]


def test_a_comparison_says_its_runs_once_in_the_caption_where_every_setting_has_as_many(tmp_path):
    table = comparison(render(tmp_path, {"base": spec(2.0), "other": spec(1.0)}))
    assert "seconds per training epoch over 3 runs each" in table and "(n = " not in table


def test_a_comparison_of_settings_timed_over_different_runs_says_n_in_each_cell(tmp_path):
    table = comparison(render(tmp_path, {"base": spec(2.0), "other": {"accuracies": ACC, "repeats": 1, "seconds": 1.0}}))
    assert "runs each" not in table and "(n = 3)" in table and "(n = 1)" in table
