"""What should arrive: the scenario run again in-process, its outputs replaced by memory.

The run is deterministic (random streams are keyed by seed, stream, chunk and interval), so the same
scenario and seed give byte-identical payloads: no payload field legitimately differs between the real
run and this one. ``sent_at`` is simulated time too, not the wall clock, so it matches as well.

Each reading is keyed by ``(meter_id, seq)``. Per key we keep the payload bytes, how many copies the
outputs were handed (one per MQTT output, two per output for an injected duplicate, none for an injected
drop), the topics it goes out on, and the kinds of the injected faults whose labels cover it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from metersim.commands.wiring import listening
from metersim.config import MqttOutput, Scenario
from metersim.engine import Observer
from metersim.records import Label, Observation
from metersim.simulation import Simulation
from metersim.sinks.memory import EVENT_SCHEMA, MemorySink
from metersim.windows import resolve_window

Key = tuple[str, int]  # (meter_id, seq)

#: fault kinds that mean the reading was not sent at all (lost on purpose)
DROPPED = frozenset({"comms_drop", "comms_lost"})
#: fault kinds that mean the reading goes out twice
DUPLICATED = frozenset({"comms_duplicate"})
#: fault kinds that mean the reading leaves late, possibly after newer ones
DEFERRED = frozenset({"comms_delay", "comms_backlog", "supply_backlog"})
#: every kind injected on purpose into the delivered stream
INJECTED = DROPPED | DUPLICATED | DEFERRED


@dataclass
class ExpectedReading:
    """One reading as the outputs were handed it (``copies`` 0: dropped on purpose, never sent)."""

    payload: bytes = b""
    copies: int = 0
    topics: set[str] = field(default_factory=set)
    faults: set[str] = field(default_factory=set)

    @property
    def dropped(self) -> bool:
        return bool(self.faults & DROPPED)


@dataclass
class Expected:
    """The expected stream: readings by key, the number of events, and the window it covers."""

    readings: dict[Key, ExpectedReading]
    events: int = 0
    start_s: int = 0  # [epoch s]
    end_s: int = 0  # [epoch s]
    completed: bool = True  # False if the regeneration was stopped (Ctrl-C)

    @property
    def copies(self) -> int:
        """Messages expected in all: every copy of every reading."""
        return sum(r.copies for r in self.readings.values())

    def count(self, kinds: frozenset[str]) -> int:
        """Readings with an injected fault of one of ``kinds``."""
        return sum(1 for r in self.readings.values() if r.faults & kinds)


class FaultObserver(Observer):
    """Collects the labels of injected faults and every reading's key, sent or not.

    Labels span interval ends and are emitted once, at the first affected reading, so they are applied
    to keys at the end (:meth:`apply`), when every interval of the run has been seen.
    """

    def __init__(self) -> None:
        self.seq_of: dict[tuple[str, int], int] = {}  # (meter_id, interval end) -> seq
        self.by_meter: dict[str, list[int]] = defaultdict(list)  # meter_id -> interval ends, in order
        self.unsent: set[Key] = set()
        self.labels: list[Label] = []

    def observe(self, observation: Observation) -> None:
        published = observation.published
        self.labels += [label for label in (*observation.labels, *published.labels) if label.kind in INJECTED]
        for batch in published.batches():
            ids = batch.meters.ids
            rows = zip(batch.meters_at.tolist(), batch.end_s.tolist(), batch.seq.tolist(), batch.published.tolist())
            for at, end_s, seq, sent in rows:
                meter_id = ids[at]
                self.seq_of[(meter_id, end_s)] = seq
                self.by_meter[meter_id].append(end_s)
                if not sent:
                    self.unsent.add((meter_id, seq))

    def apply(self, readings: dict[Key, ExpectedReading]) -> None:
        """Mark every reading a label covers with its kind; add the unsent ones (copies 0)."""
        for key in self.unsent:
            readings.setdefault(key, ExpectedReading())
        for label in self.labels:
            for end_s in self.by_meter.get(label.meter_id, ()):
                if label.start_s <= end_s <= label.end_s:
                    key = (label.meter_id, self.seq_of[(label.meter_id, end_s)])
                    readings.setdefault(key, ExpectedReading()).faults.add(label.kind)


def mqtt_outputs(scenario: Scenario) -> list[MqttOutput]:
    return [o for o in scenario.outputs if isinstance(o, MqttOutput)]


def regeneration_scenario(scenario: Scenario) -> Scenario:
    """The scenario as it is run again: no outputs, no ledger, no state file, as fast as possible.

    Pace does not change a payload (every time in it is simulated time). A ``start: now`` scenario is
    pinned to the start it resolves to now, which matches the real run only if that started in the same
    interval (see :func:`metersim.simulation.live_start`).
    """
    simulation = scenario.simulation.model_copy(update={"speed": "max", "state_path": None})
    return scenario.without_outputs().model_copy(update={"simulation": simulation})


def regenerate(
    scenario: Scenario,
    name: str = "verify",
    sinks_for: Sequence[MqttOutput] | None = None,
    replay_commands: str | None = None,
) -> Expected:
    """Run ``scenario`` in-process into one MemorySink per MQTT output and key what they were handed;
    ``replay_commands``: the run's command log, fed back as the run answered it (disconnections, ...)."""
    outputs = list(sinks_for) if sinks_for is not None else mqtt_outputs(scenario)
    if not outputs:
        outputs = [MqttOutput.model_validate({"type": "mqtt"})]
    sinks = [MemorySink(topic=o.topic, events_topic=o.events_topic) for o in outputs]
    faults = FaultObserver()
    again = regeneration_scenario(scenario)
    window, _ = resolve_window(again)
    found = listening(scenario) if replay_commands is not None else None
    simulation = Simulation(
        again,
        name=name,
        sinks=sinks,
        observers=[faults],
        replay_commands=replay_commands,
        commands=found[1] if found is not None else None,
    )
    simulation.run()
    readings: dict[Key, ExpectedReading] = {}
    events = 0
    for sink in sinks:
        for topic, payload in sink.messages:
            decoded = orjson.loads(payload)
            if decoded.get("schema") == EVENT_SCHEMA:
                events += 1
                continue
            reading = readings.setdefault((decoded["meter_id"], decoded["seq"]), ExpectedReading())
            reading.payload = payload
            reading.copies += 1
            reading.topics.add(topic)
    faults.apply(readings)
    return Expected(readings, events, window.start_s, window.end_s, completed=not simulation.interrupted)
