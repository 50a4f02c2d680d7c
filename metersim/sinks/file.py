"""JSON Lines files: one payload per line."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

from metersim.errors import OutputNotWritableError, not_writable
from metersim.sinks.base import Outbox, SinkBase

_BUFFER_BYTES = 1 << 20


class FileSink(SinkBase):
    """Write each payload as one line. ``acknowledged`` counts lines flushed to the OS."""

    name = "file"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(path)
        self._file: BinaryIO | None = None

    def describe(self) -> str:
        return f"file {self.path}"

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "wb", buffering=_BUFFER_BYTES)  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise not_writable("", self.path, exc) from None

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
