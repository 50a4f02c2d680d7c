"""The command handler driven by hand, without a broker: outcomes, latency, who cannot answer, draws.

The handler's timeline is a generator of wake instants; these tests resume it at each one with a
hand-set clock, feed commands through :meth:`CommandHandler.receive`, and collect the answers.
"""

from __future__ import annotations

import json
import math
import statistics

from metersim.commands.handler import CommandHandler
from metersim.commands.log import Inbound
from metersim.config import parse_scenario
from metersim.config.commands import CommandsConfig
from metersim.records import Label, Observation
from metersim.simulation import build_groups
from metersim.windows import resolve_window
from tests.conftest import scenario_dict

T0 = 1767207600  # 2026-01-01T00:00:00+05:00
T1 = T0  # the first poll (at the run's start): when the tests' commands are taken in [epoch s]
HALF_MS = 0.0005  # the handler acts half a millisecond past whole milliseconds [s]


class Driven:
    """A handler over the conftest fleet (20 Lahore electricity meters, 10 Tashkent gas meters)."""

    def __init__(self, **commands: object) -> None:
        scenario = parse_scenario(scenario_dict())
        window, _ = resolve_window(scenario)
        self.simulators = build_groups(scenario, window)
        self.answers: list[tuple[float, str, dict[str, object]]] = []
        self.now = float(window.start_s)
        self.handler = CommandHandler(
            CommandsConfig.model_validate(commands),
            self.simulators,
            seed=42,
            reply=lambda topic, payload, qos, corr: self.answers.append((self.now, topic, json.loads(payload))),
            qos=1,
            poll_s=1.0,
        )
        self.handler.clock = lambda: self.now
        self.timeline = self.handler.run(window.start_s, window.end_s)
        self.now = float(next(self.timeline))  # the first poll is due at once

    def send(self, meter_id: str, command: str, command_id: str, **args: object) -> None:
        payload = json.dumps({"id": command_id, "command": command, "args": args}).encode()
        self.handler.receive(Inbound(f"metersim/cmd/{meter_id}", payload))

    def until(self, end_s: float) -> None:
        """Resume the timeline at each instant it asks for, up to ``end_s``."""
        while self.now < end_s:
            self.now = max(self.now, float(self.timeline.send(None)))

    def answer(self, command_id: str) -> tuple[float, dict[str, object]]:
        (found,) = [(t, a) for t, _, a in self.answers if a["id"] == command_id]
        return found


def test_a_command_is_answered_after_its_latency_and_a_read_only_default():
    d = Driven(latency={"median_s": 2.0, "p95_s": 2.0})  # p95 = median: exactly 2 s
    d.send("PK-LESCO-000001", "ping", "p1")
    d.send("PK-LESCO-000002", "disconnect", "x1")
    d.until(T0 + 10)
    at, ping = d.answer("p1")
    assert (ping["status"], ping["meter_id"], ping["result"]) == ("ok", "PK-LESCO-000001", {"online": True})
    assert math.isclose(at, T1 + 2.0 + HALF_MS)  # received at the first poll, answered 2 s later
    at, refused = d.answer("x1")
    assert refused["status"] == "rejected" and "not allowed" in str(refused["error"])
    assert math.isclose(at, T1 + HALF_MS)  # refused at once


def test_latency_draws_follow_the_configured_log_normal():
    d = Driven(latency={"median_s": 1.0, "p95_s": 4.0})
    ids = [f"PK-LESCO-{k:06d}" for k in range(1, 21)]
    for n in range(2000):  # 100 commands per meter, each with its own id
        d.send(ids[n % 20], "ping", f"c{n}")
    d.until(T0 + 400)
    # all 2000 are taken in at T1 (256 per poll, the polls following at once while any wait)
    assert not d.handler.inbox
    delays = sorted(at - T1 for at, _, _ in d.answers)
    assert len(delays) == 2000
    # an independent check of the quantiles: median 1 s, 95th percentile 4 s (log-normal)
    assert 0.9 < statistics.median(delays) < 1.1
    assert 3.3 < delays[int(0.95 * len(delays))] < 4.8


def test_the_draws_depend_on_the_meter_and_the_id_only():
    first, second = Driven(), Driven()
    for d in (first, second):
        d.send("PK-LESCO-000003", "ping", "same")
    second.send("PK-LESCO-000004", "ping", "other")  # another command beside it changes nothing
    first.until(T0 + 60)
    second.until(T0 + 60)
    assert first.answer("same")[0] == second.answer("same")[0]


def test_configured_failures_and_a_meter_without_supply():
    d = Driven(failures={"timeout": 1.0}, timeout_s=30)
    d.send("PK-LESCO-000005", "read", "t1")
    d.until(T0 + 40)
    at, answer = d.answer("t1")
    assert answer["status"] == "timeout" and math.isclose(at, T1 + 30 + HALF_MS)

    d = Driven(timeout_s=30)
    interval = d.simulators[0].step(0, T0 + 900)
    outage = Label("PK-LESCO-000006", T0 + 900, T0 + 1800, "supply_interruption")
    d.handler.observe(Observation(interval, interval, (outage,), None, None))
    d.send("PK-LESCO-000006", "read", "dark")
    d.send("PK-LESCO-000007", "read", "lit")
    d.until(T0 + 40)
    assert d.answer("dark")[1]["status"] == "timeout"
    assert d.answer("lit")[1]["status"] == "ok"


def test_refusals_are_answered_at_once_and_counted():
    d = Driven()
    d.handler.receive(Inbound("metersim/cmd/PK-LESCO-000001", b"\xff\xfe"))
    d.handler.receive(Inbound("metersim/cmd/NOBODY", b'{"id": "n", "command": "ping"}'))
    d.handler.receive(Inbound("metersim/cmd/PK-LESCO-000001", b'{"id": "u", "command": "reboot"}'))
    d.until(T0 + 5)
    statuses = sorted((a["id"] or "", a["status"]) for _, _, a in d.answers)
    assert statuses == [("", "error"), ("n", "error"), ("u", "error")]
    assert d.handler.summary() == {"received": 3, "answered": {"error": 3}, "refused": 3, "dropped": 0}
