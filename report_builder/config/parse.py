"""experiments.toml → validated, frozen dataclasses (schema.py). Every problem in the file is collected
and reported at once, with the file, table and key, and the nearest valid name for a typo."""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from report_builder.config.reference import Reference, read_reference_csv
from report_builder.config.schema import (
    ExecutorConfig,
    Experiment,
    Group,
    ReferenceConfig,
    Suite,
    TrainConfig,
    suggest,
)
from report_builder.errors import ConfigError

EXPERIMENT_ONLY_KEYS = ("title", "description")
GROUP_KEYS = ("title", "description", "experiments", "baseline", "timing")
REPORT_KEYS = ("title", "author")
TOP_LEVEL = ("report", "defaults", "experiments", "groups", "executor", "reference")


def _plain(value: Any) -> str:
    """A choice as a user reads it: booleans as TOML writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _type_name(tp: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        return " or ".join(names.get(a, "unset") for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) is tuple:
        return f"a list of {'integers' if typing.get_args(tp)[0] is int else 'strings'}"
    if tp is dict:
        return "a table"
    return names[tp]


def _coerce(value: Any, tp: Any) -> tuple[bool, Any]:
    """(ok, value converted to the field's type); TOML already parsed the literal."""
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        for inner in (a for a in typing.get_args(tp) if a is not type(None)):
            ok, converted = _coerce(value, inner)
            if ok:
                return ok, converted
        return False, value
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        ok = isinstance(value, list) and all(_coerce(v, item)[0] for v in value)
        return ok, tuple(value) if ok else value
    if tp is dict:
        ok = isinstance(value, dict) and all(isinstance(v, (str, int, float, bool)) for v in value.values())
        return ok, value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    return isinstance(value, tp), value


def _check_value(cls: type, name: str, value: Any, where: str, problems: list[str]) -> Any:
    spec = {f.name: f for f in dataclasses.fields(cls)}[name]
    hints = typing.get_type_hints(cls)
    ok, value = _coerce(value, hints[name])
    if not ok:
        problems.append(f"{where} {name}: must be {_type_name(hints[name])}, got {value!r}")
        return None
    meta = spec.metadata
    items = value if isinstance(value, tuple) else (value,)
    if meta["choices"]:
        numbers_allowed = int in typing.get_args(hints[name])  # e.g. tasks_per_job: a number or "auto"
        for item in items:
            if numbers_allowed and isinstance(item, int) and not isinstance(item, bool):
                continue
            if item not in meta["choices"]:
                valid = [_plain(c) for c in meta["choices"]]
                shown = repr(item) if isinstance(item, str) else _plain(item)
                problems.append(f"{where} {name}: unknown value {shown}{suggest(_plain(item), valid)}; "
                                f"valid: {', '.join(valid)}")
                return None
    if isinstance(value, tuple) and len(set(value)) != len(value):
        problems.append(f"{where} {name}: lists a value twice: {list(value)!r}")
        return None
    for number in items:
        if not isinstance(number, (int, float)) or isinstance(number, bool):
            continue
        if meta["minimum"] is not None and number < meta["minimum"]:
            problems.append(f"{where} {name}: must be ≥ {meta['minimum']:g}, got {number!r}")
            return None
        if meta["exclusive_minimum"] is not None and number <= meta["exclusive_minimum"]:
            problems.append(f"{where} {name}: must be > {meta['exclusive_minimum']:g}, got {number!r}")
            return None
        if meta["maximum"] is not None and number > meta["maximum"]:
            problems.append(f"{where} {name}: must be < 1, got {number!r}")
            return None
    return value


def _settings(cls: type, table: dict, where: str, extra_keys: tuple[str, ...], problems: list[str]) -> dict[str, Any]:
    """The valid keys of one table for dataclass `cls`, as checked values; problems collected on the way."""
    fields = [f.name for f in dataclasses.fields(cls)]
    settings = {}
    for key, value in table.items():
        if key in extra_keys:
            continue
        if key not in fields:
            problems.append(f"{where} unknown key '{key}'{suggest(key, fields + list(extra_keys))}")
            continue
        checked = _check_value(cls, key, value, where, problems)
        if checked is not None:
            settings[key] = checked
    return settings


def _string(table: dict, key: str, where: str, default: str, problems: list[str]) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        problems.append(f"{where} {key}: must be a string, got {value!r}")
        return default
    return value


def _table(doc: dict, key: str, where: str, problems: list[str]) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"{where}: must be a table, got {value!r}")
        return {}
    return value


NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""Experiment and group names: they name files (results/NAME.json, figures), so letters, digits, _ and -,
starting with a letter or digit, at most 64 characters."""


def _quoted(name: str) -> str:
    return name if NAME_PATTERN.fullmatch(name) else f'"{name.encode("unicode_escape").decode("ascii")}"'


def safe_name(name: str, kind: str) -> str:
    """A name that follows NAME_PATTERN, as close to `name` as it can be."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_-")[:64].strip("_-")
    return cleaned or kind


def _valid_name(name: str, kind: str, where: str, problems: list[str]) -> bool:
    if NAME_PATTERN.fullmatch(name):
        return True
    problems.append(f"{where}: {kind} names may hold only letters, digits, _ and -, start with a letter or digit "
                    f"and have at most 64 characters (they name files); rename it, e.g. to '{safe_name(name, kind)}'")
    return False


def _named_tables(doc: dict, key: str, kind: str, problems: list[str]):
    """(name, where, table) for each valid [key.NAME] table; problems with the others are collected."""
    for name, table in _table(doc, key, f"[{key}]", problems).items():
        where = f"[{key}.{_quoted(name)}]"
        if not _valid_name(name, kind, where, problems):
            continue
        if not isinstance(table, dict):
            problems.append(f"{where}: must be a table, got {table!r}")
            continue
        yield name, where, table


def parse_suite(text: str, path: Path) -> Suite:
    """Validate the text of an experiments file; raise ConfigError listing every problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: malformed TOML: {e}") from e
    problems: list[str] = []
    for key in doc:
        if key not in TOP_LEVEL:
            problems.append(f"[{key}]: unknown table{suggest(key, TOP_LEVEL)}; valid: {', '.join(TOP_LEVEL)}")

    report = _table(doc, "report", "[report]", problems)
    for key in report:
        if key not in REPORT_KEYS:
            problems.append(f"[report] unknown key '{key}'{suggest(key, REPORT_KEYS)}")
    title = _string(report, "title", "[report]", "Fashion-MNIST MLP experiments", problems)
    author = _string(report, "author", "[report]", "", problems)

    defaults = _settings(TrainConfig, _table(doc, "defaults", "[defaults]", problems), "[defaults]", (), problems)
    executor = ExecutorConfig(**_settings(ExecutorConfig, _table(doc, "executor", "[executor]", problems),
                                          "[executor]", (), problems))

    experiments: dict[str, Experiment] = {}
    for name, where, table in _named_tables(doc, "experiments", "experiment", problems):
        own = _settings(TrainConfig, table, where, EXPERIMENT_ONLY_KEYS, problems)
        experiments[name] = Experiment(
            name=name,
            title=_string(table, "title", where, name, problems),
            description=_string(table, "description", where, "", problems),
            config=TrainConfig(**{**defaults, **own}),
        )
    if not experiments and not problems:
        problems.append("[experiments]: declares no experiment; add e.g. [experiments.baseline]")

    groups: dict[str, Group] = {}
    for name, where, table in _named_tables(doc, "groups", "group", problems):
        for key in table:
            if key not in GROUP_KEYS:
                problems.append(f"{where} unknown key '{key}'{suggest(key, GROUP_KEYS)}")
        members = table.get("experiments", [])
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members) or not members:
            problems.append(f"{where} experiments: must be a non-empty list of experiment names, got {members!r}")
            continue
        for member in members:
            if member not in experiments:
                problems.append(f"{where} experiments: no experiment named '{member}'{suggest(member, experiments)}")
        dupes = sorted({m for m in members if members.count(m) > 1})
        if dupes:
            problems.append(f"{where} experiments: lists {', '.join(repr(d) for d in dupes)} more than once")
        timing = table.get("timing", False)
        if not isinstance(timing, bool):
            problems.append(f"{where} timing: must be true or false, got {timing!r}")
        baseline = table.get("baseline")
        if baseline is not None and baseline not in members:
            problems.append(f"{where} baseline: {baseline!r} is not one of this group's experiments {members!r}")
        groups[name] = Group(
            name=name,
            title=_string(table, "title", where, name, problems),
            description=_string(table, "description", where, "", problems),
            experiments=tuple(members),
            baseline=baseline if isinstance(baseline, str) else None,
            timing=timing is True,
        )

    reference = _reference(doc, path, problems)
    if problems:
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        raise ConfigError(f"{path}: {count}", [f"{path.name}: {p}" for p in problems])
    return Suite(path=path, title=title, author=author, experiments=experiments, groups=groups, executor=executor,
                 reference=reference)


def _reference(doc: dict, path: Path, problems: list[str]) -> Reference | None:
    if "reference" not in doc:
        return None
    table = _table(doc, "reference", "[reference]", problems)
    settings = ReferenceConfig(**_settings(ReferenceConfig, table, "[reference]", (), problems))
    if not settings.file:
        problems.append("[reference] file: must name the CSV file of reference results")
        return None
    csv_path = path.parent / settings.file
    values = read_reference_csv(csv_path, "[reference]", problems)
    return Reference(label=settings.label, hardware=settings.hardware, tolerance_points=settings.tolerance_points,
                     source=settings.file, values=values)


def load_suite(path: Path | str) -> Suite:
    """Read and validate an experiments file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: no such experiments file (pass --config PATH)") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from e
    return parse_suite(text, path)
