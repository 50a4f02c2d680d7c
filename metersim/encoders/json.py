"""Payload v1: one JSON object per reading (documented in ``schemas/reading-v1.json``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from metersim._array import Array

SCHEMA_ID = "metersim/reading/v1"

#: per-reading extra field: given the positions being encoded, one JSON value per position
Extra = Callable[[Array], list[Any]]


@dataclass(frozen=True)
class ReadingBlock:
    """What a set of meters reports for one interval; arrays are indexed by position in the block.

    Energies and registers are integers in thousandths of ``unit`` (Wh, litres); registers are
    already rolled over.
    """

    ids: list[str]
    commodity: str
    unit: str
    interval_s: int
    seq: int
    ts: str  # interval end, ISO 8601 in the meters' local offset
    interval_milli: Array
    registers: tuple[tuple[str, Array], ...]
    export_milli: Array | None = None
    power: bool = False  # add the average import power [kW]
    #: registers only some meters have: (OBIS, values, which meters have it)
    partial_registers: tuple[tuple[str, Array, Array], ...] = ()
    extras: tuple[tuple[str, Extra], ...] = field(default=())


def encode(block: ReadingBlock, positions: Array, sent_at: str) -> list[bytes]:
    """JSON payloads for the meters at ``positions`` of ``block``."""
    ids, unit = block.ids, block.unit
    values = (block.interval_milli[positions] / 1000).tolist()
    registers = [(obis, (arr[positions] / 1000).tolist()) for obis, arr in block.registers]
    partial = [
        (obis, (arr[positions] / 1000).tolist(), mask[positions].tolist())
        for obis, arr, mask in block.partial_registers
    ]
    exports = (block.export_milli[positions] / 1000).tolist() if block.export_milli is not None else None
    powers = np.round(block.interval_milli[positions] * (3.6 / block.interval_s), 3).tolist() if block.power else None
    extras = [(name, extra(positions)) for name, extra in block.extras]
    head = {"schema": SCHEMA_ID, "commodity": block.commodity, "ts": block.ts, "interval_s": block.interval_s}
    seq, dumps = block.seq, orjson.dumps
    out = []
    for j, p in enumerate(positions.tolist()):
        regs = {obis: column[j] for obis, column in registers}
        for obis, column, has in partial:
            if has[j]:
                regs[obis] = column[j]
        reading: dict[str, Any] = {
            "meter_id": ids[p],
            **head,
            "seq": seq,
            "registers": regs,
            "interval": {"value": values[j], "unit": unit},
        }
        if exports is not None:
            reading["export"] = {"value": exports[j], "unit": unit}
        if powers is not None:
            reading["power"] = {"value": powers[j], "unit": "kW"}
        for name, column in extras:
            reading[name] = column[j]
        reading["quality"] = "valid"
        reading["sent_at"] = sent_at
        out.append(dumps(reading))
    return out
