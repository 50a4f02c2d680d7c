"""Payload v1: one JSON object per reading (documented in ``schemas/reading-v1.json``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

from metersim.fleet import REGISTER_OBIS, UNIT, Cohort

SCHEMA_ID = "metersim/reading/v1"


@dataclass(frozen=True)
class IntervalReadings:
    """One group's readings for one interval, before they are split into report slots."""

    cohort: Cohort
    seq: int  # reading number, the same for every meter of the group [-]
    ts: str  # interval end, ISO 8601 in the group's local offset
    interval_milli: np.ndarray  # interval consumption [Wh or litres], int64
    register_milli: np.ndarray  # register after this interval [Wh or litres], int64


def encode(readings: IntervalReadings, positions: np.ndarray, sent_at: str) -> list[bytes]:
    """JSON payloads for the meters at ``positions`` (indices into the group)."""
    cohort = readings.cohort
    group = cohort.group
    ids = cohort.ids
    obis, unit = REGISTER_OBIS[group.commodity], UNIT[group.commodity]
    interval_milli = readings.interval_milli[positions]
    registers = (readings.register_milli[positions] / 1000).tolist()
    values = (interval_milli / 1000).tolist()
    head = {"schema": SCHEMA_ID, "commodity": group.commodity, "ts": readings.ts, "interval_s": group.interval_s}
    seq, dumps = readings.seq, orjson.dumps
    if group.commodity == "electricity":
        powers = np.round(interval_milli * (3.6 / group.interval_s), 3).tolist()
        return [
            dumps(
                {
                    "meter_id": ids[p],
                    **head,
                    "seq": seq,
                    "registers": {obis: r},
                    "interval": {"value": v, "unit": unit},
                    "power": {"value": w, "unit": "kW"},
                    "quality": "valid",
                    "sent_at": sent_at,
                }
            )
            for p, r, v, w in zip(positions.tolist(), registers, values, powers)
        ]
    return [
        dumps(
            {
                "meter_id": ids[p],
                **head,
                "seq": seq,
                "registers": {obis: r},
                "interval": {"value": v, "unit": unit},
                "quality": "valid",
                "sent_at": sent_at,
            }
        )
        for p, r, v in zip(positions.tolist(), registers, values)
    ]
