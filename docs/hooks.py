"""MkDocs hook: the pages' generated parts. A marker `<!-- generated: NAME -->` in a page is replaced by
the Markdown that GENERATORS[NAME] builds from the code itself — the configuration schema
(report_builder/config/schema.py) and the command line's argument parser (report_builder/cli.py) — so
the schema, the CLI and the documentation are one list each and cannot drift."""

from __future__ import annotations

import argparse
import dataclasses
import re
import typing
from collections.abc import Callable

from report_builder import cli
from report_builder.config import schema
from report_builder.config.keys import plain, type_name

MARKER = re.compile(r"<!-- generated: ([a-z-]+) -->")

TABLES = [
    ("[report]", (schema.ReportConfig,), "The writeup as a whole."),
    ("[defaults] and [experiments.NAME]", (schema.TrainConfig,),
     "Training settings: `[defaults]` sets them for every experiment, an `[experiments.NAME]` table only those "
     "that differ."),
    ("[experiments.NAME], besides its training settings", (schema.ExperimentText,), "What the report calls it."),
    ("[groups.NAME]", (schema.GroupConfig,), "Experiments compared side by side in one report section."),
    ("[sweeps.NAME]", (schema.SweepConfig,), "Experiments declared as variations of a base."),
    ("[executor]", (schema.ExecutorConfig,), "Where runs execute."),
    ("[timing]", (schema.TimingConfig,), "The timing phase, which measures every speed-up the report states "
     "(see [Timing rules](timing.md))."),
    ("[reference]", (schema.ReferenceConfig,), "Published results to show beside ours."),
]


def _toml(value) -> str:
    """A default as experiments.toml would write it."""
    if value is None:
        return "unset"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, (tuple, list)):
        return "`[" + ", ".join(_toml(v).strip("`") for v in value) + "]`"
    return f"`{plain(value)}`"


def _allowed(meta) -> str:
    parts = []
    if meta["choices"]:
        parts.append(", ".join(_toml(c) for c in meta["choices"]))
    low, high = meta["minimum"], meta["maximum"]
    if low is not None:
        parts.append(f"{'>' if low.exclusive else '≥'} {low.value:g}")
    if high is not None:
        parts.append(f"{'<' if high.exclusive else '≤'} {high.value:g}")
    if meta["refers_to"]:
        parts.append(f"names of declared {meta['refers_to']}s")
    if meta["required"]:
        parts.append("required")
    return "; ".join(parts) or "—"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def config_reference() -> str:
    """Every key of every table of experiments.toml, from the schema's dataclasses."""
    out = []
    for title, classes, about in TABLES:
        out += [f"### `{title}`" if not title.startswith("[experiments.NAME],") else f"### {title}", "", about, "",
                "| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
        for cls in classes:
            hints = typing.get_type_hints(cls)
            for f in dataclasses.fields(cls):
                meta = f.metadata
                if "doc" not in meta:
                    continue
                default = f.default if f.default is not dataclasses.MISSING else (
                    f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
                out.append(f"| `{f.name}` | {type_name(hints[f.name], meta['required'])} "
                           f"| {'—' if meta['required'] else _toml(default)} | {_cell(_allowed(meta))} "
                           f"| {_cell(meta['doc'])} |")
        out.append("")
    return "\n".join(out)


def cli_reference() -> str:
    """Every command and option of `python -m report_builder`, from its argument parser."""
    parser = cli._parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in commands._choices_actions}
    out = []
    for name, sub in commands.choices.items():
        out += [f"### `{name}`", "", f"{helps.get(name, '')[:1].upper()}{helps.get(name, '')[1:]}.", "", "```text",
                sub.format_usage().replace("usage: ", "").strip(), "```", "", "| option | meaning |", "|---|---|"]
        for action in sub._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            flags = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.metavar or action.dest}`"
            if action.option_strings and action.nargs != 0:
                flags += f" `{action.metavar or action.dest.upper()}`"
            choices = f" ({', '.join(map(str, action.choices))})" if action.choices else ""
            out.append(f"| {flags} | {_cell((action.help or '') + choices)} |")
        out.append("")
    return "\n".join(out)


GENERATORS: dict[str, Callable[[], str]] = {"config-reference": config_reference, "cli-reference": cli_reference}


def on_page_markdown(markdown: str, page, config, files) -> str:
    """MkDocs calls this for every page: the markers become the generated Markdown."""
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](), markdown)
