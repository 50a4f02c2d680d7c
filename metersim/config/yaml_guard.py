"""Scenario text, guarded: at most so many bytes, UTF-8, YAML of bounded depth and size (aliases
expanded), no key given twice, and no value that no scenario can hold.

Every limit is checked before anything is built from the text, so that a hostile or broken file
(``/dev/zero``, the "billion laughs", 20,000 nested brackets) is refused in a fraction of a second
with one line, instead of exhausting the memory or Python's stack.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from typing import Any

import yaml

from metersim.config.base import Loc, dotted
from metersim.errors import ConfigError

#: the most bytes read of one scenario file (or standard input): a scenario is a few kilobytes, so
#: more is refused unread (``/dev/zero`` included)
MAX_SCENARIO_BYTES = 4 * 1024 * 1024
#: the deepest nesting of mappings and lists in a scenario or a ``--set`` value (the schema needs 6)
MAX_DEPTH = 64
#: the most values (scalars, mappings, lists) a scenario may hold with its aliases expanded: a few
#: kilobytes of YAML with aliases can stand for billions of values (the "billion laughs")
MAX_VALUES = 200_000
#: the most problems of one kind that :func:`value_problems` reports
_MAX_REPORTED = 20


def too_big() -> str:
    return (
        f"cannot read: larger than {MAX_SCENARIO_BYTES // (1024 * 1024)} MiB, which no scenario is "
        "(a scenario is a few kilobytes of YAML)"
    )


_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def decode_scenario(data: bytes, source: str | None = None) -> str:
    """``data`` as UTF-8 text (a UTF-8 byte order mark is allowed); ConfigError with the line of the
    first bad byte, or naming UTF-16/UTF-32 by their byte order marks."""
    for bom, name in _BOMS:  # UTF-32 LE begins like UTF-16 LE: it is tried first
        if data.startswith(bom):
            raise ConfigError(f"cannot read: the file is {name} text; save it as UTF-8", source)
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise ConfigError(
            f"cannot read: not text: a NUL byte on line {line} (a binary file, or UTF-16 without a byte order "
            "mark?); save the scenario as UTF-8",
            source,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"cannot read: not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} ({exc.reason}); "
            "save the file as UTF-8",
            source,
        ) from None


# --- YAML, guarded --------------------------------------------------------------------------------


try:
    from yaml import CSafeLoader as _CSafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _CSafeLoader  # type: ignore[assignment]


class YamlTooComplex(ValueError):
    """YAML nested deeper than :data:`MAX_DEPTH`, or larger than :data:`MAX_VALUES` with its aliases."""


#: a lone surrogate: not Unicode, cannot be written as UTF-8 (arrives from arguments that were not UTF-8)
_SURROGATE = re.compile("[\ud800-\udfff]")
#: YAML 1.2 floats that YAML 1.1 (PyYAML) reads as text: ``1e3``, ``2.5e6``, ``-1E-3``
_FLOAT_12 = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


def _refuse_twice_given_keys(loader: Any, node: yaml.MappingNode) -> None:
    """A key given twice in one mapping is an error, not silently the last; checked once per mapping,
    before its merge keys (``<<: *base``, whose values a mapping may override) are merged in."""
    checked: set[int] = loader.__dict__.setdefault("_checked_mappings", set())
    if id(node) in checked:
        return
    checked.add(id(node))
    seen: dict[tuple[str, str], Any] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        first = seen.setdefault((key.tag, key.value), key.start_mark)
        if first is not key.start_mark:
            line = f" (first on line {first.line + 1})" if first is not None else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key.value!r} is given twice{line}", key.start_mark
            )


class ScenarioLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key given twice in one mapping is an error (not silently the last),
    and ``1e3`` is a number as in YAML 1.2 (YAML 1.1 needs ``1.0e+3``)."""

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        _refuse_twice_given_keys(self, node)
        super().flatten_mapping(node)


class FastScenarioLoader(_CSafeLoader):
    """:class:`ScenarioLoader` on libyaml's parser (several times faster), where it is installed."""

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        _refuse_twice_given_keys(self, node)
        super().flatten_mapping(node)


for _loader in (ScenarioLoader, FastScenarioLoader):
    _loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))

_PARSER: Any = _CSafeLoader  # a fast first pass over the events


def check_yaml_shape(text: str) -> None:
    """Raise YamlTooComplex if ``text`` nests deeper than :data:`MAX_DEPTH` or holds more than
    :data:`MAX_VALUES` values with its aliases expanded (or an alias inside the collection it names).

    One pass over the parser's events, before anything is built: PyYAML's composer recurses once per
    level (a few hundred levels exhaust Python's stack), and an alias costs nothing to parse but every
    consumer that walks the result pays for each expansion. A YAML error stops the pass: loading reports it.
    """
    # libyaml (fast) first; it cannot take lone surrogates (a --set argument that was not UTF-8), and it
    # scans ahead, so its own nesting limit (1000 flow levels) can stop it before this one: then PyYAML's
    # parser, which refuses surrogates as a YAML error and has no such limit.
    parsers = [yaml.SafeLoader] if _PARSER is yaml.SafeLoader or _SURROGATE.search(text) else [_PARSER, yaml.SafeLoader]
    for parser in parsers:
        try:
            _check_events(yaml.parse(text, Loader=parser))
            return
        except yaml.YAMLError:
            continue


def _check_events(events: Iterable[yaml.Event]) -> None:
    sizes: dict[str, int] = {}  # the expanded size of each anchored node
    stack: list[list[Any]] = []  # [anchor, size so far] of each open collection
    total = 0
    for event in events:
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(stack) >= MAX_DEPTH:
                raise YamlTooComplex(
                    f"nested more than {MAX_DEPTH} mappings or lists deep (line {_line(event)}); "
                    "a scenario needs fewer than 10"
                )
            stack.append([event.anchor, 1])
            continue
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, size = stack.pop()
            if anchor is not None:
                sizes[anchor] = size
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for anchor, _ in stack):
                raise YamlTooComplex(
                    f"line {_line(event)}: alias *{event.anchor} is inside the mapping or list "
                    "it names, which would make it endless"
                )
            size = sizes.get(event.anchor or "", 1)  # an undefined alias: loading reports it
        else:
            continue
        if stack:
            stack[-1][1] += size
            size = stack[-1][1]
        else:
            total += size
        if max(size, total) > MAX_VALUES:
            raise YamlTooComplex(
                f"holds more than {MAX_VALUES:,} values once its aliases are expanded "
                f"(line {_line(event)}); a YAML alias bomb?"
            )


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 0


def load_yaml(text: str) -> Any:
    """``text`` parsed by :class:`FastScenarioLoader` (or :class:`ScenarioLoader`) after
    :func:`check_yaml_shape`. Raises YamlTooComplex or yaml.YAMLError."""
    check_yaml_shape(text)
    loader = ScenarioLoader if _SURROGATE.search(text) else FastScenarioLoader  # libyaml refuses surrogates
    try:
        return yaml.load(text, Loader=loader)  # a SafeLoader
    except RecursionError:  # the shape check stopped at a YAML error that the loader did not reach first
        raise YamlTooComplex(f"nested more than {MAX_DEPTH} mappings or lists deep") from None


def yaml_reason(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: ``line 3, column 5: mapping values are not allowed here``."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{where}{reason}"


def value_problems(data: Any) -> list[str]:
    """What no scenario can hold, wherever it is: a key that is not text (``5:``, ``2026-01-01:``,
    ``true:``), or text with a lone surrogate (``"\\ud800"``), which is not Unicode and cannot be
    written as UTF-8. Walked without recursion, each object once (aliases share objects); at most
    :data:`_MAX_REPORTED` problems."""
    problems: list[str] = []
    seen: set[int] = set()
    todo: list[tuple[Loc, Any]] = [((), data)]
    while todo and len(problems) < _MAX_REPORTED:
        loc, value = todo.pop()
        if isinstance(value, str):
            found = _SURROGATE.search(value)
            if found:
                problems.append(_at(loc, f"contains the lone surrogate \\u{ord(found.group()):04x}, which is not text"))
            continue
        if not isinstance(value, (dict, list)) or id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, list):
            todo.extend(((*loc, i), item) for i, item in reversed(list(enumerate(value))))
            continue
        children: list[tuple[Loc, Any]] = []
        for key, item in value.items():
            if not isinstance(key, str):
                text = _key_text(key)
                problems.append(_at(loc, f"the key {text} must be text; write it in quotes: '{text}'"))
            elif _SURROGATE.search(key):
                shown = key.encode("utf-8", "backslashreplace").decode()
                problems.append(_at(loc, f"the key '{shown}' contains a lone surrogate, which is not text"))
            else:
                children.append(((*loc, key), item))
        todo.extend(reversed(children))
    return problems[:_MAX_REPORTED]


def _key_text(key: Any) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _at(loc: Loc, message: str) -> str:
    return f"{dotted(loc)}: {message}" if loc else message
