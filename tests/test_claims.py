"""Every generated sentence is a claim: each conditional sentence is rendered with numbers that make it
true and with numbers that point the other way."""

from __future__ import annotations

import re
import shutil

from conftest import REPO_DIR, config_text, write_config, write_fixture_results

from report_builder.config import load_suite
from report_builder.report.render import render_report

SUITE = config_text("claims")


def render(tmp_path, specs: dict, suite: str = SUITE) -> str:
    config = write_config(tmp_path / "experiments.toml", suite)
    write_fixture_results(config, tmp_path / "results", specs)
    if not (tmp_path / "templates").exists():
        shutil.copytree(REPO_DIR / "templates", tmp_path / "templates")
    render_report(load_suite(config), tmp_path / "results", tmp_path / "build", tmp_path / "templates", pdf=False)
    html = (tmp_path / "build" / "report.html").read_text(encoding="utf-8")
    return re.sub(r"\s+", " ", re.sub(r"<svg.*?</svg>", "", html, flags=re.S))


def section(html: str, title: str) -> str:
    start = html.index(f". {title}</h2>")
    end = html.find("<h2>", start)
    return html[start:end]


ALONE = {"accuracies": [0.80, 0.84, 0.86], "repeats": 3}


# ---- speed ------------------------------------------------------------------------------------

def test_a_timing_group_timed_alike_names_the_fastest(tmp_path):
    html = render(tmp_path, {"base": {**ALONE, "seconds": 2.0}, "other": {**ALONE, "seconds": 1.0},
                             "third": ALONE})
    speed = section(html, "Speed study")
    assert "Other trained fastest, 2.0× faster per epoch than Base" in speed
    assert "each run alone on CPU" in speed and "<th scope=\"col\">Speed-up</th>" in speed


def test_a_group_that_is_no_timing_comparison_never_ranks_by_speed(tmp_path):
    # "third" trained in a stack of 15, per-model share 0.1 s; "base" alone, 2 s: no speed claim either way
    html = render(tmp_path, {"base": {**ALONE, "seconds": 2.0}, "other": ALONE,
                             "third": {**ALONE, "seconds": 0.1, "stacked_with": 15, "stack": ["third", "other"]}})
    accuracy = section(html, "Accuracy study")
    for claim in ("fastest", "faster", "slower", "Speed-up"):
        assert claim not in accuracy
    assert "not a comparison of speed: Base alone; Third in a stack of 15 models" in accuracy


def test_a_timing_group_on_two_devices_is_not_ranked_by_speed(tmp_path):
    html = render(tmp_path, {"base": {**ALONE, "seconds": 2.0}, "other": {**ALONE, "seconds": 0.1,
                                                                           "device_name": "NVIDIA H100"},
                             "third": ALONE})
    speed = section(html, "Speed study")
    assert "fastest" not in speed and "Speed-up" not in speed
    assert "These settings are not ranked by speed: their runs were not timed alike (Base on CPU, alone; " \
           "Other on NVIDIA H100, alone)" in speed


def test_a_timing_group_trained_in_one_stack_is_not_ranked_as_if_alone(tmp_path):
    # both per-model shares of one stack of two: 1.0 s each by construction, which says nothing of speed alone
    stacked = {**ALONE, "seconds": 1.0, "stacked_with": 2, "stack": ["base", "other"]}
    html = render(tmp_path, {"base": stacked, "other": stacked, "third": ALONE})
    speed = section(html, "Speed study")
    claims = speed
    for disclaimer in ("shows its value alone", "not times alone", "how fast each trains alone", "re-run them alone"):
        claims = claims.replace(disclaimer, "")
    assert "alone" not in claims
    for ranking in ("about the same time", "fastest", "faster", "Speed-up", "×"):
        assert ranking not in speed
    assert "not ranked by speed: they trained in a stack of 2 models" in speed
    assert "re-run them alone to compare their speed" in speed
    assert "timing-group members always train alone" not in section(html, "Environment")
    assert "timing-group members train alone, except Base, Other, which trained stacked" in section(html, "Environment")


def test_disturbed_epochs_are_flagged_and_left_out_of_speed_ups(tmp_path):
    # epoch 2 of "other" was timed on a busy machine at 10 s: without it "other" is 1 s per epoch
    html = render(tmp_path, {"base": {**ALONE, "seconds": 2.0},
                             "other": {**ALONE, "seconds": [1.0, 10.0, 1.0], "disturbed": (2,)}, "third": ALONE})
    assert "Some timings were taken while other work loaded the machine" in html
    assert "Other, seed 0, epoch 2: other processes used 50% of the CPUs" in html
    assert "Other trained fastest, 2.0× faster per epoch than Base" in section(html, "Speed study")


# ---- accuracy against seed noise ----------------------------------------------------------------

def test_a_gap_within_seed_noise_is_called_so(tmp_path):
    html = render(tmp_path, {"base": {**ALONE, "spread": 0.02}, "other": ALONE,
                             "third": {"accuracies": [0.80, 0.84, 0.865], "repeats": 3, "spread": 0.02}})
    accuracy = section(html, "Accuracy study")
    assert "a gap of 0.5 points that is within seed noise (Welch's t-test over seeds 0, 1, 2, p = 0.77, at the 5% " \
           "level)" in accuracy
    assert "reached the highest" not in accuracy


def test_a_gap_beyond_seed_noise_names_the_most_accurate(tmp_path):
    html = render(tmp_path, {"base": {**ALONE, "spread": 0.001}, "other": ALONE,
                             "third": {"accuracies": [0.70, 0.75, 0.80], "repeats": 3, "spread": 0.0015}})
    accuracy = section(html, "Accuracy study")
    assert "Base reached the highest final test accuracy, 86.1%, 6.0 points above Third (80.2%): more than the " \
           "seed-to-seed spread" in accuracy
    assert "within seed noise" not in accuracy.split("<table")[0]


def test_one_seed_gives_no_estimate_of_noise(tmp_path):
    one = {"accuracies": [0.80, 0.84, 0.86]}
    html = render(tmp_path, {"base": one, "other": one, "third": {"accuracies": [0.70, 0.75, 0.80]}},
                  config_text("claims", defaults={"repeats": 1}))
    assert "seed 0 alone gives no estimate of seed noise, so the gap may be noise" in section(html, "Accuracy study")


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
    assert "changed by −25.6%" in html and "it changed by −0.30: the count of active inputs by −0.51" in html
    assert "the squared gradient per active input by +0.22" in html
    assert "The larger change is in the count of active inputs" in html
    assert "moved the opposite way and offset 42% of it" in html
    assert "Both moved the same way" not in html


def test_a_phrase_left_out_leaves_the_space_after_it(tmp_path):
    # nothing falls every epoch, so both "(falling every epoch)" phrases are left out of their sentences
    probes = {"relu_active": [1000, 1001, 1002], "relu_grad_sq": [1.0, 1.001, 1.002]}
    html = section(render(tmp_path, {"probed": {"accuracies": [0.8, 0.84, 0.86], "probes": probes}}, RELU_SUITE),
                   "ReLU")
    paragraphs = " ".join(re.findall(r"<p>(.*?)</p>", html, re.S))
    text = " ".join(re.sub(r"<[^>]+>", "", re.sub(r"<code>.*?</code>", "CODE", paragraphs)).split())
    assert "the count of active inputs by +0.00 and the squared gradient per active input by +0.00 (see" in text
    assert re.findall(r"\S[%)][A-Za-z]", text) == []


def test_relu_section_says_the_per_input_gradient_drives_it_when_it_does(tmp_path):
    # count −2% (log −0.02), per active input −69% (log −1.18): the same direction, the count 2% of the change
    probes = {"relu_active": [1000, 990, 980], "relu_grad_sq": [1.0, 0.6, 0.3]}
    html = section(render(tmp_path, {"probed": {"accuracies": [0.8, 0.84, 0.86], "probes": probes}}, RELU_SUITE),
                   "ReLU")
    assert ("Both moved the same way; the count of active inputs accounts for 2% of the change on this scale "
            "and the gradient each active input receives for 98%") in " ".join(html.split())
    assert "opposite way" not in html


# ---- the zero_grad section ----------------------------------------------------------------------

ZERO_SUITE = config_text("claims_zero_grad")


def test_zero_grad_section_compares_the_loss_with_a_uniform_guess(tmp_path):
    worse = render(tmp_path, {"base": ALONE, "nozero": {"accuracies": [0.2, 0.15, 0.12], "repeats": 3,
                                                        "spread": 0.04, "test_losses": [2.5, 3.0, 3.69]}},
                   ZERO_SUITE)
    text = section(worse, "Zero grad")
    assert "worse than that uniform guess" in text and "its final accuracy, 16 ± 4%, against 10% for guessing" in text
    assert "its seeds from 12.0% to 20.0%" in text
    assert text.count("points lower") == 1  # the gap is stated once
    better = render(tmp_path, {"base": ALONE, "nozero": {"accuracies": [0.6, 0.65, 0.7], "repeats": 3,
                                                         "test_losses": [1.2, 1.1, 1.0]}}, ZERO_SUITE)
    text = section(better, "Zero grad")
    assert "still better than that uniform guess" in text


# ---- the pipeline section -----------------------------------------------------------------------

PIPE_SUITE = config_text("claims_pipeline")


def test_pipeline_section_compares_the_same_seed(tmp_path):
    same = render(tmp_path, {"dataloader": {"accuracies": [0.84, 0.8578], "seconds": 8.0, "engine": "autograd"},
                             "base": {"accuracies": [0.84, 0.8578], "repeats": 3, "spread": 0.003}}, PIPE_SUITE)
    text = section(same, "Pipeline")
    assert "with the same seed 0 and after 2 epochs, DataLoader reached 85.78%" in text
    assert "the same to the digits shown" in text and "Tensors took 1.00 ± 0 s and DataLoader 8.00 s" in text
    apart = render(tmp_path, {"dataloader": {"accuracies": [0.84, 0.8500], "seconds": 8.0, "engine": "autograd"},
                              "base": {"accuracies": [0.84, 0.8578], "repeats": 3}}, PIPE_SUITE)
    text = section(apart, "Pipeline")
    assert "+0.78 points apart" in text and "the same to the digits shown" not in text


# ---- the reference --------------------------------------------------------------------------------

def test_reference_results_are_judged_by_the_stated_band(tmp_path):
    (tmp_path / "ref.csv").write_text("experiment,epoch,test_accuracy,train_seconds\n"
                                      "base,3,0.862,20.0\nother,3,0.80,19.0\n")
    suite = config_text("claims", reference={"file": "ref.csv", "label": "2021 writeup", "hardware": "Colab GPU"})
    html = render(tmp_path, {"base": {**ALONE, "spread": 0.002}, "other": {**ALONE, "spread": 0.002},
                             "third": ALONE}, suite)
    table = section(html, "Reproduction of the 2021 writeup")
    assert "By that rule 1 of 2 experiments reproduce it; Other does not." in table
    # base: ours 86.2 ± 0.2 (3 seeds) → band 2 × 0.2 × √(4/3) = 0.46 points around 86.2: 86.2 is inside
    assert "<td>+0.0</td> <td>0.5</td> <td class=\"text\">yes</td> <td>20.00 s</td>" in table
    assert "<strong>no</strong>" in table and "speed-up" not in table.lower()
    assert "Other does not reproduce its 80.0% (ours +6.2 points, outside ± 0.5)" in section(html, "Speed study")
