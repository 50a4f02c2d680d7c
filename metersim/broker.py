"""An in-process MQTT broker (amqtt) for demos and tests: ``url: embedded``.

amqtt is pure Python and manages a few thousand messages per second, so it suits a demo, not a load
test. It runs in a background thread with its own asyncio loop, listens on 127.0.0.1 only, allows
anonymous clients and publishes no ``$SYS`` topics. Only this module imports amqtt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from types import TracebackType
from typing import Any

from metersim.errors import BrokerUnreachableError

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class _DropStartupTraceback(logging.Filter):
    """amqtt logs a traceback when it cannot bind; we report that failure ourselves, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Broker startup failed")


def _quiet_amqtt() -> None:
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    broker_logger = logging.getLogger("amqtt.broker")
    if not any(isinstance(f, _DropStartupTraceback) for f in broker_logger.filters):
        broker_logger.addFilter(_DropStartupTraceback())


class EmbeddedBroker:
    """An amqtt broker on ``127.0.0.1:port``; ``port=0`` picks a free port.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, port: int = 0) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {port}")
        self._requested_port = port
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        """The TCP port the broker listens on (known once started)."""
        if self._port is None:
            raise RuntimeError("the embedded broker is not running")
        return self._port

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._port is not None

    def start(self) -> EmbeddedBroker:
        """Start the broker and block until it listens. Raises BrokerUnreachableError if it cannot."""
        if self._thread is not None:
            return self
        _quiet_amqtt()
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="metersim-embedded-broker", daemon=True)
        self._thread.start()
        where = f"{HOST}:{self._requested_port or '<free port>'}"
        if not self._ready.wait(START_TIMEOUT_S):
            self.stop()
            raise BrokerUnreachableError(f"embedded MQTT broker on {where} did not start within {START_TIMEOUT_S:g} s")
        if self._error is not None:
            error = self._error
            self._join()
            raise BrokerUnreachableError(f"cannot start the embedded MQTT broker on {where}: {_reason(error)}")
        return self

    def stop(self) -> None:
        """Shut the broker down and join its thread. Safe to call twice."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(stop_event.set)
        self._join()

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
        self._thread = None
        self._loop = None
        self._stop_event = None
        self._port = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"port={self._port}" if self._port is not None else "stopped"
        return f"EmbeddedBroker({state})"

    # --- the broker thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # handed to the starting thread
            if not self._ready.is_set():
                self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        from amqtt.broker import Broker

        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        config: dict[str, Any] = {
            "listeners": {"default": {"type": "tcp", "bind": f"{HOST}:{self._requested_port}"}},
            # An explicit plugin set leaves out amqtt's $SYS publisher and its per-packet loggers.
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        try:
            broker = Broker(config)
            await broker.start()
        except BaseException as exc:  # handed to the starting thread
            self._error = exc
            self._ready.set()
            return
        try:
            self._port = _bound_port(broker)
        except Exception as exc:
            self._error = exc
            await broker.shutdown()
            self._ready.set()
            return
        self._ready.set()
        await self._stop_event.wait()
        await broker.shutdown()


def _bound_port(broker: Any) -> int:
    """The port the listener actually bound (differs from the request when that was 0)."""
    server = broker._servers["default"].instance
    sockets = getattr(server, "sockets", None) or []
    for sock in sockets:
        port = sock.getsockname()[1]
        if isinstance(port, int) and port > 0:
            return port
    raise RuntimeError("the listener reports no bound socket")


def _reason(exc: BaseException) -> str:
    """The innermost OS reason (e.g. 'address already in use'), else the exception text."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror.lower()
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__
