"""Findings first: one line per question, the answer decided where the statistics decide, linked to the section
that holds the test; a declared question printed beside it; a line a user can override."""

from __future__ import annotations

import html
import json
import math
import re
import shutil
from pathlib import Path

from conftest import REPO_DIR, config_text, write_config, write_fixture_results
from rounds_fixture import BUSY, write_timing
from scipy import stats

from report_builder.config import load_suite
from report_builder.report.render import render_report


def render(tmp_path: Path, suite: str, specs: dict, exports: bool = False) -> str:
    """The report's HTML; `exports`: with figure files, report.md and claims.json (a third of the CPU more)."""
    config = write_config(tmp_path / "experiments.toml", suite)
    write_fixture_results(config, tmp_path / "results", specs)
    if not (tmp_path / "templates").exists():
        shutil.copytree(REPO_DIR / "templates", tmp_path / "templates")
    render_report(load_suite(config), tmp_path / "results", tmp_path / "build", tmp_path / "templates", pdf=False,
                  figure_files=exports)
    return html.unescape(" ".join((tmp_path / "build" / "report.html").read_text(encoding="utf-8").split()))


def rows(page: str) -> list[tuple[str, str]]:
    """The Findings as (question, answer with its link) pairs."""
    body = page[page.index('<section id="findings">'):page.index("</table>", page.index('<section id="findings">'))]
    found = []
    for row in body.split("<tr>")[2:]:
        question = row.split("</th>")[0].split(">")[-1]
        answer = re.sub(r"</?span[^>]*>", "", row.split('<td class="text">')[1].split("</td>")[0]).strip()
        found.append((question, answer))
    return found


def findings(tmp_path: Path, other: list[float], repeats: int = 3, spread: float = 0.003, exports: bool = False,
             **tables) -> list[tuple[str, str]]:
    """The Findings of a report whose Other has these accuracies (one per epoch), seed r adding r × spread
    (Baseline's seeds add r × 0.002: per-seed differences vary unless spread is 0.002)."""
    suite = config_text("findings", defaults={"repeats": repeats}, experiments={"other": {"epochs": len(other)}},
                        **tables)
    return rows(render(tmp_path, suite, {
        "baseline": {"accuracies": [0.80, 0.84, 0.86], "repeats": repeats},
        "other": {"accuracies": other, "repeats": repeats, "spread": spread},
        "alone": {"accuracies": [0.7, 0.75, 0.78], "repeats": repeats}}, exports))


def answer(row: tuple[str, str]) -> str:
    return row[1].split(" <a ")[0]


def test_a_gap_beyond_seed_noise_is_decided_with_its_interval_and_linked_to_its_section(tmp_path):
    group, _ = findings(tmp_path, [0.70, 0.75, 0.80])
    # per seed: 80.0 − 86.0, 80.3 − 86.2, 80.6 − 86.4 → −6.0, −5.9, −5.8 points: standard error 0.058, two decimals
    assert answer(group) == "Other ends 5.90 points lower [5.65, 6.15] than Baseline."
    assert group[1].endswith('<a class="ref" href="#group-g">§1</a>')


def test_the_test_and_its_p_stay_in_the_section(tmp_path):
    group, _ = findings(tmp_path, [0.70, 0.75, 0.80])
    assert "t-test" not in group[1] and "p =" not in group[1] and "p <" not in group[1]


def test_a_gap_within_seed_noise_is_no_difference_detected_with_what_the_design_detects(tmp_path):
    group, _ = findings(tmp_path, [0.80, 0.84, 0.8603], spread=0.02)
    # per seed: +0.03, +1.83, +3.63 points: mean 1.8, SD 1.8 → p ≈ 0.22
    assert answer(group) == "No difference detected: Other +1.8 [−2.6, +6.3] points against Baseline (3 seeds " \
                            "detect ≥ 6.6 points)."
    assert "lower" not in group[1] and "higher" not in group[1]


def test_a_gap_above_the_baseline_is_called_higher(tmp_path):
    group, _ = findings(tmp_path, [0.90, 0.92, 0.94])
    assert answer(group) == "Other ends 8.10 points higher [7.85, 8.35] than Baseline."


def test_one_seed_is_no_test(tmp_path):
    group, _ = findings(tmp_path, [0.70, 0.75, 0.80], repeats=1)
    assert answer(group) == "No test with 1 seed: Other −6.0 points against Baseline."


def test_two_seeds_are_no_test_either(tmp_path):
    group, _ = findings(tmp_path, [0.70, 0.75, 0.80], repeats=2)
    assert answer(group).startswith("No test with 2 seeds: Other −5.9")
    assert "[" not in answer(group) and "detect" not in answer(group)


def against_base(p: float, sd: float = 0.001) -> dict:
    """A member whose paired t-test against Base over seeds 0, 1, 2 gives p (two-sided)."""
    mean = stats.t.isf(p / 2, 2) * sd / math.sqrt(3)
    return {"accuracies": [0.80, 0.84, 0.86 + mean - sd], "repeats": 3, "spread": 0.002 + sd}


def test_an_interval_excluding_zero_but_not_significant_after_holm_is_called_so(tmp_path):
    # two claims at p = 0.03 in one family ([report] family = "report"): Holm gives 0.06, while each 95% interval
    # excludes 0
    base = {"accuracies": [0.80, 0.84, 0.86], "repeats": 3, "spread": 0.002}
    page = render(tmp_path, config_text("claims", report={"family": "report"}),
                  {"base": base, "other": against_base(0.03), "third": against_base(0.03)})
    speed, accuracy = rows(page)
    assert answer(accuracy).startswith("Not significant after correction: Third +0.33 [+0.08, +0.57] points "
                                       "against Base")
    assert "No difference detected" not in accuracy[1]
    # per question, each group is a family of one: the same difference is decided
    page = render(tmp_path, config_text("claims"),
                  {"base": base, "other": against_base(0.03), "third": against_base(0.03)})
    assert answer(rows(page)[1]) == "Third ends 0.33 points higher [0.08, 0.57] than Base."


def test_a_group_of_one_states_its_accuracy_and_time(tmp_path):
    _, solo = findings(tmp_path, [0.70, 0.75, 0.80])
    assert answer(solo) == "78.2 ± 0.2% final test accuracy after 3 epochs, 1.00 ± 0 s per epoch."
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
    assert answer(group) == "4 of 5 differ from Baseline beyond seed noise; lowest Other (−5.90 points " \
                            "[−6.15, −5.65]), highest Member 3 (+2.05 points [+1.93, +2.17])."
    assert "Member 1" not in group[1]  # within noise, and neither extreme: not named


def test_a_users_template_replaces_one_groups_line(tmp_path):
    shutil.copytree(REPO_DIR / "templates", tmp_path / "templates")
    (tmp_path / "templates" / "findings" / "g.html.j2").write_text(
        '{% import "claims/verdict.txt.j2" as v with context %}'
        "{{ group.claims|length }} claim, {{ v.cell(group.claims[0].verdict) }}.", encoding="utf-8")
    group, solo = findings(tmp_path, [0.70, 0.75, 0.80])
    assert answer(group) == "1 claim, beyond."
    assert answer(solo).startswith("78.2 ± 0.2%")


def timed_rows(tmp_path: Path, **timing) -> list[tuple[str, str]]:
    """The Findings of a timing group whose runs say Other is 4× faster and whose timing rounds say 2×."""
    suite = config_text("findings", groups={"g": {"timing": True}})
    config = write_config(tmp_path / "experiments.toml", suite)
    write_timing(tmp_path / "results", config, {"baseline": [2.0, 2.2, 1.9, 2.1, 2.0],
                                                "other": [1.0, 1.05, 1.0, 1.0, 1.0]}, **timing)
    return rows(render(tmp_path, suite, {
        "baseline": {"accuracies": [0.80, 0.84, 0.86], "repeats": 3, "seconds": 2.0},
        "other": {"accuracies": [0.80, 0.84, 0.86], "repeats": 3, "seconds": 0.5, "run_factors": [1, 1.1, 0.9]},
        "alone": {"accuracies": [0.7, 0.75, 0.78], "repeats": 3}}))


def test_a_timing_group_states_its_speed_from_the_timing_rounds(tmp_path):
    group, _ = timed_rows(tmp_path)
    assert answer(group).endswith(" Other trains 2.02× faster per epoch than Baseline [1.92, 2.12].")


def test_a_timing_group_timed_on_a_busy_machine_says_its_speed_is_withheld_and_why(tmp_path):
    group, _ = timed_rows(tmp_path, readings=[(BUSY, BUSY)] * 5)
    assert answer(group).endswith(" Speed withheld: the machine was busy in 5 of 5 rounds.")
    assert "2.02×" not in group[1] and "4.0" not in group[1]


def test_a_timing_group_without_timing_rounds_says_so(tmp_path):
    group, _ = rows(render(tmp_path, config_text("findings", groups={"g": {"timing": True}}), {
        "baseline": {"accuracies": [0.80, 0.84, 0.86], "repeats": 3, "seconds": 2.0},
        "other": {"accuracies": [0.80, 0.84, 0.86], "repeats": 3, "seconds": 0.5},
        "alone": {"accuracies": [0.7, 0.75, 0.78], "repeats": 3}}))
    assert answer(group).endswith(" Speed withheld: no interleaved timing rounds measured them.")


def test_findings_come_first_and_say_the_same_in_markdown_and_claims_json(tmp_path):
    findings(tmp_path, [0.70, 0.75, 0.80], exports=True)
    page = (tmp_path / "build" / "report.html").read_text(encoding="utf-8")
    assert page.index('id="findings"') < page.index('id="group-g"') < page.index('id="methods"')
    markdown = (tmp_path / "build" / "report.md").read_text(encoding="utf-8")
    assert markdown.index("## Findings") < markdown.index("## 1. Group")
    assert "| Group | Other ends 5.90 points lower \\[5.65, 6.15\\] than Baseline. (§1) |" in markdown
    claims = json.loads((tmp_path / "build" / "claims.json").read_text())["claims"]
    assert claims[0]["sentence"] == ("Other against Baseline: −5.90 points [−6.15, −5.65] (80.30% against 86.20%), "
                                     "above on 0 of 3 seeds; beyond seed noise (paired t-test, Holm-adjusted "
                                     "p < 0.001 over this group's 1 comparison).")
