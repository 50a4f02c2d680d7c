"""Bulk history as Hive-partitioned Parquet, written column by column from the numeric batch (no JSON).

Layout: ``PATH/date=YYYY-MM-DD/shard=K/part-NNNNN.parquet``. ``date`` is the UTC date of ``ts`` (the
interval end), so a day's file holds the readings of intervals ending in that UTC day whatever the
meters' zones; ``K`` is the shard of the process (``shard``), so N shards write one PATH and never
touch each other's files. The columns and their types: ``docs/parquet.md``
(:data:`metersim.encoders.columns.SCHEMA`).

One part file per (date, meter set): a meter set's ids are the dictionary of ``meter_id``, the same in
every row group of the file, so the writer never falls back from dictionary encoding. Rows gather per
file until ``row_group_rows`` are in, then go out as one zstd row group. A day's files are finished
once the clock (the ``sent_at`` of what arrives) is a whole interval past the day's end: every
reading on time has come by then. A reading that comes later still (a comms fault held it back) opens
a new part file of its day. Files are written as ``.part-NNNNN.parquet.tmp`` and renamed when finished,
so a reader (``**/*.parquet``) never sees half a file; ``acknowledged`` counts the rows in finished
files. Memory is bounded whatever the duration: at most ``buffer_rows`` rows wait in all files together,
counted as the rows of the batches they point into (the fullest file writes a smaller row group early
beyond that), and one row group more is being written: a thread of its own encodes and writes row
groups, one at a time, so that the writer's cost stays off the simulation's thread.

A failed write (a full disk): the unfinished files are removed, every reading not in a finished file is
counted in ``errors``, and the run stops with a one-line error (exit 5). Finished files stay.
A new run removes the part files its shard left in PATH (as a file output truncates its file); a
resumed run keeps them and numbers its parts after them. Readings only: meter events are not written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metersim._array import Array
from metersim.errors import OutputNotWritableError, not_writable
from metersim.records import MeterSet, ReadingBatch
from metersim.sinks.base import Outbox, SinkBase

DAY_S = 86_400
ROW_GROUP_ROWS = 1_000_000
ZSTD_LEVEL = 1  # measured: levels 1 and 3 give files within 4% of each other; 1 is the faster
_PART = re.compile(r"part-(\d{5,})\.parquet")
_TEMP = re.compile(r"\.part-(\d{5,})\.parquet\.tmp")


@dataclass(eq=False)
class _File:
    """One part file being written: its rows waiting for the next row group, and its writer."""

    day: int  # UTC days since the epoch
    meters: MeterSet
    number: int
    #: the rows waiting, as (batch, rows of it): taken out of each batch once, when the row group is
    #: written (an interval's readings arrive in dozens of emissions, one per report slot)
    parts: list[tuple[ReadingBatch, Array]] = field(default_factory=list)
    waiting: int = 0  # rows in ``parts``
    written: int = 0  # rows in row groups already in the file
    writer: Any = None


class ParquetSink(SinkBase):
    """Write readings as Parquet part files under ``path`` (a directory); see the module docstring."""

    name = "parquet"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        shard: int = 0,
        row_group_rows: int = ROW_GROUP_ROWS,
        compression_level: int = ZSTD_LEVEL,
        buffer_rows: int | None = None,
        append: bool = False,
    ) -> None:
        """``buffer_rows``: rows waiting in all files together (default twice ``row_group_rows``);
        ``append``: keep the part files already in PATH (a resumed run)."""
        from metersim.ledger.truth import require_pyarrow

        require_pyarrow("the parquet output")
        super().__init__()
        self.path, self.shard, self.append = Path(path), shard, append
        self.row_group_rows, self.compression_level = row_group_rows, compression_level
        self.buffer_rows = buffer_rows if buffer_rows is not None else 2 * row_group_rows
        self.files_written = 0
        self._files: dict[tuple[int, int], _File] = {}  # (day, id of the meter set) -> open file
        self._dictionaries: dict[int, tuple[MeterSet, Any]] = {}  # id of a meter set -> (it, Dictionaries)
        self._numbers: dict[int, int] = {}  # day -> next part number
        self._waiting = 0  # rows waiting in every open file
        #: the batches that waiting rows point into: id -> [rows of the batch, parts pointing into it];
        #: their rows count against ``buffer_rows`` too (one late reading keeps its whole batch alive)
        self._held: dict[int, list[int]] = {}
        self._held_rows = 0
        self._longest_s = 0  # the longest interval seen [s]: how long after midnight a day stays open
        self._clock_day = -(1 << 62)  # the UTC day whose files stay open: (oldest clock sent - longest) // day
        self._failed = False
        self._opened = False
        #: one thread encodes and writes row groups, one at a time, while the run goes on: the writer's
        #: ~100-140 ns a reading (pyarrow lets go of the GIL) can then use another core
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="metersim-parquet")
        self._writing: tuple[_File, int, Future[None]] | None = None  # the row group being written
        self.writer_cpu_s = 0.0  # CPU time the writer thread spent [s]

    def describe(self) -> str:
        return f"parquet {self.path}/ (shard {self.shard})"

    def open(self) -> None:
        if self._opened:
            return
        try:
            clear_shard(self.path, self.shard, keep_parts=self.append)
        except OSError as exc:
            raise not_writable("", self.path, exc) from None
        self._opened = True

    def send(self, outbox: Outbox) -> None:
        """Outboxes (payloads) are not for this sink: the outputs stage hands it batches (:meth:`send_batch`)."""
        raise TypeError("the parquet sink takes reading batches (send_batch), not payloads")

    def send_batch(self, batch: ReadingBatch, rows: Array) -> None:
        """Accept rows ``rows`` of ``batch`` (indices into it); write row groups that fill up."""
        if not self._opened:
            raise OutputNotWritableError(f"{self.path} is not open")
        count = len(rows)
        self.stats.accepted += count
        if count == 0:
            return
        if self._failed:  # the run is stopping after a failed write: nothing more reaches the disk
            self.stats.errors += count
            return
        self._longest_s = max(self._longest_s, batch.interval_s)
        days = batch.end_s[rows] // DAY_S
        first, last = int(days.min()), int(days.max())
        for day in range(first, last + 1):
            part = rows if first == last else rows[days == day]
            if len(part):
                self._add(day, batch, part)
        clock_day = (int(batch.sent_s[rows].min()) - self._longest_s) // DAY_S
        if clock_day > self._clock_day:
            self._clock_day = clock_day
            self._finish_days_before(clock_day)
        while max(self._waiting, self._held_rows) > self.buffer_rows:  # many files open: the fullest goes early
            self._write_group(max(self._files.values(), key=lambda f: f.waiting))

    def _add(self, day: int, batch: ReadingBatch, rows: Array) -> None:
        meters = batch.meters
        key = (day, id(meters))
        file = self._files.get(key)
        if file is None:
            file = self._files[key] = _File(day, meters, self._next_number(day))
        file.parts.append((batch, rows))
        held = self._held.get(id(batch))
        if held is None:
            held = self._held[id(batch)] = [len(batch), 0]
            self._held_rows += len(batch)
        held[1] += 1
        file.waiting += len(rows)
        self._waiting += len(rows)
        if file.waiting >= self.row_group_rows:
            self._write_group(file)

    def _finish_days_before(self, day: int) -> None:
        """Finish the files of the days before ``day``: the clock is a whole interval past their end, so
        every reading on time has come. (Checked once a day: the late files of a day also gather for a day.)"""
        for file in [f for f in self._files.values() if f.day < day]:
            self._finish(file)

    def flush(self) -> None:
        """Nothing to push early: a Parquet row group is written whole, when it fills or at close."""
        return None

    def close(self) -> None:
        if not self._opened:
            return
        try:
            for file in sorted(self._files.values(), key=lambda f: (f.day, f.number)):
                self._finish(file)
        finally:
            self._abandon()
            self._thread.shutdown()
            self._opened = False

    def _next_number(self, day: int) -> int:
        number = self._numbers.get(day)
        if number is None:  # a resumed run's parts, or another meter set's: number after them
            number = next_part(partition_folder(self.path, day, self.shard))
        self._numbers[day] = number + 1
        return number

    def _temp(self, file: _File) -> Path:
        return temp_part(partition_folder(self.path, file.day, self.shard), file.number)

    def _write_group(self, file: _File) -> None:
        """Write the rows waiting in ``file`` as one row group (opening the file first)."""
        if not file.waiting or self._failed:
            return
        self._wait_for_writer()  # (first: should it have failed, these rows still count as waiting)
        import pyarrow.parquet as pq

        from metersim.encoders.columns import Dictionaries, pick, table, widen

        known = self._dictionaries.get(id(file.meters))
        if known is None:
            known = self._dictionaries[id(file.meters)] = (file.meters, Dictionaries.of(file.meters))
        by_batch: dict[int, tuple[ReadingBatch, list[Array]]] = {}  # in the order the batches came
        for batch, part in file.parts:
            by_batch.setdefault(id(batch), (batch, []))[1].append(part)
            self._release(batch)
        picks = [pick(b, _rows(len(b), parts)) for b, parts in by_batch.values()]
        data = table(picks, [b.interval_s for b, _ in by_batch.values()], known[1])
        rows = file.waiting
        file.parts, file.waiting = [], 0
        self._waiting -= rows
        if file.writer is not None and data.schema != file.writer.schema:
            if set(data.column_names) <= set(file.writer.schema.names):
                data = widen(data, file.writer.schema)
            else:  # a column the file lacks: the file ends here, the rows start the next one of its day
                self._finish(file)
                file = self._files[(file.day, id(file.meters))] = _File(
                    file.day, file.meters, self._next_number(file.day)
                )
        try:
            if file.writer is None:
                temp = self._temp(file)
                temp.parent.mkdir(parents=True, exist_ok=True)
                file.writer = pq.ParquetWriter(temp, data.schema, **self._options(data.schema))
        except OSError as exc:
            self.stats.errors += rows
            self._fail(exc)
        self._writing = (file, rows, self._thread.submit(self._encode, file.writer, data, rows))

    def _encode(self, writer: Any, data: Any, rows: int) -> None:
        """On the writer thread: encode, compress and write one row group (pyarrow lets go of the GIL)."""
        began = time.thread_time()
        try:
            writer.write_table(data, row_group_size=max(rows, 1))
        finally:
            self.writer_cpu_s += time.thread_time() - began

    def _wait_for_writer(self) -> None:
        """Wait for the row group being written; a failure to write it stops the run."""
        if self._writing is None:
            return
        file, rows, done = self._writing
        self._writing = None
        try:
            done.result()
        except OSError as exc:
            self.stats.errors += rows
            self._fail(exc)
        file.written += rows

    def _options(self, schema: Any) -> dict[str, Any]:
        """The writer's settings for a file of ``schema``: encodings chosen per column (measured)."""
        import pyarrow as pa

        from metersim.encoders.columns import BYTE_STREAM_SPLIT, DICTIONARY_ENCODED, WITH_STATISTICS

        names = set(schema.names)
        if int(pa.__version__.split(".")[0]) < 17:  # byte-stream-split takes integers from pyarrow 17 on
            names -= set(BYTE_STREAM_SPLIT)
        return {
            "compression": "zstd",
            "compression_level": self.compression_level,
            "use_dictionary": [n for n in DICTIONARY_ENCODED if n in names],
            "write_statistics": [n for n in WITH_STATISTICS if n in names],
            "column_encoding": {n: "BYTE_STREAM_SPLIT" for n in BYTE_STREAM_SPLIT if n in names},
        }

    def _release(self, batch: ReadingBatch) -> None:
        """One part pointing into ``batch`` is no longer waiting."""
        held = self._held[id(batch)]
        held[1] -= 1
        if not held[1]:
            del self._held[id(batch)]
            self._held_rows -= held[0]

    def _finish(self, file: _File) -> None:
        """Write what waits, close the file and give it its final name."""
        self._write_group(file)
        self._wait_for_writer()
        if self._failed:
            return
        self._files.pop((file.day, id(file.meters)), None)
        if file.writer is None:
            return
        temp = self._temp(file)
        try:
            file.writer.close()
            file.writer = None
            os.replace(temp, final_part(temp))
        except OSError as exc:
            self._fail(exc, file)
        self.stats.acknowledged += file.written
        self.files_written += 1

    def _fail(self, exc: OSError, file: _File | None = None) -> None:
        """Remove every unfinished file, count its rows lost, and stop the run with a one-line error."""
        self._failed = True
        if file is not None:
            self._files[(file.day, id(file.meters))] = file
        self._abandon()
        raise not_writable("", self.path, exc) from None

    def _abandon(self) -> None:
        """Drop the files still open (after a failure or at close), counting their rows as errors."""
        if self._writing is not None:  # let the row group in hand finish before its file goes
            file, rows, done = self._writing
            self._writing = None
            with contextlib.suppress(OSError):
                done.result()
            file.written += rows
        for file in list(self._files.values()):
            self.stats.errors += file.written + file.waiting
            self._waiting -= file.waiting
            for batch, _ in file.parts:
                self._release(batch)
            file.parts, file.waiting = [], 0
            writer, file.writer = file.writer, None
            with contextlib.suppress(OSError):  # the file goes anyway
                if writer is not None:
                    writer.close()
            with contextlib.suppress(OSError):
                self._temp(file).unlink(missing_ok=True)
        self._files.clear()


def _rows(count: int, parts: list[Array]) -> Array | slice:
    """The rows of a batch of ``count`` rows that ``parts`` name; ``slice(None)`` when they are every row
    once (an interval's report slots, the usual case): the batch's arrays are then written uncopied."""
    rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
    if len(rows) == count:
        seen = np.zeros(count, dtype=bool)
        seen[rows] = True
        if seen.all():
            return slice(None)
    return rows


def partition_folder(root: Path, day: int, shard: int) -> Path:
    """``root/date=YYYY-MM-DD/shard=K`` for UTC day ``day`` (days since the epoch)."""
    date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    return root / f"date={date.isoformat()}" / f"shard={shard}"


def next_part(folder: Path) -> int:
    """The first part number after every part (finished or not) in ``folder``."""
    names = os.listdir(folder) if folder.is_dir() else []
    taken = [int(m.group(1)) for e in names if (m := _PART.fullmatch(e) or _TEMP.fullmatch(e))]
    return max(taken, default=-1) + 1


def temp_part(folder: Path, number: int) -> Path:
    """Where part ``number`` is written: hidden, and not ``*.parquet``, until :func:`final_part`."""
    return folder / f".part-{number:05d}.parquet.tmp"


def final_part(temp: Path) -> Path:
    return temp.with_name(temp.name.removeprefix(".").removesuffix(".tmp"))


def clear_shard(root: Path, shard: int, *, keep_parts: bool) -> None:
    """Make ``root``; remove the unfinished parts of shard ``shard`` in it, and unless ``keep_parts`` its
    finished ones (a new run replaces its shard's files, as a file output truncates its file)."""
    root.mkdir(parents=True, exist_ok=True)
    for folder in root.glob(f"date=*/shard={shard}"):
        for entry in os.scandir(folder):
            if _TEMP.fullmatch(entry.name) or (not keep_parts and _PART.fullmatch(entry.name)):
                os.unlink(entry.path)
