"""The README is the user's reference: it must name every config key and every summary column."""

from __future__ import annotations

import dataclasses

from conftest import REPO_DIR

from report_builder.config import TrainConfig
from report_builder.results.store import SUMMARY_COLUMNS

README = (REPO_DIR / "README.md").read_text(encoding="utf-8")


def test_readme_documents_every_config_key():
    missing = [f.name for f in dataclasses.fields(TrainConfig) if f"| `{f.name}` |" not in README]
    assert missing == []


def test_readme_documents_every_summary_column():
    missing = [c for c in SUMMARY_COLUMNS if f"`{c}`" not in README]
    assert missing == []
