"""Loading a scenario: YAML, ``--set`` overrides, validation, error paths, and the JSON Schema."""

from __future__ import annotations

import os
import types
import typing
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, Discriminator, Tag, ValidationError
from pydantic.fields import FieldInfo

from metersim.config.base import PROBLEM_ERROR_TYPE, Loc, dotted
from metersim.config.scenario import Scenario
from metersim.errors import ConfigError


def load_scenario(path: str | os.PathLike[str], overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario file. Raises ConfigError with every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"invalid YAML: {where}{reason}", source) from None
    if not isinstance(data, dict):
        raise ConfigError("the scenario must be a YAML mapping with simulation, fleet and outputs", source)
    for item in overrides or []:
        apply_override(data, item, source)
    return parse_scenario(data, source)


def parse_scenario(data: dict[str, Any], source: str | None = None) -> Scenario:
    """Validate an already-parsed mapping."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc), source) from None


def apply_override(data: dict[str, Any], item: str, source: str | None = None) -> None:
    """Apply one ``dotted.path=value`` override in place; list items are addressed by index."""
    path, sep, raw = item.partition("=")
    if not sep or not path:
        raise ConfigError(f"--set {item!r}: expected dotted.path=value", source)
    try:
        value = yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        value = raw
    keys = path.split(".")
    node: Any = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        where = ".".join(keys[: depth + 1])
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ConfigError(f"--set {path}: {where} is not an item of a list of {len(node)}", source)
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
            raise ConfigError(f"--set {path}: {'.'.join(keys[:depth])} is a value, not a mapping or list", source)


def format_validation_error(exc: ValidationError, model: type[BaseModel] = Scenario) -> list[str]:
    """One ``dotted.path: reason`` line per problem, for the scenario (or another root ``model``)."""
    lines: list[str] = []
    for err in exc.errors():
        if err["type"] == PROBLEM_ERROR_TYPE:
            loc: Loc = err["loc"]  # a cross-check's own location
        else:
            loc = without_union_tags(err["loc"], model)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        path = dotted(loc)
        lines.append(f"{path}: {message}" if path else message)
    return lines


# --- error locations: pydantic puts the tag of a discriminated union into them ---------------------


def without_union_tags(loc: Loc, model: type[BaseModel]) -> Loc:
    """``loc`` without the tags that discriminated unions insert, e.g. ``outputs[0].mqtt.url`` -> ``outputs[0].url``.

    The location is walked alongside the type of ``model``: where the type is a discriminated union, a
    part that is one of the union's tags names the member, not a field, and is dropped.
    """
    out: list[str | int] = []
    node: Any = model
    for part in loc:
        tags = _union_tags(node)
        if tags is not None and isinstance(part, str) and part in tags:
            node = tags[part]
            continue
        out.append(part)
        node = _child(node, part)
    return tuple(out)


def _strip(node: Any) -> tuple[Any, list[Any]]:
    """The type inside ``Annotated[...]`` and ``X | None``, with the metadata collected on the way."""
    metadata: list[Any] = []
    while True:
        if isinstance(node, FieldInfo):
            metadata.extend([node, *node.metadata])
            node = node.annotation
        elif typing.get_origin(node) is typing.Annotated:
            node, *extra = typing.get_args(node)
            metadata.extend(extra)
        elif typing.get_origin(node) in (Union, types.UnionType) and type(None) in typing.get_args(node):
            rest = [a for a in typing.get_args(node) if a is not type(None)]
            if len(rest) != 1:
                return node, metadata
            node = rest[0]
        else:
            return node, metadata


def _union_tags(node: Any) -> dict[str, Any] | None:
    """For a discriminated union: each tag and its member (by ``Tag`` or the member's ``Literal``); else None."""
    inner, metadata = _strip(node)
    discriminator: Any = None
    for m in metadata:
        if isinstance(m, (FieldInfo, Discriminator)) and m.discriminator is not None:
            discriminator = m.discriminator
    if discriminator is None or typing.get_origin(inner) not in (Union, types.UnionType):
        return None
    if isinstance(discriminator, Discriminator):
        discriminator = discriminator.discriminator
    tags: dict[str, Any] = {}
    for member in typing.get_args(inner):
        model, member_metadata = _strip(member)
        tag = next((m.tag for m in member_metadata if isinstance(m, Tag)), None)
        if tag is not None:
            tags[tag] = model
        elif isinstance(discriminator, str) and isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(discriminator)
            if field is not None:
                tag_type, _ = _strip(field)
                tags.update(dict.fromkeys(map(str, typing.get_args(tag_type)), model))
    return tags


def _child(node: Any, part: str | int) -> Any:
    """The type at ``part`` inside ``node``; None where it is not known."""
    inner, _ = _strip(node)
    if isinstance(inner, type) and issubclass(inner, BaseModel) and isinstance(part, str):
        fields = inner.model_fields
        field = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
        return field
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    if origin in (list, tuple, set, frozenset) and args and isinstance(part, int):
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the scenario file, for editors and `metersim schema`."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "metersim scenario"
    return schema
