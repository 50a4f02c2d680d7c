"""Payload v1: one JSON object per reading (documented in ``schemas/reading-v1.json``).

Field order is part of the format (byte-identical output for a seed): ``meter_id, schema, commodity,
ts, interval_s, seq, registers, interval, [export], [power], [instantaneous], [battery_pct], [band],
[device], [topology], [concentrator], [hardware], [serial], quality, sent_at``. Quantities are the
batch's integer thousandths divided by 1000; times are ISO 8601 in the meters' local offset.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import orjson

from metersim._array import Array
from metersim.encoders.topics import TopicCache
from metersim.records import QUALITY_NAMES, Instantaneous, ReadingBatch, RegisterValues
from metersim.timebase import iso_local

SCHEMA_ID = "metersim/reading/v1"

IMPORT_OBIS, EXPORT_OBIS = "1-0:1.8.0", "1-0:2.8.0"
GAS_OBIS, GAS_CONVERTED_OBIS = "7-0:3.0.0", "7-0:3.2.0"
PHASE_OBIS = (("1-0:32.7.0", "1-0:31.7.0"), ("1-0:52.7.0", "1-0:51.7.0"), ("1-0:72.7.0", "1-0:71.7.0"))
POWER_FACTOR_OBIS, FREQUENCY_OBIS, NEUTRAL_OBIS = "1-0:13.7.0", "1-0:14.7.0", "1-0:91.7.0"


def _units(milli: Array) -> list[float]:
    """Thousandths to units (kWh, m3), as Python floats."""
    out: list[float] = (milli / 1000).tolist()
    return out


@lru_cache(maxsize=4096)
def _iso(epoch_s: int, tz: str) -> str:
    return iso_local(epoch_s, tz)  # every slot of an interval shares its end time


def iso_column(epoch_s: Array, tz: str) -> list[str]:
    """ISO 8601 local time of each instant [epoch s], formatting each distinct instant once."""
    n = len(epoch_s)
    if n == 0:
        return []
    first = int(epoch_s[0])
    if (epoch_s == first).all():
        return [_iso(first, tz)] * n
    distinct, inverse = np.unique(epoch_s, return_inverse=True)
    texts = [_iso(int(t), tz) for t in distinct.tolist()]
    return [texts[i] for i in inverse.tolist()]


def _names(codes: Array, names: tuple[str, ...]) -> list[str]:
    """``names[code]`` for each code."""
    if len(codes) and (codes == codes[0]).all():
        return [names[int(codes[0])]] * len(codes)
    return [names[c] for c in codes.tolist()]


def register_columns(registers: RegisterValues, commodity: str) -> list[tuple[str, list[float] | list[int]]]:
    """``(OBIS code, values)`` of every register all rows have, in payload order."""
    columns: list[tuple[str, list[float] | list[int]]] = [
        (GAS_OBIS if commodity == "gas" else IMPORT_OBIS, _units(registers.total))
    ]
    if registers.bands is not None:
        columns += [(f"1-0:1.8.{k + 1}", _units(row)) for k, row in enumerate(registers.bands)]
    if registers.export_total is not None:
        columns.append((EXPORT_OBIS, _units(registers.export_total)))
        if registers.export_bands is not None:
            columns += [(f"1-0:2.8.{k + 1}", _units(row)) for k, row in enumerate(registers.export_bands)]
    if registers.failures is not None and registers.long_failures is not None:
        columns += [("0-0:96.7.21", registers.failures.tolist()), ("0-0:96.7.9", registers.long_failures.tolist())]
    return columns


def instantaneous_values(values: Instantaneous) -> list[dict[str, float]]:
    """Per-phase voltage and current (and a single-phase meter's neutral current), power factor and
    frequency, keyed by OBIS code, per row."""
    phases = values.volts.shape[1]
    volts, amps = values.volts.tolist(), values.amps.tolist()
    neutral = values.neutral_amps.tolist() if values.neutral_amps is not None else None
    out = []
    for row, (pf, hz) in enumerate(zip(values.power_factor.tolist(), values.frequency_hz.tolist())):
        reading = {}
        for k in range(phases):
            volt_obis, amp_obis = PHASE_OBIS[k]
            reading[volt_obis] = volts[row][k]
            reading[amp_obis] = amps[row][k]
        if neutral is not None:
            reading[NEUTRAL_OBIS] = neutral[row]
        reading[POWER_FACTOR_OBIS] = pf
        reading[FREQUENCY_OBIS] = hz
        out.append(reading)
    return out


def _extras(batch: ReadingBatch) -> list[tuple[str, list[Any]]]:
    """The optional per-reading fields, in payload order."""
    meters, at = batch.meters, batch.meters_at.tolist()
    extras: list[tuple[str, list[Any]]] = []
    if batch.instantaneous is not None:
        extras.append(("instantaneous", instantaneous_values(batch.instantaneous)))
    if batch.battery_pct is not None:
        extras.append(("battery_pct", batch.battery_pct.tolist()))
    # Grid-side meters carry the band too (they have no band registers): the payload agrees with the ledger.
    if meters.band_names is not None:
        names = meters.band_names
        extras.append(("band", _names(batch.band, names)))
    if meters.devices is not None:
        devices = meters.devices
        extras.append(("device", [devices[p] for p in at]))
    if meters.places is not None:
        places = meters.places
        extras.append(("topology", [places[p] for p in at]))
    if meters.concentrators is not None:
        concentrators = meters.concentrators
        extras.append(("concentrator", [concentrators[p] for p in at]))
    if meters.hardware:
        hardware = dict(meters.hardware)
        extras.append(("hardware", [hardware] * len(at)))
    if batch.serial is not None:
        extras.append(("serial", [f"SN{s:08d}" for s in batch.serial.tolist()]))
    return extras


class JsonEncoder:
    """``format: json``: payload v1, one message per reading."""

    format = "json"
    one_per_reading = True
    content_type: str | None = "application/json"

    def __init__(self) -> None:
        self._topics = TopicCache()

    def topics(self, batch: ReadingBatch, template: str) -> list[str]:
        return self._topics.render(batch, template)

    def encode(self, batch: ReadingBatch) -> list[bytes]:
        meters = batch.meters
        ids, unit, commodity, tz = meters.ids, meters.unit, meters.commodity, meters.timezone
        values = _units(batch.import_milli)
        registers = register_columns(batch.registers, commodity)
        converted = batch.registers.converted
        partial = []
        if converted is not None and batch.registers.converted_mask is not None:
            partial.append((GAS_CONVERTED_OBIS, _units(converted), batch.registers.converted_mask.tolist()))
        exports = _units(batch.export_milli) if batch.export_milli is not None else None
        powers = (
            np.round(batch.import_milli * (3.6 / batch.interval_s), 3).tolist() if commodity == "electricity" else None
        )
        extras = _extras(batch)
        names = [obis for obis, _ in registers]
        if len(registers) == 1:
            register_rows = [{names[0]: v} for v in registers[0][1]]
        else:
            register_rows = [dict(zip(names, row)) for row in zip(*(column for _, column in registers))]
        columns = zip(
            [ids[p] for p in batch.meters_at.tolist()],
            register_rows,
            iso_column(batch.end_s, tz),
            batch.seq.tolist(),
            _names(batch.quality, QUALITY_NAMES),
            iso_column(batch.sent_s, tz),
        )
        interval_s, dumps = batch.interval_s, orjson.dumps
        out = []
        for j, (meter_id, regs, ts, seq, quality, sent_at) in enumerate(columns):
            for obis, column, has in partial:
                if has[j]:
                    regs[obis] = column[j]
            reading: dict[str, Any] = {
                "meter_id": meter_id,
                "schema": SCHEMA_ID,
                "commodity": commodity,
                "ts": ts,
                "interval_s": interval_s,
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
            reading["quality"] = quality
            reading["sent_at"] = sent_at
            out.append(dumps(reading))
        return out
