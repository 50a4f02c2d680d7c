"""Plain-English messages for validation errors: no pydantic wording reaches the user.

:func:`plain_message` turns one pydantic error into a sentence such as ``must be a whole number``,
``required`` or ``unknown key; did you mean 'duration'?``. Where a hint needs to know what *could*
have been written (the keys of a section, the values of a ``Literal``, the tags of a union), the
error's location is walked through the root model (:func:`type_at`), the same way the union tags are
taken out of locations (:func:`without_union_tags`).
"""

from __future__ import annotations

import difflib
import enum
import types
import typing
from collections.abc import Iterable
from typing import Any, Union

from pydantic import BaseModel, Discriminator, Tag, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from metersim.config.base import NOT_A_BOOL, PROBLEM_ERROR_TYPE, Loc, dotted

# --- did you mean ---------------------------------------------------------------------------------


def close_match(word: object, candidates: Iterable[object]) -> str | None:
    """The candidate closest to ``word`` (by :func:`difflib.get_close_matches`), or None."""
    if not isinstance(word, str):
        return None
    names = [str(c) for c in candidates]
    lowered = {n.lower(): n for n in names}
    if word.lower() in lowered and word not in names:
        return lowered[word.lower()]  # only the case differs
    matches = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: object, candidates: Iterable[object]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""`` when none is close."""
    match = close_match(word, candidates)
    return f"; did you mean {match!r}?" if match is not None else ""


# --- walking a location through the model ---------------------------------------------------------


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
        return fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    if origin in (list, tuple, set, frozenset) and args and isinstance(part, int):
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _walk(loc: Loc, model: type[BaseModel]) -> tuple[Loc, Any]:
    """``loc`` without union tags, and the type (a FieldInfo, model or annotation) it ends at (None: unknown)."""
    out: list[str | int] = []
    node: Any = model
    for part in loc:
        tags = _union_tags(node)
        if tags is not None and isinstance(part, str) and part in tags:
            node = tags[part]
            continue
        out.append(part)
        node = _child(node, part) if node is not None else None
    return tuple(out), node


def without_union_tags(loc: Loc, model: type[BaseModel]) -> Loc:
    """``loc`` without the tags that discriminated unions insert, e.g. ``outputs[0].mqtt.url`` -> ``outputs[0].url``."""
    return _walk(loc, model)[0]


def type_at(loc: Loc, model: type[BaseModel]) -> Any:
    """The type at ``loc`` (a pydantic error location, union tags and all) inside ``model``; None if unknown."""
    return _walk(loc, model)[1]


def model_at(loc: Loc, model: type[BaseModel]) -> type[BaseModel] | None:
    """The model whose fields are the keys at ``loc``, or None where ``loc`` is not a model."""
    inner, _ = _strip(type_at(loc, model))
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return inner
    return None


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _allowed_values(node: Any) -> list[Any] | None:
    """The values a ``Literal`` (or an Enum) at ``node`` allows, or None."""
    inner, _ = _strip(node)
    if typing.get_origin(inner) is typing.Literal:
        return list(typing.get_args(inner))
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        return [m.value for m in inner]
    return None


# --- messages --------------------------------------------------------------------------------------


#: the longest value a message shows whole [characters]; longer ones are cut
SHOWN_WIDTH = 60


def _show(value: Any) -> str:
    """A value as the user wrote it in YAML: ``true``, ``null``, ``'text'``, ``1.5``; cut to
    :data:`SHOWN_WIDTH` characters."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int) and value.bit_length() > 200:
        return f"a number of {len(str(value))} digits"
    text = repr(value)
    return text if len(text) <= SHOWN_WIDTH else f"{text[: SHOWN_WIDTH - 4]}...{text[-1]}"


def _one_of(values: list[Any]) -> str:
    shown = [_show(v) for v in values]
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " or " + shown[-1]


def _items(n: Any) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


def _plain_number(n: Any) -> str:
    return str(int(n)) if isinstance(n, float) and n.is_integer() else str(n)


def plain_message(error: ErrorDetails, model: type[BaseModel] | None = None) -> str:
    """One pydantic error of validating ``model`` (default :class:`~metersim.config.scenario.Scenario`) as a
    plain sentence, without its location: ``required``, ``must be a whole number``, ``unknown key; did you
    mean 'duration'?``, ``must be 'household', 'commercial' or 'agricultural'; did you mean 'household'?``.
    """
    if model is None:
        from metersim.config.scenario import Scenario  # the scenario imports this module

        model = Scenario
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    value = error.get("input")
    loc: Loc = tuple(error["loc"])
    if kind == PROBLEM_ERROR_TYPE:
        return str(ctx.get("message", error["msg"]))
    if kind in ("value_error", "assertion_error"):
        return error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        parent = model_at(loc[:-1], model)
        hint = did_you_mean(loc[-1], _keys(parent)) if parent is not None and loc else ""
        return "unknown key" + hint
    if kind in ("int_type", "int_parsing", "int_from_float", "int_parsing_size"):
        if isinstance(value, bool):
            return NOT_A_BOOL
        if isinstance(value, (int, float)) or kind == "int_from_float":
            return "must be a whole number" if kind != "int_parsing_size" else "is too large"
        return f"must be a whole number, not {_show(value)}"
    if kind in ("float_type", "float_parsing", "finite_number"):
        if isinstance(value, bool):
            return NOT_A_BOOL
        if kind == "finite_number":
            return "must be a finite number"
        return f"must be a number, not {_show(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, not {_show(value)}"
    if kind in ("string_type", "string_unicode"):
        return f"must be text, not {_show(value)}"
    if kind in ("literal_error", "enum"):
        allowed = _allowed_values(type_at(loc, model))
        expected = _one_of(allowed) if allowed else str(ctx.get("expected", ""))
        hint = did_you_mean(value, allowed or []) if allowed else ""
        return f"must be {expected}{hint}"
    if kind == "greater_than":
        return f"must be greater than {_plain_number(ctx.get('gt'))}"
    if kind == "greater_than_equal":
        return f"must be at least {_plain_number(ctx.get('ge'))}"
    if kind == "less_than":
        return f"must be less than {_plain_number(ctx.get('lt'))}"
    if kind == "less_than_equal":
        return f"must be at most {_plain_number(ctx.get('le'))}"
    if kind == "multiple_of":
        return f"must be a multiple of {_plain_number(ctx.get('multiple_of'))}"
    if kind == "too_short":
        return f"needs at least {_items(ctx.get('min_length'))}, got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"takes at most {_items(ctx.get('max_length'))}, got {ctx.get('actual_length')}"
    if kind == "string_too_short":
        n = ctx.get("min_length")
        return "must not be empty" if n == 1 else f"must be at least {n} characters long"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long"
    if kind == "string_pattern_mismatch":
        return f"must match the pattern {ctx.get('pattern')}"
    if kind in ("dict_type", "model_type", "model_attributes_type", "dataclass_type"):
        return f"must be a mapping of keys to values, not {_show(value)}"
    if kind in ("list_type", "tuple_type", "set_type", "iterable_type"):
        return f"must be a list, not {_show(value)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = str(ctx.get("discriminator", "type")).strip("'")
        tags = _union_tags(type_at(loc, model)) or {}
        names = list(tags) or [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
        listed = ", ".join(names)
        if kind == "union_tag_not_found":
            return f"needs `{key}`: one of {listed}" if listed else f"needs `{key}`"
        tag = ctx.get("tag")
        return f"unknown {key} {tag!r}; must be one of {listed}{did_you_mean(tag, names)}"
    if kind in ("datetime_type", "datetime_parsing", "datetime_from_date_parsing"):
        return "must be an ISO 8601 timestamp with a UTC offset"
    if kind == "none_required":
        return "must be null"
    if kind == "frozen_instance":
        return "cannot be changed"
    return error["msg"].removeprefix("Value error, ")


def format_problems(exc: ValidationError, model: type[BaseModel] | None = None) -> list[str]:
    """One ``dotted.path: plain message`` line per error of ``exc`` (``model``: default the scenario)."""
    if model is None:
        from metersim.config.scenario import Scenario

        model = Scenario
    lines: list[str] = []
    for err in exc.errors():
        loc: Loc = err["loc"] if err["type"] == PROBLEM_ERROR_TYPE else without_union_tags(err["loc"], model)
        message = plain_message(err, model)
        path = dotted(loc)
        line = f"{path}: {message}" if path else message
        if line not in lines:
            lines.append(line)
    return lines
