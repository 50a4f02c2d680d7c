"""The command log: every command received, its answer and its effect, one JSON object per line.

It is ground truth beside the ledger, and the input of ``--replay-commands``: each line keeps the
message exactly as it arrived (topic, payload, MQTT 5 response topic and correlation data) and the
simulated instant it was received, so a replay feeds the same messages in at the same instants.

Fields, in order: ``n`` (arrival order from 0), ``received`` (ISO 8601 UTC, ms), ``received_ms``
(epoch ms, simulated), ``topic``, ``payload`` (the text, or ``payload_b64`` where it is not UTF-8),
``response_topic``, ``correlation_b64``, ``meter_id`` (null: unknown), ``id``, ``command``, ``args``,
``status``, ``error``, ``answered`` and ``answered_ms``, ``latency_s`` (answered - received [s]),
``effective`` (when the change takes effect, ISO 8601 UTC; null for none), ``result``, ``before`` and
``after`` (the meter's relay, load limit, tariff and firmware: true state before the command and once
it has taken effect).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import orjson

from metersim.commands.messages import Request
from metersim.errors import ConfigError, not_writable


@dataclass
class Inbound:
    """A command message as it arrived."""

    topic: str
    payload: bytes
    response_topic: str | None = None  # MQTT 5 Response Topic
    correlation: bytes | None = None  # MQTT 5 Correlation Data
    received_ms: int = 0  # when the handler took it in [simulated epoch ms]
    n: int = 0  # arrival order


def _iso_ms(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CommandLog:
    """Writes the command log (JSON Lines) at ``path``; a context manager."""

    def __init__(self, path: str | Path, *, append: bool = False) -> None:
        self.path = Path(path)
        self._file: IO[bytes] | None = None
        self._append = append
        self.lines = 0

    def __enter__(self) -> CommandLog:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab" if self._append else "wb")
        except OSError as exc:
            raise not_writable("command log", self.path, exc) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(
        self,
        message: Inbound,
        meter_id: str | None,
        command_id: str | None,
        request: Request | None,
        status: str,
        error: str | None,
        answered_ms: int,
        result: dict[str, Any] | None,
        effective_s: int | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        try:
            text: dict[str, str] = {"payload": message.payload.decode("utf-8")}
        except UnicodeDecodeError:
            text = {"payload_b64": base64.b64encode(message.payload).decode("ascii")}
        correlation = base64.b64encode(message.correlation).decode("ascii") if message.correlation else None
        entry = {
            "n": message.n,
            "received": _iso_ms(message.received_ms),
            "received_ms": message.received_ms,
            "topic": message.topic,
            **text,
            "response_topic": message.response_topic,
            "correlation_b64": correlation,
            "meter_id": meter_id,
            "id": command_id,
            "command": request.command if request is not None else None,
            "args": request.args if request is not None else None,
            "status": status,
            "error": error,
            "answered": _iso_ms(answered_ms),
            "answered_ms": answered_ms,
            "latency_s": (answered_ms - message.received_ms) / 1000,
            "effective": _iso_ms(effective_s * 1000) if effective_s is not None else None,
            "result": result,
            "before": before,
            "after": after,
        }
        if self._file is None:
            raise RuntimeError("CommandLog.write outside its context")
        try:
            self._file.write(orjson.dumps(entry) + b"\n")
        except OSError as exc:
            raise not_writable("command log", self.path, exc) from None
        self.lines += 1


def read_log(path: str | Path) -> list[Inbound]:
    """The commands of a command log, in arrival order, as they arrived (ConfigError if it is not one)."""
    out = []
    try:
        lines = Path(path).read_bytes().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the command log {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = orjson.loads(line)
            payload = entry["payload"].encode("utf-8") if "payload" in entry else base64.b64decode(entry["payload_b64"])
            correlation = base64.b64decode(entry["correlation_b64"]) if entry.get("correlation_b64") else None
            out.append(
                Inbound(
                    str(entry["topic"]),
                    payload,
                    entry.get("response_topic"),
                    correlation,
                    int(entry["received_ms"]),
                    int(entry["n"]),
                )
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{path}:{number}: not a command log line ({type(exc).__name__}: {exc})") from None
    return sorted(out, key=lambda m: m.n)
