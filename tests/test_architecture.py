"""The package's shape: layers whose imports run one way (import-linter's contracts in pyproject.toml), no
import cycles, and small modules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_DIR

PACKAGE = REPO_DIR / "report_builder"
MAX_MODULE_LINES = 400


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("import-linter is not installed (it is in the [test] extra)")
        pytest.skip("import-linter is not installed here (pip install import-linter, or the [test] extra)")
    done = subprocess.run([str(lint), "--no-cache"], cwd=REPO_DIR, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_every_module_is_small():
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_every_layer_says_what_it_does_and_may_import():
    for layer in ("training", "execution", "results", "analysis", "findings", "report"):
        doc = (PACKAGE / layer / "__init__.py").read_text(encoding="utf-8")
        assert doc.startswith('"""') and "May import" in doc, layer
