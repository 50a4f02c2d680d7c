"""Command handling: a timeline of its own that takes commands off an inbox and answers them.

The MQTT network loop (on the engine's thread: no locks) puts each command message in the inbox
(:meth:`CommandHandler.receive`); the handler's process takes them off at its next poll, which is
the command's *received* time (simulated, to the millisecond). Each command is then, by draws keyed
on the seed, the meter and the command id (never on what else arrived):

* refused at once (``error``) if it is malformed, oversized, unknown, or for an unknown meter;
* ``rejected`` at once if its command is not in ``allow``;
* ``timeout`` after ``timeout_s`` if the meter cannot answer (no supply, its link down, restarting
  after a firmware update) or by the configured timeout rate;
* else answered after the meter's response time (more behind a concentrator), ``error`` or
  ``rejected`` by the configured rates, else ``ok``: then it takes effect (:mod:`~.effects`).

Every command is written to the command log when it is answered; ``--replay-commands`` feeds such a
log back at the same simulated times (:mod:`~metersim.commands.log`), which gives the same output.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from metersim.commands.effects import Effects
from metersim.commands.log import CommandLog, Inbound
from metersim.commands.messages import Refusal, Request, parse, response
from metersim.commands.topics import CommandTopics, publishable, response_topic
from metersim.config.commands import CommandsConfig
from metersim.engine import Observer
from metersim.group import GroupSimulator
from metersim.records import Observation
from metersim.tariffs import BandSchedule
from metersim.timebase import iso_local

#: labels during which an electricity meter has no supply or its link is down: it cannot answer
UNREACHABLE = ("supply_interruption", "comms_backlog", "comms_lost")
#: commands taken off the inbox per poll, so that a burst never holds up the readings for long
PER_POLL = 256
INBOX_LIMIT = 200_000  # more waiting than this are dropped (counted)
_NORMAL = NormalDist()

Reply = Callable[[str, bytes, int, bytes | None], None]  # topic, payload, qos, MQTT 5 correlation data


@dataclass
class CommandCounters:
    received: int = 0
    answered: dict[str, int] = field(default_factory=dict)  # by status
    refused: int = 0  # malformed, oversized, unknown command or meter (answered `error` at once)
    dropped: int = 0  # arrived while the inbox was full: never answered


@dataclass(order=True)
class _Due:
    due_ms: int
    n: int  # arrival order, for equal due times
    inbound: Inbound = field(compare=False)
    meter: tuple[int, int] | None = field(compare=False)  # (simulator, row)
    command_id: str | None = field(compare=False)
    request: Request | None = field(compare=False)
    status: str = field(compare=False)
    error: str | None = field(compare=False)


class CommandHandler(Observer):
    """Answers the commands of one MQTT output for the meters of ``simulators``.

    Parameters
    ----------
    config
        The output's ``commands``.
    simulators
        The run's groups.
    seed
        The scenario seed (the draws of each command's latency and outcome).
    reply
        Publishes a response: ``(topic, payload, qos, correlation data or None)``.
    log
        The command log (None: not kept).
    poll_s
        How often the inbox is looked at [simulated s] (live commands only).
    replay
        Recorded commands to feed back instead of live ones, each at its received time (None: live).
    calendars
        Per simulator, the tariff calendars ``set_tariff`` may choose, by name (the group's own first).
    service
        Services the connection the commands come in on (called at each live poll).
    """

    def __init__(
        self,
        config: CommandsConfig,
        simulators: Sequence[GroupSimulator],
        *,
        seed: int,
        reply: Reply,
        qos: int,
        log: CommandLog | None = None,
        poll_s: float = 1.0,
        replay: Sequence[Inbound] | None = None,
        calendars: Sequence[dict[str, BandSchedule]] | None = None,
        service: Callable[[], None] = lambda: None,
        elsewhere: Callable[[str], bool] = lambda meter_id: False,
    ) -> None:
        self.config, self.simulators, self.seed = config, simulators, seed
        self.reply, self.qos, self.log, self.poll_s, self.service = reply, qos, log, poll_s, service
        #: whether a meter id is the fleet's but another shard's: its commands are that shard's to answer
        self.elsewhere = elsewhere
        self.topics = CommandTopics(config.topic)
        self.effects = Effects(config, simulators, calendars)
        self.counters = CommandCounters()
        self.inbox: deque[Inbound] = deque()
        self.clock: Callable[[], float] = lambda: 0.0  # set by the simulation: the engine's now [s]
        self._replaying = replay is not None
        self._replay = sorted(replay or (), key=lambda m: m.n)
        self._arrivals = 0
        self._due: list[_Due] = []
        self._where: dict[str, tuple[int, int]] | None = None
        self._unreachable: dict[str, list[tuple[int, int]]] = {}

    # --- inputs -------------------------------------------------------------------------------------

    def receive(self, message: Inbound) -> None:
        """A command message from the network loop (live runs)."""
        if self._replaying:
            return  # a replay takes only the recorded commands
        if len(self.inbox) >= INBOX_LIMIT:
            self.counters.dropped += 1
            return
        self.inbox.append(message)

    def observe(self, observation: Observation) -> None:
        self.effects.observe(observation)
        interval_s = observation.true.meters.interval_s
        for label in observation.labels:
            if label.kind in UNREACHABLE and (label.kind != "supply_interruption" or _electric(observation)):
                self._unreachable.setdefault(label.meter_id, []).append((label.start_s - interval_s, label.end_s))

    # --- the timeline -------------------------------------------------------------------------------

    def run(self, start_s: int, end_s: int) -> Iterator[float]:
        """Take commands in at each poll (or, replaying, at their recorded times) and answer them when due.

        Every instant the handler acts at is a whole millisecond plus half of one (:func:`_instant`), so
        it never coincides with a reading, an event or an interval step (whole seconds): what it sees
        of the meters never depends on the order SimPy runs simultaneous processes in.
        """
        replay = deque(self._replay)
        live = not self._replaying
        poll_ms, end_ms = max(1, round(self.poll_s * 1000)), end_s * 1000
        now_ms = start_s * 1000
        while now_ms < end_ms:
            yield _instant(now_ms)
            now_ms = math.floor(self.clock() * 1000)
            if live:
                if not self.inbox:
                    self.service()  # read what the network holds
                for _ in range(min(len(self.inbox), PER_POLL)):
                    self._take(self.inbox.popleft(), now_ms)
            while replay and replay[0].received_ms <= now_ms:
                self._take(replay.popleft(), None)
            self._answer_due(now_ms)
            if live and self.inbox:
                continue  # more waiting: again at this instant, once the readings due now have gone
            next_ms = now_ms + poll_ms if live else end_ms
            if replay:
                next_ms = min(next_ms, replay[0].received_ms)
            if self._due:
                next_ms = min(next_ms, self._due[0].due_ms)
            now_ms = min(max(next_ms, now_ms + 1), end_ms)
        self._answer_due(None)  # what is still due at the end is answered now

    def _take(self, message: Inbound, received_ms: int | None) -> None:
        """Accept one command at ``received_ms`` (None: its recorded time) and schedule its answer."""
        fields = self.topics.fields_of(message.topic)
        meter = self._meter_of(fields)
        if meter is None and fields is not None and self.elsewhere(fields.get("meter_id", "")):
            return
        if received_ms is not None:
            message.received_ms, message.n = received_ms, self._arrivals
        self._arrivals += 1
        self.counters.received += 1
        at_ms = message.received_ms
        parsed = parse(message.payload, self.config.max_payload_bytes)
        if isinstance(parsed, Refusal) or meter is None:
            reason = parsed.reason if isinstance(parsed, Refusal) else _no_meter(fields)
            self.counters.refused += 1
            self._schedule(_Due(at_ms, message.n, message, meter, parsed.id, None, "error", reason))
            return
        if parsed.command not in self.config.allow:
            refused = f"command {parsed.command!r} is not allowed here (commands.allow)"
            self._schedule(_Due(at_ms, message.n, message, meter, parsed.id, parsed, "rejected", refused))
            return
        u_outcome, u_latency, u_extra = self._draws(meter, parsed.id)
        failures = self.config.failures
        status, error = "ok", None
        if self._cannot_answer(meter, at_ms):
            status, error = "timeout", "the meter did not answer (no supply, link down or restarting)"
        elif u_outcome < failures.timeout:
            status, error = "timeout", "the meter did not answer"
        elif u_outcome < failures.timeout + failures.error:
            status, error = "error", "the meter reported a failure carrying out the command"
        elif u_outcome < failures.timeout + failures.error + failures.rejected:
            status, error = "rejected", "the meter refused the command (busy)"
        delay_s = self.config.timeout_s if status == "timeout" else self._latency(meter, u_latency, u_extra)
        due_ms = at_ms + round(delay_s * 1000)
        self._schedule(_Due(due_ms, message.n, message, meter, parsed.id, parsed, status, error))

    def _schedule(self, due: _Due) -> None:
        heapq.heappush(self._due, due)

    def _answer_due(self, now_ms: int | None) -> None:
        while self._due and (now_ms is None or self._due[0].due_ms <= now_ms):
            self._answer(heapq.heappop(self._due))

    def _answer(self, due: _Due) -> None:
        message, request, meter = due.inbound, due.request, due.meter
        status, error, result = due.status, due.error, None
        before = after = None
        effective = None
        if status == "ok" and request is not None and meter is not None:
            before = self.effects.state(meter)
            outcome = self.effects.carry_out(request, meter, due.due_ms)
            status, error, result, effective = outcome.status, outcome.error, outcome.result, outcome.effective_s
            after = outcome.after
        zone = self._zone(meter)
        answered = iso_local(due.due_ms // 1000, zone)
        meter_id = self._id(meter)
        payload = response(due.command_id, meter_id, status, answered, result, error)
        topic = message.response_topic if publishable(message.response_topic) else response_topic(message.topic)
        self.reply(topic, payload, self.config.qos if self.config.qos is not None else self.qos, message.correlation)
        counts = self.counters.answered
        counts[status] = counts.get(status, 0) + 1
        if self.log is not None:
            self.log.write(
                message, meter_id, due.command_id, request, status, error, due.due_ms, result, effective, before, after
            )

    # --- draws and lookups --------------------------------------------------------------------------

    def _draws(self, meter: tuple[int, int], command_id: str) -> tuple[float, float, float]:
        """Three uniforms in (0, 1) for this meter and command id (independent of anything else)."""
        simulator = self.simulators[meter[0]]
        position = simulator.attributes.meters.start + meter[1]
        key = f"{self.seed}\x00{simulator.group.name}\x00{position}\x00{command_id}".encode()
        digest = hashlib.blake2b(key, digest_size=24).digest()
        return tuple((int.from_bytes(digest[k : k + 8], "little") + 0.5) / 2**64 for k in (0, 8, 16))  # type: ignore[return-value]

    def _latency(self, meter: tuple[int, int], u: float, u_extra: float) -> float:
        """The meter's response time [s]: log-normal, plus the concentrator's where it sits behind one."""
        latency = self.config.latency
        seconds = latency.median_s * 2.718281828459045 ** (latency.sigma * _NORMAL.inv_cdf(u))
        meters = self.simulators[meter[0]].meter_set
        if meters.make_concentrators is not None:
            extra = self.config.concentrator_latency
            seconds += extra.median_s * 2.718281828459045 ** (extra.sigma * _NORMAL.inv_cdf(u_extra))
        return float(seconds)

    def _cannot_answer(self, meter: tuple[int, int], at_ms: int) -> bool:
        at_s = at_ms // 1000
        if self.effects.offline(meter, at_s):
            return True
        windows = self._unreachable.get(self._id(meter) or "")
        if not windows:
            return False
        windows[:] = [w for w in windows if w[1] >= at_s - 86_400]  # forget long-past episodes
        return any(lo <= at_s < hi for lo, hi in windows)

    def _meter_of(self, fields: dict[str, str] | None) -> tuple[int, int] | None:
        if fields is None:
            return None
        if self._where is None:
            self._where = {m: (k, row) for k, s in enumerate(self.simulators) for row, m in enumerate(s.meter_set.ids)}
        meter = self._where.get(fields.get("meter_id", ""))
        if meter is None:
            return None
        for name, value in fields.items():  # every other field of the topic must be this meter's
            if name != "meter_id" and self.effects.topic_field(meter, name) != value:
                return None
        return meter

    def _id(self, meter: tuple[int, int] | None) -> str | None:
        return None if meter is None else self.simulators[meter[0]].meter_set.ids[meter[1]]

    def _zone(self, meter: tuple[int, int] | None) -> str:
        return self.simulators[meter[0] if meter is not None else 0].group.timezone

    def summary(self) -> dict[str, Any]:
        c = self.counters
        return {"received": c.received, "answered": dict(sorted(c.answered.items())), "refused": c.refused,
                "dropped": c.dropped}  # fmt: skip


def _instant(epoch_ms: int) -> float:
    """The simulated instant [epoch s] half a millisecond after ``epoch_ms``."""
    return (epoch_ms + 0.5) / 1000


def _electric(observation: Observation) -> bool:
    return observation.true.meters.meters.commodity == "electricity"


def _no_meter(fields: dict[str, str] | None) -> str:
    if fields is None:
        return "the topic does not fit the command topic template"
    return f"no meter {fields.get('meter_id', '')!r} on this topic in the fleet"
