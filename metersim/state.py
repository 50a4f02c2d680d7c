"""Resumable runs: a state file with every group's registers, model noise and next ``seq``.

A live fleet that restarts (``restart: on-failure``, a pod rescheduled) must not reset its meters: a
backend would see every register jump back. With ``simulation.state_path`` the run writes its state
atomically (a temporary file, then ``os.replace``) at most every ``state_every_s`` wall seconds and on
stop, and a run that finds the file continues from it: same window, each group from the interval after
the last one whose readings all went out. Everything else is addressable (weather, noise innovations,
spikes are keyed by the interval), so the resumed run publishes exactly what the uninterrupted run would
have; readings sent after the last save are sent again (at least once, never a reset).

The file is a NumPy ``.npz`` archive: ``meta`` (JSON: format version, scenario fingerprint, window) and
one array per group and name (``GROUP/registers.total``, ``GROUP/noise``, ``GROUP/next_seq``, ...).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from metersim._array import Array
from metersim.config import Scenario
from metersim.engine import Observer, Window
from metersim.errors import ConfigError, MetersimError, not_writable
from metersim.group import GroupSimulator
from metersim.records import Observation

FORMAT_VERSION = 1


def fingerprint(scenario: Scenario) -> str:
    """What must not change between a run and its resumption: the simulated fleet, not where it goes."""
    model = scenario.model_dump(mode="json", exclude={"outputs", "truth"})
    for volatile in ("speed", "state_path", "state_every_s"):
        model["simulation"].pop(volatile, None)
    return hashlib.sha256(json.dumps(model, sort_keys=True).encode()).hexdigest()


def load_state(path: Path, scenario: Scenario) -> tuple[Window, dict[str, dict[str, Array]]] | None:
    """The saved window and per-group arrays, or None if there is no state file yet."""
    if not path.exists():
        return None
    try:
        with np.load(path) as archive:
            meta = json.loads(bytes(archive["meta"]).decode())
            arrays: dict[str, dict[str, Array]] = {}
            for key in archive.files:
                if key != "meta":
                    group, name = key.split("/", 1)
                    arrays.setdefault(group, {})[name] = archive[key]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"state file {path} is unreadable ({exc}); remove it to start afresh") from None
    if meta.get("version") != FORMAT_VERSION or meta.get("scenario") != fingerprint(scenario):
        raise ConfigError(
            f"state file {path} belongs to another scenario (or another metersim); remove it to start afresh"
        )
    return Window(int(meta["start_s"]), int(meta["end_s"])), arrays


@runtime_checkable
class Stateful(Protocol):
    """A transform with per-meter state of its own (meter faults, theft)."""

    group: str  # the fleet group it changes
    state_name: str  # prefix of its arrays in the state file

    def state(self) -> dict[str, Array]: ...

    def restore(self, state: dict[str, Array]) -> None: ...


def stateful_transforms(transforms: Sequence[object], group: str) -> list[Stateful]:
    """The transforms of ``group`` that keep state across intervals, in order."""
    return [t for t in transforms if isinstance(t, Stateful) and t.group == group]


def restore_transforms(transforms: Sequence[object], group: str, arrays: dict[str, Array]) -> None:
    """Continue each stateful transform of ``group`` from the arrays a :class:`StateWriter` saved."""
    for transform in stateful_transforms(transforms, group):
        prefix = f"{transform.state_name}."
        transform.restore({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)})


class StateWriter(Observer):
    """Keeps each group's state as of its last interval that went out with every interval before it,
    and saves it at a bounded period.

    The state of an interval is taken when it is stepped (after the transforms), because a transform
    may hold some of its readings back (a comms backlog) while later intervals are stepped; it becomes
    the saved state once that interval and all before it were sent. A resumed run steps the intervals
    after it again, so a reading still held back is regenerated, never lost.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        scenario: Scenario,
        window: Window,
        simulators: list[GroupSimulator],
        flush: Callable[[], None],
        transforms: Sequence[object] = (),
    ) -> None:
        """``flush`` makes the outputs deliver what they accepted: a state is saved only behind it.
        ``transforms`` with a ``group``, a ``state_name``, ``state()`` and ``restore()`` are saved too."""
        self.path, self.window, self.flush = Path(path), window, flush
        self.every_s = scenario.simulation.state_every_s
        self.fingerprint = fingerprint(scenario)
        self.simulators = {s.group.name: s for s in simulators}
        self.stateful = {name: stateful_transforms(transforms, name) for name in self.simulators}
        self.states = {name: self._state(name, s.first_seq) for name, s in self.simulators.items()}
        self.next_seq = {name: s.first_seq for name, s in self.simulators.items()}  # first interval not sent
        self.taken: dict[str, dict[int, dict[str, Array]]] = {name: {} for name in self.simulators}  # by seq
        self.done: dict[str, set[int]] = {name: set() for name in self.simulators}  # sent, after a gap
        self._saved_at = -float("inf")

    def _state(self, name: str, next_seq: int) -> dict[str, Array]:
        state = self.simulators[name].state(next_seq)
        for transform in self.stateful[name]:
            state |= {f"{transform.state_name}.{k}": v for k, v in transform.state().items()}
        return state

    def observe(self, observation: Observation) -> None:
        seq = observation.true.seq
        self.taken[observation.group][seq] = self._state(observation.group, seq + 1)

    def sent(self, observation: Observation) -> None:
        name = observation.group
        done, taken = self.done[name], self.taken[name]
        done.add(observation.true.seq)
        while self.next_seq[name] in done:
            seq = self.next_seq[name]
            done.discard(seq)
            self.states[name] = taken.pop(seq)
            self.next_seq[name] = seq + 1
        if time.monotonic() - self._saved_at >= self.every_s:
            self.save()

    def __enter__(self) -> StateWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            self.save()
        except MetersimError:
            if exc_type is None:
                raise  # else the run's own failure is the one to report

    def save(self) -> None:
        # What the state calls sent must have reached the files and the broker, or a kill would lose it.
        self.flush()
        meta = {
            "version": FORMAT_VERSION,
            "scenario": self.fingerprint,
            "start_s": self.window.start_s,
            "end_s": self.window.end_s,
        }
        arrays: dict[str, Any] = {
            f"{g}/{name}": values for g, state in self.states.items() for name, values in state.items()
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as handle:
                np.savez(handle, **arrays)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            raise not_writable("state", self.path, exc) from None
        self._saved_at = time.monotonic()
