"""Supply: when each meter of a group's range has mains power (and gas), as a pure, deterministic schedule.

* **Load shedding.** A category switches its feeders off in the same local-time blocks every day. A
  :class:`DailyWindow` is ``[start_min, end_min)`` of the local day; ``end_min <= start_min`` wraps past
  midnight. Each part of a window is tested (``months``, ``day_types``) against the local day it falls
  on, as tariff windows are (:mod:`metersim.tariffs`).
* **Random outages**, per feeder or per transformer: each UTC day a device has a Poisson number of
  interruptions with mean ``per_year / 365.2425``, each starting at a uniform whole second of that day
  and lasting ``lognormal(median, sigma)`` seconds (at least 1 s, at most 7 days). The draws are keyed
  by ``(seed, Stream.OUTAGES, group, kind, block of 1024 device indices, UTC day)``: a device's outages
  depend on its global index alone, never on which meters are simulated.
* **Merging.** A meter is off while any interruption of its feeder (shedding, or a feeder outage) or its
  transformer is on. Overlapping or touching interruptions are one off span: one power-down at its
  start, one power-up at its end, one failure.
* **Gas windows** (gas groups): gas flows only inside the windows that match the local day (a day with
  none has no gas). They reduce ``on_fraction`` only: they are not power failures (no events, counters,
  cold-load pickup, nor :meth:`SupplySchedule.restored_at`).
* **Step** over ``[start_s, end_s)``: ``on_fraction`` is the share of the interval with supply.
  ``failures`` and ``long_failures`` count off spans that begin in ``(start_s, end_s]``, the same
  instants as their power-down events, so a counter and its event appear in the same reading; a failure
  is long when its whole span lasts ``long_failure_s`` or more. ``pickup`` is ``1 + (factor - 1) * w / p``
  where ``p`` is the powered time of the interval and ``w`` the part of it within ``minutes`` after a
  restoration: ``on_fraction * pickup`` scales an interval's electricity.

Instants are integer epoch seconds (UTC). Spans are merged per *node* (a feeder, or a feeder and transformer
pair when outages are per transformer), cached per UTC day, and only then spread to the meters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import numpy as np

from metersim import calendar
from metersim._array import Array
from metersim.records import EVENT_CODES
from metersim.streams import Stream
from metersim.timebase import SECONDS_PER_DAY as DAY
from metersim.timebase import local_month, utc_offsets_s

MAX_OUTAGE_S = 7 * DAY
KINDS = {"feeder": 0, "transformer": 1}  # the ``kind`` key of the outage draws
DEVICE_BLOCK = 1024  # devices drawn together under one key
_DAY_KEY = 1 << 31  # added to the UTC day in a key, which must not be negative
_BITS, _BIAS = 34, 1 << 32  # (node << _BITS) | (t + _BIAS) orders spans by node, then time
_MASK = (1 << _BITS) - 1
_CACHED = 64  # days (or blocks) of spans kept
_MAX_HOPS = 1000  # restored_at follows an off span through at most this many days
_T = TypeVar("_T")


class DailyWindow(NamedTuple):
    """Minutes ``[start_min, end_min)`` of the local day (0..1440); ``end_min <= start_min`` wraps.
    ``months`` (1-12) and ``day_types`` (:data:`metersim.calendar.WEEKDAY` etc.) default to all."""

    start_min: int
    end_min: int
    months: tuple[int, ...] | None = None
    day_types: tuple[int, ...] | None = None


class SheddingCategory(NamedTuple):
    """Feeders (global indices) switched off in the same windows every day."""

    feeders: tuple[int, ...]
    windows: tuple[DailyWindow, ...]


class OutageParams(NamedTuple):
    """Random interruptions of every ``per`` device ("feeder" or "transformer")."""

    per: str
    per_year: float  # mean interruptions per device per year [1/a]
    median_minutes: float  # median duration [min]
    sigma: float  # lognormal sigma of the duration [-]


class PickupParams(NamedTuple):
    """Cold-load pickup: load times ``factor`` for ``minutes`` after supply returns."""

    factor: float
    minutes: int


@dataclass(frozen=True)
class SupplyParams:
    """Everything that decides a group's supply. Plain tuples work wherever a NamedTuple is named."""

    shedding: tuple[SheddingCategory, ...] = ()
    outages: OutageParams | None = None
    gas_windows: tuple[DailyWindow, ...] | None = None  # gas flows only inside these
    cold_load: PickupParams | None = None
    long_failure_s: int = 180  # [s]
    last_gasp: bool = True  # emit power-down and power-up events

    def __post_init__(self) -> None:
        windows = [w for c in self.shedding for w in c.windows] + list(self.gas_windows or ())
        if any(not (0 <= w[0] <= 1440 and 0 <= w[1] <= 1440) for w in windows):
            raise ValueError(f"window minutes must be within 0..1440: {windows}")
        if self.outages is not None:
            per, rate, median, sigma = self.outages
            if per not in KINDS or rate < 0 or median <= 0 or sigma < 0:
                raise ValueError(f"bad outage parameters: {self.outages}")
        if self.cold_load is not None and (self.cold_load[0] < 1 or self.cold_load[1] < 1):
            raise ValueError(f"cold-load pickup needs factor >= 1 and minutes >= 1, got {self.cold_load}")
        if self.long_failure_s < 1:
            raise ValueError(f"long_failure_s must be >= 1, got {self.long_failure_s}")


@dataclass(frozen=True, eq=False)
class SupplyStep:
    """One interval of the schedule, per row of the range (events: one per row of the event arrays).

    The arrays are read-only: the constant ones (all 1, all 0, no events) are shared between steps."""

    on_fraction: Array  # share of the interval with supply [-] (float64)
    pickup: Array  # cold-load multiplier of the powered load [-] (float64, >= 1)
    failures: Array  # off spans beginning in (start_s, end_s] (int64)
    long_failures: Array  # those lasting >= long_failure_s (int64)
    event_rows: Array  # row of each event (int64)
    event_time_s: Array  # [epoch s] (int64)
    event_code: Array  # EVENT_CODES["power_down"] or ["power_up"] (int16)


class _Spans(NamedTuple):
    node: Array  # merged power-off spans, sorted by (node, start)
    start: Array
    end: Array
    key: Array  # (node << _BITS) | (start + _BIAS)
    gas_start: Array  # merged gas-off spans (all meters), sorted
    gas_end: Array


def _csr(keys: Array, n: int) -> tuple[Array, Array]:
    """``(ptr, members)``: the items with key ``k`` are ``members[ptr[k]:ptr[k + 1]]``."""
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=ptr[1:])
    return ptr, np.argsort(keys, kind="stable")


def _expand(ptr: Array, members: Array, keys: Array) -> tuple[Array, Array]:
    """Every ``(i, member)`` with member in the group of ``keys[i]``, in the order of ``keys``."""
    counts = ptr[keys + 1] - ptr[keys]
    which = np.repeat(np.arange(len(keys)), counts)
    offset = np.repeat(ptr[keys] - np.cumsum(counts) + counts, counts)
    return which, members[np.arange(len(which)) + offset]


def _touching(ptr: Array, members: Array, keys: Array, start: Array, end: Array, lo: int, hi: int) -> tuple[Array, ...]:
    """``(member, start, end)`` of the spans touching ``[lo, hi]``, once per member of their key's group."""
    keep = (start <= hi) & (end >= lo) & (end > start)  # (a local hour that DST skips is empty)
    which, member = _expand(ptr, members, keys[keep])
    return member, start[keep][which], end[keep][which]


def _merge(node: Array, start: Array, end: Array) -> tuple[Array, Array, Array]:
    """The union of spans ``[start, end]`` per node (touching spans join), sorted by (node, start)."""
    if len(node) == 0:
        return node, start, end
    ks = (node << _BITS) | (start + _BIAS)
    order = np.argsort(ks, kind="stable")
    reach = np.maximum.accumulate(((node << _BITS) | (end + _BIAS))[order])
    first = np.ones(len(order), bool)
    first[1:] = ks[order][1:] > reach[:-1]
    heads = np.flatnonzero(first)
    tails = np.append(heads[1:] - 1, len(order) - 1)
    return node[order][heads], start[order][heads], (reach[tails] & _MASK) - _BIAS


def _pieces(windows: tuple[DailyWindow, ...], month: int, day_type: int) -> list[tuple[int, int]]:
    """The parts ``(start_min, end_min)`` of the windows that apply on a local day."""
    out = []
    for start, end, months, types in windows:
        if (months is not None and month not in months) or (types is not None and day_type not in types):
            continue
        out += [(start, end)] if end > start else [(start, 1440), (0, end)]
    return [(s, e) for s, e in out if e > s]


def _complement(pieces: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, reached = [], 0
    for start, end in sorted(pieces):
        if start > reached:
            out.append((reached, start))
        reached = max(reached, end)
    return [*out, (reached, 1440)] if reached < 1440 else out


def _cached(cache: dict[int, _T], key: int, make: Callable[[int], _T]) -> _T:
    value = cache.get(key)
    if value is None:
        if len(cache) >= _CACHED:
            cache.clear()
        value = cache[key] = make(key)
    return value


def _frozen(x: Array) -> Array:
    x.flags.writeable = False  # shared arrays stay as they are
    return x


def _overlap(start: Array, end: Array, lo: int, hi: int) -> Array:
    """Length of each ``[start, end)`` within ``[lo, hi)`` [s]."""
    out: Array = np.clip(np.minimum(end, hi) - np.maximum(start, lo), 0, None)
    return out


class SupplySchedule:
    """The supply of one range of a group's meters, one row per meter.

    ``meter_feeder`` and ``meter_transformer`` are each row's global feeder and transformer index (of
    ``n_feeders`` and ``n_transformers`` in the group). ``seed`` and ``group`` (the group name's
    :func:`metersim.streams.group_key`) key the outage draws. Windows are in the local time of IANA zone
    ``timezone``; ``country`` (ISO 3166) gives the holidays of the ``sunday_holiday`` day type.
    """

    def __init__(
        self,
        params: SupplyParams,
        *,
        seed: int,
        timezone: str,
        meter_feeder: Array,
        meter_transformer: Array,
        n_feeders: int,
        n_transformers: int,
        group: int = 0,
        country: str | None = None,
    ) -> None:
        feeder = np.asarray(meter_feeder, np.int64)
        transformer = np.asarray(meter_transformer, np.int64)
        if feeder.shape != transformer.shape or feeder.ndim != 1:
            raise ValueError(f"meter_feeder {feeder.shape} and meter_transformer {transformer.shape} must match")
        for name, values, n in (("feeder", feeder, n_feeders), ("transformer", transformer, n_transformers)):
            if values.size and not (values.min() >= 0 and values.max() < n):
                raise ValueError(f"{name} indices must be within 0..{n - 1}")
        if bad := [f for c in params.shedding for f in c.feeders if not 0 <= f < n_feeders]:
            raise ValueError(f"shedding feeders must be within 0..{n_feeders - 1}, got {bad}")
        self.params, self.seed, self.group, self.timezone, self.country = params, seed, group, timezone, country
        self.count = len(feeder)
        outages = params.outages
        self._rate = outages is not None and outages.per_year > 0 and self.count > 0
        self._kind = KINDS[outages.per] if outages is not None else 0
        if self._kind:  # a node is a (feeder, transformer) pair
            unique, meter_node = np.unique(feeder * n_transformers + transformer, return_inverse=True)
            node_feeder, node_device, n_devices = unique // n_transformers, unique % n_transformers, n_transformers
        else:  # a node is a feeder
            unique, meter_node = np.unique(feeder, return_inverse=True)
            node_feeder, node_device, n_devices = unique, unique, n_feeders
        self._n_nodes = len(unique)
        self._meter_node = meter_node.reshape(-1)
        self._row_ptr, self._rows = _csr(self._meter_node, self._n_nodes)
        self._dev_ptr, self._dev_nodes = _csr(node_device, n_devices)
        self._blocks = np.unique(node_device // DEVICE_BLOCK).tolist()
        in_category = [np.flatnonzero(np.isin(node_feeder, c.feeders)) for c in params.shedding]
        self._cat_ptr = np.concatenate([[0], np.cumsum([len(m) for m in in_category], dtype=np.int64)])
        self._cat_nodes = np.concatenate([np.zeros(0, np.int64), *in_category])
        every = [w for c in params.shedding for w in c.windows] + list(params.gas_windows or ())
        self._daily = bool(every)
        self._need_types = any(w[3] is not None for w in every)
        self._pickup_s = 60 * params.cold_load[1] if params.cold_load is not None else 0
        self._margin = self._pickup_s + params.long_failure_s
        self._local_days: dict[int, tuple[Array, ...]] = {}
        self._random_days: dict[int, tuple[Array, ...]] = {}
        self._block_spans: dict[int, _Spans] = {}
        self._one = np.array([0, 1], np.int64)  # a CSR of one group holding member 0 (for gas spans)
        self._codes = np.array([EVENT_CODES["power_down"], EVENT_CODES["power_up"]], np.int16)
        ones, zeros, none = np.ones(self.count), np.zeros(self.count, np.int64), np.zeros(0, np.int64)
        self._quiet = SupplyStep(*(_frozen(x) for x in (ones, ones, zeros, zeros, none, none, none.astype(np.int16))))

    def _local_day(self, day: int) -> tuple[Array, ...]:
        """Shedding (category, start, end) and gas-off (start, end) spans of one local day [epoch s]."""
        month = local_month(day)
        day_type = calendar.day_type(day, self.country) if self._need_types else 0
        parts = [(c, p) for c, cat in enumerate(self.params.shedding) for p in _pieces(cat.windows, month, day_type)]
        categories, pieces = [c for c, _ in parts], [p for _, p in parts]
        if self.params.gas_windows is not None:
            pieces += _complement(_pieces(self.params.gas_windows, month, day_type))
        local = day * DAY + 60 * np.array(pieces, np.int64).reshape(-1, 2)
        utc = local - utc_offsets_s(self.timezone, local - utc_offsets_s(self.timezone, local))
        n = len(categories)
        return np.array(categories, np.int64), utc[:n, 0], utc[:n, 1], utc[n:, 0], utc[n:, 1]

    def _random_day(self, day: int) -> tuple[Array, ...]:
        """Random outages (device, start, end) that start on one UTC day, for this range's devices."""
        assert self.params.outages is not None
        _, per_year, median_minutes, sigma = self.params.outages
        devices, starts, durations = [], [], []
        for block in self._blocks:
            rng = np.random.default_rng([self.seed, int(Stream.OUTAGES), self.group, self._kind, block, day + _DAY_KEY])
            counts = rng.poisson(per_year / 365.2425, DEVICE_BLOCK)
            n = int(counts.sum())
            devices.append(block * DEVICE_BLOCK + np.repeat(np.arange(DEVICE_BLOCK), counts))
            starts.append(day * DAY + rng.integers(0, DAY, n))
            durations.append(rng.lognormal(math.log(60 * median_minutes), sigma, n))
        device, start = np.concatenate(devices), np.concatenate(starts)
        end = start + np.clip(np.rint(np.concatenate(durations)), 1, MAX_OUTAGE_S).astype(np.int64)
        keep = device < len(self._dev_ptr) - 1
        keep[keep] = self._dev_ptr[device[keep] + 1] > self._dev_ptr[device[keep]]
        return device[keep], start[keep], end[keep]

    def _spans(self, lo: int, hi: int) -> _Spans:
        """Merged spans from every interruption that touches ``[lo, hi]``: exact at every instant in it."""
        empty = np.zeros(0, np.int64)
        power: list[tuple[Array, ...]] = [(empty, empty, empty)]
        gas: list[tuple[Array, ...]] = [(empty, empty, empty)]
        if self._daily:
            first = (lo + int(utc_offsets_s(self.timezone, lo))) // DAY - 1
            last = (hi + int(utc_offsets_s(self.timezone, hi))) // DAY + 1
            for day in range(first, last + 1):
                category, start, end, gas_start, gas_end = _cached(self._local_days, day, self._local_day)
                power.append(_touching(self._cat_ptr, self._cat_nodes, category, start, end, lo, hi))
                gas.append(_touching(self._one, self._one, 0 * gas_start, gas_start, gas_end, lo, hi))
        if self._rate:
            for day in range(lo // DAY - MAX_OUTAGE_S // DAY, hi // DAY + 1):
                device, start, end = _cached(self._random_days, day, self._random_day)
                power.append(_touching(self._dev_ptr, self._dev_nodes, device, start, end, lo, hi))
        node, start, end = _merge(*(np.concatenate(parts) for parts in zip(*power)))
        _, gas_start, gas_end = _merge(*(np.concatenate(parts) for parts in zip(*gas)))
        return _Spans(node, start, end, (node << _BITS) | (start + _BIAS), gas_start, gas_end)

    def _block(self, day: int) -> _Spans:
        """:meth:`_spans` for UTC day ``day`` and ``_margin`` either side, cached."""
        m = self._margin
        return _cached(self._block_spans, day, lambda d: self._spans(d * DAY - m, (d + 1) * DAY + m))

    def step(self, start_s: int, end_s: int) -> SupplyStep:
        """The supply of every row over the interval ``[start_s, end_s)`` [epoch s]; see the module rules."""
        a, b = int(start_s), int(end_s)
        if b <= a:
            raise ValueError(f"an interval must end after it starts: [{a}, {b})")
        lo, hi = a - self._pickup_s, b + self.params.long_failure_s
        day = a // DAY
        spans = self._block(day) if b <= (day + 1) * DAY else self._spans(lo, hi)
        power = (spans.start <= hi) & (spans.end >= lo)
        gas = (spans.gas_start < b) & (spans.gas_end > a)
        if not power.any() and not gas.any():
            return self._quiet
        node, s, e = spans.node[power], spans.start[power], spans.end[power]
        gs, ge = spans.gas_start[gas], spans.gas_end[gas]
        k, length = self._n_nodes, b - a
        off = np.bincount(node, _overlap(s, e, a, b), k)
        both = _overlap(np.maximum(s[:, None], gs[None, :]), np.minimum(e[:, None], ge[None, :]), a, b)
        unsupplied = off + float(_overlap(gs, ge, a, b).sum()) - np.bincount(node, both.sum(axis=1), k)
        began = (s > a) & (s <= b)
        failures = np.bincount(node[began], minlength=k)
        long_failures = np.bincount(node[began & (e - s >= self.params.long_failure_s)], minlength=k)
        pickup = np.ones(k)
        if self.params.cold_load is not None:
            same = np.append(node[1:] == node[:-1], False)  # the next span is the same node's
            following = np.where(same, np.append(s[1:], 0), np.iinfo(np.int64).max)
            warm = np.bincount(node, _overlap(e, np.minimum(e + self._pickup_s, following), a, b), k)
            powered = length - off
            share = np.divide(warm, powered, out=np.zeros(k), where=powered > 0)
            pickup += (self.params.cold_load[0] - 1) * share
        quiet = self._quiet
        rows, times, codes = quiet.event_rows, quiet.event_time_s, quiet.event_code
        if self.params.last_gasp and len(node):
            ended = (e > a) & (e <= b)
            which, rows = _expand(self._row_ptr, self._rows, np.concatenate([node[began], node[ended]]))
            times = np.concatenate([s[began], e[ended]])[which]
            codes = np.repeat(self._codes, [int(began.sum()), int(ended.sum())])[which]
            order = np.lexsort((codes, rows, times))
            rows, times, codes = rows[order], times[order], codes[order]
        m = self._meter_node
        on = quiet.on_fraction if not unsupplied.any() else (1 - unsupplied / length)[m]
        return SupplyStep(
            *(_frozen(x) for x in (on, pickup[m] if (pickup > 1).any() else quiet.pickup)),
            *(_frozen(x[m]) if x.any() else quiet.failures for x in (failures, long_failures)),
            *(_frozen(x) for x in (rows, times, codes)),
        )

    def restored_at(self, rows: Array | None, t_s: int) -> Array:
        """When mains power returns [epoch s] to each of ``rows`` (``None``: every row) that has none at
        instant ``t_s``, i.e. the end of the off span holding ``t_s`` (spans are ``[down, up)``), or -1 for
        a row with power at ``t_s``. Gas windows do not count. An off span still going after
        ``_MAX_HOPS`` days gives the instant the search stopped at."""
        picked = np.arange(self.count) if rows is None else np.asarray(rows, np.int64)
        nodes, inverse = np.unique(self._meter_node[picked], return_inverse=True)
        now = np.full(len(nodes), int(t_s), np.int64)
        active = np.ones(len(nodes), bool)
        for _ in range(_MAX_HOPS):
            if not active.any():
                break
            day = int(now[active].min() // DAY)
            spans = self._block(day)
            here = np.flatnonzero(active & (now // DAY == day))
            t = now[here]  # the last span starting at or before t (by key order) holds t if any does
            j = np.searchsorted(spans.key, (nodes[here] << _BITS) | (t + _BIAS), "right") - 1
            hit = j >= 0
            hit[hit] = (spans.node[j[hit]] == nodes[here][hit]) & (spans.end[j[hit]] > t[hit])
            now[here[hit]] = spans.end[j[hit]]
            active[here[~hit]] = False
        out: Array = np.where(now > t_s, now, -1)[inverse.reshape(-1)]
        return out
