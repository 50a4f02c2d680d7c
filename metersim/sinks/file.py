"""JSON Lines files: one payload per line."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import BinaryIO

from metersim.errors import OutputNotWritableError, not_writable
from metersim.sinks.base import Outbox, SinkBase

_BUFFER_BYTES = 1 << 20
#: longest wall time [s] between flushes while a paced run waits, so that ``tail -f`` shows life
FLUSH_EVERY_S = 1.0


class FileSink(SinkBase):
    """Write each payload as one line. ``acknowledged`` counts lines flushed to the OS.

    In a paced run the file is flushed at least every :data:`FLUSH_EVERY_S` while the run waits. A file
    opened to ``append`` (a resumed run) first loses a trailing partial line that a killed run left.
    """

    name = "file"

    def __init__(self, path: str | os.PathLike[str], *, append: bool = False) -> None:
        """``append`` keeps what the file holds (a resumed run), else it is truncated."""
        super().__init__()
        self.path = Path(path)
        self.append = append
        self._file: BinaryIO | None = None
        self._flushed_at = time.monotonic()

    def describe(self) -> str:
        return f"file {self.path}"

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.append:
                _drop_partial_line(self.path)
            # closed in close()
            self._file = (
                open(self.path, "ab", buffering=_BUFFER_BYTES)  # noqa: SIM115
                if self.append
                else open(self.path, "wb", buffering=_BUFFER_BYTES)  # noqa: SIM115
            )
        except OSError as exc:
            raise not_writable("", self.path, exc) from None

    def poll(self) -> None:
        if self._file is not None and time.monotonic() - self._flushed_at >= FLUSH_EVERY_S:
            self.flush()

    def send(self, outbox: Outbox) -> None:
        if self._file is None:
            raise OutputNotWritableError(f"{self.path} is not open")
        payloads = outbox.payloads
        self.stats.accepted += len(payloads)
        try:
            self._file.write(b"\n".join(payloads) + b"\n")
        except OSError as exc:
            self._fail(exc)

    def flush(self) -> None:
        if self._file is None:
            return
        try:
            self._file.flush()
        except OSError as exc:
            self._fail(exc)
        self._flushed_at = time.monotonic()
        self.stats.acknowledged += self.stats.in_flight

    def close(self) -> None:
        if self._file is None:
            return
        try:
            self.flush()
        finally:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):  # the flush above already reported the failure
                file.close()

    def _fail(self, exc: OSError) -> None:
        """Count what was accepted but never reached the disk, then stop the run."""
        self.stats.errors += self.stats.in_flight
        raise not_writable("", self.path, exc) from None


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
