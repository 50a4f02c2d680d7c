"""Limits of many connections: the open-file limit, and a log that does not repeat a line per connection."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable

#: log lines per ``LOG_WINDOW_S`` [s]; a broker restart would otherwise log one line per connection
LOG_LINES = 5
LOG_WINDOW_S = 5.0


def raise_nofile_limit() -> float:
    """Raise the soft RLIMIT_NOFILE to the hard one; the limit now in force (inf where unknown)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return math.inf
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (OSError, ValueError):
            pass  # an unlimited hard limit may be above what the kernel allows: keep the soft one
    return math.inf if soft == resource.RLIM_INFINITY else float(soft)


def open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


class ThrottledLog:
    """At most LOG_LINES lines per LOG_WINDOW_S; then one line saying how many were left out."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self._window_at = -math.inf
        self._lines = 0
        self._dropped = 0

    def __call__(self, line: str) -> None:
        now = time.monotonic()
        if now - self._window_at >= LOG_WINDOW_S:
            if self._dropped:
                self._log(f"mqtt: ({self._dropped} similar connection messages left out)")
            self._window_at, self._lines, self._dropped = now, 0, 0
        if self._lines < LOG_LINES:
            self._lines += 1
            self._log(line)
        else:
            self._dropped += 1
