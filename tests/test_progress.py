"""Progress: the tracker's clock, current rate and time left on a fake wall clock; the bar and the log lines."""

from __future__ import annotations

import io
import threading

import pytest
from rich.console import Console

from metersim import progress
from metersim.engine import EngineCounters
from metersim.progress import ProgressDisplay, ProgressLog, Ticker, Tracker, about, bar_text, log_line, start_line
from metersim.simulation import Simulation
from metersim.sinks.base import SinkBase
from metersim.sinks.discard import DiscardSink
from metersim.timebase import parse_instant
from tests.conftest import make_scenario

START = parse_instant("2026-07-06T00:00:00+05:00")
DAY = 86400
ZONE = "Asia/Karachi"


class Wall:
    """A fake monotonic clock: tests move it by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeMqtt(SinkBase):
    """Counts like an MQTT sink: ``in_flight`` is what the broker has not acknowledged yet."""

    name = "mqtt"


class BufferedFile(SinkBase):
    """Counts like a file that holds lines in a buffer: accepted but not yet acknowledged."""

    name = "file"


def tracker(wall: Wall, *, speed: float | None = None, anchor_sim: float | None = None, sinks=()) -> Tracker:
    counters = EngineCounters(simulated_now_s=START)
    anchor = None if anchor_sim is None else (wall.now, anchor_sim)
    return Tracker(counters, list(sinks), START, START + DAY, speed=speed, anchor=anchor, wall=wall)


def advance(t: Tracker, wall: Wall, seconds: float, readings: int, simulated_s: int) -> None:
    wall.now += seconds
    t.counters.readings_generated += readings
    t.counters.simulated_now_s += simulated_s


def test_the_rate_is_the_current_one_not_the_average_since_the_start():
    wall = Wall()
    t = tracker(wall)
    t.sample()
    for _ in range(10):  # 10 s at 10,000 readings/s
        advance(t, wall, 1, 10_000, 3600)
        t.sample()
    for _ in range(6):  # then 6 s at 100 readings/s
        advance(t, wall, 1, 100, 36)
        status = t.sample()
    assert status.rate == pytest.approx(100)  # over the last 5 s; the average would be 6,287
    assert status.generated == 100_600


def test_full_speed_eta_comes_from_the_current_pace():
    wall = Wall()
    t = tracker(wall)
    t.sample()
    for _ in range(6):
        advance(t, wall, 1, 1000, 3600)  # an hour of simulated time per wall second
        status = t.sample()
    assert status.clock_s == START + 6 * 3600
    assert status.eta_s == pytest.approx(18)  # 18 simulated hours left at an hour a second
    assert status.fraction == pytest.approx(0.25)
    assert bar_text(t, status) == "1,000 readings/s · 0 published · 0 acknowledged · ETA 18s"


def test_a_full_speed_run_that_does_not_move_has_no_eta_yet():
    wall = Wall()
    t = tracker(wall)
    t.sample()
    wall.now += 3
    assert t.sample().eta_s is None
    assert "ETA ?" in bar_text(t, t.sample())


def test_a_paced_run_that_waits_follows_the_wall_clock_between_events():
    """Live at speed 1, 90 s before the start: the clock runs with the wall even though nothing happens."""
    wall = Wall()
    t = tracker(wall, speed=1, anchor_sim=START - 90)
    t.idle()  # the engine waits for its first event
    status = t.sample()
    assert (status.clock_s, status.starts_in_s, status.fraction) == (START - 90, 90, 0)
    assert status.eta_s == pytest.approx(DAY + 90)  # the end is due a day and 90 s from now
    assert log_line(t, status, ZONE) == (
        "metersim: at 2026-07-05T23:58:30+05:00 (0.0%, starts in 1m30s): 0 readings (0/s now), "
        "0 published, 0 acknowledged, about 1d left"
    )
    wall.now += 120  # two minutes later, still no reading (the first interval ends at 00:15)
    t.idle()
    status = t.sample()
    assert status.clock_s == START + 30 and status.starts_in_s == 0
    assert status.eta_s == pytest.approx(DAY - 30)
    assert status.generated == 0


def test_a_paced_run_behind_the_wall_clock_says_by_how_much():
    """A backfill: the pacing is an hour ahead of the engine, which is busy catching up."""
    wall = Wall()
    t = tracker(wall, speed=1, anchor_sim=START + 3600)
    t.sample()
    advance(t, wall, 2, 5000, 1200)  # caught up 20 minutes in 2 s
    status = t.sample()
    assert status.clock_s == START + 1200  # where the engine got, not the wall clock
    assert status.behind_s == pytest.approx(3600 + 2 - 1200)
    assert status.eta_s == pytest.approx(DAY - 3602)  # the window's end is still due on the wall clock
    assert bar_text(t, status).startswith("40m2s behind · 2,500 readings/s · ")
    t.idle()  # caught up: now waiting for the next event
    assert t.sample().behind_s == 0 and t.sample().clock_s == START + 3602


def test_a_paced_run_whose_outputs_hold_it_back_has_the_longer_eta():
    wall = Wall()
    t = tracker(wall, speed=3600, anchor_sim=START)  # an hour a second: the whole day in 24 s
    t.sample()
    for _ in range(6):
        advance(t, wall, 1, 100, 600)  # but the outputs let it make only 10 minutes a second
        status = t.sample()
    assert status.behind_s == pytest.approx(6 * 3600 - 3600)
    assert status.eta_s == pytest.approx((DAY - 3600) / 600)  # 138 s at the current pace, not 18 s


def test_in_flight_counts_mqtt_messages_only():
    wall = Wall()
    mqtt, buffered, discard = FakeMqtt(), BufferedFile(), DiscardSink()
    mqtt.stats.accepted, mqtt.stats.acknowledged = 500, 380
    buffered.stats.accepted = 500  # lines waiting in a buffer are not in flight
    discard.stats.accepted = discard.stats.acknowledged = 500
    status = tracker(wall, sinks=[mqtt, buffered, discard]).sample()
    assert (status.published, status.acknowledged, status.in_flight) == (1500, 880, 120)
    assert tracker(wall, sinks=[buffered, discard]).sample().in_flight is None
    assert "in flight" not in bar_text(tracker(wall), tracker(wall).sample())


def test_the_bar_shows_the_local_clock_rate_counts_in_flight_and_eta():
    wall = Wall()
    mqtt = FakeMqtt()
    t = tracker(wall, sinks=[mqtt])
    display = ProgressDisplay(Console(record=True, width=200), t, ZONE)
    t.sample()
    advance(t, wall, 1, 12_345, 6 * 3600)
    mqtt.stats.accepted, mqtt.stats.acknowledged = 12_345, 12_000
    display.tick()
    console = Console(record=True, width=200, color_system=None)
    console.print(display)
    text = console.export_text()
    assert "2026-07-06T06:00:00+05:00" in text  # the simulated clock, in the fleet's local time
    assert " 25.0%" in text
    assert "12,345 readings/s · 12,345 published · 12,000 acknowledged · 345 in flight · ETA 3s" in text


def test_the_log_line_every_period_of_the_wall_clock():
    wall = Wall()
    t = tracker(wall, sinks=[FakeMqtt()])
    lines: list[str] = []
    log = ProgressLog(lines.append, t, ZONE, every_s=10)
    for _ in range(25):
        advance(t, wall, 1, 100, 600)
        log.tick()
    assert len(lines) == 2
    assert lines[0] == (
        "metersim: at 2026-07-06T01:40:00+05:00 (6.9%): 1,000 readings (100/s now), 0 published, "
        "0 acknowledged, 0 in flight, about 2m14s left"
    )


def test_the_start_line():
    line = start_line(1234, START, START + DAY, ZONE, [DiscardSink()])
    assert line == "metersim: 1,234 meters, 2026-07-06T00:00:00+05:00 .. 2026-07-07T00:00:00+05:00, into discard"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (0.4, "0s"), (59, "59s"), (60, "1m"), (3725, "1h2m"), (90061, "1d1h")]
)
def test_about_rounds_to_two_units(seconds, text):
    assert about(seconds) == text


def test_the_ticker_ticks_on_the_wall_clock_until_stopped():
    ticked = threading.Event()
    count = 0

    def tick() -> None:
        nonlocal count
        count += 1
        if count >= 3:
            ticked.set()

    ticker = Ticker(0.01, tick)
    ticker.start()
    assert ticked.wait(5)
    ticker.stop()
    stopped_at = count
    assert not ticker._thread
    assert count == stopped_at


def test_without_a_terminal_a_run_logs_its_start_and_its_progress(monkeypatch):
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.1)
    out = io.StringIO()
    console = Console(file=out, width=200)
    assert not console.is_terminal
    Simulation(make_scenario(duration="4h", speed=3600 * 4), console=console, progress=True).run()
    lines = out.getvalue().splitlines()
    assert lines[0] == "metersim: 30 meters, 2026-01-01T00:00:00+05:00 .. 2026-01-01T04:00:00+05:00, into discard"
    updates = [line for line in lines[1:] if line.startswith("metersim: at 2026-01-01T")]
    assert len(updates) >= 3  # about 1 s of wall time, a line every 0.1 s
    assert all("/s now), " in line and " published, " in line and " acknowledged" in line for line in updates)
    assert all("in flight" not in line for line in updates)  # no MQTT output


def test_on_a_terminal_a_run_shows_the_bar(monkeypatch):
    monkeypatch.setattr(progress, "TICK_S", 0.05)
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=True)
    report = Simulation(make_scenario(duration="4h", speed=3600 * 8), console=console, progress=True).run()
    assert report.status == "completed"
    text = out.getvalue()
    assert "metersim: 30 meters, 2026-01-01T00:00:00+05:00 .. 2026-01-01T04:00:00+05:00, into discard" in text
    assert "readings/s · " in text and "published" in text and "ETA" in text


def test_without_progress_nothing_is_logged():
    out = io.StringIO()
    Simulation(make_scenario(duration="1h"), console=Console(file=out), progress=False).run()
    assert out.getvalue() == ""
