"""What flows between the stages of a run: numeric reading batches, the meters they are about, labels.

A :class:`ReadingBatch` holds numbers only (integer thousandths of a kWh or m3, integer epoch
seconds, band indices, quality codes): no text is made before an encoder runs. Its rows point into a
:class:`MeterSet`, the static description of a set of meters (ids, places, units) that encoders and
the ledger read and nothing writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from metersim._array import Array

if TYPE_CHECKING:
    from metersim.model.weather import Weather

#: ``quality`` codes of a reading, indexed by :data:`QUALITY_NAMES`
VALID, LATE, ESTIMATED, SUSPECT = 0, 1, 2, 3
QUALITY_NAMES = ("valid", "late", "estimated", "suspect")

UNIT = {"electricity": "kWh", "gas": "m3"}


@dataclass(eq=False)
class MeterSet:
    """A set of meters that report together: one range of a group's meters, or its grid-side meters.

    Row ``k`` of every batch over this set is about meter ``k`` of these lists. Ids are built on first
    use (a million strings cost ~80 MB), and only ``discard`` never needs them.
    """

    group: str
    commodity: str  # "electricity" or "gas"
    timezone: str  # IANA zone of the meters' clocks
    region: str  # weather region ("" without one)
    count: int
    make_ids: Callable[[], list[str]] = field(repr=False)
    #: ``{region, substation, feeder, transformer}`` per meter, None without a grid
    places: list[dict[str, str]] | None = field(default=None, repr=False)
    #: ``transformer`` or ``feeder`` per grid-side meter; None for customer meters
    devices: list[str] | None = field(default=None, repr=False)
    band_names: tuple[str, ...] | None = None  # the tariff's bands, None without a tariff
    #: ``(("manufacturer", ...), ("model", ...), ("firmware", ...))`` of the group's meters; () when not given
    hardware: tuple[tuple[str, str], ...] = ()
    #: the concentrator (DCU) id of each meter, built on first use; None where meters reach the head-end directly
    make_concentrators: Callable[[], list[str]] | None = field(default=None, repr=False)

    @property
    def unit(self) -> str:
        return UNIT[self.commodity]

    @property
    def grid_side(self) -> bool:
        return self.devices is not None

    @cached_property
    def concentrators(self) -> list[str] | None:
        """The concentrator id of each meter, or None without concentrators."""
        if self.make_concentrators is None:
            return None
        ids = self.make_concentrators()
        if len(ids) != self.count:
            raise ValueError(f"{self.group}: {len(ids)} concentrator ids for {self.count} meters")
        return ids

    @cached_property
    def ids(self) -> list[str]:
        ids = self.make_ids()
        if len(ids) != self.count:
            raise ValueError(f"{self.group}: {len(ids)} ids for {self.count} meters")
        return ids


@dataclass(frozen=True)
class RegisterValues:
    """Cumulative registers after an interval [thousandths of the unit], already rolled over."""

    total: Array  # import (1-0:1.8.0) or gas volume (7-0:3.0.0)
    bands: Array | None = None  # per tariff band, shape (bands, meters) (1-0:1.8.k)
    export_total: Array | None = None  # 1-0:2.8.0
    export_bands: Array | None = None  # 1-0:2.8.k, shape (bands, meters)
    converted: Array | None = None  # gas volume at base conditions (7-0:3.2.0)
    converted_mask: Array | None = None  # which meters have a converted register [bool]
    failures: Array | None = None  # power failures counted (0-0:96.7.21), a plain count (int64)
    long_failures: Array | None = None  # long power failures counted (0-0:96.7.9), a plain count (int64)

    def take(self, rows: Array) -> RegisterValues:
        """The registers of ``rows`` only."""
        return RegisterValues(
            failures=self.failures[rows] if self.failures is not None else None,
            long_failures=self.long_failures[rows] if self.long_failures is not None else None,
            total=self.total[rows],
            bands=self.bands[:, rows] if self.bands is not None else None,
            export_total=self.export_total[rows] if self.export_total is not None else None,
            export_bands=self.export_bands[:, rows] if self.export_bands is not None else None,
            converted=self.converted[rows] if self.converted is not None else None,
            converted_mask=self.converted_mask[rows] if self.converted_mask is not None else None,
        )


@dataclass(frozen=True)
class Instantaneous:
    """Instantaneous values at the interval end."""

    volts: Array  # per phase [V], shape (meters, phases)
    amps: Array  # per phase [A], shape (meters, phases)
    power_factor: Array  # [-]
    frequency_hz: Array  # [Hz]
    #: single-phase meters: the neutral conductor's current [A] (equal to the phase's unless current
    #: returns through earth, a tamper); None for three-phase meters
    neutral_amps: Array | None = None

    def take(self, rows: Array) -> Instantaneous:
        neutral = self.neutral_amps[rows] if self.neutral_amps is not None else None
        return Instantaneous(
            self.volts[rows], self.amps[rows], self.power_factor[rows], self.frequency_hz[rows], neutral
        )


@dataclass(frozen=True, eq=False)
class ReadingBatch:
    """One reading per row, for rows ``meters_at`` of ``meters``; every array has one entry per row.

    ``true_milli`` is what really flowed (a customer's consumption; for a grid-side meter the net
    energy delivered); ``import_milli`` and ``export_milli`` are what the meter registered in the
    interval and publishes. The group step makes them equal; transforms (faults, theft) may not.
    """

    meters: MeterSet
    meters_at: Array  # row -> position in ``meters`` (int64)
    interval_s: int  # [s]
    seq: Array  # reading counter per meter, from 0 (int64)
    end_s: Array  # interval end [epoch s] (int64)
    sent_s: Array  # when the reading leaves the meter [epoch s] (int64)
    band: Array  # index into ``meters.band_names`` of the band at the interval start (int8; 0 without)
    true_milli: Array  # [thousandths of the unit] (int64)
    import_milli: Array  # [thousandths of the unit] (int64)
    registers: RegisterValues
    quality: Array  # QUALITY_NAMES index (int8)
    published: Array  # whether the reading is sent at all [bool]
    export_milli: Array | None = None  # [thousandths of the unit] (int64); None without PV or grid
    instantaneous: Instantaneous | None = None
    battery_pct: Array | None = None  # gas meters' battery [%]
    losses_milli: Array | None = None  # grid-side: technical losses inside the delivery
    unmetered_milli: Array | None = None  # grid-side: unmetered consumption inside the delivery
    #: when a second copy of the reading leaves [epoch s] (int64; -1 for none): a duplicate delivery
    resend_s: Array | None = None
    #: the serial number of the meter at the point (int64, shown as ``SN`` + 8 digits): groups whose
    #: meters can be replaced (``faults.replacement``) publish it, so a backend sees the new meter
    serial: Array | None = None

    def __len__(self) -> int:
        return len(self.meters_at)

    def take(self, rows: Array) -> ReadingBatch:
        """The batch of ``rows`` only (indices into this batch, in the order given)."""

        def pick(values: Array | None) -> Array | None:
            return values[rows] if values is not None else None

        return ReadingBatch(
            meters=self.meters,
            meters_at=self.meters_at[rows],
            interval_s=self.interval_s,
            seq=self.seq[rows],
            end_s=self.end_s[rows],
            sent_s=self.sent_s[rows],
            band=self.band[rows],
            true_milli=self.true_milli[rows],
            import_milli=self.import_milli[rows],
            registers=self.registers.take(rows),
            quality=self.quality[rows],
            published=self.published[rows],
            export_milli=pick(self.export_milli),
            instantaneous=self.instantaneous.take(rows) if self.instantaneous is not None else None,
            battery_pct=pick(self.battery_pct),
            losses_milli=pick(self.losses_milli),
            unmetered_milli=pick(self.unmetered_milli),
            resend_s=pick(self.resend_s),
            serial=pick(self.serial),
        )

    def replace(self, **changes: Any) -> ReadingBatch:
        """A copy with some fields changed (transforms use this; batches are never changed in place)."""
        return replace(self, **changes)

    @staticmethod
    def join(parts: Sequence[ReadingBatch]) -> ReadingBatch:
        """The rows of ``parts`` (batches over one meter set, of one interval length) in one batch, in order:
        one emission for the readings of several intervals that leave together (a concentrator's upload)."""
        first = parts[0]
        if len(parts) == 1:
            return first
        if any(p.meters is not first.meters or p.interval_s != first.interval_s for p in parts):
            raise ValueError("only batches over one meter set and interval length can be joined")
        arrays = {name: _joined(parts, name) for name in _ROW_FIELDS}
        if any(p.resend_s is not None for p in parts):  # a duplicate asked for in some: none (-1) in the rest
            arrays["resend_s"] = np.concatenate(
                [p.resend_s if p.resend_s is not None else np.full(len(p), -1, np.int64) for p in parts]
            )
        registers = RegisterValues(**{n: _joined([p.registers for p in parts], n, _axis(n)) for n in _REGISTER_FIELDS})
        instant = None
        if first.instantaneous is not None:
            values = [p.instantaneous for p in parts]
            instant = Instantaneous(**{n: _joined(values, n) for n in _INSTANT_FIELDS})
        return replace(first, **arrays, registers=registers, instantaneous=instant)


def _axis(name: str) -> int:
    return 1 if name in ("bands", "export_bands") else 0  # (bands, meters)


def _joined(parts: Sequence[object], name: str, axis: int = 0) -> Any:
    """Field ``name`` of every part, concatenated; None where no part has it (all or none must)."""
    values = [getattr(p, name) for p in parts]
    if all(v is None for v in values):
        return None
    if any(v is None for v in values):
        raise ValueError(f"cannot join batches: only some have {name}")
    return np.concatenate(values, axis=axis)


@dataclass(frozen=True)
class Label:
    """Something a transform did to the published stream, for the ground truth."""

    meter_id: str
    start_s: int  # first affected interval end [epoch s]
    end_s: int  # last affected interval end [epoch s]
    kind: str  # e.g. "stuck_register", "theft_bypass"
    severity: float = 1.0  # kind-specific: a fraction stolen, a clock drift [s/day], ...
    detail: str = ""  # what was altered, in words


@dataclass(frozen=True)
class GroupInterval:
    """Everything one group step produced for one interval: customer meters and grid-side meters."""

    start_s: int  # interval start [epoch s]
    end_s: int  # interval end [epoch s]
    seq: int
    meters: ReadingBatch
    grid: ReadingBatch | None = None
    events: EventBatch | None = None  # meter events logged in the interval (power down/up, ...)
    labels: tuple[Label, ...] = ()  # what the step itself injected (supply interruptions)
    #: which meters had their relay (valve) open by command for the whole interval [bool]; None: none did
    disconnected: Array | None = None

    def batches(self) -> tuple[ReadingBatch, ...]:
        return (self.meters,) if self.grid is None else (self.meters, self.grid)


@dataclass
class Sent:
    """Which rows of an interval's batches the engine has handed to the outputs so far.

    The engine appends the rows of each emission as the interval's report slots go out (no copies)
    and sets ``complete`` after the last one; a run stopped mid-interval leaves rows never sent.
    """

    meters: list[Array] = field(default_factory=list)
    grid: list[Array] = field(default_factory=list)
    complete: bool = False

    @staticmethod
    def mask(emitted: list[Array], rows: int) -> Array:
        """The rows in ``emitted``, as a boolean mask over ``rows`` rows."""
        out = np.zeros(rows, dtype=bool)
        for part in emitted:
            out[part] = True
        return out


@dataclass(frozen=True)
class Observation:
    """One group interval as observers see it: what happened, what was published, and the labels of
    every difference the transforms made."""

    true: GroupInterval
    published: GroupInterval
    labels: tuple[Label, ...] = ()
    weather: Weather | None = None  # the group's region, for observers that log temperature or GHI
    sent: Sent | None = None  # filled in by the engine while the interval's readings go out

    @property
    def group(self) -> str:
        return self.true.meters.meters.group

    def region_at_middle(self) -> tuple[float | None, float | None]:
        """Region air temperature [degC] and GHI [W/m2] at the interval middle (None without a region)."""
        if self.weather is None:
            return None, None
        mid = np.array([(self.true.start_s + self.true.end_s) // 2])
        return float(self.weather.temperature_c(mid)[0]), float(self.weather.ghi_w_m2(mid)[0])


#: meter event codes (IDIS event log numbering; 1/2 as most head-ends use them), by name
EVENT_CODES = {
    "power_down": 1,
    "power_up": 2,
    "clock_adjusted": 5,
    "terminal_cover_removed": 40,
    "terminal_cover_closed": 41,
    "magnetic_field_detected": 42,
    "magnetic_field_gone": 43,
    "meter_cover_removed": 44,
    "meter_cover_closed": 45,
    "current_mismatch": 52,  # phase and neutral current not equal (earth-return theft)
    "current_match": 53,
    "configuration_changed": 47,  # a load limit or tariff set by command
    "firmware_activated": 18,
    "ready_for_reconnection": 59,  # the relay is armed; the customer presses the button
    "manual_connection": 61,
    "remote_disconnection": 62,
    "remote_connection": 63,
    "local_disconnection": 64,  # the load limiter tripped the relay
}
EVENT_NAMES = {code: name for name, code in EVENT_CODES.items()}


@dataclass(frozen=True, eq=False)
class EventBatch:
    """Meter events (power down/up, tamper, clock set), one per row, for rows ``meters_at`` of ``meters``.

    ``time_s`` is when the meter logged the event; the engine sends it at ``sent_s`` (so far always
    ``time_s``: a last gasp leaves as the supply goes; link faults do not hold events back).
    """

    meters: MeterSet
    meters_at: Array  # row -> position in ``meters`` (int64)
    time_s: Array  # when it happened [epoch s] (int64)
    code: Array  # :data:`EVENT_CODES` value (int16)
    sent_s: Array  # when it leaves the meter [epoch s] (int64)

    def __len__(self) -> int:
        return len(self.meters_at)

    def take(self, rows: Array) -> EventBatch:
        return EventBatch(self.meters, self.meters_at[rows], self.time_s[rows], self.code[rows], self.sent_s[rows])


#: the per-row arrays of a ReadingBatch (all but ``meters``, ``interval_s``, ``registers``, ``instantaneous``
#: and ``resend_s``), of RegisterValues and of Instantaneous, for :meth:`ReadingBatch.join`
_ROW_FIELDS = tuple(
    f.name
    for f in fields(ReadingBatch)
    if f.name not in ("meters", "interval_s", "registers", "instantaneous", "resend_s")
)
_REGISTER_FIELDS = tuple(f.name for f in fields(RegisterValues))
_INSTANT_FIELDS = tuple(f.name for f in fields(Instantaneous))
