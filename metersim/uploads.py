"""Concentrator uploads: a data concentrator (DCU) collects its meters' readings and sends them to the
head-end together, every ``concentrator.upload_every_s``, rather than each at its own report slot.

Concentrator ``c`` uploads at the instants ``t`` with ``(t - phase_c) % upload_every_s == 0``; its phase is
uniform in ``[0, upload_every_s)`` [s], drawn once per group from ``(seed, UPLOADS, group)`` over all of
the group's concentrators (so a shard of the group draws the same phases). A reading leaves at the first
upload at or after its report slot: its ``sent_s`` moves there and its ``quality`` stays ``valid`` (this
is how the head-end always receives them, not a fault). With a ``format: batch`` output the engine
emits the readings that leave together in one emission, which becomes one message per upload.

This transform runs before the communication faults, so a link outage still holds an upload back and
a reconnect storm still flushes every store at once.
"""

from __future__ import annotations

import numpy as np

from metersim._array import Array
from metersim.fleet.concentrators import Paths
from metersim.records import Label, ReadingBatch
from metersim.streams import MeterRange, Stream, group_key


class Uploads:
    """The upload schedule of one group's concentrators: a transform (see :mod:`metersim.engine`)."""

    def __init__(self, paths: Paths, every_s: int, *, seed: int, meters: MeterRange | None = None) -> None:
        self.group, self.paths, self.every_s = paths.group, paths, every_s
        self.start = (meters or MeterRange.whole(paths.meters)).start
        rng = np.random.default_rng([seed, int(Stream.UPLOADS), group_key(paths.group)])
        self.phase_s: Array = rng.integers(0, every_s, paths.count, dtype=np.int64)  # per concentrator

    def __call__(self, batch: ReadingBatch) -> tuple[ReadingBatch, list[Label]]:
        meters = batch.meters
        if meters.group != self.group or meters.grid_side or not len(batch):
            return batch, []
        phase = self.phase_s[self.paths.path_of(batch.meters_at + self.start)]
        sent_s = batch.sent_s + (phase - batch.sent_s) % self.every_s
        return batch.replace(sent_s=sent_s), []
