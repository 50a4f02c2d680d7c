"""Faults of the meters themselves (DOMAIN.md §4): what a meter registers and publishes goes wrong,
while what really flowed (``true_milli``) stays as it was.

Episodes of a ``per_meter_per_year`` fault are Poisson per meter per UTC day, at a uniform second,
keyed by ``(seed, METER_FAULTS, group, chunk, day, kind)``; a ``fraction`` fault picks meters once,
keyed by ``(seed, METER_FAULTS, group, chunk, kind)``. Chunks are drawn whole, so a meter's faults
depend on its index in the group alone. An episode ``[start, end)`` hits the intervals it overlaps.

* ``stuck_register``: registers flat (interval value 0) over the hit intervals; the next reading
  catches up (its interval value carries all not counted). The label spans both.
* ``spike``: one interval value x ``factor``; ``negative_interval``: one negated. Registers stay right.
* ``reverse_flow``: over the hit intervals consumption counts as export: interval import 0, import
  registers stand still, export (interval and 2.8.x registers, where the meter has them) grows.
* ``meter_replacement``: from the interval holding the instant on, a new meter: a new ``serial`` in the
  payload (and the label), import register ``U(0, initial_kwh_max)`` (in band 1) plus this interval;
  export 0. A group with replacements publishes every meter's serial (first ones drawn once per meter).
* ``rollover``: chosen meters' registers are offset at the run's first reading to start
  ``U(0, headroom_kwh)`` below the wrap, so they roll over in the run. The label spans the run.
* ``clock_drift``: a chosen meter's clock gains ``s_per_day`` (uniform in the range) from its last
  sync; syncs are every ``sync_every_days`` at a per-meter phase. Published ``end_s`` and ``sent_s``
  shift by ``rint(s_per_day x days since the sync)``, so the interval holding a sync is short (a
  fast clock) or long (slow) by the drift removed, and its ``quality`` is ``suspect`` (the meter knows
  it set its clock, as a DLMS profile's "clock adjusted" status). A label per meter and sync period;
  ``events``.

Cumulative changes are sparse per-meter offsets added to the registers (mod the wrap); ``state``.
"""

from __future__ import annotations

import math

import numpy as np

from metersim._array import Array
from metersim.config.faults import MeterFaultsConfig
from metersim.faults.episodes import (
    WRAP_MILLI,
    Detail,
    Events,
    Offsets,
    Rows,
    Sample,
    Schedule,
    apply_offsets,
    first_end,
    per_meter,
)
from metersim.records import EVENT_CODES, SUSPECT, Label, ReadingBatch
from metersim.streams import MeterRange, Stream, group_key
from metersim.timebase import SECONDS_PER_DAY as DAY
from metersim.timebase import iso_utc


def _serials(rng: np.random.Generator, n: int) -> Array:
    """The serial numbers of the meters first installed (8 digits)."""
    return rng.integers(0, 10**8, n, dtype=np.int64)


class MeterFaults:
    """The meter faults of one group: a transform (see :mod:`metersim.engine`).

    Batches of other groups and grid-side batches pass unchanged. Position ``k`` of a batch's MeterSet
    is meter ``meters.start + k`` of the group (default: the whole group of ``count`` meters).
    ``window`` is the run's ``(start_s, end_s)``; labels are clipped to it. ``wrap_milli`` is where the
    registers roll over: ``10**register_digits * 1000``.
    """

    state_name = "faults"  # its arrays in a state file: ``GROUP/faults.NAME``

    def __init__(
        self,
        config: MeterFaultsConfig,
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
        c, stream = config, Stream.METER_FAULTS

        def schedule(kind: int, section: object, length: Sample) -> Schedule | None:
            rate = getattr(section, "per_meter_per_year", 0.0) if section is not None else 0.0
            return Schedule(seed, stream, key, m, kind, rate, length) if rate > 0 else None

        def episodes(section: object) -> Sample:
            median, sigma = getattr(section, "hours_median", 1.0), getattr(section, "hours_sigma", 0.0)
            return lambda rng, n: np.rint(rng.lognormal(math.log(median), sigma, n) * 3600).clip(1)

        self.stuck = schedule(1, c.stuck_register, episodes(c.stuck_register))
        self.spike = schedule(2, c.spike, lambda r, n: np.zeros(n))
        self.negative = schedule(3, c.negative_interval, lambda r, n: np.zeros(n))
        self.reverse = schedule(4, c.reverse_flow, episodes(c.reverse_flow))
        self.replacement = schedule(5, c.replacement, lambda r, n: np.zeros(n))
        self.drift: tuple[Array, Array, Array] | None = None
        if c.clock_drift is not None and c.clock_drift.fraction > 0:
            u = per_meter(seed, stream, key, m, 6, lambda r, n: r.random((n, 3)))
            pos = np.flatnonzero(u[:, 0] < c.clock_drift.fraction)
            lo, hi = c.clock_drift.s_per_day
            period = c.clock_drift.sync_every_days * DAY
            self.drift = (pos, lo + u[pos, 1] * (hi - lo), (u[pos, 2] * period).astype(np.int64))
        self.rollover: tuple[Array, Array] | None = None
        if c.rollover is not None and c.rollover.fraction > 0:
            u = per_meter(seed, stream, key, m, 7, lambda r, n: r.random((n, 2)))
            pos = np.flatnonzero(u[:, 0] < c.rollover.fraction)
            self.rollover = (pos, np.rint(u[pos, 1] * c.rollover.headroom_kwh * 1000).astype(np.int64))
        schedules = (self.stuck, self.spike, self.negative, self.reverse, self.replacement)
        self.idle = self.drift is None and self.rollover is None and all(s is None for s in schedules)
        #: the serial number installed at each point, once a replacement can change it
        self.serial = None if self.replacement is None else per_meter(seed, stream, key, m, 8, _serials)
        self.offsets: Offsets | None = None  # lasting register offsets
        self.owed: Offsets | None = None  # what stuck registers have not counted yet
        self.started = False  # rollover offsets set
        #: each meter's last clock sync by command [epoch s; -1: none], by position (with commands only)
        self.synced_s: Array | None = None

    def state(self) -> dict[str, Array]:
        """Per-meter state, for a state file: the sparse offsets, by name."""
        if self.offsets is None or self.owed is None:
            return {}
        serial = {} if self.serial is None else {"serial": self.serial.copy()}
        return {
            **self.offsets.state("offsets"),
            **self.owed.state("owed"),
            "started": np.array([self.started]),
            **serial,
        }

    def restore(self, state: dict[str, Array]) -> None:
        """Continue from :meth:`state`."""
        if not state:
            return
        self.offsets, self.owed = Offsets(0), Offsets(0)
        self.offsets.restore("offsets", state)
        self.owed.restore("owed", state)
        self.started = bool(state["started"][0])
        if "serial" in state:
            self.serial = np.array(state["serial"], np.int64)

    def _hit(self, schedule: Schedule | None, e: int, i: int, catch_up: int = 0) -> tuple[Array, ...]:
        """Episodes of ``schedule`` hitting the interval ending ``e`` (or ``catch_up`` intervals after it)."""
        if schedule is None:
            return ()
        pos, start, end, u = schedule.around(e)
        first, last = first_end(start, e, i), first_end(end - 1, e, i)
        last = np.where(end > start, last, first) + catch_up * i
        hit = (first <= e) & (e <= last)
        return (pos[hit], first[hit], last[hit], u[hit]) if hit.any() else ()

    def _label(self, batch: ReadingBatch, first: Array, last: Array, e: int) -> tuple[Array, Array, Array]:
        """Which of the episodes to label now (at their first interval, or the run's), and their clipped spans."""
        i = batch.interval_s
        lo, hi = int(first_end(self.window[0], e, i)), int(first_end(self.window[1], e, i)) - i
        now = (first == e) | (e == lo)
        return np.flatnonzero(now), np.maximum(first, lo), np.minimum(last, hi)

    def __call__(self, batch: ReadingBatch) -> tuple[ReadingBatch, list[Label]]:
        meters = batch.meters
        if self.idle or meters.group != self.group or meters.grid_side or not len(batch):
            return batch, []
        if meters.count != self.meters.count:
            raise ValueError(f"{self.group}: a batch over {meters.count} meters for faults over {self.meters.count}")
        e, i, ids = int(batch.end_s[0]), batch.interval_s, meters.ids
        if self.offsets is None or self.owed is None:
            bands = 0 if batch.registers.bands is None else len(batch.registers.bands)
            self.offsets, self.owed = Offsets(bands), Offsets(bands)
        offsets, owed = self.offsets, self.owed
        r0 = batch.import_milli
        imp, exp = np.array(r0), (None if batch.export_milli is None else np.array(batch.export_milli))
        labels: list[Label] = []
        changes: dict[str, object] = {}

        def emit(kind: str, pos: Array, first: Array, last: Array, severity: Array, detail: Detail | str) -> None:
            now, first, last = self._label(batch, first, last, e)
            for j in now.tolist():
                if first[j] <= last[j]:
                    text = detail if isinstance(detail, str) else detail(j)
                    labels.append(Label(ids[int(pos[j])], int(first[j]), int(last[j]), kind, float(severity[j]), text))

        c = self.config
        if hits := self._hit(self.replacement, e, i):
            pos, first, last, u = hits
            rows, which = self.rows.of(batch, pos)
            pos, u = pos[which], u[which]
            start = np.rint(u[:, 0] * (c.replacement.initial_kwh_max if c.replacement else 0) * 1000).astype(np.int64)
            reg, band = batch.registers, batch.band[rows].astype(np.int64)
            target = offsets.delta(band, r0[rows])
            target[:, 0] += start
            if offsets.bands:
                target[:, 1] += start
            zero = np.zeros((1, len(rows)), np.int64)
            in_bands = zero[:0] if reg.bands is None else reg.bands[:, rows]
            export = zero if reg.export_total is None else reg.export_total[rows][None]
            export_bands = zero.repeat(offsets.bands, 0) if reg.export_bands is None else reg.export_bands[:, rows]
            now = np.concatenate([reg.total[rows][None], in_bands, export, export_bands]).T
            offsets.add(pos, target - now - offsets.get(pos) - owed.get(pos))
            serial, last = (u[:, 1] * 1e8).astype(np.int64), np.full(len(pos), 1 << 62)
            if self.serial is not None:
                self.serial[pos] = serial
            emit("meter_replacement", pos, first[which], last, start / 1000, lambda j: (
                f"meter replaced: new serial SN{serial[j]:08d}; its import register starts at {start[j] / 1000} "
                f"{meters.unit} (plus this interval), export at 0"))  # fmt: skip
        if hits := self._hit(self.stuck, e, i, catch_up=1):
            pos, first, last, _ = hits
            rows, which = self.rows.of(batch, pos)
            flat, back = last[which] > e, last[which] == e
            band = batch.band[rows].astype(np.int64)
            if flat.any():
                d = offsets.delta(band[flat], -imp[rows[flat]])
                owed.add(pos[which][flat], d)
                imp[rows[flat]] = 0
            if back.any():
                due = owed.get(pos[which][back])
                owed.add(pos[which][back], -due)
                imp[rows[back]] -= due[:, 0]
            emit("stuck_register", pos, first, last, (last - first) / 3600, lambda j: (
                "register flat, interval values 0, until the last reading of the span, which catches up"))  # fmt: skip
        if hits := self._hit(self.reverse, e, i):
            pos, first, last, _ = hits
            rows, which = self.rows.of(batch, pos)
            flow = imp[rows]
            offsets.add(pos[which], offsets.delta(batch.band[rows].astype(np.int64), -flow, flow))
            imp[rows] = 0
            if exp is not None:
                exp[rows] += flow
            emit("reverse_flow", pos, first, last, (last - first + i) / 3600, lambda j: (
                "consumption counted as export: import 0, export register (if any) grows by it"))  # fmt: skip
        for schedule, kind in ((self.spike, "spike"), (self.negative, "negative_interval")):
            if hits := self._hit(schedule, e, i):
                pos, first, last, _ = hits
                rows, _which = self.rows.of(batch, pos)
                factor = c.spike.factor if kind == "spike" and c.spike else -1.0
                imp[rows] = np.rint(imp[rows] * factor).astype(np.int64)
                text = f"interval value x {factor:g}; registers unchanged"
                emit(kind, pos, first, last, np.full(len(pos), factor), text)
        if self.rollover is not None:
            pos, headroom = self.rollover
            if not self.started:
                rows, which = self.rows.of(batch, pos)
                before = (batch.registers.total[rows] - r0[rows]) % self.wrap
                shift = (self.wrap - headroom[which] - before) % self.wrap
                d = offsets.delta(batch.band[rows].astype(np.int64), shift)
                offsets.add(pos[which], d)
                self.started = True
                wrap, ends = self.wrap / 1000, np.full(len(pos), e)
                emit("rollover", pos, ends, ends + (1 << 62), headroom / 1000, lambda j: (
                    f"registers offset to start {headroom[j] / 1000} {meters.unit} below the wrap at {wrap:g}"
                ))  # fmt: skip
        if self.drift is not None:
            pos, rate, phase = self.drift
            rows, which = self.rows.of(batch, pos)
            period = (c.clock_drift.sync_every_days if c.clock_drift else 1) * DAY
            since = self._since(pos[which], phase[which], e, period)
            shift = np.rint(rate[which] * since / DAY).astype(np.int64)
            if shift.any():
                end_s, sent_s = np.array(batch.end_s), np.array(batch.sent_s)
                end_s[rows] += shift
                sent_s[rows] += shift
                changes.update(end_s=end_s, sent_s=sent_s)
            if (synced := since < i).any():  # the meter knows it set its clock: it flags the interval
                quality = np.array(batch.quality)
                quality[rows[synced]] = SUSPECT
                changes["quality"] = quality
            sync = e - since
            first, last = first_end(sync - 1, e, i), first_end(sync + period - 1, e, i) - i
            emit("clock_drift", pos[which], first, last, rate := rate[which], lambda j: (
                f"clock drifts {rate[j]:+.3f} s/day since its sync at {iso_utc(int(sync[j]))}; published "
                f"times shifted by rint(drift x days since); next sync {iso_utc(int(sync[j] + period))}"))  # fmt: skip
        changes.update({"import_milli": imp} if (imp != r0).any() else {})
        if exp is not None and batch.export_milli is not None and not (exp == batch.export_milli).all():
            changes["export_milli"] = exp
        if self.serial is not None:
            changes["serial"] = self.serial[batch.meters_at]
        every = np.union1d(offsets.pos, owed.pos)
        if len(every):
            rows, which = self.rows.of(batch, every)
            off = offsets.get(every[which]) + owed.get(every[which])
            if off.any():
                changes["registers"] = apply_offsets(batch.registers, rows, off, self.wrap)
        return (batch.replace(**changes) if changes else batch), labels

    def _since(self, pos: Array, phase: Array, at_s: int, period: int) -> Array:
        """Seconds since each drifting meter's last clock sync, periodic or by command [s]."""
        since = (at_s - phase) % period
        if self.synced_s is not None:
            last = self.synced_s[pos]
            since = np.where((last >= 0) & (last <= at_s), np.minimum(since, at_s - last), since)
        return since

    def clock_offset_s(self, position: int, at_s: int) -> int:
        """How far meter ``position``'s clock is off at ``at_s`` [s] (0 for a meter without drift)."""
        if self.drift is None or self.config.clock_drift is None:
            return 0
        pos, rate, phase = self.drift
        k = int(np.searchsorted(pos, position))
        if k >= len(pos) or pos[k] != position:
            return 0
        since = self._since(pos[k : k + 1], phase[k : k + 1], at_s, self.config.clock_drift.sync_every_days * DAY)
        return int(np.rint(rate[k] * since[0] / DAY))

    def events(self, batch: ReadingBatch) -> Events:
        """``(rows, time_s, code)``: the ``clock_adjusted`` events of the batch's interval (the syncs in it)."""
        if self.drift is None or batch.meters.group != self.group or batch.meters.grid_side or not len(batch):
            return (np.zeros(0, np.int64),) * 3
        (pos, _rate, phase), e, i = self.drift, int(batch.end_s[0]), batch.interval_s
        rows, which = self.rows.of(batch, pos)
        period = (self.config.clock_drift.sync_every_days if self.config.clock_drift else 1) * DAY
        since = (e - phase[which]) % period
        now = since < i
        return rows[now], e - since[now], np.full(int(now.sum()), EVENT_CODES["clock_adjusted"], np.int64)
