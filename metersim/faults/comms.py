"""Communication faults of one group: link outages with store-and-forward, reconnect storms after a supply
interruption, per-reading drops, duplicates and delays (DOMAIN.md §4).

* **Link outages** of a path (a meter, or its concentrator: :mod:`metersim.fleet.concentrators`): random
  ones, Poisson per path per UTC day (mean ``outages_per_year / 365.2425``), starting at a uniform second,
  lasting ``lognormal(median, sigma)`` hours (1 s to :data:`MAX_OUTAGE_DAYS`), keyed by ``(seed,
  LINK_OUTAGES, group, chunk of paths, day)``, so they depend on the path's index alone; and scheduled
  ones. Overlapping or touching outages of a path are one, ``[start, end)``. A reading whose report time
  (``sent_s``) falls in it is held, marked late, and leaves at ``end`` plus its meter's reconnect jitter
  (a whole second in ``[0, reconnect_jitter_s]``, drawn once per meter).
* **Reconnect storm.** A reading taken (at its interval end) without supply is held likewise until the
  supply returns, plus the jitter; if its link is down then, until the link is back, plus the jitter.
* **Store depth**, per meter: of one meter's readings in one outage or interruption the newest
  ``store_depth`` are kept; a reading is lost (``published`` false) when ``store_depth`` or more of the
  meter's readings follow it inside it (counted from its end and the run's end).
* **Per reading**, of those still published, independently: drop; delay (1..``delay_max_s`` s, quality
  unchanged); duplicate (a second copy 1..60 s after it leaves). ``targets`` replace ``faults`` for a
  path's meters or one meter (a meter's wins). Three uniforms per meter and interval, keyed by ``(seed,
  COMMS, group, chunk, interval index)``; an amount reuses the uniform that chose its fault.

Labels span interval ends [epoch s], each emitted once, at the first affected reading: ``comms_backlog``
or ``supply_backlog`` (a meter's held readings in one outage or interruption), ``comms_lost`` (its lost
ones), severity = how many; ``comms_drop``, ``comms_duplicate``, ``comms_delay`` per reading.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from metersim._array import Array
from metersim.config.events import CommsConfig
from metersim.fleet.concentrators import Paths
from metersim.records import LATE, Label, ReadingBatch
from metersim.streams import CHUNK, STATIC, MeterRange, Stream, draw, group_key
from metersim.timebase import SECONDS_PER_DAY as DAY
from metersim.timebase import iso_utc, parse_instant

DAYS_PER_YEAR = 365.2425
MAX_OUTAGE_DAYS = 31  # longest random link outage [d]; also how far back a day's outages are drawn
DUPLICATE_MAX_S = 60  # a second copy leaves 1..this many seconds after the first [s]
_BITS = 34  # (path << _BITS) + t orders spans by path, then time (t < 2**34: until the year 2514)

#: ``restored_at(rows, t_s)``: when each of ``rows`` (positions in the batch's MeterSet; None: all) has
#: supply again [epoch s] if it has none at ``t_s``, else -1 (as ``model.supply.SupplySchedule.restored_at``)
RestoredAt = Callable[[Array | None, int], Array]


@dataclass(frozen=True)
class Probabilities:
    """Per-reading faults [probability each]."""

    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    delay_max_s: int = 3600  # [s]


@dataclass(frozen=True)
class LinkOutage:
    path: int  # path index (see :class:`~metersim.fleet.concentrators.Paths`)
    start_s: int  # [epoch s]
    duration_s: int  # [s]


@dataclass(frozen=True)
class CommsParams:
    store_depth: int = 96  # readings a meter keeps while it cannot send
    outages_per_year: float = 0.0  # random link outages per path per year
    outage_hours_median: float = 6.0  # [h]
    outage_hours_sigma: float = 0.7  # lognormal sigma [-]
    outages: tuple[LinkOutage, ...] = ()  # scheduled
    reconnect_jitter_s: int = 120  # [s]
    faults: Probabilities = Probabilities()
    path_targets: Mapping[int, Probabilities] = field(default_factory=dict)  # by path index
    meter_targets: Mapping[int, Probabilities] = field(default_factory=dict)  # by position in the group


def comms_params(config: CommsConfig, paths: Paths) -> CommsParams:
    """The plain parameters of a group's ``comms`` section; ids are resolved against ``paths``.

    Raises ValueError naming every outage path or target that is neither a path id nor a meter id.
    """
    outages = [(paths.index_of(o.path), o) for o in config.outages]
    targets = [(paths.locate(key), key, q) for key, q in config.targets.items()]
    unknown = [o.path for p, o in outages if p is None] + [key for found, key, _ in targets if found is None]
    if unknown:
        raise ValueError(f"comms: no path or meter has the id(s) {sorted(set(unknown))}")
    by_kind: dict[str, dict[int, Probabilities]] = {"path": {}, "meter": {}}
    for found, _, q in targets:
        assert found is not None
        by_kind[found[0]][found[1]] = Probabilities(**q.model_dump())
    scheduled = tuple(
        LinkOutage(p, parse_instant(o.start), max(1, round(o.hours * 3600))) for p, o in outages if p is not None
    )
    faults = Probabilities(**config.faults.model_dump()) if config.faults else Probabilities()
    return CommsParams(
        config.store_depth, config.outages_per_year, config.outage_hours_median, config.outage_hours_sigma,
        scheduled, config.reconnect_jitter_s, faults, by_kind["path"], by_kind["meter"],
    )  # fmt: skip


def _merge(path: Array, start: Array, end: Array) -> tuple[Array, Array, Array]:
    """Overlapping or touching spans of one path as one, ordered by path then start."""
    if len(path) < 2:
        return path, start, end
    order = np.lexsort((start, path))
    path, start, end = path[order], start[order], end[order]
    reach = np.maximum.accumulate((path << _BITS) + end)
    firsts = np.flatnonzero(np.concatenate([[True], (path[1:] << _BITS) + start[1:] > reach[:-1]]))
    return path[firsts], start[firsts], np.maximum.reduceat(end, firsts)


class _Outages:
    """The merged link outages of paths ``lo .. hi - 1``, drawn day by day as the clock moves on."""

    def __init__(self, params: CommsParams, seed: int, key: int, lo: int, hi: int) -> None:
        self.seed, self.key, self.lo, self.hi = seed, key, lo, hi
        self.rate = params.outages_per_year / DAYS_PER_YEAR
        self.log_median, self.sigma = math.log(params.outage_hours_median), params.outage_hours_sigma
        mine = [(o.path, o.start_s, o.start_s + o.duration_s) for o in params.outages if lo <= o.path < hi]
        self.scheduled = _merge(*np.array(mine, np.int64).reshape(-1, 3).T)
        self.table = self.scheduled
        self.first = self.through = 0  # days first .. through - 1 are drawn into the table
        self.kept_from = 0  # spans that ended before this instant were dropped [epoch s]

    def _day(self, day: int) -> list[tuple[Array, Array, Array]]:
        parts = []
        for chunk in range(self.lo // CHUNK, (self.hi - 1) // CHUNK + 1):
            rng = np.random.default_rng([self.seed, int(Stream.LINK_OUTAGES), self.key, chunk, day])
            counts = rng.poisson(self.rate, CHUNK)
            n = int(counts.sum())
            if n:
                path = chunk * CHUNK + np.repeat(np.arange(CHUNK, dtype=np.int64), counts)
                start = day * DAY + rng.integers(0, DAY, n)
                hours = rng.lognormal(self.log_median, self.sigma, n)
                length = np.clip(np.rint(hours * 3600), 1, MAX_OUTAGE_DAYS * DAY).astype(np.int64)
                keep = (path >= self.lo) & (path < self.hi)
                parts.append((path[keep], start[keep], start[keep] + length[keep]))
        return parts

    def _draw(self, first: int, through: int, now: int) -> None:
        """Make days ``first .. through - 1`` drawn; forget spans that ended a day before ``now``."""
        if first < self.first or now < self.kept_from or self.through == 0:  # (re)start
            self.table, self.first, self.through, self.kept_from = self.scheduled, first, first, 0
        if through <= self.through:
            return
        parts = [self.table, *(p for day in range(self.through, through) for p in self._day(day))]
        path, start, end = _merge(*(np.concatenate([p[i] for p in parts]) for i in range(3)))
        self.kept_from = max(self.kept_from, now - DAY)
        keep = end > self.kept_from
        self.table, self.through = (path[keep], start[keep], end[keep]), through

    def overlapping(self, lo_s: int, hi_s: int, now: int) -> tuple[Array, Array, Array]:
        """``(path, start_s, end_s)`` of the outages that overlap ``[lo_s, hi_s)``, each with its whole span."""
        if self.rate > 0:
            self._draw(now // DAY - MAX_OUTAGE_DAYS - 1, (hi_s - 1) // DAY + 1, now)
        while True:
            path, start, end = self.table
            hit = (start < hi_s) & (end > lo_s)
            if self.rate <= 0 or not hit.any():
                break
            need = int(end[hit].max()) // DAY + 1  # a span starting by the last end would join it
            if need <= self.through:
                break
            self._draw(self.first, need, now)
        return path[hit], start[hit], end[hit]


class CommsFaults:
    """The communication faults of one group's meters: a transform (see :mod:`metersim.engine`).

    ``params`` come from :func:`comms_params`, ``paths`` from :func:`metersim.fleet.concentrators.build_paths`;
    batches of other groups than ``group``, and grid-side batches, pass unchanged. Position ``k`` of a
    batch's MeterSet is meter ``meters.start + k`` of the group (default range: the whole group).
    ``window`` is the run's ``(start_s, end_s)``: readings exist for intervals ending in ``(start, end]``
    (default: from the first interval seen, without an end). ``restored_at``: see :data:`RestoredAt`
    (None: the supply never fails).
    """

    def __init__(
        self,
        params: CommsParams,
        *,
        seed: int,
        group: str,
        paths: Paths,
        meters: MeterRange | None = None,
        window: tuple[int, int] | None = None,
        restored_at: RestoredAt | None = None,
    ) -> None:
        self.params, self.seed, self.group, self.paths = params, seed, group, paths
        self.key = group_key(group)
        self.meters = meters = meters or MeterRange.whole(paths.meters)
        self.start_s: int | None = window[0] if window is not None else None
        self.end_s = window[1] if window is not None else 1 << 62
        self.restored_at = restored_at
        self.outages = _Outages(params, seed, self.key, *paths.paths_of_range(meters))
        jitter = params.reconnect_jitter_s + 1
        self.jitter = draw(seed, Stream.COMMS, self.key, meters, STATIC, lambda r, k: r.integers(0, jitter, k))
        self.rates = self._rates()
        links = self.outages.rate > 0 or len(self.outages.scheduled[0]) > 0
        self.idle = self.rates is None and not links and restored_at is None  # nothing can ever happen
        self._identity: Array | None = None  # a ``meters_at`` seen to be every position in order

    def _rates(self) -> tuple[Array, Array] | None:
        """``(drop, duplicate, delay)`` probabilities and ``delay_max_s`` per meter of the range; None if all 0."""
        p, start, n = self.params, self.meters.start, self.meters.count
        rates, delay_max = np.empty((3, n)), np.empty(n, np.int64)

        def put(where: slice, q: Probabilities) -> None:
            rates[:, where], delay_max[where] = np.array([[q.drop], [q.duplicate], [q.delay]]), q.delay_max_s

        put(slice(None), p.faults)
        for path, q in p.path_targets.items():
            lo, hi = self.paths.span(path)
            put(slice(max(lo - start, 0), max(min(hi - start, n), 0)), q)
        for position, q in p.meter_targets.items():
            if 0 <= position - start < n:
                put(slice(position - start, position - start + 1), q)
        return (rates, delay_max) if rates.any() else None

    def link_outages(self, start_s: int, end_s: int) -> list[tuple[str, int, int]]:
        """``(path id, start_s, end_s)`` of the link outages of the range's paths that overlap ``[start_s, end_s)``."""
        path, start, end = self.outages.overlapping(start_s, end_s, start_s)
        return [(self.paths.path_id(p), a, b) for p, a, b in zip(path.tolist(), start.tolist(), end.tolist())]

    def __call__(self, batch: ReadingBatch) -> tuple[ReadingBatch, list[Label]]:
        meters = batch.meters
        if self.idle or meters.group != self.group or meters.grid_side or not len(batch):
            return batch, []
        if meters.count != self.meters.count:
            raise ValueError(f"{self.group}: a batch over {meters.count} meters for faults over {self.meters.count}")
        if self.start_s is None:
            self.start_s = int(batch.end_s[0]) - batch.interval_s
        ends = batch.end_s
        lo, hi = (int(ends[0]),) * 2 if ends.strides == (0,) else (int(ends.min()), int(ends.max()))
        at = self._positions(batch)
        labels: list[Label] = []
        holds = [self._link(batch, at, lo, hi, labels)]
        if self.restored_at is not None:
            holds.append(self._supply(batch, lo, labels))
        changes: dict[str, Array] = {}
        sent_s, published = batch.sent_s, batch.published
        if any(h is not None for h in holds):
            hold, lost = np.full(len(batch), -1, np.int64), np.zeros(len(batch), bool)
            for rows, release, lose in (h for h in holds if h is not None):
                hold[rows], lost[rows] = np.maximum(hold[rows], release), lost[rows] | lose
            late = (hold >= 0) & ~lost
            sent_s, quality = np.where(late, hold, sent_s), np.array(batch.quality)
            quality[late] = LATE
            published = published & ~lost
            changes.update(sent_s=sent_s, quality=quality, published=published)
        if self.rates is not None:
            self._per_reading(batch, at, published, changes, labels)
        return (batch.replace(**changes) if changes else batch), labels

    def _positions(self, batch: ReadingBatch) -> Array | None:
        """The rows' positions in the range, or None when they are every position in order."""
        rows = batch.meters_at
        if rows is not self._identity and (len(rows) != self.meters.count or (rows != np.arange(len(rows))).any()):
            return rows
        self._identity = rows
        return None

    def _rows_of(self, path: Array, at: Array | None) -> tuple[Array, Array]:
        """The rows of the meters of each ``path`` (concatenated), and which entry of ``path`` each is of."""
        n, start = self.meters.count, self.meters.start
        if at is None:  # row k is position k
            lo, hi = (np.clip(x - start, 0, n) for x in self.paths.spans(path))
        else:  # rows in any order: sort them by path
            order = np.argsort(self.paths.path_of(at + start), kind="stable")
            by_path = self.paths.path_of(at[order] + start)
            lo, hi = np.searchsorted(by_path, path), np.searchsorted(by_path, path, "right")
        counts = hi - lo
        rows = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts - lo, counts)
        return (rows if at is None else order[rows]), np.repeat(np.arange(len(path)), counts)

    def _after(self, until: Array, sent: Array, end: Array, interval_s: int) -> Array:
        """How many of a meter's readings follow each one while it cannot send (report times before ``until``)."""
        out: Array = np.maximum(np.minimum((until - 1 - sent) // interval_s, (self.end_s - end) // interval_s), 0)
        return out

    def _link(
        self, batch: ReadingBatch, at: Array | None, lo: int, hi: int, labels: list[Label]
    ) -> tuple[Array, Array, Array] | None:
        """The rows a link outage holds: ``(rows, release_s, lost)``."""
        interval_s = batch.interval_s
        path, start, end = self.outages.overlapping(lo, hi + interval_s, lo)
        if not len(path):
            return None
        rows, k = self._rows_of(path, at)
        sent = batch.sent_s[rows]
        inside = (sent >= start[k]) & (sent < end[k])
        rows, k, sent = rows[inside], k[inside], sent[inside]
        if not len(rows):
            return None
        positions, ends = batch.meters_at[rows], batch.end_s[rows]
        after = self._after(end[k], sent, ends, interval_s)
        first = np.flatnonzero((sent - interval_s < start[k]) | (ends - interval_s <= self.start_s))
        for j in first.tolist():
            p, a, b = int(path[k[j]]), int(start[k[j]]), int(end[k[j]])
            why = f"the link of {self.paths.path_id(p)} was down from {iso_utc(a)} to {iso_utc(b)}"
            labels += self._store_labels(batch, int(positions[j]), int(ends[j]), int(after[j]), "comms", why)
        return rows, end[k] + self.jitter[positions], after >= self.params.store_depth

    def _supply(self, batch: ReadingBatch, lo: int, labels: list[Label]) -> tuple[Array, Array, Array] | None:
        """The rows that have no supply at their interval end: ``(rows, release_s, lost)``."""
        assert self.restored_at is not None
        interval_s = batch.interval_s
        back = self.restored_at(batch.meters_at, lo)
        rows = np.flatnonzero(back > lo)
        if not len(rows):
            return None
        back, positions, ends = back[rows], batch.meters_at[rows], batch.end_s[rows]
        after = self._after(back, ends, ends, interval_s)
        before = self.restored_at(positions, lo - interval_s)
        release = back + self.jitter[positions]
        path, start, end = self.outages.overlapping(int(release.min()), int(release.max()) + 1, lo)
        if len(path):  # the link is down when the supply returns: wait for it too
            row_path = self.paths.path_of(positions + self.meters.start)
            for p, a, b in zip(path.tolist(), start.tolist(), end.tolist()):
                waits = (row_path == p) & (release >= a) & (release < b)
                release[waits] = b + self.jitter[positions[waits]]
        for j in np.flatnonzero((before != back) | (ends - interval_s <= self.start_s)).tolist():
            why = f"the meter had no supply until {iso_utc(int(back[j]))}"
            labels += self._store_labels(batch, int(positions[j]), int(ends[j]), int(after[j]), "supply", why)
        return rows, release, after >= self.params.store_depth

    def _store_labels(
        self, batch: ReadingBatch, position: int, end: int, after: int, cause: str, why: str
    ) -> list[Label]:
        """The backlog and lost labels of one meter's readings from ``end`` on while it cannot send."""
        interval_s, depth = batch.interval_s, self.params.store_depth
        meter_id, total = batch.meters.ids[position], after + 1
        lost = max(0, total - depth)
        held, last = total - lost, end + (total - 1) * interval_s
        out = []
        if lost:
            detail = f"{lost} oldest readings lost: the store keeps {depth} while {why}"
            out.append(Label(meter_id, end, end + (lost - 1) * interval_s, "comms_lost", float(lost), detail))
        if held:
            detail = f"{held} readings held and sent late: {why}"
            out.append(Label(meter_id, last - (held - 1) * interval_s, last, f"{cause}_backlog", float(held), detail))
        return out

    def _per_reading(
        self, batch: ReadingBatch, at: Array | None, published: Array, changes: dict[str, Array], labels: list[Label]
    ) -> None:
        """Drops, duplicates and delays of the readings still published."""
        assert self.rates is not None
        interval_s, end = batch.interval_s, int(batch.end_s[0])
        rates, delay_max = self.rates
        uniform = draw(
            self.seed, Stream.COMMS, self.key, self.meters, end // interval_s, lambda r, k: r.random((k, 3))
        ).T
        if at is not None:
            uniform, rates, delay_max = uniform[:, at], rates[:, at], delay_max[at]
        hit = rates > uniform
        if not hit.any():
            return
        drop, live = np.flatnonzero(hit[0] & published), published & ~hit[0]
        duplicate, delay = np.flatnonzero(hit[1] & live), np.flatnonzero(hit[2] & live)
        sent_s = np.array(changes.get("sent_s", batch.sent_s))
        late = _amount(uniform[2, delay], rates[2, delay], delay_max[delay])
        sent_s[delay] += late
        again = _amount(uniform[1, duplicate], rates[1, duplicate], np.int64(DUPLICATE_MAX_S))
        resend = np.full(len(batch), -1, np.int64) if batch.resend_s is None else np.array(batch.resend_s)
        resend[duplicate] = sent_s[duplicate] + again
        for name, rows, value in (
            ("published", drop, live),
            ("sent_s", delay, sent_s),
            ("resend_s", duplicate, resend),
        ):
            if len(rows):
                changes[name] = value
        ids, positions = batch.meters.ids, batch.meters_at
        for kind, rows, amounts, text in (
            ("comms_drop", drop, drop, "never arrived"),
            ("comms_delay", delay, late, "sent {} s late"),
            ("comms_duplicate", duplicate, again, "a second copy {} s later"),
        ):
            delayed, meter_ids = kind == "comms_delay", [ids[p] for p in positions[rows].tolist()]
            labels += [
                Label(m, end, end, kind, float(a) if delayed else 1.0, text.format(a))
                for m, a in zip(meter_ids, amounts.tolist())
            ]


def _amount(uniform: Array, rate: Array, most: Array) -> Array:
    """1 .. ``most`` from uniforms below ``rate`` (which, divided by it, are uniform in [0, 1) again)."""
    out: Array = 1 + np.minimum(np.floor(uniform / rate * most).astype(np.int64), most - 1)
    return out
