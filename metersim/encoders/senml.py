"""``format: senml``: one SenML JSON pack (RFC 8428) per reading, content type ``application/senml+json``.

A pack is a JSON array of records. The first record carries the base name ``bn`` and the base time
``bt``; every record then names one quantity of the reading::

    [{"bn":"urn:dev:os:32473-PK-LESCO-000001:","bt":1767208500,"n":"1-0:1.8.0","u":"W","s":8477125200},
     {"n":"interval","u":"J","v":68400},
     {"n":"power","u":"W","v":76},
     {"n":"seq","v":0},
     {"n":"quality","vs":"valid"}]

(register 1-0:1.8.0 = 2354.757 kWh = 8 477 125 200 J; 19 Wh in the 15 minutes to
2026-01-01T00:15:00+05:00 = 68 400 J, an average 76 W.)

Names, times and units
----------------------
- **Base name** ``urn:dev:os:32473-<meter_id>:`` (RFC 9039 "os": organization id, then the serial
  the organization gave the device). RFC 8428 §4.5.1 asks for globally unique resolved names and
  shows DEV URNs ending in ``:`` as base names. ``mac``/``ow`` would need hardware addresses we do
  not have, and ``ops``/``os``/``org`` need a numeric organization id (an IANA Private Enterprise
  Number or an OUI), so a bare word such as ``metersim`` is not valid there. 32473 is the PEN
  reserved for documentation (RFC 5612), so a simulated meter can never be taken for a real one.
  A deployment that has its own PEN passes ``SenmlEncoder(base_name="urn:dev:os:<PEN>-{meter_id}:")``.
  The resolved name is base name + record name, e.g. ``urn:dev:os:32473-PK-LESCO-000001:1-0:1.8.0``.
- **Record names**: registers and instantaneous values are named by their OBIS code, as in payload
  v1 (``registers``, ``instantaneous``), so one mapping serves both formats and every OBIS character
  (digits, ``- : .``) is allowed in a SenML name. Values without an OBIS code in payload v1 keep its
  field names: ``interval``, ``export``, ``power``, ``battery``, ``band``, ``seq``, ``quality``.
- **Base time** ``bt`` = interval end [epoch s, integer]; no record carries ``t``, so every record
  resolves to the interval end (``bt`` is far above 2**28, so an absolute time, §4.5.3). The send
  time is not in the pack: it is when the message is published.
- **No base unit**: the records of a pack have different units, so ``bu`` would save one ``u`` at
  most. **No** ``bver``: only primary units are used, so the pack is plain version 10.

Units: only primary SenML units (RFC 8428 §12.1, the IANA "SenML Units" registry)
--------------------------------------------------------------------------------
``kWh`` and ``Wh`` are *secondary* units (RFC 8798 §3: ``kWh`` is ``J`` × 3 600 000). RFC 8798 says
packs "MAY, but SHOULD NOT" use them, and RFC 9100 requires such a pack to declare the feature
(``bver`` 26), which receivers of plain version 10 may refuse. So energy is in joules, and stays
exact: a register in thousandths of a kWh is an integer number of Wh, and Wh × 3600 is an integer
number of J (exact in JSON below 2**53 J, i.e. up to 2.5e9 kWh).

- **Cumulative registers** (1-0:1.8.x import, 1-0:2.8.x export, 7-0:3.0.0 / 7-0:3.2.0 gas volume) go
  in the **sum** field ``s``: RFC 8428 §4.2 defines it as the "integrated sum of the values over
  time", in the record's unit multiplied by seconds. A meter register is exactly the time integral
  of power (or of flow), so the record's unit is the rate and ``s`` is the total: electricity
  ``"u":"W"`` with ``s`` in W·s = J; gas ``"u":"m3/s"`` with ``s`` in m3. A sum record needs no
  value field (§4.2: exactly one value field "unless there is a Sum field").
- Interval values use ``v``: ``interval`` and ``export`` in ``J`` (electricity) or ``m3`` (gas),
  ``power`` (average import power over the interval) in ``W``, rounded to 1 W exactly as payload v1
  rounds its kW to three decimals.
- Instantaneous values use ``v``: voltage ``V``, current ``A`` (phases and neutral), power factor
  ``/`` (ratio), frequency ``Hz`` (:data:`INSTANTANEOUS_UNITS`); the gas battery ``%EL`` (remaining
  battery energy level, %); failure counters (0-0:96.7.21, 0-0:96.7.9) ``count``. ``seq`` is a
  plain number, ``band`` and ``quality`` strings (``vs``).

Meter ids must be valid in SenML names (``A-Z a-z 0-9 - : . / _``, §4.5.1); an id with any other
character (a space, a non-ASCII letter) raises ValueError, see :func:`name_problem`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import orjson

from metersim._array import Array
from metersim.encoders.json import EXPORT_OBIS, GAS_CONVERTED_OBIS, GAS_OBIS, IMPORT_OBIS, instantaneous_values
from metersim.encoders.topics import TopicCache
from metersim.records import QUALITY_NAMES, Instantaneous, MeterSet, ReadingBatch, RegisterValues

CONTENT_TYPE = "application/senml+json"
#: the default base name template: RFC 9039 "os" DEV URN under the documentation PEN 32473 (RFC 5612)
BASE_NAME = "urn:dev:os:32473-{meter_id}:"

#: the SenML unit of each instantaneous value of payload v1, by OBIS code
INSTANTANEOUS_UNITS = {
    **{code: "V" for code in ("1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0")},
    **{code: "A" for code in ("1-0:31.7.0", "1-0:51.7.0", "1-0:71.7.0", "1-0:91.7.0")},  # 91: neutral
    "1-0:13.7.0": "/",  # power factor, a ratio
    "1-0:14.7.0": "Hz",
}
J_PER_WH = 3600  # a register's thousandth of a kWh is one Wh
#: RFC 8428 §4.5.1: the characters of a resolved name, which must start with a letter or a digit
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-:./_]*")


def name_problem(base_name: str) -> str | None:
    """Why ``base_name`` cannot start a SenML name (RFC 8428 §4.5.1), or None if it can."""
    if _NAME.fullmatch(base_name) is None:
        return f"{base_name!r} is not a valid SenML name: use A-Z a-z 0-9 - : . / _ only, from a letter or digit"
    return None


def _joules(milli: Array) -> list[int]:
    """Thousandths of a kWh (= Wh) to J, exact integers."""
    out: list[int] = (milli.astype(np.int64) * J_PER_WH).tolist()
    return out


def _cubic_metres(milli: Array) -> list[float]:
    """Thousandths of an m3 (litres) to m3, as payload v1 writes them."""
    out: list[float] = (milli / 1000).tolist()
    return out


def _register_records(registers: RegisterValues, commodity: str) -> list[tuple[str, str, str, list[Any]]]:
    """``(name, unit, field, values)`` of every register all rows have, in payload v1's order."""
    if commodity == "gas":
        # volume is the time integral of flow: the record's unit is m3/s, its sum is in m3
        return [(GAS_OBIS, "m3/s", "s", _cubic_metres(registers.total))]
    records: list[tuple[str, str, str, list[Any]]] = [(IMPORT_OBIS, "W", "s", _joules(registers.total))]
    if registers.bands is not None:
        records += [(f"1-0:1.8.{k + 1}", "W", "s", _joules(row)) for k, row in enumerate(registers.bands)]
    if registers.export_total is not None:
        records.append((EXPORT_OBIS, "W", "s", _joules(registers.export_total)))
        if registers.export_bands is not None:
            records += [(f"1-0:2.8.{k + 1}", "W", "s", _joules(row)) for k, row in enumerate(registers.export_bands)]
    if registers.failures is not None and registers.long_failures is not None:
        records.append(("0-0:96.7.21", "count", "v", registers.failures.tolist()))
        records.append(("0-0:96.7.9", "count", "v", registers.long_failures.tolist()))
    return records


def _value_records(batch: ReadingBatch) -> list[tuple[str, str, str, list[Any]]]:
    """``(name, unit, field, values)`` of the interval values, in payload v1's order."""
    gas = batch.meters.commodity == "gas"
    energy = _cubic_metres if gas else _joules
    unit = "m3" if gas else "J"
    records: list[tuple[str, str, str, list[Any]]] = [("interval", unit, "v", energy(batch.import_milli))]
    if batch.export_milli is not None:
        records.append(("export", unit, "v", energy(batch.export_milli)))
    if not gas:
        # payload v1's kW to three decimals, times 1000: the same rounding, in whole watts
        kw = np.round(batch.import_milli * (3.6 / batch.interval_s), 3)
        records.append(("power", "W", "v", np.round(kw * 1000).astype(np.int64).tolist()))
    return records


def _instantaneous_records(values: Instantaneous | None) -> list[list[dict[str, Any]]]:
    """Per row, the records of the instantaneous values, in payload v1's order (empty lists without)."""
    if values is None:
        return []
    rows = instantaneous_values(values)
    if not rows:
        return []
    try:
        units = [(obis, INSTANTANEOUS_UNITS[obis]) for obis in rows[0]]
    except KeyError as missing:  # a new OBIS code in payload v1 needs its SenML unit chosen here
        raise ValueError(f"senml: no SenML unit for instantaneous value {missing}") from None
    return [[{"n": obis, "u": unit, "v": row[obis]} for obis, unit in units] for row in rows]


class SenmlEncoder:
    """``format: senml``: one SenML JSON pack per reading (see the module docstring for the layout)."""

    format = "senml"
    one_per_reading = True
    content_type: str | None = CONTENT_TYPE

    def __init__(self, base_name: str = BASE_NAME) -> None:
        """``base_name`` is a template over ``{meter_id}`` (and the other topic fields: ``{group}``, ...)."""
        self.base_name = base_name
        self._topics = TopicCache()
        self._names = TopicCache()  # base names render like topics, once per meter set
        self._checked: set[int] = set()

    def topics(self, batch: ReadingBatch, template: str) -> list[str]:
        return self._topics.render(batch, template)

    def base_names(self, meters: MeterSet) -> list[str]:
        """The base name of each meter of ``meters``; raises ValueError if one is not a valid SenML name."""
        names = self._names.for_meters(meters, self.base_name)
        if id(names) not in self._checked:
            for name in names:
                if (problem := name_problem(name)) is not None:
                    raise ValueError(f"senml: meter set {meters.group}: {problem}")
            self._checked.add(id(names))  # the cache keeps ``names`` alive, so its id is never reused
        return names

    def encode(self, batch: ReadingBatch) -> list[bytes]:
        meters = batch.meters
        per_meter = self.base_names(meters)
        columns = _register_records(batch.registers, meters.commodity) + _value_records(batch)
        instantaneous = _instantaneous_records(batch.instantaneous)
        battery = batch.battery_pct.tolist() if batch.battery_pct is not None else None
        converted, has_converted = batch.registers.converted, batch.registers.converted_mask
        partial = converted is not None and has_converted is not None
        converted_m3 = _cubic_metres(converted) if converted is not None else []
        converted_at = has_converted.tolist() if has_converted is not None else []
        band_names = meters.band_names
        bands = [band_names[b] for b in batch.band.tolist()] if band_names is not None else None
        seqs = batch.seq.tolist()
        qualities = [QUALITY_NAMES[q] for q in batch.quality.tolist()]
        dumps, out = orjson.dumps, []
        for j, (at, end_s) in enumerate(zip(batch.meters_at.tolist(), batch.end_s.tolist())):
            pack: list[dict[str, Any]] = []
            for name, unit, field, values in columns:
                pack.append({"n": name, "u": unit, field: values[j]})
                if partial and name == GAS_OBIS and converted_at[j]:
                    pack.append({"n": GAS_CONVERTED_OBIS, "u": "m3/s", "s": converted_m3[j]})
            if instantaneous:
                pack += instantaneous[j]
            if battery is not None:
                pack.append({"n": "battery", "u": "%EL", "v": battery[j]})
            if bands is not None:
                pack.append({"n": "band", "vs": bands[j]})
            pack.append({"n": "seq", "v": seqs[j]})
            pack.append({"n": "quality", "vs": qualities[j]})
            # the base fields go first in the first record, as RFC 8428's examples write them
            pack[0] = {"bn": per_meter[at], "bt": end_s, **pack[0]}
            out.append(dumps(pack))
        return out
