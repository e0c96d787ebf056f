"""The machine reading that the thread choice and the timing gate decide from, fed recorded counters."""

from __future__ import annotations

import dataclasses

import pytest

from report_builder.training import machine_load
from report_builder.training.contention import CpuSample
from report_builder.training.machine_load import (Sources, parse_pressure, parse_pressure_total, parse_runnable,
                                                  parse_steal, read_machine, window_pressure)

PRESSURE = "some avg10=12.50 avg60=4.16 avg300=3.32 total=16675746\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"


def test_pressure_reads_some_avg10():
    assert parse_pressure(PRESSURE) == 12.5


def test_pressure_without_some_line_is_unknown():
    assert parse_pressure("full avg10=3.00 avg60=0.00 avg300=0.00 total=0\n") is None


def test_steal_is_the_eighth_field_of_the_cpu_line():
    assert parse_steal("cpu  100 0 50 800 20 0 5 25 0 0") == (25, 1000)


def test_old_kernels_without_steal_give_none():
    assert parse_steal("cpu  100 0 50 800") is None


def test_runnable_tasks_come_from_loadavg():
    assert parse_runnable("0.52 0.58 0.59 3/117 6366") == 3


def _sources(samples, steals, pressure=None, machine_cpus=2):
    samples, steals = iter(samples), iter(steals)
    return Sources(cpu=lambda: next(samples), steal=lambda: next(steals),
                   pressure=lambda resource: (pressure or {}).get(resource), pressure_total=lambda resource: None,
                   runnable_others=lambda: 1,
                   cpus=lambda: 2, machine_cpus=lambda: machine_cpus, sleep=lambda s: None)


def test_others_cores_count_other_processes_busy_time_as_cores():
    # 200 ticks of capacity on 2 CPUs; 150 busy, 50 of them ours: others used 100 ticks = 1 core
    start = CpuSample(busy=1000, total=5000, own=300.0, load=1.0)
    end = CpuSample(busy=1150, total=5200, own=350.0, load=1.2)
    reading = read_machine(0.5, _sources([start, end], [(10, 5000), (30, 5200)], {"cpu": 40.0, "io": 2.0}))
    assert reading.others_cores == pytest.approx(1.0)
    assert reading.steal_share == pytest.approx(0.1)
    assert (reading.cpu_pressure, reading.io_pressure, reading.load, reading.runnable_others) == (40.0, 2.0, 1.2, 1)


def test_a_quiet_machine_reads_no_other_cores():
    start = CpuSample(busy=1000, total=5000, own=300.0, load=0.1)
    end = CpuSample(busy=1100, total=5200, own=400.0, load=0.1)
    assert read_machine(0.5, _sources([start, end], [None, None])).others_cores == 0.0


def test_a_window_too_short_to_judge_reads_unknown():
    start = CpuSample(busy=1000, total=5000, own=300.0, load=0.1)
    end = CpuSample(busy=1010, total=5010, own=300.0, load=0.1)
    reading = read_machine(0.5, _sources([start, end], [None, None]))
    assert reading.others_cores is None and reading.steal_share is None


@pytest.mark.skipif(not machine_load.contention._LINUX, reason="reads /proc")
def test_a_real_reading_is_complete_on_linux():
    reading = read_machine(0.3)
    assert reading.cpus >= 1 and reading.load is not None and reading.others_cores is not None


def test_pressure_totals_give_the_share_of_the_window_some_task_stalled():
    assert parse_pressure_total(PRESSURE) == 16675746
    assert window_pressure(1_000_000, 1_100_000, 0.5) == pytest.approx(20.0)
    assert window_pressure(None, 1_100_000, 0.5) is None


def test_pressure_is_read_over_the_window_not_the_last_ten_seconds():
    # avg10 still holds this process's own stalls from before the window; the totals over the window do not
    start = CpuSample(busy=1000, total=5000, own=300.0, load=1.0)
    end = CpuSample(busy=1100, total=5200, own=400.0, load=1.0)
    totals = iter([5_000_000, 7_000, 5_000_000, 7_000])  # cpu, io at the start; cpu, io at the end
    clock = iter([10.0, 10.5])
    sources = dataclasses.replace(_sources([start, end], [None, None], {"cpu": 14.0, "io": 3.0}),
                                  pressure_total=lambda resource: next(totals), clock=lambda: next(clock))
    reading = read_machine(0.5, sources)
    assert (reading.cpu_pressure, reading.io_pressure) == (0.0, 0.0)


def test_without_totals_pressure_falls_back_to_avg10():
    start = CpuSample(busy=1000, total=5000, own=300.0, load=1.0)
    end = CpuSample(busy=1100, total=5200, own=400.0, load=1.0)
    reading = read_machine(0.5, _sources([start, end], [None, None], {"cpu": 14.0, "io": 3.0}))
    assert (reading.cpu_pressure, reading.io_pressure) == (14.0, 3.0)


def test_a_reading_lasts_long_enough_to_judge_other_work_on_few_cpus(monkeypatch):
    from report_builder.training import contention

    monkeypatch.setattr(machine_load.os, "cpu_count", lambda: 1)
    one = machine_load.default_window()
    monkeypatch.setattr(machine_load.os, "cpu_count", lambda: 2)
    two = machine_load.default_window()
    assert one * contention._CLOCK_TICKS >= contention.MIN_WINDOW_TICKS
    assert two == machine_load.WINDOW_SECONDS and 2 * two * contention._CLOCK_TICKS >= contention.MIN_WINDOW_TICKS
