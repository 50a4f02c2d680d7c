"""Readings that leave later than their report slot: a store-and-forward backlog, a delay, a duplicate.

A transform says when a reading leaves by setting its ``sent_s`` later than its report slot (and
asks for a second copy with ``resend_s``). The engine hands such rows to :class:`Deferred`, which
gives them back in a deterministic order, ``(due_s, order of deferral)``, when the clock reaches
them; an interval counts as sent once its last deferred row has gone out.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from metersim._array import Array
from metersim.records import Observation, ReadingBatch


@dataclass
class Interval:
    """How many of an interval's emissions are still deferred, and whether its tick has finished."""

    observation: Observation
    outstanding: int = 0
    ticked: bool = False

    @property
    def done(self) -> bool:
        return self.ticked and self.outstanding == 0


@dataclass(order=True)
class Entry:
    due_s: int  # [epoch s]
    order: int
    batch: ReadingBatch = field(compare=False)
    rows: Array = field(compare=False)
    interval: Interval = field(compare=False)
    copy: bool = field(compare=False, default=False)  # a duplicate: counted apart, not a first delivery


class Deferred:
    """A time-ordered store of rows to emit later."""

    def __init__(self) -> None:
        self._heap: list[Entry] = []
        self._order = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, due_s: int, batch: ReadingBatch, rows: Array, interval: Interval, *, copy: bool = False) -> None:
        if not copy:
            interval.outstanding += 1
        heapq.heappush(self._heap, Entry(due_s, self._order, batch, rows, interval, copy))
        self._order += 1

    def next_due_s(self) -> int | None:
        return self._heap[0].due_s if self._heap else None

    def pop_due(self, now_s: int) -> list[list[Entry]]:
        """Every entry due at or before ``now_s``, in order, in runs of consecutive entries over one meter
        set that are all copies or all not: each run leaves in one emission (a concentrator's upload)."""
        runs: list[list[Entry]] = []
        while self._heap and self._heap[0].due_s <= now_s:
            entry = heapq.heappop(self._heap)
            last = runs[-1][-1] if runs else None
            if last is not None and last.batch.meters is entry.batch.meters and last.copy == entry.copy:
                runs[-1].append(entry)
            else:
                runs.append([entry])
        return runs
