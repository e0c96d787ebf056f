"""The timing phase (execution/timing_rounds.py): the bounded wait of the idle gate fed recorded readings, and
a real phase on tiny data that stores every round's samples (wall and CPU seconds, threads) in a seeded
random order. Nothing here needs a quiet machine: the real phase's claims may be stated or withheld."""

from __future__ import annotations

import json
import random
import re

import pytest
import torch
from conftest import config_text, write_config

from report_builder.cli import main
from report_builder.config import TimingConfig, load_suite
from report_builder.execution.timing_rounds import POLL_SECONDS, Waiter, time_rounds, timing_wanted
from report_builder.findings.speed import speed_claims
from report_builder.results.timing_file import read_rounds, write_rounds
from report_builder.training.machine_load import MachineReading
from rounds_fixture import BUSY, QUIET, timing_document, write_timing


def machine(reading: dict) -> MachineReading:
    return MachineReading(**{k: v for k, v in reading.items() if k not in ("own_threads", "at")})


class Recorded:
    """Readings in order (the last repeated), on a clock that only sleeping and reading move."""

    def __init__(self, readings: list[dict], window: float = 0.5):
        self.readings, self.window, self.now, self.sleeps = list(readings), window, 0.0, []

    def read(self) -> MachineReading:
        self.now += self.window
        return machine(self.readings.pop(0) if len(self.readings) > 1 else self.readings[0])

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def waiter(self, budget: float) -> Waiter:
        said = []
        w = Waiter(budget=budget, own_threads=2, read=self.read, sleep=self.sleep, clock=lambda: self.now,
                   say=said.append, window=self.window)
        w.said = said
        return w


# ---- the bounded wait --------------------------------------------------------------------------------

def test_the_gate_waits_until_a_reading_is_quiet():
    recorded = Recorded([BUSY, BUSY, QUIET])
    waiter = recorded.waiter(budget=60.0)
    reading, waited = waiter.quiet()
    assert reading["cpu_pressure"] == QUIET["cpu_pressure"] and reading["own_threads"] == 2
    assert recorded.sleeps == [POLL_SECONDS, POLL_SECONDS]
    assert waited == pytest.approx(2 * POLL_SECONDS + 2 * 0.5) and len(waiter.said) == 1


def test_a_machine_that_never_quiets_is_waited_for_no_longer_than_the_budget_in_all():
    recorded = Recorded([BUSY])
    waiter = recorded.waiter(budget=7.0)
    first, _ = waiter.quiet()
    assert waiter.waited <= 7.0 and waiter.waited > 7.0 - POLL_SECONDS - 0.5
    second, waited = waiter.quiet()  # the budget is spent: time anyway, at once
    assert waited == 0.0 and recorded.sleeps[-1] >= 0 and first["load"] == second["load"] == BUSY["load"]


def test_a_quiet_first_reading_or_no_budget_means_no_wait():
    assert Recorded([QUIET]).waiter(60.0).quiet()[1] == 0.0
    recorded = Recorded([BUSY])
    assert recorded.waiter(0.0).quiet()[1] == 0.0 and recorded.sleeps == []


# ---- a real phase on tiny data ------------------------------------------------------------------------

@pytest.fixture
def timed_config(tmp_path, tiny_data_dir):
    return write_config(tmp_path / "experiments.toml", config_text(
        "tiny", defaults={"data_dir": str(tiny_data_dir)}, groups={"optimizer": {"timing": True}},
        timing={"sample_seconds": 0.001, "wait_seconds": 0.0, "order_seed": 7}))


def test_the_phase_times_every_experiment_once_a_round_in_a_seeded_random_order(timed_config, tmp_path):
    suite = load_suite(timed_config)
    waiter = Recorded([QUIET]).waiter(0.0)
    path = time_rounds(suite, tmp_path / "results", waiter=waiter)
    document = read_rounds(tmp_path / "results")
    assert path == tmp_path / "results" / "timing" / "rounds.json"
    rng, expected = random.Random(7), []
    for _ in range(5):
        order = ["baseline", "sgd"]
        rng.shuffle(order)
        expected.append(order)
    assert [r["order"] for r in document["rounds"]] == expected
    assert [r["round"] for r in document["rounds"]] == [1, 2, 3, 4, 5]
    for r in document["rounds"]:
        assert set(r["samples"]) == {"baseline", "sgd"} and r["before"]["own_threads"] == 2
        for s in r["samples"].values():
            assert s["wall_seconds"] > 0 and s["cpu_seconds"] >= 0 and s["steps"] == 100
            assert s["threads"] == torch.get_num_threads()
    assert document["reference"] == "baseline" and len(document["drift"]["start"]) == len(document["drift"]["end"]) == 2
    assert document["experiments"]["baseline"]["steps_per_epoch"] == 16  # 256 images at batch 16
    assert document["failed"] == {} and document["provenance"]["threads"] == torch.get_num_threads()


def test_the_phase_leaves_the_verdict_to_the_stored_rules(timed_config, tmp_path):
    suite = load_suite(timed_config)
    few = TimingConfig(rounds=2, wait_seconds=0.0, sample_seconds=0.001)  # the file's minimum is 5: a library call
    time_rounds(suite, tmp_path / "results", settings=few, waiter=Recorded([BUSY]).waiter(0.0))
    (claim,) = speed_claims(suite, read_rounds(tmp_path / "results"))
    assert claim.withheld and claim.reason == "busy" and claim.all_rounds.rounds == 2


def test_the_time_command_prints_each_speed_claim(tmp_path, capsys, monkeypatch):
    from report_builder.execution import timing_rounds

    path = write_config(tmp_path / "experiments.toml", config_text("timing"))
    seconds = {"base": [2.0, 2.1, 1.9, 2.0, 2.0], "other": [1.0] * 5}
    # The rounds as the phase would store them on a quiet machine (the phase itself is tested above).
    monkeypatch.setattr(timing_rounds, "time_rounds", lambda suite, results_dir, progress: write_rounds(
        results_dir, {k: v for k, v in timing_document(path, seconds).items() if k != "format"}))
    status = main(["time", "--config", str(path), "--results-dir", str(tmp_path / "results"), "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0
    assert re.fullmatch(r"speed/other-vs-base-speed: 1\.999× \[1\.9\d\d, 2\.0\d\d\] over 5 of 5 rounds; "
                        r"CPU time 1\.999×\n", out)
    assert json.loads((tmp_path / "results" / "timing" / "rounds.json").read_text())["format"] == 1


# ---- when `make report` times ---------------------------------------------------------------------------

def test_report_times_when_rounds_are_missing_withheld_or_forced_and_not_when_current(tmp_path):
    path = write_config(tmp_path / "experiments.toml", config_text("timing"))
    suite, results = load_suite(path), tmp_path / "results"
    seconds = {"base": [2.0] * 5, "other": [1.0, 1.1, 0.9, 1.0, 1.0]}
    assert timing_wanted(suite, results) == "no timing rounds yet"
    write_timing(results, path, seconds)
    assert timing_wanted(suite, results) is None
    assert timing_wanted(suite, results, force=True) == "--force"
    write_timing(results, path, seconds, readings=[(BUSY, BUSY)] * 5)
    assert timing_wanted(suite, results) == "speed claims withheld (busy)"


def test_a_suite_without_a_timing_group_never_times(tmp_path):
    path = write_config(tmp_path / "experiments.toml", config_text("timing", groups={"speed": {"timing": False}}))
    assert timing_wanted(load_suite(path), tmp_path / "results", force=True) is None


def test_a_damaged_timing_file_is_timed_again_and_named_when_rendering(tmp_path):
    path = write_config(tmp_path / "experiments.toml", config_text("timing"))
    (tmp_path / "results" / "timing").mkdir(parents=True)
    (tmp_path / "results" / "timing" / "rounds.json").write_text("{not json")
    assert timing_wanted(load_suite(path), tmp_path / "results") == "its file is damaged"
    write_rounds(tmp_path / "results", {k: v for k, v in timing_document(path, {"base": [1.0], "other": [1.0]}).items()
                                        if k != "format"})
    assert read_rounds(tmp_path / "results")["rounds"][0]["round"] == 1


def test_calibration_reads_the_fastest_undisturbed_epoch_of_runs_trained_alone_on_this_device():
    from report_builder.execution.timing_rounds import stored_step_seconds

    def run(seconds, stacked_with=1, disturbed=()):
        return {"stacked_with": stacked_with,
                "epochs": [{"train_seconds": t, "timing_disturbed": i in disturbed} for i, t in enumerate(seconds)]}

    result = {"identity": {"device_kind": "cpu"},
              "runs": [run([2.0, 1.8]), run([1.0, 3.0], disturbed=(0,)), run([0.5], stacked_with=3)]}
    assert stored_step_seconds(result, "cpu", 100) == pytest.approx(0.018)  # 1.8 s over 100 steps
    assert stored_step_seconds(result, "cuda", 100) is None
    assert stored_step_seconds({"identity": {"device_kind": "cpu"}, "runs": [run([0.5], stacked_with=3)]}, "cpu",
                               100) is None
    assert stored_step_seconds(None, "cpu", 100) is None


# ---- timed again when the reference step drifts -------------------------------------------------------

class Drifting:
    """Stands in for one sample: every step 1 ms, except the reference's last DRIFT_SAMPLES samples of an
    attempt, slower by that attempt's drift. The first call is the reference's calibration (no stored runs)."""

    def __init__(self, drifts: list[float], rounds: int = 5):
        self.drifts, self.calls, self.per_attempt = list(drifts), -1, 2 + rounds + 2

    def __call__(self, timer, steps, name, failed, say=None):
        wall = 0.001 * steps
        if name == "baseline":
            attempt, index = divmod(self.calls, self.per_attempt)
            self.calls += 1
            if self.calls > 0 and index >= self.per_attempt - 2:
                wall *= 1 + self.drifts[min(attempt, len(self.drifts) - 1)]
        return {"wall_seconds": wall, "cpu_seconds": wall, "steps": steps, "threads": 1, "others_share": 0.0}


def drifting_phase(monkeypatch, timed_config, tmp_path, drifts, budget=60.0):
    from report_builder.execution import timing_rounds

    monkeypatch.setattr(timing_rounds, "_sample", Drifting(drifts))
    suite = load_suite(timed_config)
    time_rounds(suite, tmp_path / "results", waiter=Recorded([QUIET]).waiter(budget))
    document = read_rounds(tmp_path / "results")
    return document, speed_claims(suite, document)[0]


def test_rounds_whose_reference_step_drifted_over_5_percent_are_timed_again(monkeypatch, timed_config, tmp_path):
    document, claim = drifting_phase(monkeypatch, timed_config, tmp_path, [0.055, 0.01])
    assert [r["drift"] for r in document["retried"]] == [0.055]
    assert not claim.withheld and len(document["rounds"]) == 5
    assert document["waited_seconds"] == 0.0  # a retry is not waiting for a quiet machine


def test_a_drift_within_5_percent_is_timed_once(monkeypatch, timed_config, tmp_path):
    document, claim = drifting_phase(monkeypatch, timed_config, tmp_path, [0.045])
    assert document["retried"] == [] and not claim.withheld


def test_a_step_that_keeps_drifting_is_timed_three_times_then_withheld(monkeypatch, timed_config, tmp_path):
    document, claim = drifting_phase(monkeypatch, timed_config, tmp_path, [0.08])
    assert len(document["retried"]) == 2 and claim.withheld and claim.reason == "drift"


def test_no_wait_budget_means_no_second_attempt(monkeypatch, timed_config, tmp_path):
    document, claim = drifting_phase(monkeypatch, timed_config, tmp_path, [0.08, 0.0], budget=0.0)
    assert document["retried"] == [] and claim.withheld and claim.reason == "drift"
