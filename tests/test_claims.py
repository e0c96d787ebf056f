"""Every generated sentence is a claim: each conditional sentence is rendered with numbers that make it
true and with numbers that point the other way."""

from __future__ import annotations

import math
import re
import shutil

import pytest

from scipy import stats

from conftest import REPO_DIR, config_text, write_config, write_fixture_results
from rounds_fixture import write_timing

from report_builder.config import load_suite
from report_builder.report.render import render_report

SUITE = config_text("claims")


def render(tmp_path, specs: dict, suite: str = SUITE) -> str:
    config = write_config(tmp_path / "experiments.toml", suite)
    write_fixture_results(config, tmp_path / "results", specs)
    if not (tmp_path / "templates").exists():
        shutil.copytree(REPO_DIR / "templates", tmp_path / "templates")
    render_report(load_suite(config), tmp_path / "results", tmp_path / "build", tmp_path / "templates", pdf=False,
                  figure_files=False)  # the HTML alone: no figure files, no exports
    html = (tmp_path / "build" / "report.html").read_text(encoding="utf-8")
    return re.sub(r"\s+", " ", re.sub(r"<svg.*?</svg>", "", html, flags=re.S))


def section(html: str, title: str) -> str:
    start = html.index(f". {title}</h2>")
    end = html.find("<h2>", start)
    return html[start:end]


ALONE = {"accuracies": [0.80, 0.84, 0.86], "repeats": 3}


# ---- speed ------------------------------------------------------------------------------------

def render_timed(tmp_path, specs: dict, seconds: dict, **timing) -> str:
    """render, with timing rounds stored beside the results (rounds_fixture)."""
    config = write_config(tmp_path / "experiments.toml", SUITE)
    write_timing(tmp_path / "results", config, seconds, **timing)
    return render(tmp_path, specs)


ROUNDS_2X = {"base": [2.0, 2.2, 1.9, 2.1, 2.0], "other": [1.0, 1.05, 1.0, 1.0, 1.0]}  # 2.02× over rounds


def test_a_timing_group_states_its_speed_from_the_timing_rounds(tmp_path):
    # the runs say Other is 4× faster (2.0 s against 0.5 s); the rounds say 2×: the rounds are what is stated
    html = render_timed(tmp_path, {"base": {**ALONE, "seconds": 2.0}, "other": {**ALONE, "seconds": 0.5},
                                   "third": ALONE}, ROUNDS_2X)
    speed = section(html, "Speed study")
    assert re.search(r"Other trained 2\.02× faster per epoch than Base \(95% CI 1\.9\d× to 2\.1\d×, paired over 5 "
                     r"interleaved timing rounds\)\.", speed)
    assert "4.0×" not in speed and "4.00×" not in speed and '<th scope="col">Speed-up [95% CI]</th>' in speed


def test_a_group_that_is_no_timing_comparison_never_ranks_by_speed(tmp_path):
    # "third" trained in a stack of 15, per-model share 0.1 s; "base" alone, 2 s: no speed claim either way
    html = render_timed(tmp_path, {"base": {**ALONE, "seconds": 2.0}, "other": ALONE,
                                   "third": {**ALONE, "seconds": 0.1, "stacked_with": 15, "stack": ["third", "other"]}},
                        ROUNDS_2X)
    accuracy = section(html, "Accuracy study")
    for claim in ("fastest", "faster", "slower", "Speed-up", "withheld"):
        assert claim not in accuracy
    assert "Seconds per epoch here are costs, not a comparison of speed: Base alone; Third in a stack of 15 models." \
        in accuracy


def test_a_timing_group_timed_on_two_devices_is_not_compared(tmp_path):
    html = render_timed(tmp_path, {"base": {**ALONE, "seconds": 2.0},
                                   "other": {**ALONE, "seconds": 0.1, "device_name": "NVIDIA H100"}, "third": ALONE},
                        ROUNDS_2X, devices={"other": "NVIDIA H100"})
    speed = section(html, "Speed study")
    assert "The speed of Base against Other is withheld: they were timed on different devices" in speed
    assert "faster per epoch" not in speed
    assert "These runs' seconds were not measured alike: Base on CPU, alone; Other on NVIDIA H100, alone." in speed


def test_a_timing_group_trained_in_one_stack_is_still_compared_from_rounds_timed_alone(tmp_path):
    # both per-model shares of one stack of two (1.0 s each by construction); the rounds time each alone
    stacked = {**ALONE, "seconds": 1.0, "stacked_with": 2, "stack": ["base", "other"]}
    html = render_timed(tmp_path, {"base": stacked, "other": stacked, "third": ALONE}, ROUNDS_2X)
    speed = section(html, "Speed study")
    assert "Other trained 2.02× faster per epoch than Base" in speed
    assert "Their runs' own seconds are per-model shares of one stack's time (Base in a stack of 2 models; Other in " \
           "a stack of 2 models)." in speed  # the runs' own seconds
    assert "timing-group members train alone, except Base, Other, which trained stacked" in section(html, "Environment")


def test_disturbed_epochs_are_flagged_and_left_out_of_the_runs_times(tmp_path):
    # epoch 2 of "other" was timed on a busy machine at 10 s: without it "other" is 1 s per epoch
    html = render_timed(tmp_path, {"base": {**ALONE, "seconds": 2.0},
                                   "other": {**ALONE, "seconds": [1.0, 10.0, 1.0], "disturbed": (2,)}, "third": ALONE},
                        ROUNDS_2X)
    assert "Epochs timed while other work loaded the machine (3, in 1 experiment) are left out of every mean time, " \
           "and marked † in the appendix." in section(html, "Methods")
    assert "Other trained 2.02× faster per epoch than Base" in section(html, "Speed study")


# ---- accuracy against seed noise ----------------------------------------------------------------
# The fixture gives repeat r the accuracies + r × spread, so against Base (spread 0.002) the per-seed
# differences of a member with spread 0.002 + sd have SD `sd` and mean (last − 0.86) + sd.

def against_base(p: float, sd: float = 0.001) -> dict:
    """A member whose paired t-test against Base over seeds 0, 1, 2 gives p (two-sided)."""
    mean = stats.t.isf(p / 2, 2) * sd / math.sqrt(3)
    return {"accuracies": [0.80, 0.84, 0.86 + mean - sd], "repeats": 3, "spread": 0.002 + sd}


BASE = {**ALONE, "spread": 0.002}


def test_a_difference_is_printed_with_its_interval_and_the_seeds_it_won(tmp_path):
    html = render(tmp_path, {"base": BASE, "other": ALONE, "third": against_base(0.01)})
    accuracy = section(html, "Accuracy study")
    assert "Against Base, Third differs beyond seed noise (paired t-test over seeds 0, 1, 2, Holm-adjusted over " \
           "this group's 1 comparison)." in accuracy
    # the estimate at the precision of its standard error (0.058 points: two decimals)
    assert "<td>86.8 ± 0.3%</td> <td>+0.57 [+0.32, +0.82]</td> <td>3 of 3</td> " \
           "<td class=\"text\">beyond (<span class=\"num\">p = 0.01</span>)</td>" in accuracy


def test_a_difference_within_noise_says_what_the_design_could_detect(tmp_path):
    html = render(tmp_path, {"base": BASE, "other": ALONE, "third": against_base(0.5, sd=0.004)})
    accuracy = section(html, "Accuracy study")
    # planned from Base's and Third's SDs (0.2 and 0.6 points) pooled, × √2: 0.63 points, at 5% (a family of one)
    assert "Against Base, Third is within seed noise (paired t-test over seeds 0, 1, 2, Holm-adjusted over this " \
           "group's 1 comparison)." in accuracy
    assert "With 3 paired seeds this design detects 2.1 points or more with 80% power; 1 point would take 6 " \
           "seeds." in accuracy
    assert "<td class=\"text\">within (<span class=\"num\">p = 0.50</span>)</td>" in accuracy
    assert "beyond seed noise" not in accuracy and "not significant" not in accuracy


def test_per_question_two_groups_at_p_003_are_each_beyond_noise(tmp_path):
    html = render(tmp_path, {"base": BASE, "other": against_base(0.03), "third": against_base(0.03)})
    for title, member in (("Speed study", "Other"), ("Accuracy study", "Third")):
        text = section(html, title)
        assert f"Against Base, {member} differs beyond seed noise (paired t-test over seeds 0, 1, 2, Holm-adjusted " \
               "over this group's 1 comparison)." in text
        assert "<td class=\"text\">beyond (<span class=\"num\">p = 0.03</span>)</td>" in text


def test_over_the_whole_report_holm_leaves_them_not_significant_after_correction(tmp_path):
    html = render(tmp_path, {"base": BASE, "other": against_base(0.03), "third": against_base(0.03)},
                  config_text("claims", report={"family": "report"}))
    for title, member in (("Speed study", "Other"), ("Accuracy study", "Third")):
        text = section(html, title)
        assert f"Against Base, {member} is not significant after Holm's correction (paired t-test over seeds 0, 1, 2, " \
               "Holm-adjusted over the report's 2 comparisons)." in text
        assert "within seed noise" not in text  # its interval excludes 0
        assert "<td class=\"text\">not after Holm (<span class=\"num\">p = 0.06</span>)</td>" in text
    assert "<em>Not significant after Holm's correction</em>: the p is below 0.05 (the 95% interval excludes 0), " \
           "the adjusted p is not." in section(html, "Methods")


def test_holm_steps_down_so_the_larger_p_is_multiplied_by_one(tmp_path):
    # 0.02 × 2 = 0.04; 0.03 × 1 = 0.03, raised to 0.04: both beyond (Bonferroni would leave 0.06)
    html = render(tmp_path, {"base": BASE, "other": against_base(0.02), "third": against_base(0.03)},
                  config_text("claims", report={"family": "report"}))
    for title in ("Speed study", "Accuracy study"):
        assert "<td class=\"text\">beyond (<span class=\"num\">p = 0.04</span>)</td>" in section(html, title)


def test_best_against_worst_is_described_not_tested(tmp_path):
    suite = config_text("claims", groups={"accuracy": {"experiments": ["base", "third", "other"]}})
    html = render(tmp_path, {"base": BASE, "other": against_base(0.3), "third": against_base(0.01)}, suite)
    accuracy = section(html, "Accuracy study")
    # Third and Other against Base; Third against Other untested
    assert len(re.findall(r'<td class="text">(beyond|within|not after Holm) \(<span class="num">p = ', accuracy)) == 2
    assert "Ranges from the least to the most accurate setting pick their pair after seeing the results, so they " \
           "describe and are not tested; so are the gradient comparisons." in section(html, "Methods")


def test_one_seed_gives_no_estimate_of_noise(tmp_path):
    one = {"accuracies": [0.80, 0.84, 0.86]}
    html = render(tmp_path, {"base": one, "other": one, "third": {"accuracies": [0.70, 0.75, 0.80]}},
                  config_text("claims", defaults={"repeats": 1}))
    accuracy = section(html, "Accuracy study")
    assert "Against Base, Third: no test with 1 seed: 3 or more are needed." in accuracy
    assert "<td>0 of 1</td> <td class=\"text\">no test (seed 0)</td>" in accuracy


def test_two_seeds_are_no_test_and_say_what_is_needed(tmp_path):
    two = {"accuracies": [0.80, 0.84, 0.86], "repeats": 2}
    html = render(tmp_path, {"base": two, "other": two, "third": {**two, "accuracies": [0.70, 0.75, 0.80]}},
                  config_text("claims", defaults={"repeats": 2}))
    accuracy = section(html, "Accuracy study")
    assert "Against Base, Third: no test with 2 seeds: 3 or more are needed." in accuracy
    assert "<td>−6.0</td> <td>0 of 2</td> <td class=\"text\">no test (seeds 0, 1)</td>" in accuracy  # no interval
    assert "points or more" not in accuracy and "seeds needed" not in accuracy


def test_a_difference_is_printed_as_its_estimate_at_the_precision_of_its_standard_error(tmp_path):
    # 79.36 − 86.54 = −7.18: standard error 0.12 points, so two decimals for the difference (and its values,
    # where they are printed beside it: claims.json)
    html = render(tmp_path, {"base": {**ALONE, "accuracies": [0.8, 0.84, 0.8604], "spread": 0.005},
                             "other": ALONE,
                             "third": {"accuracies": [0.8, 0.84, 0.7906], "repeats": 3, "spread": 0.003}})
    assert "<td>79.4 ± 0.3%</td> <td>−7.18 [−7.68, −6.68]</td>" in section(html, "Accuracy study")


def test_numbers_carry_the_precision_of_their_spread(tmp_path):
    html = render(tmp_path, {"base": {**ALONE, "seconds": 0.0123}, "other": ALONE, "third": ALONE})
    assert "0.0123 ± 0.0000" not in html and "0.01 ± 0.00" not in html
    assert "0.0123 ± 0 s" in html  # the same value for every seed: its spread is exactly 0


# ---- the ReLU section ---------------------------------------------------------------------------

RELU_SUITE = config_text("claims_relu")


def test_relu_section_says_the_count_drives_the_fall_when_it_does(tmp_path):
    # count falls 40% (log −0.51); squared gradient per active input rises 24% (log +0.22); the total falls 26%
    probes = {"relu_active": [1000, 800, 600], "relu_grad_sq": [1.0, 0.85, 0.744]}
    html = section(render(tmp_path, {"probed": {"accuracies": [0.8, 0.84, 0.86], "probes": probes}}, RELU_SUITE),
                   "ReLU")
    assert "the squared gradient fell 26% from epoch 1 to 3, at every epoch" in html
    assert "it moved −0.30: the count of active inputs −0.51 (falling at every epoch) and the gradient per active " \
           "input +0.22." in html
    assert "The count of active inputs moved most; the other factor moved the opposite way and offset 42% of it." \
           in html
    assert "Both moved the same way" not in html


def test_a_phrase_left_out_leaves_the_space_after_it(tmp_path):
    # nothing falls every epoch, so both "(falling every epoch)" phrases are left out of their sentences
    probes = {"relu_active": [1000, 1001, 1002], "relu_grad_sq": [1.0, 1.001, 1.002]}
    html = section(render(tmp_path, {"probed": {"accuracies": [0.8, 0.84, 0.86], "probes": probes}}, RELU_SUITE),
                   "ReLU")
    paragraphs = " ".join(re.findall(r"<p>(.*?)</p>", html, re.S))
    text = " ".join(re.sub(r"<[^>]+>", "", re.sub(r"<code>.*?</code>", "CODE", paragraphs)).split())
    assert "the squared gradient barely changed from epoch 1 to 3. As natural logs" in text
    assert "the count of active inputs 0.00 and the gradient per active input 0.00." in text
    assert re.findall(r"\S[%)][A-Za-z]", text) == []


def test_relu_section_says_the_per_input_gradient_drives_it_when_it_does(tmp_path):
    # count −2% (log −0.02), per active input −69% (log −1.18): the same direction, the count 2% of the change
    probes = {"relu_active": [1000, 990, 980], "relu_grad_sq": [1.0, 0.6, 0.3]}
    html = section(render(tmp_path, {"probed": {"accuracies": [0.8, 0.84, 0.86], "probes": probes}}, RELU_SUITE),
                   "ReLU")
    assert ("Both moved the same way; the count of active inputs accounts for 2% of the change on this scale."
            ) in " ".join(html.split())
    assert "opposite way" not in html


# ---- the zero_grad section ----------------------------------------------------------------------

ZERO_SUITE = config_text("claims_zero_grad")


def test_zero_grad_section_compares_the_loss_with_a_uniform_guess(tmp_path):
    worse = render(tmp_path, {"base": ALONE, "nozero": {"accuracies": [0.2, 0.15, 0.12], "repeats": 3,
                                                        "spread": 0.04, "test_losses": [2.5, 3.0, 3.69]}},
                   ZERO_SUITE)
    text = section(worse, "Zero grad")
    assert "this loss is worse than that guess" in text
    assert "(seeds from 12.0% to 20.0%)" in text
    assert text.count("−70 [−80, −61]") == 1  # the gap is stated once, in the table (standard error 2.3 points)
    better = render(tmp_path, {"base": ALONE, "nozero": {"accuracies": [0.6, 0.65, 0.7], "repeats": 3,
                                                         "test_losses": [1.2, 1.1, 1.0]}}, ZERO_SUITE)
    text = section(better, "Zero grad")
    assert "this loss is still better than that guess" in text


def test_zero_grad_accuracy_not_shown_to_differ_from_guessing_is_called_so(tmp_path):
    # 12, 16, 20%: mean 16, SD 4, t = 2.6 with 2 df: p = 0.12
    html = render(tmp_path, {"base": ALONE, "nozero": {"accuracies": [0.2, 0.15, 0.12], "repeats": 3,
                                                       "spread": 0.04}}, ZERO_SUITE)
    assert "Its accuracy (95% CI [6.1, 25.9]%) is not shown to differ from the 10% of guessing, which is not to say " \
           "it equals it (one-sample t-test, p = 0.12; a family of one, outside the comparisons between " \
           "experiments)." in section(html, "Zero grad")


def test_zero_grad_accuracy_above_guessing_is_called_so(tmp_path):
    # 12, 13, 14%: mean 13, SD 1, t = 5.2 with 2 df: p = 0.035
    html = render(tmp_path, {"base": ALONE, "nozero": {"accuracies": [0.2, 0.15, 0.12], "repeats": 3,
                                                       "spread": 0.01}}, ZERO_SUITE)
    text = section(html, "Zero grad")
    assert "is above the 10% of guessing (one-sample t-test, p = 0.035; a family of one" in text
    assert "not shown to differ" not in text


# ---- the pipeline section -----------------------------------------------------------------------

PIPE_SUITE = config_text("claims_pipeline")


def test_pipeline_section_compares_the_same_seed(tmp_path):
    same = render(tmp_path, {"dataloader": {"accuracies": [0.84, 0.8578], "seconds": 8.0, "engine": "autograd"},
                             "base": {"accuracies": [0.84, 0.8578], "repeats": 3, "spread": 0.003}}, PIPE_SUITE)
    text = section(same, "Pipeline")
    assert "With the same seed 0, after 2 epochs, DataLoader reached 85.78%" in text
    assert "They are the same to the digits shown" in text
    # speed-ups come from timing rounds (tests/test_speed_report.py); these results have none
    assert "The speed of DataLoader against Tensors is withheld: no interleaved timing rounds measured them" in text
    apart = render(tmp_path, {"dataloader": {"accuracies": [0.84, 0.8500], "seconds": 8.0, "engine": "autograd"},
                              "base": {"accuracies": [0.84, 0.8578], "repeats": 3}}, PIPE_SUITE)
    text = section(apart, "Pipeline")
    assert "+0.78 points apart" in text and "the same to the digits shown" not in text


# ---- the reference --------------------------------------------------------------------------------

REFERENCE = {"file": "ref.csv", "label": "2021 writeup", "hardware": "Colab GPU"}


def judged(tmp_path, reference: float, spread: float = 0.002, repeats: int = 3) -> str:
    """The reproduction section for Base (last accuracy 0.86 + r × spread) against one reference value."""
    (tmp_path / "ref.csv").write_text(f"experiment,epoch,test_accuracy,train_seconds\nbase,3,{reference},20.0\n")
    suite = config_text("claims", defaults={"repeats": repeats}, reference=REFERENCE)
    one = {**ALONE, "repeats": repeats, "spread": spread}
    html = render(tmp_path, {"base": one, "other": one, "third": one}, suite)
    return section(html, "Reproduction of the 2021 writeup") + section(html, "Speed study")


# Base over three seeds: 86.0, 86.2, 86.4 → mean 86.2, SD 0.2; the 95% prediction interval is
# 86.2 ± 4.303 × 0.2 × √(4/3) = ± 0.994 points; equivalence within 1 point needs |gap| + 2.92 × 0.231 < 1: 0.326.

def test_a_reference_inside_the_interval_and_shown_close_is_reproduced(tmp_path):
    text = judged(tmp_path, 0.8590)  # 0.30 points below ours
    assert "Reproduced: Base." in text and "<td class=\"text\">reproduced</td>" in text
    assert "<th scope=\"row\" class=\"text\">Base</th> <td>85.9%</td> <td>86.2 ± 0.2%</td> <td>+0.3</td> " \
           "<td>[85.2, 87.2]%</td> <td>0.04" in text


def test_a_reference_inside_the_interval_but_not_shown_close_is_inconclusive(tmp_path):
    text = judged(tmp_path, 0.8584)  # 0.36 points below ours: inside the interval, not within the margin
    assert "Inconclusive: Base." in text and "<td class=\"text\">inconclusive</td>" in text
    assert "<td>+0.4</td> <td>[85.2, 87.2]%</td> <td>0.055</td>" in text


def test_a_reference_just_inside_the_t_interval_is_not_rejected(tmp_path):
    text = judged(tmp_path, 0.8523)  # 0.97 points below ours, inside ± 0.994
    assert "Inconclusive: Base." in text and "<td class=\"text\">not reproduced</td>" not in text


def test_a_reference_outside_the_t_interval_is_not_reproduced(tmp_path):
    text = judged(tmp_path, 0.8518)  # 1.02 points below ours, outside ± 0.994
    assert "Not reproduced: Base." in text and "<td class=\"text\">not reproduced</td>" in text
    assert "<td>85.2%</td> <td>86.2 ± 0.2%</td> <td>+1.0</td> <td>[85.2, 87.2]%</td>" in text


@pytest.mark.parametrize("repeats", [1, 2])
def test_fewer_than_three_seeds_of_ours_are_no_test_of_the_reference(tmp_path, repeats):
    text = judged(tmp_path, 0.70, repeats=repeats)
    assert "<td class=\"text\">no test</td>" in text and "not reproduced</td>" not in text
    assert "With fewer than 3 seeds of ours there is no test." in text


def test_a_reproduction_delta_is_the_difference_of_the_values_printed(tmp_path):
    # ours 86.10 ± 0.14% (two seeds; the SD starts with 1: two decimals), the reference 85.00%: Δ +1.10
    text = judged(tmp_path, 0.85, repeats=2)
    assert "<td>85.00%</td> <td>86.10 ± 0.14%</td> <td>+1.10</td>" in text


# ---- the Methods section ----------------------------------------------------------------------------

def test_methods_state_the_family_holm_and_what_three_seeds_cannot_reach(tmp_path):
    html = render(tmp_path, {"base": BASE, "other": against_base(0.3), "third": against_base(0.01)})
    methods = section(html, "Methods")
    assert "Each group's comparisons, and each sweep's, form one family for Holm's correction " \
           "(<code>[report] family = \"question\"</code>: the assignment asks separate questions)" in methods
    assert "Speed study (1 test): 1.2 points or more over 3 seeds (pooled SD 0.25 points, 4 df, 2 experiments); " \
           "1 point would take 4 seeds." in methods
    assert "These results hold no per-image predictions, so their intervals cover seeds only." in methods
    assert "With 3 runs against 3, no rank test can reach 5%: the smallest p of a Mann–Whitney test is 0.10, of a " \
           "Wilcoxon signed-rank test 0.25" in methods
    assert "carries a binomial standard error of 3.04 points" in methods  # 86.3% on the fixture's 128 test images


def test_methods_without_a_testable_pair_say_nothing_is_tested(tmp_path):
    one = {"accuracies": [0.80, 0.84, 0.86]}
    html = render(tmp_path, {"base": one, "other": one, "third": one}, config_text("claims", defaults={"repeats": 1}))
    methods = section(html, "Methods")
    assert "differences are described, not tested" in methods and "rank test" not in methods


def test_methods_name_the_report_family_when_chosen(tmp_path):
    html = render(tmp_path, {"base": BASE, "other": against_base(0.3), "third": against_base(0.01)},
                  config_text("claims", report={"family": "report"}))
    methods = section(html, "Methods")
    assert "All comparisons, each sweep's included, form one family for Holm's correction " \
           "(<code>[report] family = \"report\"</code>)" in methods
    assert "All comparisons (2 tests): " in methods


def reproduction_answer(tmp_path, reference: float) -> str:
    """The Findings line of the reproduction of one reference value against Base (86.2 ± 0.2%)."""
    (tmp_path / "ref.csv").write_text(f"experiment,epoch,test_accuracy,train_seconds\nbase,3,{reference},20.0\n")
    one = {**ALONE, "repeats": 3, "spread": 0.002}
    html = render(tmp_path, {"base": one, "other": one, "third": one}, config_text("claims", reference=REFERENCE))
    row = re.search(r'<th scope="row" class="text">Reproduction of the 2021 writeup</th> <td[^>]*>(.*?)<a', html)
    return " ".join(re.sub(r"<[^>]+>", "", row.group(1)).split())


@pytest.mark.parametrize("reference, line", [
    (0.8590, "Yes: its final accuracy lies inside our 95% prediction interval; 1 is shown within 1 point."),
    (0.8584, "Consistent, not confirmed: its final accuracy lies inside our 95% prediction interval; none is shown "
             "within 1 point (1 needs more seeds)."),
    (0.8518, "No: its final accuracy lies outside our 95% prediction interval; none is shown within 1 point."),
])
def test_the_findings_answer_whether_the_reference_reproduced(tmp_path, reference, line):
    assert reproduction_answer(tmp_path, reference) == line
