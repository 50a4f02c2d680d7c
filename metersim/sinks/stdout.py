"""Standard output: one payload per line, for piping into other tools."""

from __future__ import annotations

import io
import os
import sys
from typing import BinaryIO

from metersim.errors import not_writable
from metersim.sinks.base import Outbox, SinkBase


class StdoutSink(SinkBase):
    """Write each payload as one line to standard output (or ``stream``), flushed at every ``send()``.

    ``acknowledged`` counts lines handed to the OS: each ``send()`` flushes, so nothing waits in
    Python's buffer, nothing is "in flight", and a reader that went away (``| head``) is noticed by
    the ``send()`` that follows: it counts the lines of its outbox in ``errors`` and raises the
    sink's own one-line error, ``cannot write to stdout: Broken pipe`` (the command line ends such
    a run quietly with exit 0; the report still says what happened). Other failures (a full disk
    behind a redirect) raise the same error with their own reason. After a failure the sink writes
    nothing more, and ``flush()``/``close()`` do not report it a second time.
    """

    name = "stdout"

    def __init__(self, stream: BinaryIO | None = None) -> None:
        super().__init__()
        self._stream = stream
        self._failed = False

    def send(self, outbox: Outbox) -> None:
        stream = self._stream or sys.stdout.buffer
        count = len(outbox)
        self.stats.accepted += count
        if self._failed:
            self.stats.errors += count
            raise not_writable("to", "stdout", OSError("an earlier write failed"))
        try:
            _write(stream, outbox.lines)
        except OSError as exc:
            # Lines of this outbox may be half-written: none of them counts as written.
            self._failed = True
            self.stats.errors += count
            raise not_writable("to", "stdout", exc) from None
        self.stats.acknowledged += count

    def flush(self) -> None:
        """Nothing waits: every ``send()`` flushed. A failure was reported by the ``send()`` that met it."""
        return None


def _write(stream: BinaryIO, blocks: list[bytes]) -> None:
    """Hand ``blocks`` to the OS, in order: straight to the file descriptor when there is one, so that a
    failed write leaves nothing in Python's buffer for the interpreter's last flush to fail on again."""
    try:
        fd = stream.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        for block in blocks:
            stream.write(block)
        stream.flush()
        return
    stream.flush()  # whatever else was written to the stream goes first
    for block in blocks:
        view = memoryview(block)
        while view:
            view = view[os.write(fd, view) :]
