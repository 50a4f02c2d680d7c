"""Errors that metersim reports to its user, each with its own exit code.

The tree::

    MetersimError                 exit 1   anything we failed at, with a one-line reason
    ├── ConfigError               exit 2   the scenario file or an override is invalid
    ├── BrokerUnreachableError    exit 3   no MQTT broker answered at start (or it refused us)
    ├── TlsError                  exit 4   CA, certificate or key files are missing or unusable
    ├── OutputNotWritableError    exit 5   a file output cannot be created or written (incl. disk full)
    └── DeliveryError             exit 6   readings were accepted but could not be delivered

An interrupted run (Ctrl-C) exits 130 after flushing; that is not an error class.
"""

from __future__ import annotations


class MetersimError(Exception):
    """Base class: a failure explained in one line, with a process exit code."""

    exit_code = 1


class ConfigError(MetersimError):
    """The scenario is invalid. ``problems`` holds one ``path: reason`` line per problem."""

    exit_code = 2

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(prefix + "; ".join(self.problems))


class BrokerUnreachableError(MetersimError):
    exit_code = 3


class TlsError(MetersimError):
    exit_code = 4


class OutputNotWritableError(MetersimError):
    exit_code = 5


class DeliveryError(MetersimError):
    exit_code = 6


EXIT_INTERRUPTED = 130
