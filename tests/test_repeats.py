"""Repeat files: what each task writes, how the driver reads them back, merges them and clears them."""

from __future__ import annotations

from report_builder.execution.repeats import clear_repeats, merge, read_repeat, write_repeat


def repeat_doc(name: str, repeat: int, status: str = "done", seconds: float = 1.0) -> dict:
    return {"experiment": name, "repeat": repeat, "status": status,
            "identity": {"config": {"lr": 0.001}, "code_version": "c", "data_fingerprint": "f", "device_kind": "cpu"},
            "run": {"repeat": repeat, "seed": repeat, "epochs": []} if status == "done" else None,
            "error": "RuntimeError: boom" if status == "failed" else None,
            "provenance": {"device_name": "CPU", "hostname": f"host{repeat}", "started_at": f"2026-01-01T00:0{repeat}",
                           "finished_at": f"2026-01-01T00:1{repeat}", "wall_seconds": seconds}}


HEADER = {"experiment": "sgd", "title": "SGD", "description": "", "identity": {"config": {}}, "config": {}}


def test_a_written_repeat_reads_back(tmp_path):
    write_repeat(tmp_path, repeat_doc("sgd", 1))
    assert read_repeat(tmp_path, "sgd", 1) == repeat_doc("sgd", 1)
    assert (tmp_path / ".repeats" / "sgd" / "repeat-1.json").is_file()


def test_a_missing_or_unreadable_repeat_reads_as_none(tmp_path):
    assert read_repeat(tmp_path, "sgd", 0) is None
    write_repeat(tmp_path, repeat_doc("sgd", 0))
    (tmp_path / ".repeats" / "sgd" / "repeat-0.json").write_text('{"experiment": "sg')
    assert read_repeat(tmp_path, "sgd", 0) is None


def test_clearing_one_experiments_repeats_leaves_the_others(tmp_path):
    write_repeat(tmp_path, repeat_doc("sgd", 0))
    write_repeat(tmp_path, repeat_doc("baseline", 0))
    clear_repeats(tmp_path, "sgd")
    assert not (tmp_path / ".repeats" / "sgd").exists()
    assert read_repeat(tmp_path, "baseline", 0) == repeat_doc("baseline", 0)
    clear_repeats(tmp_path, "baseline")
    assert not (tmp_path / ".repeats").exists()


def test_merge_is_partial_until_every_repeat_is_in_then_done():
    partial = merge(HEADER, [repeat_doc("sgd", 1)], wanted=2)
    assert partial["status"] == "partial" and [r["seed"] for r in partial["runs"]] == [1]
    done = merge(HEADER, [repeat_doc("sgd", 1, seconds=2.0), repeat_doc("sgd", 0)], wanted=2)
    assert done["status"] == "done" and [r["seed"] for r in done["runs"]] == [0, 1]
    assert done["provenance"]["wall_seconds"] == 3.0
    assert done["provenance"]["started_at"] == "2026-01-01T00:00"
    assert [p["hostname"] for p in done["provenance"]["repeat_provenance"]] == ["host0", "host1"]


def test_one_failed_repeat_fails_the_merge_with_its_error():
    merged = merge(HEADER, [repeat_doc("sgd", 0), repeat_doc("sgd", 1, status="failed")], wanted=2)
    assert merged["status"] == "failed" and merged["error"] == "RuntimeError: boom"
    assert len(merged["runs"]) == 1
