"""What each wire format needs of the fleet, checked once at load (``format:`` of an output).

* ``dsmr-p1``: a telegram has two tariffs, six integer digits of kWh and five of m3, and carries a
  home's gas meter through its electricity meter, so every gas group must be paired
  (``gas_group`` of an electricity group) and every register must fit its field.
* ``batch``: a message is about a concentrator's (or a group's) readings, so its topic may use only the
  fields they share: ``{group}``, ``{commodity}``, ``{region}`` and ``{concentrator}``.
* ``{concentrator}`` needs every group to have one (a batch of a group without one names the group);
  ``{manufacturer}``, ``{model}``, ``{firmware}`` every group to have ``hardware``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from metersim.config.base import Problem, format_fields
from metersim.config.fleet import MeterGroup
from metersim.config.wire import BatchOptions, SparkplugOptions

BATCH_TOPIC_FIELDS = frozenset({"group", "commodity", "region", "concentrator"})
HARDWARE_FIELDS = frozenset({"manufacturer", "model", "firmware"})
DSMR_DIGITS = {"electricity": 6, "gas": 5}  # integer digits of a P1 register field


def pairing_problems(fleet: Sequence[MeterGroup]) -> list[Problem]:
    """``gas_group`` names a gas group, from an electricity group, at most once, with no more meters."""
    problems: list[Problem] = []
    by_name = {g.name: g for g in fleet}
    paired: dict[str, int] = {}
    for i, group in enumerate(fleet):
        if group.gas_group is None:
            continue
        where = ("fleet", i, "gas_group")
        gas = by_name.get(group.gas_group)
        if group.commodity != "electricity":
            problems.append(Problem(where, "only an electricity group has a gas meter in its homes"))
        elif gas is None or gas.commodity != "gas":
            problems.append(Problem(where, f"{group.gas_group!r} is not a gas group of this fleet"))
        elif group.gas_group in paired:
            problems.append(
                Problem(where, f"{group.gas_group!r} is already paired with fleet[{paired[group.gas_group]}]")
            )
        elif gas.count > group.count:
            problems.append(
                Problem(where, f"{group.gas_group!r} has {gas.count} meters, more than the {group.count} homes")
            )
        else:
            paired[group.gas_group] = i
    return problems


def format_problems(fleet: Sequence[MeterGroup], outputs: Sequence[Any]) -> list[Problem]:
    """What the outputs' formats and topic fields cannot do with this fleet."""
    problems: list[Problem] = []
    paired = {g.gas_group for g in fleet if g.gas_group is not None}
    for j, output in enumerate(outputs):
        fmt = getattr(output, "format", "json")
        if fmt == "dsmr-p1":
            for i, group in enumerate(fleet):
                digits = DSMR_DIGITS[group.commodity]
                if group.register_digits > digits:
                    why = f"outputs[{j}] is dsmr-p1, whose {group.commodity} registers have {digits} integer digits"
                    problems.append(Problem(("fleet", i, "register_digits"), why))
                if group.commodity == "gas" and group.name not in paired:
                    why = (
                        f"dsmr-p1 carries gas only through a home's electricity meter: pair fleet[{i}] with `gas_group`"
                    )
                    problems.append(Problem(("outputs", j, "format"), why))
        topic = getattr(output, "topic", None)
        if topic is not None:
            problems += _topic_field_problems(fleet, j, fmt, set(format_fields(topic)))
    return problems


def _topic_field_problems(fleet: Sequence[MeterGroup], j: int, fmt: str, fields: set[str]) -> list[Problem]:
    where = ("outputs", j, "topic")
    problems = []
    if fmt == "batch" and fields - BATCH_TOPIC_FIELDS:
        shared = " ".join(f"{{{f}}}" for f in sorted(BATCH_TOPIC_FIELDS))
        problems.append(
            Problem(
                where, f"a batch is about many meters: use only {shared}, not {sorted(fields - BATCH_TOPIC_FIELDS)}"
            )
        )
    for i, group in enumerate(fleet):
        if "concentrator" in fields and group.concentrator is None and fmt != "batch":
            problems.append(Problem(where, f"uses {{concentrator}} but fleet[{i}] has no `concentrator`"))
        if fields & HARDWARE_FIELDS and group.hardware is None:
            problems.append(Problem(where, f"uses hardware fields but fleet[{i}] has no `hardware`"))
    return problems


#: who sends a message, by an MQTT output's ``connections``
SENDERS: dict[str, Literal["meter", "concentrator"] | None] = {
    "single": None,
    "per-concentrator": "concentrator",
    "per-meter": "meter",
}


def encoder_options(fleet: Sequence[MeterGroup], output: object) -> tuple[tuple[str, Any], ...]:
    """The options of ``output``'s encoder, from the output and the fleet (DSMR P1's gas pairs)."""
    fmt = getattr(output, "format", "json")
    if fmt == "batch":
        batch = getattr(output, "batch", None) or BatchOptions.model_validate({})
        return (("compression", batch.compression), ("size", batch.size))
    if fmt == "dsmr-p1":
        pairs = tuple(sorted((g.name, g.gas_group) for g in fleet if g.gas_group is not None))
        return (("gas_pairs", pairs),)
    if fmt == "sparkplug-b":
        sparkplug = getattr(output, "sparkplug", None) or SparkplugOptions.model_validate({})
        return (("edge_node", sparkplug.edge_node), ("group_id", sparkplug.group_id))
    return ()
