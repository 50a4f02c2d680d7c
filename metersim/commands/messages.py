"""Command and response payloads (``schemas/command-v1.json``, ``schemas/response-v1.json``).

A command is a JSON object ``{"id": "...", "command": "...", "args": {...}}``. :func:`parse` turns
the bytes into a :class:`Request`, or a :class:`Refusal` that says, in one line, what is wrong; it
never raises. :func:`response` makes the answer's bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from metersim.config.commands import COMMANDS

MAX_ID_CHARS = 128
MAX_VERSION_CHARS = 64
MAX_LIMIT_KW = 10_000.0
#: the arguments each command takes: name -> (required, kind)
ARGS: dict[str, dict[str, tuple[bool, str]]] = {
    "read": {},
    "disconnect": {},
    "reconnect": {},
    "load_limit": {"kw": (True, "kw")},
    "set_tariff": {"tariff": (True, "name"), "from": (False, "time")},
    "time_sync": {},
    "firmware": {"version": (True, "version")},
    "ping": {},
    "status": {},
}


@dataclass(frozen=True)
class Request:
    """A well-formed command."""

    id: str
    command: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Refusal:
    """A payload that is not a well-formed command: why, and its id if one could be read."""

    reason: str
    id: str | None = None


def parse(payload: bytes, max_bytes: int) -> Request | Refusal:
    """Read one command payload; anything but a well-formed command is a :class:`Refusal`."""
    if len(payload) > max_bytes:
        return Refusal(f"the command is {len(payload)} bytes, over max_payload_bytes={max_bytes}")
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return Refusal("the payload is not JSON (UTF-8)")
    if not isinstance(value, dict):
        return Refusal(f"a command is a JSON object, not {_kind(value)}")
    raw_id = value.get("id")
    if not isinstance(raw_id, str) or not 0 < len(raw_id) <= MAX_ID_CHARS or not raw_id.isprintable():
        return Refusal(f"`id` must be printable text of 1 to {MAX_ID_CHARS} characters")
    unknown = sorted(set(value) - {"id", "command", "args"})
    if unknown:
        return Refusal(f"unknown field(s) {unknown}; a command has id, command and args", raw_id)
    command = value.get("command")
    if not isinstance(command, str) or command not in COMMANDS:
        shown = repr(command) if isinstance(command, str) and len(command) <= 40 else _kind(command)
        return Refusal(f"unknown command {shown}; one of {', '.join(COMMANDS)}", raw_id)
    args = value.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return Refusal(f"`args` must be an object, not {_kind(args)}", raw_id)
    problem = _args_problem(command, args)
    if problem is not None:
        return Refusal(f"{command}: {problem}", raw_id)
    return Request(raw_id, command, args)


def _args_problem(command: str, args: dict[str, Any]) -> str | None:
    spec = ARGS[command]
    unknown = sorted(set(args) - set(spec))
    if unknown:
        allowed = ", ".join(spec) or "none"
        return f"unknown argument(s) {unknown[:5]}; allowed: {allowed}"
    for name, (required, kind) in spec.items():
        if name not in args:
            if required:
                return f"`args.{name}` is required"
            continue
        problem = _value_problem(kind, args[name])
        if problem is not None:
            return f"`args.{name}` {problem}"
    return None


def _value_problem(kind: str, value: Any) -> str | None:
    if kind == "kw":
        if value is None:
            return None  # lifts the limit
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_LIMIT_KW:
            return f"must be a number of kW in (0, {MAX_LIMIT_KW:g}], or null to lift the limit"
        return None
    if kind in ("name", "version"):
        if not isinstance(value, str) or not 0 < len(value) <= MAX_VERSION_CHARS or not value.isprintable():
            return f"must be printable text of 1 to {MAX_VERSION_CHARS} characters"
        return None
    if kind == "time":
        if epoch_of(value) is None:
            return "must be an ISO 8601 time with an offset, e.g. 2026-01-01T00:00:00+05:00"
        return None
    raise ValueError(f"unknown argument kind {kind!r}")


def epoch_of(value: Any) -> int | None:
    """Epoch seconds of an ISO 8601 time with an offset; None if ``value`` is not one."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None or not 1970 <= moment.year <= 9999:
        return None
    return int(moment.timestamp())


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "text", bool: "true/false", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def response(
    command_id: str | None,
    meter_id: str | None,
    status: str,
    time: str,
    result: dict[str, Any] | None,
    error: str | None,
) -> bytes:
    """The answer's bytes: ``{"id", "meter_id", "status", "time", "result", "error"}`` (fields in that order)."""
    return orjson.dumps(
        {"id": command_id, "meter_id": meter_id, "status": status, "time": time, "result": result, "error": error}
    )
