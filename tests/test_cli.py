"""The command line: clear one-screen errors with exit status 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from conftest import REPO_DIR, config_text, two_experiment_project, write_config

from report_builder.cli import main


def test_unknown_name_lists_the_experiments(tiny_config, tmp_path, capsys):
    status = main(["run", "sdg", "--config", str(tiny_config), "--results-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert status == 2
    assert err == "error: unknown experiment 'sdg' (did you mean 'sgd'?); experiments.toml declares: baseline, sgd\n"
    assert not (tmp_path / "r").exists()


def test_invalid_config_exits_2_listing_every_problem(tmp_path, capsys):
    config = write_config(tmp_path / "bad.toml", config_text(experiments={"a": {"lr": -1, "batchsize": 4}}))
    status = main(["run", "--config", str(config)])
    err = capsys.readouterr().err.splitlines()
    assert status == 2
    assert err[0] == f"error: {config}: 2 problems"
    assert err[1:] == ["  - bad.toml: [experiments.a] lr: must be > 0, got -1.0",
                       "  - bad.toml: [experiments.a] unknown key 'batchsize' (did you mean 'batch_size'?)"]


def test_missing_dataset_is_one_clear_error(tmp_path, capsys):
    text = config_text(defaults={"data_dir": str(tmp_path / "nothing"), "device": "cpu"}, experiments={"a": {}})
    config = write_config(tmp_path / "e.toml", text)
    status = main(["run", "--config", str(config), "--results-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"error: Fashion-MNIST not found in {tmp_path / 'nothing'}")
    assert "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_is_a_config_error(tiny_config, tmp_path, capsys):
    write_config(tiny_config, tiny_config.read_text().replace('device = "cpu"', 'device = "cuda"'))
    status = main(["run", "--config", str(tiny_config), "--results-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert status == 2
    assert 'device = "cuda", but torch sees no CUDA GPU' in err


def test_list_shows_state_of_results(tiny_config, tmp_path, capsys):
    main(["run", "sgd", "--config", str(tiny_config), "--results-dir", str(tmp_path / "r")])
    capsys.readouterr()
    main(["list", "--config", str(tiny_config), "--results-dir", str(tmp_path / "r")])
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["baseline", "not", "run"]
    assert out[1].split()[:2] == ["sgd", "done"]


def test_list_marks_results_stale_after_an_edit(tiny_config, tmp_path, capsys):
    main(["run", "sgd", "--config", str(tiny_config), "--results-dir", str(tmp_path / "r")])
    write_config(tiny_config, tiny_config.read_text().replace("lr = 0.05", "lr = 0.01"))
    capsys.readouterr()
    main(["list", "--config", str(tiny_config), "--results-dir", str(tmp_path / "r")])
    assert "stale (lr changed 0.05 → 0.01)" in capsys.readouterr().out


def test_module_entry_point_exits_2_without_traceback(tmp_path):
    # inline on purpose: the test is about this exact malformed text, which no builder would write
    config = write_config(tmp_path / "bad.toml", "[experiments.a]\nepochs = = 1\n")
    done = subprocess.run([sys.executable, "-m", "report_builder", "run", "--config", str(config)],
                          capture_output=True, text=True, cwd=REPO_DIR)
    assert done.returncode == 2
    assert "malformed TOML" in done.stderr and "Traceback" not in done.stderr


def test_a_python_without_the_packages_says_what_to_install(monkeypatch, capsys, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("torch", "pandas") else real(name, *a))
    status = main(["run", "--config", str(tmp_path / "experiments.toml")])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert "lacks torch, pandas, which `run` needs: install them (python -m pip install torch torchvision pandas)" in err


def test_run_and_report_offer_the_schema_list_of_executors(monkeypatch):
    from report_builder import cli

    monkeypatch.setattr(cli, "EXECUTORS", ("local", "elsewhere"))
    for command in ("run", "report"):
        args = cli._parser().parse_args([command, "--executor", "elsewhere", "--no-stack", "--force"])
        assert (args.executor, args.no_stack, args.force) == ("elsewhere", True, True)


def test_an_executor_named_by_a_library_caller_is_checked_like_the_file():
    from report_builder.config import ExecutorConfig
    from report_builder.errors import ConfigError
    from report_builder.execution.runner import with_kind

    with pytest.raises(ConfigError) as caught:
        with_kind(ExecutorConfig(), "slurmm")
    assert str(caught.value) == ("--executor: [executor] kind: unknown value 'slurmm' (did you mean 'slurm'?); "
                                 "valid: local, local-gpus, slurm")


def test_a_library_warning_is_one_line_on_stderr(tmp_path, capsys):
    project = two_experiment_project(tmp_path, "Warnings")
    status = main(["render", "--no-pdf", "--config", str(project / "experiments.toml"), "--results-dir",
                   str(project / "results"), "--build-dir", str(project / "build")])
    err = capsys.readouterr().err.splitlines()
    assert status == 0
    assert [line for line in err if line.startswith("warning:")] == [
        f"warning: no PDF (--no-pdf); {project / 'build' / 'report.html'} is the report, and no older report.pdf "
        f"is left beside it"]
    assert not any("Warning" in line for line in err)


@pytest.mark.parametrize("command", ["list", "render", "run"])
def test_a_results_dir_that_is_a_file_is_one_line(command, tiny_config, tmp_path, capsys):
    results = tmp_path / "results.csv"
    results.write_text("not a folder\n")
    status = main([command, "--config", str(tiny_config), "--results-dir", str(results)])
    captured = capsys.readouterr()
    assert status == 2
    assert (captured.out, captured.err) == ("", f"error: --results-dir {results}: not a folder (it is a file)\n")
