"""Where a run that starts "now" begins: the next interval boundary on the local clock, or a backfill."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink
from metersim.timebase import iso_local, parse_instant
from metersim.windows import live_start, reference_group, resolve_window, start_notes
from tests.conftest import make_scenario, scenario_dict

#: a Monday afternoon in Karachi and Tashkent (both +05:00)
NOW = parse_instant("2026-07-06T15:20:30+05:00")


def live(*, fleet: list[dict] | None = None, **simulation):
    data = scenario_dict(start="now", **simulation)
    if fleet is not None:
        data["fleet"] = fleet
    return make_scenario(data)


def group(name: str, interval_s: int, tz: str) -> dict:
    return {
        "name": name,
        "commodity": "electricity",
        "count": 2,
        "timezone": tz,
        "interval_s": interval_s,
        "annual_kwh": 2400,
    }


def test_now_starts_at_the_next_boundary_of_the_longest_interval():
    scenario = live()  # 15-minute electricity in Karachi, hourly gas in Tashkent
    window, behind = resolve_window(scenario, NOW)
    assert iso_local(window.start_s, "Asia/Karachi") == "2026-07-06T16:00:00+05:00"
    assert window.end_s - window.start_s == 86400
    assert behind == NOW - window.start_s == -(39 * 60 + 30)  # ahead of the wall clock: nothing is in the past


def test_a_boundary_itself_is_where_the_run_starts():
    at = parse_instant("2026-07-06T16:00:00+05:00")
    assert live_start(live(), at) == at
    assert live_start(live(), at + 0.25) == at + 3600  # a fraction past it is past it


@pytest.mark.parametrize(
    ("backfill", "start"),
    [
        (True, "2026-07-06T15:00:00+05:00"),  # the interval under way, from its start
        ("6h", "2026-07-06T09:00:00+05:00"),  # 09:20:30, aligned down
        ("2d", "2026-07-04T15:00:00+05:00"),
    ],
)
def test_backfill_starts_at_the_last_boundary_at_or_before_now_minus_it(backfill, start):
    window, behind = resolve_window(live(backfill=backfill), NOW)
    assert iso_local(window.start_s, "Asia/Karachi") == start
    assert behind == NOW - window.start_s > 0


@pytest.mark.parametrize(
    ("tz", "now", "next_", "previous"),
    [
        ("Asia/Karachi", NOW, "2026-07-07T00:00:00+05:00", "2026-07-06T00:00:00+05:00"),
        ("Asia/Tashkent", NOW, "2026-07-07T00:00:00+05:00", "2026-07-06T00:00:00+05:00"),
        # the spring-forward day in Amsterdam is 23 hours long; the run still starts at local midnight
        ("Europe/Amsterdam", parse_instant("2026-03-29T12:00:00+02:00"), "2026-03-30T00:00:00+02:00",
         "2026-03-29T00:00:00+01:00"),
        ("Europe/Amsterdam", parse_instant("2026-10-25T12:00:00+01:00"), "2026-10-26T00:00:00+01:00",
         "2026-10-25T00:00:00+02:00"),
    ],
)  # fmt: skip
def test_a_daily_interval_starts_at_local_midnight(tz, now, next_, previous):
    fleet = [group("quarter-hours", 900, tz), group("days", 86400, tz)]
    assert iso_local(live_start(live(fleet=fleet, duration="2d"), now), tz) == next_
    assert iso_local(live_start(live(fleet=fleet, duration="2d", backfill=True), now), tz) == previous


def test_intervals_that_do_not_divide_each_other_start_on_a_boundary_of_both():
    fleet = [group("twenty", 1200, "UTC"), group("fifteen", 900, "UTC")]
    now = parse_instant("2026-07-06T10:05:00Z")
    assert live_start(live(fleet=fleet, duration="1h"), now) == parse_instant("2026-07-06T11:00:00Z")


def test_the_group_with_the_longest_interval_sets_the_clock():
    fleet = [group("minutes", 60, "Asia/Karachi"), group("days", 86400, "Europe/Amsterdam")]
    scenario = live(fleet=fleet, duration="1d")
    assert reference_group(scenario).name == "days"
    now = parse_instant("2026-07-06T10:00:00Z")
    assert live_start(scenario, now) == parse_instant("2026-07-07T00:00:00+02:00")


def test_a_fixed_start_is_where_the_run_starts_and_is_not_behind():
    scenario = make_scenario()
    assert resolve_window(scenario, NOW) == (resolve_window(scenario)[0], 0.0)
    assert resolve_window(scenario)[0].start_s == parse_instant("2026-01-01T00:00:00+05:00")


def test_the_start_notes_say_where_a_live_run_starts_and_which_group_does_not_fit():
    window, behind = resolve_window(live(), NOW)
    assert start_notes(live(), window, behind) == [
        "live from the next 1h boundary of Asia/Tashkent, 2026-07-06T16:00:00+05:00"
    ]
    window, behind = resolve_window(live(speed=60), NOW)
    assert start_notes(live(speed=60), window, behind) == [
        "live from the next 1h boundary of Asia/Tashkent, 2026-07-06T16:00:00+05:00, in 40s"  # 39m30s at 60x
    ]
    scenario = live(backfill="6h", speed=1)
    window, behind = resolve_window(scenario, NOW)
    assert start_notes(scenario, window, behind) == [
        "backfill from the last 1h boundary of Asia/Tashkent at or before 6h before now, 2026-07-06T09:00:00+05:00; "
        "the 6h20m30s before now is caught up at full speed"
    ]
    fleet = [group("karachi", 86400, "Asia/Karachi"), group("amsterdam", 86400, "Europe/Amsterdam")]
    scenario = live(fleet=fleet, duration="1d")
    window, behind = resolve_window(scenario, NOW)
    notes = start_notes(scenario, window, behind)
    assert notes[0] == "live from the next 1d boundary of Asia/Karachi, 2026-07-07T00:00:00+05:00"
    assert notes[1:] == [
        "note: fleet[1] 'amsterdam' reports on 1d boundaries of Asia/Karachi, not of its own Europe/Amsterdam "
        "(one start serves every group)"
    ]
    assert start_notes(make_scenario(), window, 0.0) == []  # a fixed start says nothing


def sent_at(reading: dict) -> float:
    return datetime.fromisoformat(str(reading["sent_at"])).timestamp()


def test_a_live_run_publishes_nothing_from_before_it_began():
    """Paced fast (an hour per 0.1 s): the wait for the next hour is at most 0.1 s."""
    sink = MemorySink()
    began = time.time()
    report = Simulation(live(duration="1h", speed=36_000), sinks=[sink]).run()
    assert report.status == "completed"
    readings = sink.readings()
    assert len(readings) == 20 * 4 + 10
    start = parse_instant(report.start)
    assert began <= start < began + 3600 and start % 3600 == 0
    # every interval begins at the start or later, so after the moment the run began
    assert min(parse_instant(str(r["ts"])) - int(str(r["interval_s"])) for r in readings) == start
    assert min(sent_at(r) for r in readings) > began


def test_a_backfill_catches_up_the_past_then_keeps_pace():
    sink = MemorySink()
    began = time.time()
    report = Simulation(live(duration="3h", backfill="2h", speed=36_000), sinks=[sink]).run()
    assert report.status == "completed" and len(sink.readings()) == 3 * (20 * 4 + 10)
    start = parse_instant(report.start)
    assert began - 3 * 3600 < start <= began - 2 * 3600 and start % 3600 == 0
    past = [r for r in sink.readings() if sent_at(r) < began]
    # two hours of history went out, bar the last interval of each group: started within seconds after an
    # hour, the readings of the interval ending on it have slots (jitter) after `began` (seen once in CI)
    assert len(past) >= 2 * (20 * 4 + 10) - (20 + 10)
    # the late ones are not counted as late: catching up is not lateness
    assert report.lateness is not None and report.lateness["p99_ms"] < 1000
