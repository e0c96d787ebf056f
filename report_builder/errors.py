"""One exception family and one warning family; the CLI is the one place that turns them into messages
(and errors into an exit status)."""

from __future__ import annotations


class ReportBuilderError(Exception):
    """A problem the user can fix; printed without a traceback, exit status 2."""

    exit_status = 2

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []

    def lines(self) -> list[str]:
        """The message, then one indented line per collected problem."""
        return [str(self)] + [f"  - {p}" for p in self.problems]


class SetupError(ReportBuilderError):
    """This Python lacks a package the command needs."""


class ConfigError(ReportBuilderError):
    """experiments.toml is malformed or invalid."""


class DataError(ReportBuilderError):
    """The dataset is missing, unreadable or corrupt."""


class ResultsError(ReportBuilderError):
    """A results file is missing, damaged or from another configuration."""


class OutputError(ReportBuilderError):
    """A file or directory the tool must write cannot be written (permissions, disk full)."""


class RenderError(ReportBuilderError):
    """A template or the PDF step failed."""


class ReportBuilderWarning(UserWarning):
    """Something the user should know that does not stop the command; the CLI prints it as one line
    ("warning: …"), and tests catch it with pytest.warns."""


class NoPdfWarning(ReportBuilderWarning):
    """The report was written as HTML only (a preview, which asks for no PDF, silences this one)."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C."""
