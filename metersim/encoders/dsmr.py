"""``format: dsmr-p1``: one ESMR 5.0 P1 telegram per electricity reading, with the paired gas meter's M-Bus channel.

A telegram, line by line (every line ends in CRLF; the CRC line too)::

    /MSM5metersim                         header /XXXZ<ident>, then an empty line
    1-3:0.2.8(50)                         ESMR 5.0
    0-0:1.0.0(260329030000S)              interval end, meters' local time YYMMDDhhmmss, S summer / W winter
    0-0:96.1.1(4E4C2D452D303030303031)    meter id as the hex of its ASCII
    1-0:1.8.1(001234.567*kWh)             import tariff 1, 2; export tariff 1, 2: F9(3,3)
    0-0:96.14.0(0001)                     tariff at the interval start
    1-0:1.7.0(00.214*kW)                  import, export power averaged over the interval: F5(3,3)
    0-0:96.7.21(00000) 0-0:96.7.9(00000)  power failures, long power failures: F5(0)
    1-0:99.97.0(0)(0-0:96.7.19)           long power failure log (empty, see below)
    1-0:32.7.0(230.1*V) 1-0:31.7.0(001*A) per phase, with instantaneous values: F4(1,1), F3(0,0)
    1-0:21.7.0(00.214*kW) 1-0:22.7.0(...) import, export power per phase (the average split evenly)
    0-1:24.1.0(003) 0-1:96.1.0(...)       M-Bus channel 1: a gas meter and its id (hex of ASCII)
    0-1:24.2.1(260329030000S)(01234.567*m3)  its latest reading: capture time, volume [m3] 5.3 digits
    !XXXX                                 CRC-16/ARC of the bytes from ``/`` to ``!``, 4 uppercase hex digits

**Tariffs.** DSMR has exactly two tariff registers. The group's bands map in order to tariff 1 and 2 (so
the NL convention, T1 low and T2 normal, is the order of the tariff's bands). A meter with no band or one
band puts its total in tariff 1 and 0 in tariff 2. More than two bands are refused with a ValueError:
folding them (say into "band 1" and "the rest") would report a tariff split no meter has.

**Limits.** The fields are fixed-width: registers have 6 integer digits (999999.999 kWh), the gas volume
5 (99999.999 m3), power 2 (99.999 kW), voltage 3, current 3. metersim rolls registers over at
``register_digits`` integer digits (6 by default), so a group with ``register_digits`` above 6 (or a gas
group above 5) may hold values a telegram cannot carry; rather than wrap them a second time, and so
disagree with the ledger, :meth:`DsmrP1Encoder.encode` raises ValueError naming the meter, the OBIS code
and the value (config validation refuses such a group for a ``dsmr-p1`` output first). Power is shown as a
meter shows it: 0 for a negative interval (an injected fault), 99.999 kW for a larger spike.

**Gas.** A gas meter reports through its electricity meter's telegram (M-Bus), so encoding a gas batch
makes no message: it remembers, per paired position, the latest volume (the temperature-converted
register where the meter has one, as DSMR 5 reports converted volume; else the metered total) and its
instant. An electricity telegram carries the latest remembered reading captured no later than its own
timestamp, so encode a gas batch before the electricity batches of the same time or later.

**Failure log.** The encoder sees readings, not the power-down/up events, so it writes the empty log;
the counters come from ``registers.failures`` and ``registers.long_failures`` (0 when absent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np

from metersim._array import Array
from metersim.encoders.topics import TopicCache
from metersim.records import MeterSet, ReadingBatch
from metersim.timebase import zone

HEADER = "/MSM5metersim"  # MSM: a made-up manufacturer flag (no real meter's); 5: ESMR 5's baud rate letter
CRLF = "\r\n"
EMPTY_FAILURE_LOG = "1-0:99.97.0(0)(0-0:96.7.19)"
KWH, KW = (6, 3), (2, 3)  # (integer digits, decimals): F9(3,3) registers, F5(3,3) power
MBUS_GAS_DEVICE = "003"  # M-Bus device type of a gas meter
#: (voltage, current, import power, export power) OBIS codes of phases L1, L2, L3
PHASE_OBIS = (
    ("1-0:32.7.0", "1-0:31.7.0", "1-0:21.7.0", "1-0:22.7.0"),
    ("1-0:52.7.0", "1-0:51.7.0", "1-0:41.7.0", "1-0:42.7.0"),
    ("1-0:72.7.0", "1-0:71.7.0", "1-0:61.7.0", "1-0:62.7.0"),
)


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/ARC (polynomial 0x8005 reflected, init 0, no final XOR) of ``data``, as DSMR P1 uses it."""
    crc, table = 0, _CRC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


@lru_cache(maxsize=4096)
def p1_time(epoch_s: int, tz: str) -> str:
    """``YYMMDDhhmmss`` on the local clock of zone ``tz`` at ``epoch_s`` [epoch s], then ``S`` in DST, else ``W``."""
    local = datetime.fromtimestamp(epoch_s, zone(tz))
    return local.strftime("%y%m%d%H%M%S") + ("S" if local.dst() else "W")


def _times(epoch_s: Array, tz: str) -> list[str]:
    # Every row of an interval shares its end: format each distinct instant once.
    distinct, inverse = np.unique(epoch_s, return_inverse=True)
    texts = [p1_time(int(t), tz) for t in distinct.tolist()]
    return [texts[i] for i in inverse.reshape(-1).tolist()]


@lru_cache(maxsize=65536)
def _hex_id(meter_id: str) -> str:
    """The id as the uppercase hex of its ASCII; ESMR 5.0 allows up to 96 hex digits (``Sn``, n <= 96)."""
    text = meter_id.encode("ascii").hex().upper()  # a non-ASCII id raises UnicodeEncodeError, a ValueError
    if len(text) > 96:
        raise ValueError(f"dsmr-p1: meter id {meter_id!r} is longer than the 48 characters a telegram carries")
    return text


def _fixed(scaled: Array, int_digits: int, decimals: int, what: str, ids: list[str], at: Array) -> list[str]:
    """``scaled`` (integers, the value x ``10**decimals``) as DSMR fixed-width numbers ``iii.ddd``.

    Raises ValueError for a value below 0 or past the field's width, naming the first such meter.
    """
    limit = 10 ** (int_digits + decimals)
    bad = np.flatnonzero((scaled < 0) | (scaled >= limit))
    if len(bad):
        row = int(bad[0])
        value = int(scaled[row]) / 10**decimals
        raise ValueError(
            f"dsmr-p1: {what} of meter {ids[int(at[row])]} is {value}, outside the telegram's field "
            f"[0, {(limit - 1) / 10**decimals}] ({int_digits} integer digits; {len(bad)} row(s) of {len(scaled)})"
        )
    if decimals == 0:
        return [f"{v:0{int_digits}d}" for v in scaled.tolist()]
    scale = 10**decimals
    return [f"{v // scale:0{int_digits}d}.{v % scale:0{decimals}d}" for v in scaled.tolist()]


def _lines(obis: str, scaled: Array, digits: tuple[int, int], unit: str, ids: list[str], at: Array) -> list[str]:
    """``obis(iii.ddd*unit)`` per row; ``digits`` is (integer digits, decimals), ``unit`` "" for none."""
    suffix = f"*{unit}" if unit else ""
    return [f"{obis}({v}{suffix})" for v in _fixed(scaled, *digits, obis, ids, at)]


def _power(watts: Array) -> Array:
    """An average power [W] as a P1 power field shows it: a meter's power display is never negative and
    tops out at its field (99.999 kW), so an injected spike or negative interval saturates, not fails."""
    out: Array = np.clip(watts, 0, 10 ** sum(KW) - 1)
    return out


def _tariff_registers(total: Array, bands: Array | None, group: str, what: str) -> tuple[Array, Array]:
    """Tariff 1 and tariff 2 registers [thousandths] from a total and its band registers (bands, meters)."""
    if bands is None or len(bands) == 1:
        return total, np.zeros_like(total)
    if len(bands) > 2:
        raise ValueError(f"dsmr-p1: group {group!r} has {len(bands)} {what} bands; DSMR P1 has exactly two tariffs")
    return bands[0], bands[1]


@dataclass
class _GasReadings:
    """The latest remembered reading of each meter of a gas meter set (``time_s`` -1: none yet)."""

    meters: MeterSet
    volume_milli: Array  # [litres] (int64)
    time_s: Array  # capture instant [epoch s] (int64)


class DsmrP1Encoder:
    """``format: dsmr-p1``: one ESMR 5.0 P1 telegram per electricity reading (see the module docstring).

    Parameters
    ----------
    gas_pairs
        Electricity group name -> gas group name: meter ``k`` (its position in its meter set) of the
        electricity group shares a home, and so a telegram, with meter ``k`` of the gas group.
    """

    format = "dsmr-p1"
    one_per_reading = False
    content_type: str | None = "text/plain"

    def __init__(self, gas_pairs: Mapping[str, str] | None = None) -> None:
        self._topics = TopicCache()
        self._pairs = dict(gas_pairs or {})
        self._paired_gas = frozenset(self._pairs.values())
        self._gas: dict[str, _GasReadings] = {}

    def topics(self, batch: ReadingBatch, template: str) -> list[str]:
        if batch.meters.commodity == "gas":
            return []
        return self._topics.render(batch, template)

    def encode(self, batch: ReadingBatch) -> list[bytes]:
        if batch.meters.commodity == "gas":
            self._remember_gas(batch)
            return []
        return self._telegrams(batch)

    def _remember_gas(self, batch: ReadingBatch) -> None:
        meters = batch.meters
        if meters.group not in self._paired_gas or len(batch) == 0:
            return
        state = self._gas.get(meters.group)
        if state is None or state.meters is not meters:
            n = meters.count
            state = _GasReadings(meters, np.zeros(n, dtype=np.int64), np.full(n, -1, dtype=np.int64))
            self._gas[meters.group] = state
        registers = batch.registers
        volume = registers.total
        if registers.converted is not None and registers.converted_mask is not None:
            volume = np.where(registers.converted_mask, registers.converted, registers.total)
        # Latest by capture time: a late (backlog) reading must not replace a newer one.
        order = np.argsort(batch.end_s, kind="stable")
        at, end_s, volume = batch.meters_at[order], batch.end_s[order], volume[order]
        newer = end_s >= state.time_s[at]
        state.volume_milli[at[newer]] = volume[newer]  # equal positions: the last (latest) assignment wins
        state.time_s[at[newer]] = end_s[newer]

    def _gas_lines(self, batch: ReadingBatch) -> list[str]:
        """The M-Bus lines (CRLF-terminated, joined) of each row; "" where the home has no gas reading yet."""
        n = len(batch)
        meters = batch.meters
        gas_group = self._pairs.get(meters.group) if not meters.grid_side else None
        state = self._gas.get(gas_group) if gas_group is not None else None
        if state is None:
            return [""] * n
        at = batch.meters_at
        paired = at < state.meters.count
        where = np.where(paired, at, 0)
        time_s = np.where(paired, state.time_s[where], -1)
        # Only a reading captured by the telegram's time: an electricity backlog sent late gets no newer gas.
        has = (time_s >= 0) & (time_s <= batch.end_s)
        out = [""] * n
        rows = np.flatnonzero(has)
        if len(rows) == 0:
            return out
        gas_at = where[rows]
        gas_ids = state.meters.ids
        volumes = _fixed(state.volume_milli[gas_at], 5, 3, "0-1:24.2.1 (gas volume)", gas_ids, gas_at)
        times = _times(time_s[rows], state.meters.timezone)
        for row, p, t, v in zip(rows.tolist(), gas_at.tolist(), times, volumes):
            out[row] = (
                f"0-1:24.1.0({MBUS_GAS_DEVICE}){CRLF}0-1:96.1.0({_hex_id(gas_ids[p])}){CRLF}0-1:24.2.1({t})({v}*m3){CRLF}"
            )
        return out

    def _telegrams(self, batch: ReadingBatch) -> list[bytes]:
        n = len(batch)
        if n == 0:
            return []
        meters, registers, at = batch.meters, batch.registers, batch.meters_at
        ids = meters.ids
        group = meters.group
        band_count = len(meters.band_names or ())
        if band_count > 2:
            raise ValueError(f"dsmr-p1: group {group!r} has {band_count} tariff bands; DSMR P1 has exactly two tariffs")
        imp1, imp2 = _tariff_registers(registers.total, registers.bands, group, "import")
        zeros = np.zeros(n, dtype=np.int64)
        if registers.export_total is not None:
            exp1, exp2 = _tariff_registers(registers.export_total, registers.export_bands, group, "export")
        else:
            exp1 = exp2 = zeros
        tariff = batch.band.astype(np.int64) + 1 if band_count == 2 else np.ones(n, dtype=np.int64)
        # Average power [W] = Wh x 3600 / interval_s, rounded to the field's 3 decimals of a kW.
        to_watts = 3600 / batch.interval_s
        import_w = _power(np.rint(batch.import_milli * to_watts).astype(np.int64))
        export_milli = batch.export_milli if batch.export_milli is not None else zeros
        export_w = _power(np.rint(export_milli * to_watts).astype(np.int64))
        failures = registers.failures if registers.failures is not None else zeros
        long_failures = registers.long_failures if registers.long_failures is not None else zeros

        columns: list[list[str]] = [
            [f"0-0:1.0.0({t})" for t in _times(batch.end_s, meters.timezone)],
            [f"0-0:96.1.1({_hex_id(ids[p])})" for p in at.tolist()],
            _lines("1-0:1.8.1", imp1, KWH, "kWh", ids, at),
            _lines("1-0:1.8.2", imp2, KWH, "kWh", ids, at),
            _lines("1-0:2.8.1", exp1, KWH, "kWh", ids, at),
            _lines("1-0:2.8.2", exp2, KWH, "kWh", ids, at),
            _lines("0-0:96.14.0", tariff, (4, 0), "", ids, at),
            _lines("1-0:1.7.0", import_w, KW, "kW", ids, at),
            _lines("1-0:2.7.0", export_w, KW, "kW", ids, at),
            _lines("0-0:96.7.21", failures, (5, 0), "", ids, at),
            _lines("0-0:96.7.9", long_failures, (5, 0), "", ids, at),
            [EMPTY_FAILURE_LOG] * n,
        ]
        if batch.instantaneous is not None:
            columns += self._phase_columns(batch, import_w, export_w, ids)
        gas = self._gas_lines(batch)
        head = f"{HEADER}{CRLF}{CRLF}1-3:0.2.8(50){CRLF}"
        out = []
        for j, lines in enumerate(zip(*columns)):
            body = f"{head}{CRLF.join(lines)}{CRLF}{gas[j]}!".encode("ascii")
            out.append(body + f"{crc16(body):04X}{CRLF}".encode("ascii"))
        return out

    @staticmethod
    def _phase_columns(batch: ReadingBatch, import_w: Array, export_w: Array, ids: list[str]) -> list[list[str]]:
        """Voltage and current, then import and export power, of each phase (ESMR 5.0 line order)."""
        values = batch.instantaneous
        assert values is not None
        at = batch.meters_at
        phases = values.volts.shape[1]
        volts = np.rint(values.volts * 10).astype(np.int64)  # F4(1,1): tenths of a volt
        amps = np.rint(values.amps).astype(np.int64)  # F3(0,0): whole amps
        # The model spreads a meter's power evenly over its phases; the per-phase power says the same.
        phase_import_w = np.rint(import_w / phases).astype(np.int64)
        phase_export_w = np.rint(export_w / phases).astype(np.int64)
        volt_cols, amp_cols, import_cols, export_cols = [], [], [], []
        for k in range(phases):
            volt_obis, amp_obis, import_obis, export_obis = PHASE_OBIS[k]
            volt_cols.append(_lines(volt_obis, volts[:, k], (3, 1), "V", ids, at))
            amp_cols.append(_lines(amp_obis, amps[:, k], (3, 0), "A", ids, at))
            import_cols.append(_lines(import_obis, phase_import_w, KW, "kW", ids, at))
            export_cols.append(_lines(export_obis, phase_export_w, KW, "kW", ids, at))
        return [*volt_cols, *amp_cols, *import_cols, *export_cols]
