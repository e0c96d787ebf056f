"""Findings first: one line per question, the answer decided where the statistics decide, linked to the section
that holds the test; a declared question printed beside it; a line a user can override."""

from __future__ import annotations

import html
import json
import math
import shutil
from pathlib import Path

from conftest import REPO_DIR, config_text, write_config, write_fixture_results
from scipy import stats

from report_builder.config import load_suite
from report_builder.report.render import render_report


def render(tmp_path: Path, suite: str, specs: dict) -> str:
    config = write_config(tmp_path / "experiments.toml", suite)
    write_fixture_results(config, tmp_path / "results", specs)
    if not (tmp_path / "templates").exists():
        shutil.copytree(REPO_DIR / "templates", tmp_path / "templates")
    render_report(load_suite(config), tmp_path / "results", tmp_path / "build", tmp_path / "templates", pdf=False)
    return html.unescape(" ".join((tmp_path / "build" / "report.html").read_text(encoding="utf-8").split()))


def rows(page: str) -> list[tuple[str, str]]:
    """The Findings as (question, answer with its link) pairs."""
    body = page[page.index('<section id="findings">'):page.index("</table>", page.index('<section id="findings">'))]
    found = []
    for row in body.split("<tr>")[2:]:
        question = row.split("</th>")[0].split(">")[-1]
        answer = row.split('<td class="text">')[1].split("</td>")[0].strip()
        found.append((question, answer))
    return found


def findings(tmp_path: Path, other: list[float], repeats: int = 3, spread: float = 0.003,
             **tables) -> list[tuple[str, str]]:
    """The Findings of a report whose Other has these accuracies (one per epoch), seed r adding r × spread
    (Baseline's seeds add r × 0.002: per-seed differences vary unless spread is 0.002)."""
    suite = config_text("findings", defaults={"repeats": repeats}, experiments={"other": {"epochs": len(other)}},
                        **tables)
    return rows(render(tmp_path, suite, {
        "baseline": {"accuracies": [0.80, 0.84, 0.86], "repeats": repeats},
        "other": {"accuracies": other, "repeats": repeats, "spread": spread},
        "alone": {"accuracies": [0.7, 0.75, 0.78], "repeats": repeats}}))


def answer(row: tuple[str, str]) -> str:
    return row[1].split(" <a ")[0]


def test_a_gap_beyond_seed_noise_is_decided_with_its_interval_and_linked_to_its_section(tmp_path):
    group, _ = findings(tmp_path, [0.70, 0.75, 0.80])
    # per seed: 80.0 − 86.0, 80.3 − 86.2, 80.6 − 86.4 → −6.0, −5.9, −5.8 points
    assert answer(group) == "Other ends 5.9 points lower [5.7, 6.1] than Baseline."
    assert group[1].endswith('<a class="ref" href="#group-g">§1</a>')


def test_the_test_and_its_p_stay_in_the_section(tmp_path):
    group, _ = findings(tmp_path, [0.70, 0.75, 0.80])
    assert "t-test" not in group[1] and "p =" not in group[1] and "p <" not in group[1]


def test_a_gap_within_seed_noise_is_no_difference_detected_with_what_the_design_detects(tmp_path):
    group, _ = findings(tmp_path, [0.80, 0.84, 0.8603], spread=0.02)
    # per seed: +0.03, +1.83, +3.63 points: mean 1.8, SD 1.8 → p ≈ 0.22
    assert answer(group).startswith("No accuracy difference detected: Other +1.8 [−2.6, +6.3] points against Baseline "
                                    "(3 seeds detect ≥ ")
    assert "lower" not in group[1] and "higher" not in group[1]


def test_a_gap_above_the_baseline_is_called_higher(tmp_path):
    group, _ = findings(tmp_path, [0.90, 0.92, 0.94])
    assert answer(group) == "Other ends 8.1 points higher [7.9, 8.3] than Baseline."


def test_one_seed_is_untestable(tmp_path):
    group, _ = findings(tmp_path, [0.70, 0.75, 0.80], repeats=1)
    assert answer(group) == "Untestable, one seed each: Other −6.0 points against Baseline."


def against_base(p: float, sd: float = 0.001) -> dict:
    """A member whose paired t-test against Base over seeds 0, 1, 2 gives p (two-sided)."""
    mean = stats.t.isf(p / 2, 2) * sd / math.sqrt(3)
    return {"accuracies": [0.80, 0.84, 0.86 + mean - sd], "repeats": 3, "spread": 0.002 + sd}


def test_an_interval_excluding_zero_but_not_significant_after_holm_is_called_so(tmp_path):
    # two claims at p = 0.03: Holm gives 0.06, while each 95% interval excludes 0
    base = {"accuracies": [0.80, 0.84, 0.86], "repeats": 3, "spread": 0.002}
    page = render(tmp_path, config_text("claims"),
                  {"base": base, "other": against_base(0.03), "third": against_base(0.03)})
    speed, accuracy = rows(page)
    assert answer(accuracy) == "Not significant after multiple-testing correction: Third +0.3 [+0.1, +0.6] points " \
                               "against Base."
    assert "No accuracy difference detected" not in accuracy[1]


def test_a_group_of_one_states_its_accuracy_and_time(tmp_path):
    _, solo = findings(tmp_path, [0.70, 0.75, 0.80])
    assert answer(solo) == "78.2 ± 0.2% final test accuracy after 3 epochs, 1.00 ± 0 s per training epoch."
    assert 'href="#group-solo">§2</a>' in solo[1]


def test_settings_with_different_epoch_counts_are_not_compared(tmp_path):
    group, _ = findings(tmp_path, [0.70, 0.75])
    assert answer(group) == "Accuracy not compared: the settings ran 2 and 3 epochs."


def test_a_declared_question_stands_beside_its_answer_and_the_title_otherwise(tmp_path):
    group, solo = findings(tmp_path, [0.70, 0.75, 0.80], groups={"g": {"question": "Does lr 0.01 help?"}})
    assert group[0] == "Does lr 0.01 help?" and solo[0] == "Solo group"


def test_a_group_of_many_members_is_answered_by_its_extremes_not_member_by_member(tmp_path):
    suite = config_text("findings", experiments={f"m{i}": {"title": f"Member {i}", "lr": 0.002 * (i + 1)}
                                                 for i in range(4)},
                        groups={"g": {"experiments": ["baseline", "other", "m0", "m1", "m2", "m3"]}})
    specs = {"baseline": {"accuracies": [0.80, 0.84, 0.86], "repeats": 3},
             "alone": {"accuracies": [0.7, 0.75, 0.78], "repeats": 3},
             "other": {"accuracies": [0.7, 0.75, 0.80], "repeats": 3, "spread": 0.003}}
    specs.update({f"m{i}": {"accuracies": [0.8, 0.84, 0.86 + 0.01 * (i - 1)], "repeats": 3, "spread": 0.0025}
                  for i in range(4)})
    group, _ = rows(render(tmp_path, suite, specs))
    assert answer(group).startswith("4 of 5 differ from Baseline beyond seed noise; lowest Other (−5.9 points "
                                    "[−6.1, −5.7]), highest Member 3 (+2.1 points [")
    assert "Member 1" not in group[1]  # within noise, and neither extreme: not named


def test_a_users_template_replaces_one_groups_line(tmp_path):
    shutil.copytree(REPO_DIR / "templates", tmp_path / "templates")
    (tmp_path / "templates" / "findings" / "g.html.j2").write_text(
        "{{ group.claims|length }} claim, {{ words.verdict_label(group.claims[0].verdict) }}.", encoding="utf-8")
    group, solo = findings(tmp_path, [0.70, 0.75, 0.80])
    assert answer(group) == "1 claim, beyond noise."
    assert answer(solo).startswith("78.2 ± 0.2%")


def test_a_timing_group_states_its_speed_and_a_disturbed_one_says_the_machine_was_busy(tmp_path):
    timed = config_text("findings", groups={"g": {"timing": True}})
    specs = {"baseline": {"accuracies": [0.80, 0.84, 0.86], "repeats": 3, "seconds": 2.0},
             "other": {"accuracies": [0.80, 0.84, 0.86], "repeats": 3, "seconds": 1.0, "run_factors": [1, 1.1, 0.9]},
             "alone": {"accuracies": [0.7, 0.75, 0.78], "repeats": 3}}
    group, _ = rows(render(tmp_path, timed, specs))
    assert answer(group).endswith("Other trains 2.0× faster per epoch than Baseline [1.6, 2.6].")
    specs["other"]["disturbed"] = (1, 2, 3)
    group, _ = rows(render(tmp_path, timed, specs))
    assert answer(group).endswith("Speed not compared: the machine was busy: other work disturbed the timed epochs.")


def test_findings_come_first_and_say_the_same_in_markdown_and_claims_json(tmp_path):
    findings(tmp_path, [0.70, 0.75, 0.80])
    page = (tmp_path / "build" / "report.html").read_text(encoding="utf-8")
    assert page.index('id="findings"') < page.index('id="group-g"') < page.index('id="methods"')
    markdown = (tmp_path / "build" / "report.md").read_text(encoding="utf-8")
    assert markdown.index("## Findings") < markdown.index("## 1. Group")
    assert "| Group | Other ends 5.9 points lower \\[5.7, 6.1\\] than Baseline. (§1) |" in markdown
    claims = json.loads((tmp_path / "build" / "claims.json").read_text())["claims"]
    assert claims[0]["sentence"] == ("Other against Baseline: −5.9 points [−6.1, −5.7], above on 0 of 3 seeds; beyond "
                                     "seed noise (paired t-test, p < 0.001).")
