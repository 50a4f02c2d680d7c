"""Why a connection attempt failed, in words: what paho swallowed, and a socket error as a phrase."""

from __future__ import annotations

import logging
import socket
from typing import Any

from metersim.sinks.mqtt.tls import is_tls_failure, ssl_reason


class SwallowedErrors(logging.Logger):
    """A logger for paho's ``enable_logger()`` that keeps the last exception paho logged and swallowed.

    It is never registered with :mod:`logging` and emits nothing.
    """

    def __init__(self) -> None:
        super().__init__("metersim.mqtt.paho", logging.DEBUG)
        self.caught: BaseException | None = None

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        for arg in args:
            if isinstance(arg, BaseException):
                self.caught = arg


def describe_connect_error(exc: BaseException, timeout_s: float) -> str:
    if is_tls_failure(exc):
        return f"TLS: {ssl_reason(exc)}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host name ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
