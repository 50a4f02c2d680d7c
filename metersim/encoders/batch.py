"""``format: batch``: one message per concentrator upload, carrying many readings, as a head-end receives
them from its data concentrators (documented in ``schemas/batch-v1.json``).

The rows of an emission are grouped by concentrator (by group for meters without one), in order of
first appearance, and each group is cut into messages of at most ``size`` readings. With
``concentrator.upload_every_s`` an emission holds every reading a concentrator uploads at once (several
intervals of all its meters); without it, the readings of one report slot.

A message is a JSON object, ``{"schema": "metersim/batch/v1", "group", "commodity", "concentrator",
"count", "readings": [...]}``, whose ``readings`` are exactly the payload v1 objects that ``format: json``
sends one by one (``concentrator`` is null for meters without one). With ``compression: gzip`` (RFC 1952,
header time 0, so output stays byte-identical for a seed) or ``zstd`` (RFC 8878) the whole object is
compressed.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Literal

import numpy as np
import orjson

from metersim._array import Array
from metersim.encoders.json import JsonEncoder
from metersim.records import ReadingBatch

SCHEMA_ID = "metersim/batch/v1"
Compression = Literal["none", "gzip", "zstd"]
#: MQTT 5 content type of a batch message, by compression
CONTENT_TYPES = {"none": "application/json", "gzip": "application/gzip", "zstd": "application/zstd"}


def compressor(compression: Compression) -> Callable[[bytes], bytes]:
    """What compresses a message; raises ImportError for zstd without the ``zstandard`` package."""
    if compression == "gzip":
        return lambda data: gzip.compress(data, compresslevel=6, mtime=0)
    if compression == "zstd":
        import zstandard  # optional: pip install 'metersim[zstd]'

        compress: Callable[[bytes], bytes] = zstandard.ZstdCompressor(level=3).compress
        return compress
    return lambda data: data


class BatchEncoder:
    """``format: batch``: many readings per message (see the module docstring).

    ``size`` is the most readings a message carries [-]; ``compression`` one of none, gzip, zstd.
    """

    format = "batch"
    one_per_reading = False

    def __init__(self, size: int = 100, compression: Compression = "none") -> None:
        if size < 1:
            raise ValueError(f"a batch carries at least 1 reading, got size {size}")
        self.size, self.compression = size, compression
        self.content_type: str | None = CONTENT_TYPES[compression]
        self._compress = compressor(compression)
        self._json = JsonEncoder()
        self._cache: tuple[ReadingBatch, list[tuple[Array, str | None]]] | None = None

    def _messages(self, batch: ReadingBatch) -> list[tuple[Array, str | None]]:
        """``(rows, concentrator id or None)`` of each message; computed once per batch."""
        if self._cache is not None and self._cache[0] is batch:
            return self._cache[1]
        concentrators = batch.meters.concentrators
        groups: list[tuple[Array, str | None]]
        if concentrators is None:
            groups = [(np.arange(len(batch)), None)]
        else:
            names = [concentrators[p] for p in batch.meters_at.tolist()]
            first: dict[str, list[int]] = {}
            for row, name in enumerate(names):
                first.setdefault(name, []).append(row)
            groups = [(np.array(rows, np.int64), name) for name, rows in first.items()]
        out = [(rows[k : k + self.size], name) for rows, name in groups for k in range(0, len(rows), self.size)]
        self._cache = (batch, out)
        return out

    def encode(self, batch: ReadingBatch) -> list[bytes]:
        if not len(batch):
            return []
        readings = self._json.encode(batch)
        meters = batch.meters
        out = []
        for rows, concentrator in self._messages(batch):
            head = orjson.dumps(
                {
                    "schema": SCHEMA_ID,
                    "group": meters.group,
                    "commodity": meters.commodity,
                    "concentrator": concentrator,
                    "count": len(rows),
                }
            )
            body = b"".join((head[:-1], b',"readings":[', b",".join(readings[r] for r in rows.tolist()), b"]}"))
            out.append(self._compress(body))
        return out

    def senders(self, batch: ReadingBatch, by: str) -> list[str]:
        """Who sends each message: its concentrator (the group's name for meters without one)."""
        if by != "concentrator":
            raise ValueError("a batch is sent by a concentrator, not by a meter")
        return [name or batch.meters.group for _rows, name in self._messages(batch)]

    def topics(self, batch: ReadingBatch, template: str) -> list[str]:
        """One topic per message, from ``template`` with the fields a batch shares: ``{group}``,
        ``{commodity}``, ``{region}`` and ``{concentrator}`` (the group's name for meters without one;
        config validation allows only these)."""
        meters = batch.meters
        return [
            template.format(
                group=meters.group, commodity=meters.commodity, region=meters.region, concentrator=name or meters.group
            )
            for _rows, name in self._messages(batch)
        ]
