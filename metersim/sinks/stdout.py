"""Standard output: one payload per line, for piping into other tools."""

from __future__ import annotations

import contextlib
import sys
from typing import BinaryIO

from metersim.errors import not_writable
from metersim.sinks.base import Outbox, SinkBase


class StdoutSink(SinkBase):
    name = "stdout"

    def __init__(self, stream: BinaryIO | None = None) -> None:
        super().__init__()
        self._stream = stream

    def send(self, outbox: Outbox) -> None:
        stream = self._stream or sys.stdout.buffer
        payloads = outbox.payloads
        self.stats.accepted += len(payloads)
        try:
            stream.write(b"\n".join(payloads) + b"\n")
        except (BrokenPipeError, OSError) as exc:
            self.stats.errors += len(payloads)
            raise not_writable("to", "stdout", exc) from None
        self.stats.acknowledged += len(payloads)

    def flush(self) -> None:
        stream = self._stream or sys.stdout.buffer
        with contextlib.suppress(OSError):  # a reader that closed the pipe chose to stop reading
            stream.flush()
