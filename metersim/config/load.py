"""Loading a scenario: YAML (one file, several merged, or standard input), ``--set`` overrides, validation,
error paths, and the JSON Schema."""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Sequence
from typing import Any, TypeAlias

import yaml
from pydantic import BaseModel, ValidationError

from metersim.config.messages import format_problems
from metersim.config.scenario import Scenario
from metersim.config.yaml_guard import (
    MAX_DEPTH,
    MAX_SCENARIO_BYTES,
    YamlTooComplex,
    decode_scenario,
    load_yaml,
    too_big,
    value_problems,
    yaml_reason,
)
from metersim.errors import ConfigError

#: the scenario "file" that is standard input
STDIN = "-"

ScenarioPath: TypeAlias = "str | os.PathLike[str]"


def load_scenario(path: ScenarioPath | Sequence[ScenarioPath], overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario file. Raises ConfigError with every problem.

    ``path`` may also be several files, merged in order (see :func:`merge_scenarios`); ``"-"`` reads
    standard input.
    """
    paths = scenario_paths(path)
    source = scenario_source(paths)
    data = read_scenarios(paths)
    for item in overrides or []:
        apply_override(data, item, source)
    return parse_scenario(data, source)


def scenario_paths(path: ScenarioPath | Sequence[ScenarioPath]) -> list[ScenarioPath]:
    """One path or several, as a list."""
    return [path] if isinstance(path, (str, os.PathLike)) else list(path)


def scenario_source(paths: Sequence[ScenarioPath]) -> str:
    """How errors name the scenario: its file, ``<stdin>``, or the merged files joined by `` + ``."""
    return " + ".join("<stdin>" if str(p) == STDIN else str(p) for p in paths)


def read_scenarios(paths: Sequence[ScenarioPath]) -> dict[str, Any]:
    """The mappings of the files (none given: an empty one), merged in order; not yet validated."""
    merged: dict[str, Any] = {}
    for path in paths:
        merged = merge_scenarios(merged, read_scenario(path))
    return merged


def read_scenario(path: ScenarioPath) -> dict[str, Any]:
    """The YAML mapping of one file (``"-"``: standard input). Raises ConfigError.

    At most :data:`MAX_SCENARIO_BYTES` are read; the text must be UTF-8; the YAML must nest at most
    :data:`MAX_DEPTH` deep, hold at most :data:`MAX_VALUES` values with its aliases expanded, and give
    no key twice in one mapping.
    """
    source = scenario_source([path])
    text = read_text(path, source)
    try:
        data = load_yaml(text)
    except YamlTooComplex as exc:
        raise ConfigError(str(exc), source) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {yaml_reason(exc)}", source) from None
    if not isinstance(data, dict):
        raise ConfigError("the scenario must be a YAML mapping with simulation, fleet and outputs", source)
    return data


def read_text(path: ScenarioPath, source: str) -> str:
    """The text of a scenario file (``"-"``: standard input), at most :data:`MAX_SCENARIO_BYTES` of
    UTF-8. Raises ConfigError."""
    limit = MAX_SCENARIO_BYTES
    try:
        if str(path) == STDIN:
            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:  # a text stream put in place of standard input (tests, embedding)
                text: str = sys.stdin.read(limit + 1)
                if len(text) > limit:
                    raise ConfigError(too_big(), source)
                return text
            data: bytes = stream.read(limit + 1)
        else:
            with open(path, "rb") as file:
                data = file.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", source) from None
    except ValueError as exc:  # a NUL in the path
        raise ConfigError(f"cannot read: {exc}", source) from None
    if len(data) > limit:
        raise ConfigError(too_big(), source)
    return decode_scenario(data, source)


def merge_scenarios(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` on top of ``base``, as a new mapping: mappings merge key by key, at any depth; anything
    else in ``overlay`` (a list, a value, null) replaces what ``base`` has. Lists are not concatenated:
    an overlay that gives ``fleet:`` or ``outputs:`` gives the whole list."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_scenarios(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_scenario(data: dict[str, Any], source: str | None = None) -> Scenario:
    """Validate an already-parsed mapping."""
    problems = value_problems(data)
    if problems:
        raise ConfigError(problems, source)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc), source) from None


def parse_value(raw: str, option: str = "--set", source: str | None = None) -> Any:
    """A ``--set`` value: parsed as YAML (``50`` is a number, ``{type: discard}`` a mapping), else the text.

    A value nested too deeply or too large with its aliases (see :func:`check_yaml_shape`) is a
    ConfigError whose message starts with ``option``.
    """
    if not raw.strip():
        return raw
    try:
        return load_yaml(raw)
    except YamlTooComplex as exc:
        raise ConfigError(f"{option}: the value {exc}", source) from None
    except yaml.YAMLError:
        return raw


def apply_override(data: dict[str, Any], item: str, source: str | None = None) -> None:
    """Apply one ``dotted.path=value`` override in place; list items are addressed by index."""
    path, sep, raw = item.partition("=")
    if not sep or not path:
        raise ConfigError(f"--set {_shown(item)!r}: expected dotted.path=value", source)
    option = f"--set {_shown(path)}"
    set_field(data, path, parse_value(raw, option, source), source, option=option)


def _shown(text: str, width: int = 80) -> str:
    """``text`` for a message: cut to ``width`` characters."""
    return text if len(text) <= width else text[: width - 3] + "..."


def set_field(data: dict[str, Any], path: str, value: Any, source: str | None = None, option: str = "") -> None:
    """Set the field at ``dotted.path`` in place, making the mappings on the way; list items by index.

    Errors start with ``option`` (e.g. ``--set fleet.0.count``), default the path.
    """
    option = option or path
    keys = path.split(".")
    if len(keys) > MAX_DEPTH:
        raise ConfigError(f"{option}: the path has {len(keys)} parts; a scenario nests fewer than 10 deep", source)
    node: Any = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        where = ".".join(keys[: depth + 1])
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ConfigError(f"{option}: {where} is not an item of a list of {len(node)}", source)
            if last:
                node[int(key)] = value
            else:
                node = node[int(key)]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
        else:
            raise ConfigError(f"{option}: {'.'.join(keys[:depth])} is a value, not a mapping or list", source)


def format_validation_error(exc: ValidationError, model: type[BaseModel] = Scenario) -> list[str]:
    """One ``dotted.path: reason`` line per problem, in plain words (see :mod:`metersim.config.messages`)."""
    return format_problems(exc, model)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the scenario file, for editors and `metersim schema`."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "metersim scenario"
    return schema
