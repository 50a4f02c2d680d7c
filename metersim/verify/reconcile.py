"""Compare what a broker delivered with what should have arrived: a pure function, no I/O.

The rules, per reading key ``(meter_id, seq)``; ``copies`` is how many times the outputs were handed it
(see :mod:`metersim.verify.expected`), ``arrived`` how many times the subscriber received it:

* **missing** (an error): ``copies >= 1`` and ``arrived == 0``. A reading with an injected
  ``comms_drop`` / ``comms_lost`` label that did not arrive is *dropped as injected*, not missing.
* **unexpected** (an error): a key that is not expected at all, a reading that was dropped on purpose
  (``copies == 0``) but arrived anyway, or a reading payload that is not JSON v1 (no ``meter_id`` /
  ``seq``).
* **corrupted** (an error): an arrival whose decoded JSON differs from the expected payload's (any field:
  registers, interval, ``sent_at``, ...), or which came on a topic the reading was not sent on. No field
  is exempt: for the same scenario and seed the payloads are byte-identical (every time in them is
  simulated time). Every copy is compared; a key counts once.
* **duplicated** (reported, not an error: QoS 1 is at-least-once): ``arrived > copies``. An injected
  ``comms_duplicate`` arriving twice is *duplicated as injected*. ``arrived < copies`` (a second copy
  of an injected duplicate that never came) is reported as *copies short*, not an error either: the
  reading itself arrived.
* **out of order** (reported, not an error): per meter, in arrival order, the first copy of a reading
  whose ``seq`` is below the highest ``seq`` of that meter already received. A reading with an injected
  delay, backlog or duplicate label is *out of order as injected*.
* **late** (reported, not an error; only when ``late_tolerance_s`` is given): the first copy arrives
  more than ``late_tolerance_s`` wall seconds after its ``sent_at``. That compares simulated time with
  the wall clock, so it is meaningful only for a run paced at wall-clock speed (``speed: 1``) that
  starts ``now``; readings sent before ``judge_from_s`` (caught up at full speed) are not judged.
  Readings with an injected delay or backlog are *late as injected*.

Event payloads (``"schema": "metersim/event/v1"``) are counted apart, not reconciled.

``ok`` is True when nothing is missing, unexpected or corrupted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from metersim.sinks.memory import EVENT_SCHEMA
from metersim.verify.expected import DEFERRED, DUPLICATED, ExpectedReading, Key

#: how many keys of each kind the report lists (the counts are always complete)
LIST_LIMIT = 1000


@dataclass(frozen=True)
class Arrival:
    """One message as the subscriber received it."""

    topic: str
    payload: bytes
    received_at: float  # wall clock [epoch s]


@dataclass
class Reconciliation:
    """The outcome: counts of every kind, and (up to :data:`LIST_LIMIT`) the keys behind them."""

    expected: int = 0  # distinct readings expected to arrive (copies >= 1)
    expected_copies: int = 0
    received: int = 0  # reading messages received, every copy
    received_distinct: int = 0  # distinct expected readings received
    events: int = 0  # event messages received
    missing: list[Key] = field(default_factory=list)
    unexpected: list[Key] = field(default_factory=list)
    malformed: int = 0  # reading payloads without meter_id/seq (counted in unexpected_count too)
    corrupted: dict[Key, str] = field(default_factory=dict)
    duplicated: list[Key] = field(default_factory=list)
    out_of_order: list[Key] = field(default_factory=list)
    late: dict[Key, float] = field(default_factory=dict)  # key -> lateness [s]
    copies_short: list[Key] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)  # "dropped", "duplicated", ... as injected
    counts: Counter[str] = field(default_factory=Counter)  # complete counts of every list above
    late_checked: bool = False

    @property
    def ok(self) -> bool:
        return not (self.counts["missing"] or self.counts["unexpected"] or self.counts["corrupted"])

    def _note(self, kind: str, key: Key, value: Any = None) -> None:
        self.counts[kind] += 1
        target = getattr(self, kind)
        if len(target) < LIST_LIMIT:
            if isinstance(target, dict):
                target[key] = value
            else:
                target.append(key)

    def to_json(self) -> dict[str, Any]:
        def keys(items: Sequence[Key]) -> list[dict[str, Any]]:
            return [{"meter_id": m, "seq": s} for m, s in items]

        return {
            "ok": self.ok,
            "expected": self.expected,
            "expected_copies": self.expected_copies,
            "received": self.received,
            "received_distinct": self.received_distinct,
            "events": self.events,
            "counts": {k: self.counts[k] for k in KINDS},
            "injected": dict(sorted(self.injected.items())),
            "late_checked": self.late_checked,
            "missing": keys(self.missing),
            "unexpected": keys(self.unexpected),
            "corrupted": [{"meter_id": m, "seq": s, "why": why} for (m, s), why in self.corrupted.items()],
            "duplicated": keys(self.duplicated),
            "out_of_order": keys(self.out_of_order),
            "late": [{"meter_id": m, "seq": s, "late_s": round(v, 3)} for (m, s), v in self.late.items()],
            "copies_short": keys(self.copies_short),
            "list_limit": LIST_LIMIT,
        }


#: the kinds, errors first
KINDS = ("missing", "unexpected", "corrupted", "duplicated", "out_of_order", "late", "copies_short")
ERRORS = frozenset({"missing", "unexpected", "corrupted"})


def _epoch(iso: object) -> float | None:
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return None


def _difference(got: Mapping[str, Any], want: Mapping[str, Any]) -> str:
    """Which top-level fields differ (and, for registers, which codes)."""
    fields = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    parts = []
    for name in fields:
        if name == "registers" and isinstance(got.get(name), dict) and isinstance(want.get(name), dict):
            g, w = got[name], want[name]
            codes = sorted(c for c in set(g) | set(w) if g.get(c) != w.get(c))
            parts += [f"registers.{c}: {g.get(c)!r} != {w.get(c)!r}" for c in codes]
        else:
            parts.append(f"{name}: {got.get(name)!r} != {want.get(name)!r}")
    return "; ".join(parts)


def reconcile(
    expected: Mapping[Key, ExpectedReading],
    arrivals: Sequence[Arrival],
    late_tolerance_s: float | None = None,
    judge_from_s: float = float("-inf"),
) -> Reconciliation:
    """Reconcile ``arrivals`` (in arrival order) against ``expected`` (see the module docstring)."""
    out = Reconciliation(late_checked=late_tolerance_s is not None)
    out.expected = sum(1 for r in expected.values() if r.copies)
    out.expected_copies = sum(r.copies for r in expected.values())
    arrived: Counter[Key] = Counter()
    highest: dict[str, int] = {}
    decoded_expected: dict[Key, Any] = {}
    corrupted: set[Key] = set()
    for arrival in arrivals:
        try:
            message = orjson.loads(arrival.payload)
        except orjson.JSONDecodeError:
            message = None
        if isinstance(message, dict) and message.get("schema") == EVENT_SCHEMA:
            out.events += 1
            continue
        out.received += 1
        meter_id = message.get("meter_id") if isinstance(message, dict) else None
        seq = message.get("seq") if isinstance(message, dict) else None
        if not isinstance(meter_id, str) or not isinstance(seq, int) or isinstance(seq, bool):
            out.malformed += 1
            out._note("unexpected", (str(meter_id), -1))
            continue
        key = (meter_id, seq)
        want = expected.get(key)
        arrived[key] += 1
        if want is None or want.copies == 0:
            if arrived[key] == 1:
                out._note("unexpected", key)
            continue
        if key not in corrupted:
            why = ""
            if arrival.payload != want.payload:
                if key not in decoded_expected:
                    decoded_expected[key] = orjson.loads(want.payload)
                if message != decoded_expected[key]:
                    why = _difference(message, decoded_expected[key])
            if not why and arrival.topic not in want.topics:
                why = f"topic {arrival.topic!r} not in {sorted(want.topics)}"
            if why:
                corrupted.add(key)
                out._note("corrupted", key, why)
        if arrived[key] > 1:
            continue  # order and lateness are judged on the first copy
        out.received_distinct += 1
        if seq < highest.get(meter_id, -1):
            if want.faults & (DEFERRED | DUPLICATED):
                out.injected["out_of_order"] += 1
            else:
                out._note("out_of_order", key)
        highest[meter_id] = max(highest.get(meter_id, -1), seq)
        if late_tolerance_s is not None:
            sent_at = _epoch(message.get("sent_at"))
            if sent_at is not None and sent_at >= judge_from_s:
                lateness = arrival.received_at - sent_at
                if lateness > late_tolerance_s:
                    if want.faults & DEFERRED:
                        out.injected["late"] += 1
                    else:
                        out._note("late", key, lateness)
    for key, want in expected.items():
        got = arrived.get(key, 0)
        if want.copies and not got:
            if want.dropped:
                out.injected["dropped"] += 1
            else:
                out._note("missing", key)
        elif not want.copies and not got and want.dropped:
            out.injected["dropped"] += 1
        elif want.copies and got > want.copies:
            out._note("duplicated", key)
        elif want.copies and got < want.copies:
            out._note("copies_short", key)
        if want.copies > 1 and got >= want.copies and want.faults & DUPLICATED:
            out.injected["duplicated"] += 1
    return out
