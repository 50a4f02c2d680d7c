"""Payload v1: one JSON object per reading (documented in ``schemas/reading-v1.json``).

Field order is part of the format (byte-identical output for a seed): ``meter_id, schema, commodity,
ts, interval_s, seq, registers, interval, [export], [power], [instantaneous], [battery_pct], [band],
[device], [topology], [concentrator], [hardware], [serial], quality, sent_at``. Quantities are the
batch's integer thousandths divided by 1000; times are ISO 8601 in the meters' local offset.

The text is exactly what orjson writes for one dict per reading, but it is rendered a batch at a time
(:mod:`metersim.encoders.json_text`): what every row of a batch shares (the schema, units, usually
``ts``, ``seq``, ``quality`` and ``sent_at``) once, what a meter says of itself (its id; its device,
topology, concentrator and hardware) once per meter set, numbers a column at a time. That is 3-4x
faster than a dict per reading, and a file gets the JSON Lines blocks as they were joined.
The helpers above the encoder (:func:`register_columns`, :func:`instantaneous_values`, ...) serve the
other formats (SenML, Sparkplug), which read the same values.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import orjson

from metersim._array import Array
from metersim.encoders.json_text import Payloads, Rows, key, lookup, numbers, thousandths
from metersim.encoders.topics import TopicCache
from metersim.records import QUALITY_NAMES, Instantaneous, MeterSet, ReadingBatch, RegisterValues
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


class _MeterTexts:
    """What a meter set's payloads say of each meter, rendered once: the JSON text of its id, and of its
    ``device, topology, concentrator, hardware`` fields (one constant when all meters share them)."""

    __slots__ = ("ids", "tails")

    def __init__(self, meters: MeterSet) -> None:
        dumps = orjson.dumps
        ids = np.empty(meters.count, dtype=object)
        ids[:] = [_compact(dumps(m)) for m in meters.ids]
        self.ids = ids
        columns: list[tuple[str, list[Any]]] = []
        if meters.devices is not None:
            columns.append(("device", meters.devices))
        if meters.places is not None:
            columns.append(("topology", meters.places))
        if meters.concentrators is not None:
            columns.append(("concentrator", meters.concentrators))
        self.tails: bytes | Array = b""
        if meters.hardware:
            self.tails = b"," + dumps({"hardware": dict(meters.hardware)})[1:-1]
        if columns:
            hardware = self.tails
            shared: dict[bytes, bytes] = {}  # meters under one transformer share one text
            tails = np.empty(meters.count, dtype=object)
            tails[:] = [
                shared.setdefault(t, t)
                for t in (
                    b"," + dumps(dict(zip((name for name, _ in columns), row)))[1:-1] + hardware
                    for row in zip(*(values for _, values in columns))
                )
            ]
            self.tails = tails


class JsonEncoder:
    """``format: json``: payload v1, one message per reading.

    A batch is rendered in one go (see :mod:`metersim.encoders.json_text`): what its rows share once,
    what a meter says of itself once per meter set, numbers an array at a time. The payloads come
    back as :class:`~metersim.encoders.json_text.Payloads`, which also hold them as JSON Lines blocks.
    """

    format = "json"
    one_per_reading = True
    content_type: str | None = "application/json"

    def __init__(self) -> None:
        self._topics = TopicCache()
        # keyed by identity; the value keeps the meter set alive so that its id is never reused
        self._meters: dict[int, tuple[MeterSet, _MeterTexts]] = {}

    def topics(self, batch: ReadingBatch, template: str) -> list[str]:
        return self._topics.render(batch, template)

    def _texts(self, meters: MeterSet) -> _MeterTexts:
        entry = self._meters.get(id(meters))
        if entry is None:
            entry = self._meters[id(meters)] = (meters, _MeterTexts(meters))
        return entry[1]

    def encode(self, batch: ReadingBatch) -> list[bytes]:
        return Payloads(self.lines(batch))

    def lines(self, batch: ReadingBatch) -> list[bytes]:
        """The payloads of ``batch`` as JSON Lines (each followed by a newline), in blocks [UTF-8]."""
        if not len(batch):
            return []
        meters, dumps = batch.meters, orjson.dumps
        texts, at = self._texts(meters), batch.meters_at
        unit = b',"unit":' + dumps(meters.unit) + b"}"
        rows = Rows(len(batch))
        rows.text(b'{"meter_id":')
        rows.column(texts.ids[at].tolist())
        rows.text(b',"schema":' + dumps(SCHEMA_ID) + b',"commodity":' + dumps(meters.commodity) + b',"ts":')
        rows.column(_iso_texts(batch.end_s, meters.timezone))
        rows.text(b',"interval_s":' + dumps(batch.interval_s) + b',"seq":')
        rows.column(_shared(batch.seq))
        _registers(rows, batch.registers, meters.commodity)
        rows.text(b',"interval":{"value":')
        rows.column(thousandths(batch.import_milli))
        rows.text(unit)
        if batch.export_milli is not None:
            rows.text(b',"export":{"value":')
            rows.column(thousandths(batch.export_milli))
            rows.text(unit)
        if meters.commodity == "electricity":
            rows.text(b',"power":{"value":')
            rows.column(numbers(np.round(batch.import_milli * (3.6 / batch.interval_s), 3)))
            rows.text(b',"unit":"kW"}')
        if batch.instantaneous is not None:
            _instantaneous(rows, batch.instantaneous)
        if batch.battery_pct is not None:
            rows.text(b',"battery_pct":')
            rows.column(numbers(batch.battery_pct))
        # Grid-side meters carry the band too (they have no band registers): the payload agrees with the ledger.
        if meters.band_names is not None:
            rows.text(b',"band":')
            rows.column(lookup(batch.band, [dumps(name) for name in meters.band_names]))
        rows.column(texts.tails if isinstance(texts.tails, bytes) else texts.tails[at].tolist())
        if batch.serial is not None:
            rows.text(b',"serial":')
            rows.column([dumps(f"SN{s:08d}") for s in batch.serial.tolist()])
        rows.text(b',"quality":')
        rows.column(lookup(batch.quality, [dumps(name) for name in QUALITY_NAMES]))
        rows.text(b',"sent_at":')
        rows.column(_iso_texts(batch.sent_s, meters.timezone))
        rows.text(b"}")
        return rows.blocks()


def _shared(values: Array) -> bytes | list[bytes]:
    """The JSON numbers of ``values``: one constant when all rows say the same (a group's meters
    count their readings in step)."""
    if (values == values[0]).all():
        return numbers(values[:1])[0]
    return numbers(values)


def _iso_texts(epoch_s: Array, tz: str) -> bytes | list[bytes]:
    """The quoted ISO 8601 local time of each instant [epoch s]; one constant when all rows share it."""
    first = int(epoch_s[0])
    if (epoch_s == first).all():
        return _iso_json(first, tz)
    distinct, inverse = np.unique(epoch_s, return_inverse=True)
    return lookup(inverse, [_iso_json(int(t), tz) for t in distinct.tolist()])


@lru_cache(maxsize=4096)
def _iso_json(epoch_s: int, tz: str) -> bytes:
    return _compact(orjson.dumps(_iso(epoch_s, tz)))


def _compact(text: bytes) -> bytes:
    """A copy of ``text`` in an allocation of its own length, for a text that is kept.

    orjson returns its output in the buffer it wrote it in (~4 KiB since 3.12) and does not shrink it
    (``sys.getsizeof`` shows only the length): kept per meter, a 14-byte id pins 4 KiB, 690 MB for a
    168k-meter shard. A payload is short-lived; a cached text must be copied.
    """
    return bytes(memoryview(text))


def _registers(rows: Rows, registers: RegisterValues, commodity: str) -> None:
    """``,"registers":{...}``: every register all rows have, in payload order, then a gas converter's."""
    rows.text(b',"registers":{')
    totals: list[tuple[str, Array]] = [(GAS_OBIS if commodity == "gas" else IMPORT_OBIS, registers.total)]
    if registers.bands is not None:
        totals += [(f"1-0:1.8.{k + 1}", row) for k, row in enumerate(registers.bands)]
    if registers.export_total is not None:
        totals.append((EXPORT_OBIS, registers.export_total))
        if registers.export_bands is not None:
            totals += [(f"1-0:2.8.{k + 1}", row) for k, row in enumerate(registers.export_bands)]
    for k, (obis, milli) in enumerate(totals):
        rows.text((b"," if k else b"") + key(obis))
        rows.column(thousandths(milli))
    if registers.failures is not None and registers.long_failures is not None:
        rows.text(b"," + key("0-0:96.7.21"))
        rows.column(numbers(registers.failures))
        rows.text(b"," + key("0-0:96.7.9"))
        rows.column(numbers(registers.long_failures))
    converted, mask = registers.converted, registers.converted_mask
    if converted is not None and mask is not None and mask.any():
        prefix = b"," + key(GAS_CONVERTED_OBIS)
        if mask.all():
            rows.text(prefix)
            rows.column(thousandths(converted))
        else:
            values = thousandths(converted)
            rows.column([prefix + v if has else b"" for v, has in zip(values, mask.tolist())])
    rows.text(b"}")


def _instantaneous(rows: Rows, values: Instantaneous) -> None:
    """``,"instantaneous":{...}``: per phase voltage and current, a single-phase meter's neutral
    current, power factor and frequency, keyed by OBIS code (the order of :func:`instantaneous_values`)."""
    columns: list[tuple[str, Array]] = []
    for k in range(values.volts.shape[1]):
        volt_obis, amp_obis = PHASE_OBIS[k]
        columns += [(volt_obis, values.volts[:, k]), (amp_obis, values.amps[:, k])]
    if values.neutral_amps is not None:
        columns.append((NEUTRAL_OBIS, values.neutral_amps))
    columns += [(POWER_FACTOR_OBIS, values.power_factor), (FREQUENCY_OBIS, values.frequency_hz)]
    rows.text(b',"instantaneous":{')
    for k, (obis, column) in enumerate(columns):
        rows.text((b"," if k else b"") + key(obis))
        rows.column(numbers(column))
    rows.text(b"}")
