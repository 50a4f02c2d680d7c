"""JSON Lines files: one payload per line."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

from metersim.errors import OutputNotWritableError, not_writable
from metersim.sinks.base import Outbox, SinkBase

BUFFER_BYTES = 1 << 20
#: smallest write [bytes] made of several blocks: smaller blocks are joined up to it first
WRITE_BYTES = 1 << 17
#: longest wall time [s] between writes while a paced run waits
FLUSH_EVERY_S = 1.0


class FileSink(SinkBase):
    """Write each payload as one line: ``acknowledged`` counts the lines handed to the OS.

    Lines gather in a buffer of :data:`BUFFER_BYTES` and go to the OS in one ``write`` when it is
    full, on ``flush()`` and on ``close()``, and while a paced run waits at least every
    :data:`FLUSH_EVERY_S` (so ``tail -f`` shows life): one system call per few thousand lines instead
    of one per emission (a JSONL run is ~1.4x faster). It writes :attr:`Outbox.lines`: the JSON
    encoder's blocks as it rendered them, other formats' payloads joined once. A buffered line is
    accepted but not yet acknowledged; it is not "in flight" in the progress display, which counts
    MQTT only.
    When a write fails (a full disk), the file is cut back after its last complete line, every line
    not written whole is counted in ``errors``, and the run stops with a one-line error (exit 5).

    A file opened to ``append`` (a resumed run) first loses a trailing partial line that a killed run left.
    """

    name = "file"

    def __init__(self, path: str | os.PathLike[str], *, append: bool = False) -> None:
        """``append`` keeps what the file holds (a resumed run), else it is truncated."""
        super().__init__()
        self.path = Path(path)
        self.append = append
        self._fd: int | None = None
        self._size = 0  # bytes in the file: every one of them belongs to a complete line
        self._failed = False
        self._pending: list[bytes] = []  # lines accepted, not yet written (each part ends in a newline)
        self._pending_bytes = self._pending_lines = 0
        self._written_at = time.monotonic()

    def describe(self) -> str:
        return f"file {self.path}"

    def open(self) -> None:
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.append:
                _drop_partial_line(self.path)
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if self.append else os.O_TRUNC)
            self._fd = os.open(self.path, flags, 0o666)
            self._size = os.fstat(self._fd).st_size
        except OSError as exc:
            raise not_writable("", self.path, exc) from None

    def send(self, outbox: Outbox) -> None:
        if self._fd is None:
            raise OutputNotWritableError(f"{self.path} is not open")
        count = len(outbox)
        self.stats.accepted += count
        if count == 0:
            return
        blocks = outbox.lines
        self._pending += blocks
        self._pending_bytes += sum(map(len, blocks))
        self._pending_lines += count
        if self._pending_bytes >= BUFFER_BYTES:
            self._write_pending()

    def flush(self) -> None:
        self._write_pending()

    def poll(self) -> None:
        if self._pending and time.monotonic() - self._written_at >= FLUSH_EVERY_S:
            self._write_pending()

    def _write_pending(self) -> None:
        self._written_at = time.monotonic()
        if not self._pending or self._fd is None or self._failed:
            return
        pending, count = self._pending, self._pending_lines
        self._pending, self._pending_bytes, self._pending_lines = [], 0, 0
        written = 0
        try:
            for chunk in _coalesced(pending):
                data = memoryview(chunk)
                done = 0
                while done < len(data):
                    n = os.write(self._fd, data[done:])
                    if n <= 0:  # pragma: no cover - a regular file never takes nothing without an error
                        raise OSError(errno.EIO, os.strerror(errno.EIO))
                    done += n
                    written += n
        except OSError as exc:
            self._fail(exc, memoryview(b"".join(pending)), written, count)
        self._size += written
        self.stats.acknowledged += count

    def close(self) -> None:
        if self._fd is not None:  # a local write is quick: even an interrupted run keeps its lines
            try:
                self._write_pending()
            except OutputNotWritableError:
                self._close_fd()
                raise
        self._close_fd()

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.close(fd)
        except OSError as exc:  # e.g. a network file system reporting a deferred write error
            if not (self._failed or self.interrupted):
                self._failed = True
                raise not_writable("", self.path, exc) from None

    def _fail(self, exc: OSError, data: memoryview, written: int, count: int) -> None:
        """Keep the complete lines that reached the file, cut off a partial one, count, stop the run."""
        self._failed = True
        whole = bytes(data[:written]).rfind(b"\n") + 1  # bytes of the complete lines written
        lines = bytes(data[:whole]).count(b"\n")
        if whole < written and self._fd is not None:
            try:
                os.ftruncate(self._fd, self._size + whole)
            except OSError:
                # The partial line stays; a resumed run cuts it (``_drop_partial_line``).
                pass
            else:
                os.lseek(self._fd, self._size + whole, os.SEEK_SET)
        self._size += whole
        self.stats.acknowledged += lines
        self.stats.errors += count - lines
        raise not_writable("", self.path, exc) from None


def _coalesced(blocks: list[bytes]) -> Iterator[bytes]:
    """``blocks`` in order, the small neighbours joined to at least :data:`WRITE_BYTES`: one system call
    per few hundred kB, and no copy of a block already that large (a JSON encoder's)."""
    run: list[bytes] = []
    size = 0
    for block in blocks:
        if len(block) >= WRITE_BYTES and not run:
            yield block
            continue
        run.append(block)
        size += len(block)
        if size >= WRITE_BYTES:
            yield b"".join(run)
            run, size = [], 0
    if run:
        yield b"".join(run)


def _drop_partial_line(path: Path) -> None:
    """Cut the file after its last newline (a process killed mid-write leaves half a line)."""
    if not path.exists():
        return
    with open(path, "r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        keep = size
        while keep > 0:
            start = max(0, keep - 65536)
            handle.seek(start)
            block = handle.read(keep - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            keep = start
        if keep < size:
            handle.truncate(keep)
