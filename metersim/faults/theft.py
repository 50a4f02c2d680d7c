"""Electricity theft (DOMAIN.md §4): the meter registers less than really flowed, and tampering shows
in the event log. ``true_milli`` is never changed; bills of the truth stay right.

* ``bypass`` (a jumper), ``magnet`` (events 42/43) and ``earth_return`` (events 52/53): a ``fraction``
  of the meters, chosen once, keyed by ``(seed, THEFT, group, chunk, kind)``, each with a registered
  fraction ``f`` uniform in ``registered_fraction``. In the intervals that *start* in one of the local
  ``hours``, the published interval import is ``floor(f x registered)`` and the import registers (total
  and the interval's band) advance by that only; the rest is stolen. One label per meter and
  occurrence of the window (a contiguous run of theft intervals), severity ``1 - f`` (the fraction
  stolen). The tamper events are logged at the window's opening and closing instants (interval starts).
  Where the group publishes instantaneous values, the currents show it too: a bypass or a magnet
  lowers the measured phase and neutral currents by ``f``; with earth return only the neutral's
  (``1-0:91.7.0``) drops, so phase and neutral differ.
* ``cover_open``: Poisson per meter per UTC day, keyed by ``(seed, THEFT, group, chunk, day, kind)``, at a
  uniform second for ``minutes``: events 44 at the opening, 45 at the closing; registration unchanged.
  The label spans the intervals that overlap the open span, severity = minutes.

:meth:`Theft.stolen_milli` is each thief's energy not registered so far; the registered import of a
bill "as registered" is the true import less it (or the published ``import_milli``, summed).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from metersim._array import Array
from metersim.config.faults import TheftConfig, Thief
from metersim.faults.episodes import (
    WRAP_MILLI,
    Events,
    Offsets,
    Rows,
    Schedule,
    apply_offsets,
    first_end,
    per_meter,
)
from metersim.records import EVENT_CODES, Instantaneous, Label, ReadingBatch
from metersim.streams import MeterRange, Stream, group_key
from metersim.timebase import SECONDS_PER_DAY as DAY
from metersim.timebase import iso_utc, zone_offsets

#: kind, its key in the streams, and its (on, off) events
KINDS = (
    ("bypass", 1, None),
    ("magnet", 2, ("magnetic_field_detected", "magnetic_field_gone")),
    ("earth_return", 3, ("current_mismatch", "current_match")),
)
COVER = 4


def _hours_text(hours: Array) -> str:
    on = np.flatnonzero(hours).tolist()
    return "all hours" if len(on) == 24 else "hours " + ",".join(str(h) for h in on)


def _measured(values: Instantaneous, rows: Array, fraction: Array, kind: str) -> Instantaneous:
    """The currents the meter measures at ``rows`` while ``fraction`` of the load passes through it: a
    bypass or a saturated current sensor (magnet) lowers phase and neutral alike; with earth return the
    phase carries the whole load and only the neutral's current (what the meter registers by) drops."""
    amps = values.amps.copy()
    neutral = values.neutral_amps.copy() if values.neutral_amps is not None else None
    if kind != "earth_return":
        amps[rows] = np.round(amps[rows] * fraction[:, None], 2)
    if neutral is not None:
        neutral[rows] = np.round(neutral[rows] * fraction, 2)
    return replace(values, amps=amps, neutral_amps=neutral)


class Theft:
    """The theft of one group's meters: a transform (see :mod:`metersim.engine`).

    Arguments as :class:`metersim.faults.meter.MeterFaults`; local hours are those of the batches' time zone.
    """

    state_name = "theft"  # its arrays in a state file: ``GROUP/theft.NAME``

    def __init__(
        self,
        config: TheftConfig,
        *,
        seed: int,
        group: str,
        count: int,
        window: tuple[int, int],
        meters: MeterRange | None = None,
        wrap_milli: int = WRAP_MILLI,
    ) -> None:
        self.config, self.seed, self.group, self.window, self.wrap = config, seed, group, window, wrap_milli
        self.key = key = group_key(group)
        self.meters = m = meters or MeterRange.whole(count)
        self.rows = Rows(m.count)
        #: per kind: (name, local positions, registered fraction, hours mask (24,), events)
        self.thieves: list[tuple[str, Array, Array, Array, tuple[str, str] | None]] = []
        for name, kind, codes in KINDS:
            section: Thief | None = getattr(config, name)
            if section is None or section.fraction <= 0:
                continue
            u = per_meter(seed, Stream.THEFT, key, m, kind, lambda r, n: r.random((n, 2)))
            pos = np.flatnonzero(u[:, 0] < section.fraction)
            lo, hi = section.registered_fraction
            hours = np.zeros(24, bool)
            hours[section.hours] = True
            self.thieves.append((name, pos, lo + u[pos, 1] * (hi - lo), hours, codes))
        cover = config.cover_open
        self.cover: Schedule | None = None
        if cover is not None and cover.per_meter_per_year > 0:
            minutes = cover.minutes

            def length(rng: np.random.Generator, n: int) -> Array:
                return np.full(n, minutes * 60)

            self.cover = Schedule(seed, Stream.THEFT, key, m, COVER, cover.per_meter_per_year, length)
        self.idle = not self.thieves and self.cover is None
        self.offsets: Offsets | None = None  # register offsets (negative: not registered)
        self.stolen = Offsets(0)  # column 0: energy not registered so far [thousandths]

    def state(self) -> dict[str, Array]:
        """Per-meter state, for a state file, by name."""
        out = self.stolen.state("stolen")
        return out if self.offsets is None else {**out, **self.offsets.state("offsets")}

    def restore(self, state: dict[str, Array]) -> None:
        """Continue from :meth:`state`."""
        if "offsets_pos" in state:
            self.offsets = Offsets(0)
            self.offsets.restore("offsets", state)
        if "stolen_pos" in state:
            self.stolen.restore("stolen", state)

    def stolen_milli(self) -> tuple[Array, Array]:
        """``(meter index in the group, energy not registered so far [thousandths of the unit])`` per thief."""
        return self.stolen.pos + self.meters.start, self.stolen.val[:, 0].copy()

    @staticmethod
    def _on(hours: Array, tz: str, start_s: int) -> bool:
        """Whether the interval that starts at ``start_s`` starts in one of ``hours`` (local)."""
        return bool(hours[(start_s + zone_offsets(tz).offset(start_s)) % DAY // 3600])

    def __call__(self, batch: ReadingBatch) -> tuple[ReadingBatch, list[Label]]:
        meters = batch.meters
        if self.idle or meters.group != self.group or meters.grid_side or not len(batch):
            return batch, []
        if meters.count != self.meters.count:
            raise ValueError(f"{self.group}: a batch over {meters.count} meters for theft over {self.meters.count}")
        e, i, tz, ids = int(batch.end_s[0]), batch.interval_s, meters.timezone, meters.ids
        if self.offsets is None:
            self.offsets = Offsets(0 if batch.registers.bands is None else len(batch.registers.bands))
        offsets = self.offsets
        lo, hi = int(first_end(self.window[0], e, i)), int(first_end(self.window[1], e, i)) - i
        labels: list[Label] = []
        imp, measured = batch.import_milli, None
        for name, pos, fraction, hours, _codes in self.thieves:
            if not self._on(hours, tz, e - i):
                continue
            rows, which = self.rows.of(batch, pos)
            if imp is batch.import_milli:
                imp = np.array(imp)
            r = imp[rows]
            stolen = np.where(r > 0, r - np.floor(r * fraction[which]).astype(np.int64), 0)
            imp[rows] = r - stolen
            offsets.add(pos[which], offsets.delta(batch.band[rows].astype(np.int64), -stolen))
            if batch.instantaneous is not None:
                measured = _measured(batch.instantaneous if measured is None else measured, rows, fraction[which], name)
            self.stolen.add(pos[which], np.stack([stolen, np.zeros_like(stolen)], axis=1))
            if e == lo or not self._on(hours, tz, e - 2 * i):
                last = e
                if hours.all():
                    last = hi
                while last < hi and self._on(hours, tz, last):
                    last += i
                labels += [
                    Label(ids[p], e, last, f"theft_{name}", 1 - f, f"registers {f:.4f} of the import in local "
                          f"{_hours_text(hours)}; interval import floor(f x true), registers advance by it")
                    for p, f in zip(pos[which].tolist(), fraction[which].tolist())
                ]  # fmt: skip
        if self.cover is not None:
            labels += self._cover_labels(batch, e, lo, hi)
        changes: dict[str, object] = {}
        if imp is not batch.import_milli:
            changes["import_milli"] = imp
        if measured is not None:
            changes["instantaneous"] = measured
        if len(offsets.pos):
            rows, which = self.rows.of(batch, offsets.pos)
            changes["registers"] = apply_offsets(batch.registers, rows, offsets.val[which], self.wrap)
        return (batch.replace(**changes) if changes else batch), labels

    def _cover_episodes(self, e: int, i: int) -> tuple[Array, Array, Array]:
        assert self.cover is not None
        pos, start, end, _u = self.cover.around(e)
        return pos, start, end

    def _cover_labels(self, batch: ReadingBatch, e: int, lo: int, hi: int) -> list[Label]:
        i, ids = batch.interval_s, batch.meters.ids
        pos, start, end = self._cover_episodes(e, i)
        first, last = first_end(start, e, i), first_end(end - 1, e, i)
        now = np.flatnonzero((first <= e) & (e <= last) & ((first == e) | (e == lo)))
        minutes = self.config.cover_open.minutes if self.config.cover_open else 0
        return [
            Label(ids[int(pos[j])], max(int(first[j]), lo), min(int(last[j]), hi), "cover_open", float(minutes),
                  f"meter cover removed at {iso_utc(int(start[j]))}, closed at {iso_utc(int(end[j]))} (events 44/45); "
                  "registration unchanged")
            for j in now.tolist()
            if max(int(first[j]), lo) <= min(int(last[j]), hi)
        ]  # fmt: skip

    def events(self, batch: ReadingBatch) -> Events:
        """``(rows, time_s, code)``: the tamper events logged in the batch's interval: a theft window's
        opening or closing (at that interval start), a cover removed or closed (in ``(end - interval, end]``)."""
        parts: list[tuple[Array, Array, Array]] = []
        meters = batch.meters
        if not self.idle and meters.group == self.group and not meters.grid_side and len(batch):
            e, i, tz = int(batch.end_s[0]), batch.interval_s, meters.timezone
            first = e == int(first_end(self.window[0], e, i))
            for _name, pos, _f, hours, pair in self.thieves:
                if pair is None:
                    continue
                on, before = self._on(hours, tz, e - i), (not first) and self._on(hours, tz, e - 2 * i)
                if on != before:
                    rows, _which = self.rows.of(batch, pos)
                    code = EVENT_CODES[pair[0] if on else pair[1]]
                    parts.append((rows, np.full(len(rows), e - i), np.full(len(rows), code)))
            if self.cover is not None:
                pos, start, end = self._cover_episodes(e, i)
                for instants, name in ((start, "meter_cover_removed"), (end, "meter_cover_closed")):
                    inside = (instants > e - i) & (instants <= e)
                    rows, which = self.rows.of(batch, pos[inside])
                    parts.append((rows, instants[inside][which], np.full(len(rows), EVENT_CODES[name])))
        if not parts:
            return (np.zeros(0, np.int64),) * 3
        rows, time_s, codes = (np.concatenate([p[k] for p in parts]).astype(np.int64) for k in range(3))
        order = np.lexsort((rows, time_s))
        return rows[order], time_s[order], codes[order]


class Hooking:
    """Unmetered hooking ("kunda", DOMAIN.md §4): load wired around every meter, seen only in the energy
    balance of the grid-side meters (the group step adds it to what they deliver and to the ledger's
    ``unmetered`` column). This transform only labels it: one ``theft_hooking`` label per grid-side meter
    over the whole window, severity = the unmetered share of the metered consumption [fraction]."""

    def __init__(self, group: str, unmetered_pct: float, window: tuple[int, int]) -> None:
        self.group, self.share, self.window = group, unmetered_pct / 100, window

    def __call__(self, batch: ReadingBatch) -> tuple[ReadingBatch, list[Label]]:
        meters = batch.meters
        if meters.group != self.group or not meters.grid_side or not len(batch):
            return batch, []
        e, i = int(batch.end_s[0]), batch.interval_s
        if e != self.window[0] + i:  # labelled once, at the window's first interval
            return batch, []
        last = self.window[0] + (self.window[1] - self.window[0]) // i * i
        devices, ids = meters.devices or [], meters.ids
        return batch, [
            Label(ids[p], e, last, "theft_hooking", self.share, f"unmetered load of {self.share:.2%} of the "
                  f"metered consumption on this {devices[p]}: in its delivered energy (and the ledger's `unmetered`), "
                  "in no customer meter")
            for p in batch.meters_at.tolist()
        ]  # fmt: skip
