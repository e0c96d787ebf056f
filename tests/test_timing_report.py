"""The report's sentences about time, each rendered with numbers that make it true and numbers that point
the other way: disturbed cells marked †, clean totals, unexplained slowdowns, speed-up intervals."""

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
    render_report(load_suite(config), tmp_path / "results", tmp_path / "build", tmp_path / "templates", pdf=False)
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
           "of mean times and speed-ups (the appendix's per-epoch times keep it): Base, seed 2 (1.50×)." in html
    assert "Base, seed 2, is left out of the mean time per epoch and the speed-ups: its median epoch took 1.50× the " \
           "experiment's median run." in html
    # the mean of Base is its two other runs alone: 2.00 s, so Other is exactly 2.0× faster
    assert "Other trains 2.0× faster per epoch than Base" in html


def test_a_run_within_the_limit_is_not_called_a_slowdown(tmp_path):
    html = render(tmp_path, {"base": spec(2.0, factors=(1.0, 1.0, 1.2)), "other": spec(1.0)})
    assert "slowdown" not in html


def test_speed_up_carries_its_interval_over_runs(tmp_path):
    html = render(tmp_path, {"base": spec(2.0), "other": spec(1.0)})
    speed = html[html.index("Speed study</h2>"):]
    assert re.search(r"95% interval \[\d\.\d, \d\.\d\] over 3 and 3 runs", speed)
    assert re.search(r"<td>2\.0× \[\d\.\d, \d\.\d\]</td>", speed)
    assert "<td>baseline</td>" in speed  # the baseline against itself: no ratio
    assert "That interval includes equal speed" not in speed


def test_a_speed_up_whose_interval_includes_equal_speed_says_so(tmp_path):
    # Other 1.2× faster on average, but its runs spread from 0.5× to 1.5× of that
    html = render(tmp_path, {"base": spec(1.2, factors=(1.0, 1.0, 1.0)), "other": spec(1.0, factors=(0.8, 1.2, 1.0))})
    assert "Other trains 1.2× faster per epoch than Base" in html
    assert "That interval includes equal speed, so more runs could order the two the other way." in html
    assert "No speed difference shown: Other 1.2× faster than Base [" in html  # the Findings decide nothing


def test_times_are_spread_over_runs_not_seeds(tmp_path):
    html = render(tmp_path, {"base": spec(2.0), "other": spec(1.0)})
    assert "A value ± a spread is the mean ± the sample standard deviation over seeds (for seconds, over runs)." in html



def test_the_pipeline_speed_up_has_an_interval_where_both_ran_more_than_once(tmp_path):
    specs = {"dataloader": {"accuracies": [0.84, 0.85], "repeats": 2, "seconds": 8.0, "engine": "autograd",
                            "run_factors": [1.0, 1.1]},
             "base": spec(1.0)}
    html = render(tmp_path, specs, config_text("claims_pipeline", experiments={"dataloader": {"repeats": 2}}))
    assert re.search(r"Tensors trains \d+\.\d× faster per epoch than DataLoader \(1\.00 ± 0\.10 s against [\d.± ]+ s, "
                     r"each run alone on CPU; 95% interval \[\d+\.\d, \d+\.\d\] over 3 and 2 runs\)", html)


def test_the_pipeline_speed_up_of_one_run_says_it_has_no_interval(tmp_path):
    specs = {"dataloader": {"accuracies": [0.84, 0.85], "seconds": 8.0, "engine": "autograd"}, "base": spec(1.0)}
    html = render(tmp_path, specs, config_text("claims_pipeline"))
    assert "each run alone on CPU; no interval: 3 and 1 runs)" in html
    assert "(one run of it: no interval)" in html  # the Findings say so too
