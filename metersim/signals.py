"""The stop signals of a run: the first flushes and reports, a second gives up on delivery."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

#: signals that stop a run gracefully: the first flushes and reports, a second one gives up on delivery
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
#: how long [s] the outputs may take to deliver what they hold after a stop signal, before they give up
GRACE_S = 3.0


@contextmanager
def graceful_signals(on_signal: Callable[[int], None]) -> Iterator[None]:
    """SIGINT (Ctrl-C), SIGTERM (``docker stop``, Kubernetes) and SIGHUP stop the run, for as long as it
    runs, including the final flush.

    ``on_signal`` gets the first two; a third restores the default action (SIGINT raises
    KeyboardInterrupt, the others end the process). Only the main thread can install handlers;
    elsewhere the caller stops the run itself (:meth:`Simulation.stop`).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    seen = 0

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal seen
        seen += 1
        on_signal(signum)
        if seen >= 2:
            for other in STOP_SIGNALS:
                signal.signal(other, signal.default_int_handler if other == signal.SIGINT else signal.SIG_DFL)

    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, action in previous.items():
            signal.signal(signum, action)
