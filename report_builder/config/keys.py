"""How a configuration key is declared (`key`) and how a table of values is checked against the declaring
dataclass (`check_table`): one machinery for every table of experiments.toml and every row of a
reference CSV, so that each problem reads the same way: `where key: problem, got value`."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from report_builder.errors import ConfigError


@dataclass(frozen=True)
class Bound:
    """One end of a key's range; an exclusive bound is itself outside the range (lr > 0, momentum < 1)."""

    value: float
    exclusive: bool = False

    def below(self, number: float) -> bool:
        """Whether `number` is under this bound taken as a minimum."""
        return number < self.value or (self.exclusive and number == self.value)

    def above(self, number: float) -> bool:
        """Whether `number` is over this bound taken as a maximum."""
        return number > self.value or (self.exclusive and number == self.value)


def key(default: Any, doc: str, *, choices: tuple | None = None, minimum: float | Bound | None = None,
        maximum: float | Bound | None = None, required: bool = False, refers_to: str | None = None,
        min_items: int = 0, distinct: bool = True) -> Any:
    """A config key: default, one-line doc and the constraints checked at load time.

    minimum/maximum: a number is an inclusive bound, Bound(x, exclusive=True) an exclusive one. required:
    the key must be given (a list: with at least one item); the default is then unused. refers_to: each
    value must name a declared thing of that kind ("experiment"). min_items: a list must have at least this
    many items. distinct: a list may not name one item twice (false for a list of layer widths)."""
    as_bound = (lambda b: b if isinstance(b, Bound) or b is None else Bound(b))
    meta = {"doc": doc, "choices": choices, "minimum": as_bound(minimum), "maximum": as_bound(maximum),
            "required": required, "refers_to": refers_to, "min_items": min_items, "distinct": distinct}
    if required:
        return field(metadata=meta)
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


def suggest(word: str, valid) -> str:
    """" (did you mean 'x'?)" for the closest valid name, or nothing."""
    close = difflib.get_close_matches(word, list(valid), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def plain(value: Any) -> str:
    """A value as a user reads it: booleans as TOML writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _type_name(tp: Any, required: bool = False, choices: tuple | None = None) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        # A number or "auto": the words it may be, not "a string".
        words = " or ".join(f'"{c}"' for c in choices or () if isinstance(c, str))
        return " or ".join(words if a is str and words else _type_name(a)
                           for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) is tuple:
        items = "integers" if typing.get_args(tp)[0] is int else "strings"
        return f"a {'non-empty ' if required else ''}list of {items}"
    if tp is dict:
        return "a table"
    if typing.get_origin(tp) is dict:
        return "a table of lists"
    return names[tp]


def type_name(tp: Any, required: bool = False) -> str:
    """How messages and the documentation name a key's type: "an integer", "a list of strings"."""
    return _type_name(tp, required)


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
    if typing.get_origin(tp) is dict:  # a table of lists ([sweeps.NAME] vary); sweeps.py checks the items
        return isinstance(value, dict) and all(isinstance(v, list) for v in value.values()), value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    return isinstance(value, tp), value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _range_problem(number: float, meta: Mapping[str, Any]) -> str | None:
    """What is wrong with a number for its key's bounds ("must be …, got …"), or None."""
    low, high = meta["minimum"], meta["maximum"]
    if isinstance(number, float) and not math.isfinite(number):
        return f"must be a finite number, got {number!r}"
    if low is not None and low.below(number):
        return f"must be {'>' if low.exclusive else '≥'} {low.value:g}, got {number!r}"
    if high is not None and high.above(number):
        problem = f"must be {'<' if high.exclusive else '≤'} {high.value:g}, got {number!r}"
        # A fraction written as a percentage (75 for 0.75) is the likely slip, so say so.
        if low is not None and (low.value, high.value) == (0, 1) and 1 < number <= 100:
            problem += f" (looks like a percentage: write {number / 100:g})"
        return problem
    return None


def check_value(cls: type, name: str, value: Any, where: str, problems: list[str],
                names: Mapping[str, Collection[str]] | None = None) -> Any:
    """`value` converted to the type of `cls`'s field `name`, or None with the problem added to `problems`.

    names: the declared names that a refers_to key may use, by kind ({"experiment": …})."""
    spec = {f.name: f for f in dataclasses.fields(cls)}[name]
    hint = typing.get_type_hints(cls)[name]
    meta = spec.metadata
    ok, value = _coerce(value, hint)
    if not ok:
        problems.append(f"{where} {name}: must be {_type_name(hint, meta['required'], meta['choices'])}, got {value!r}")
        return None
    items = value if isinstance(value, tuple) else (value,)
    if meta["required"] and not items:
        problems.append(f"{where} {name}: must be {_type_name(hint, required=True)}, got []")
        return None
    if meta["choices"]:
        numbers_allowed = int in typing.get_args(hint)  # e.g. tasks_per_job: a number or "auto"
        for item in items:
            if numbers_allowed and isinstance(item, int) and not isinstance(item, bool):
                continue
            if item not in meta["choices"]:
                valid = [plain(c) for c in meta["choices"]]
                shown = repr(item) if isinstance(item, str) else plain(item)
                problems.append(f"{where} {name}: unknown value {shown}{suggest(plain(item), valid)}; "
                                f"valid: {', '.join(valid)}")
                return None
    if isinstance(value, tuple) and len(value) < meta.get("min_items", 0):
        problems.append(f"{where} {name}: must list at least {meta['min_items']} item"
                        f"{'s' if meta['min_items'] > 1 else ''}, got []")
        return None
    if isinstance(value, tuple) and meta.get("distinct", True):
        repeated = sorted({item for item in value if value.count(item) > 1}, key=value.index)
        if repeated:
            problems.append(f"{where} {name}: lists {', '.join(repr(r) for r in repeated)} more than once")
            return None
    if meta["refers_to"] and names is not None:
        known = names[meta["refers_to"]]
        unknown = [item for item in items if isinstance(item, str) and item not in known]
        for item in unknown:
            problems.append(f"{where} {name}: no {meta['refers_to']} named {item!r}{suggest(item, known)}")
        if unknown:
            return None
    for number in filter(_is_number, items):
        problem = _range_problem(number, meta)
        if problem:
            problems.append(f"{where} {name}: {problem}")
            return None
    return value


def check_table(table: Mapping[str, Any], where: str, problems: list[str], *classes: type,
                names: Mapping[str, Collection[str]] | None = None) -> list[dict[str, Any]]:
    """The checked values of one table whose keys `classes` declare together: one dict per class. Unknown
    keys (with the nearest valid one), missing required keys and bad values are added to `problems`."""
    declared = [{f.name: f for f in dataclasses.fields(cls)} for cls in classes]
    valid = [name for fields in declared for name in fields]
    settings: list[dict[str, Any]] = [{} for _ in classes]
    for name, value in table.items():
        owner = next((i for i, fields in enumerate(declared) if name in fields), None)
        if owner is None:
            problems.append(f"{where} unknown key '{name}'{suggest(name, valid)}")
            continue
        checked = check_value(classes[owner], name, value, where, problems, names)
        if checked is not None:
            settings[owner][name] = checked
    for cls, fields in zip(classes, declared):
        for name, spec in fields.items():
            if spec.metadata.get("required") and name not in table:
                hint = typing.get_type_hints(cls)[name]
                problems.append(f"{where} {name}: missing; must be {_type_name(hint, required=True)}")
    return settings


def checked_replace(obj: Any, where: str, **changes: Any) -> Any:
    """A copy of a config dataclass with `changes` checked as its file's values are (a ConfigError if not)."""
    problems: list[str] = []
    for name, value in changes.items():
        check_value(type(obj), name, value, where, problems)
    if problems:
        raise ConfigError(problems[0], problems[1:])
    return dataclasses.replace(obj, **changes)
