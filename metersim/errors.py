"""Errors that metersim reports to its user, each with its own exit code.

The tree::

    MetersimError                 exit 1   anything we failed at, with a one-line reason
    ├── ConfigError               exit 2   the scenario file or an override is invalid
    ├── BrokerUnreachableError    exit 3   no MQTT broker answered at start (or it refused us)
    ├── TlsError                  exit 4   CA, certificate or key files are missing or unusable
    ├── OutputNotWritableError    exit 5   a file output cannot be created or written (incl. disk full)
    │   └── MetricsPortError      exit 5   the --metrics-port cannot be listened on (metersim.metrics)
    ├── DeliveryError             exit 6   readings were accepted but could not be delivered
    ├── MissingDependencyError    exit 7   an optional package (pyarrow, matplotlib) is not installed
    └── WorkerDiedError           exit 9   a --workers process died without its reason (metersim.scale.workers)

``metersim verify`` and ``metersim send`` exit 8 when they find a difference (not an error class).

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


class MissingDependencyError(MetersimError):
    """An optional package is missing; the message gives the command that installs it."""

    exit_code = 7

    def __init__(self, purpose: str, package: str, extra: str) -> None:
        super().__init__(f"{purpose} needs {package}: pip install 'metersim[{extra}]'")


def not_writable(what: str, path: object, exc: OSError) -> OutputNotWritableError:
    """The one translation of an OSError while writing ``what`` at ``path`` into a one-line error."""
    return OutputNotWritableError(f"cannot write {what}{' ' if what else ''}{path}: {exc.strerror or exc}")


EXIT_INTERRUPTED = 130
