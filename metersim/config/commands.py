"""Two-way meters: the command channel of an MQTT output (``commands:``), its latency and failures.

A head-end publishes a command to a meter's command topic; the meter answers on that topic +
``/response`` (or, over MQTT 5, on the request's Response Topic). Durations are *simulated* seconds
(at ``speed: 1`` they are wall seconds too).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from string import Formatter
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator
from typing_extensions import Self

from metersim.config.base import Float, Model, Problem, format_fields
from metersim.config.topics import TOPIC_FIELDS, topic_template_problem

if TYPE_CHECKING:
    from metersim.config.fleet import MeterGroup

#: every command a meter understands (``allow`` picks from these)
COMMANDS = ("read", "disconnect", "reconnect", "load_limit", "set_tariff", "time_sync", "firmware", "ping", "status")
#: commands that change nothing on the meter: the safe default
Command = Literal[
    "read", "disconnect", "reconnect", "load_limit", "set_tariff", "time_sync", "firmware", "ping", "status"
]
#: the longest command payload metersim ever accepts [bytes]
MAX_PAYLOAD_LIMIT = 1_048_576


def _read_only() -> list[Command]:
    """The default ``allow``: the commands that change nothing on the meter."""
    return ["read", "ping", "status"]


class Latency(Model):
    """A log-normal response time, given by its median and 95th percentile [simulated s]."""

    median_s: Float = Field(gt=0, le=86_400)
    p95_s: Float = Field(gt=0, le=86_400)

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.p95_s < self.median_s:
            raise ValueError(f"p95_s ({self.p95_s:g}) must be at least median_s ({self.median_s:g})")
        return self

    @property
    def sigma(self) -> float:
        """The log-normal's shape: ln(p95 / median) / z(0.95)."""
        return math.log(self.p95_s / self.median_s) / 1.6448536269514722


class Failures(Model):
    """How often a meter that can answer does not do what it was asked [probability per command]."""

    error: Float = Field(0.0, ge=0, le=1, description="answers `error` (the meter tried and failed)")
    rejected: Float = Field(0.0, ge=0, le=1, description="answers `rejected` (refused: busy, locked, not allowed)")
    timeout: Float = Field(0.0, ge=0, le=1, description="never answers: `timeout` after `timeout_s`")

    @model_validator(mode="after")
    def _sum(self) -> Self:
        if self.error + self.rejected + self.timeout > 1:
            raise ValueError("error + rejected + timeout must not exceed 1")
        return self


class CommandsConfig(Model):
    """Listen for head-end commands on each meter's command topic and answer them.

    Only the commands in ``allow`` are carried out; any other gets an ``error`` response. A meter in
    a supply interruption or a comms fault (its current reading withheld or held back), or offline
    for a firmware update, cannot answer: after ``timeout_s`` the response says ``timeout``. Changes to
    the meter (relay, load limit, tariff, clock, firmware) take effect at the first interval
    boundary of its group after the answer; ``read`` answers at once.
    """

    topic: str = Field(
        "metersim/cmd/{meter_id}",
        description="per-meter command topic; each field a whole topic level; it must name {meter_id}, e.g. "
        "metersim/cmd/{concentrator}/{meter_id} behind concentrators",
    )
    allow: list[Command] = Field(
        default_factory=_read_only,
        description="commands carried out; any of " + ", ".join(COMMANDS),
    )
    latency: Latency = Field(Latency(median_s=0.5, p95_s=2.0), description="the meter's response time")
    concentrator_latency: Latency = Field(
        Latency(median_s=3.0, p95_s=10.0), description="added for a meter behind a concentrator (DCU)"
    )
    failures: Failures = Field(Failures(error=0.0, rejected=0.0, timeout=0.0))
    timeout_s: Float = Field(30.0, gt=0, le=86_400, description="when a meter that cannot answer is reported `timeout`")
    qos: Literal[0, 1, 2] | None = Field(None, description="subscription and response QoS; default: the output's")
    max_payload_bytes: int = Field(4096, ge=64, le=MAX_PAYLOAD_LIMIT, description="longer commands are refused")
    reconnect_button_s: Float | None = Field(
        None,
        ge=0,
        le=86_400,
        description="`reconnect` arms the relay, and the customer presses the button this long after; null: "
        "the relay closes at once",
    )
    load_limit_action: Literal["trip", "curtail"] = Field(
        "trip", description="load above the limit trips the relay (until `reconnect`), or is cut to the limit"
    )
    over_limit_s: Float = Field(60.0, ge=0, le=3600, description="how long demand may exceed the limit before a trip")
    firmware_offline_s: Float = Field(300.0, ge=0, le=86_400, description="a firmware update's restart time")

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        problem = topic_template_problem(v, TOPIC_FIELDS) or _levels_problem(v)
        if problem is not None:
            raise ValueError(problem)
        return v

    @field_validator("allow")
    @classmethod
    def _allow(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("lists a command twice")
        return v


def _levels_problem(template: str) -> str | None:
    """Why ``template`` cannot be subscribed to with one ``+`` per field (None if it can)."""
    if "meter_id" not in format_fields(template):
        return "must name {meter_id} (the meter a command is for)"
    for level in template.split("/"):
        parts = [p for p in Formatter().parse(level) if p[1] is not None]
        if parts and (len(parts) > 1 or parts[0][0] or parts[0][2] or level != "{" + str(parts[0][1]) + "}"):
            return f"each field must be a whole topic level (e.g. cmd/{{meter_id}}), not {level!r}"
    if template.endswith("/response"):
        return "must not end in /response (responses go to the command topic + /response)"
    return None


def command_problems(fleet: Sequence[MeterGroup], outputs: Sequence[object]) -> list[Problem]:
    """Cross-checks: one output listens for commands, and its topic names only fields every group has."""
    listening = [j for j, o in enumerate(outputs) if getattr(o, "commands", None) is not None]
    problems = [
        Problem(("outputs", j, "commands"), f"only one output may listen for commands (outputs[{listening[0]}] does)")
        for j in listening[1:]
    ]
    for j in listening[:1]:
        config = getattr(outputs[j], "commands")  # noqa: B009 - outputs of every kind are passed
        fields = format_fields(config.topic)
        for i, group in enumerate(fleet):
            lacking = [
                f
                for f, has in (
                    ("concentrator", group.concentrator is not None),
                    ("region", group.region is not None),
                    ("substation", group.grid is not None),
                    ("feeder", group.grid is not None),
                    ("transformer", group.grid is not None),
                )
                if f in fields and not has
            ]
            if lacking:
                problems.append(
                    Problem(("outputs", j, "commands", "topic"), f"uses {{{lacking[0]}}} but fleet[{i}] has none")
                )
    return problems
