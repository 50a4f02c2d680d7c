"""The supply schedule, checked against hand-worked local times, fractions and counts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from metersim.calendar import SATURDAY
from metersim.model.supply import (
    DailyWindow,
    OutageParams,
    PickupParams,
    SheddingCategory,
    SupplyParams,
    SupplySchedule,
)
from metersim.records import EVENT_CODES
from metersim.streams import Stream

PKT = timezone(timedelta(hours=5))  # Asia/Karachi: UTC+5 all year, no DST since 2009
DOWN, UP = EVENT_CODES["power_down"], EVENT_CODES["power_up"]
QUARTER = 900


def pkt(day: int, hour: int = 0, minute: int = 0) -> int:
    """Epoch seconds of 2026-01-<day> hour:minute in Pakistan (2026-01-05 is a Monday)."""
    return int(datetime(2026, 1, day, hour, minute, tzinfo=PKT).timestamp())


def clock(t: int) -> str:
    return datetime.fromtimestamp(int(t), PKT).strftime("%d %H:%M")


def schedule(params: SupplyParams, feeders=(0, 0, 1, 1, 2, 2), **kwargs) -> SupplySchedule:
    feeder = np.asarray(feeders)
    return SupplySchedule(
        params,
        seed=kwargs.pop("seed", 7),
        timezone=kwargs.pop("timezone", "Asia/Karachi"),
        meter_feeder=feeder,
        meter_transformer=kwargs.pop("transformer", np.arange(len(feeder))),
        n_feeders=kwargs.pop("n_feeders", 3),
        n_transformers=kwargs.pop("n_transformers", len(feeder)),
        **kwargs,
    )


def shedding(feeders, *windows) -> SupplyParams:
    return SupplyParams(shedding=(SheddingCategory(tuple(feeders), tuple(DailyWindow(*w) for w in windows)),))


def quarters(s: SupplySchedule, start: int, count: int = 96):
    return [s.step(start + QUARTER * i, start + QUARTER * (i + 1)) for i in range(count)]


def events(steps) -> list[tuple[int, str, int]]:
    return [
        (int(r), clock(t), int(c)) for st in steps for r, t, c in zip(st.event_rows, st.event_time_s, st.event_code)
    ]


FOUR_HOURS = shedding([1], (8 * 60, 10 * 60), (20 * 60, 22 * 60))


def test_a_four_hour_category_is_off_for_16_quarters_at_local_08_and_20():
    steps = quarters(schedule(FOUR_HOURS), pkt(5))
    on = np.array([st.on_fraction for st in steps])  # (quarter, row)
    off = [i for i in range(96) if on[i, 2] == 0]
    assert off == [*range(32, 40), *range(80, 88)]  # 08:00-10:00 and 20:00-22:00 local
    assert np.all(on[:, 2] == on[:, 3])
    assert set(on[:, 2].tolist()) == {0.0, 1.0}
    assert np.all(on[:, [0, 1, 4, 5]] == 1)  # other feeders untouched
    assert events(steps) == [
        (2, "05 08:00", DOWN), (3, "05 08:00", DOWN), (2, "05 10:00", UP), (3, "05 10:00", UP),
        (2, "05 20:00", DOWN), (3, "05 20:00", DOWN), (2, "05 22:00", UP), (3, "05 22:00", UP),
    ]  # fmt: skip


def test_events_and_counters_fall_in_the_interval_that_ends_at_or_after_them():
    steps = quarters(schedule(FOUR_HOURS), pkt(5))
    failures = np.array([st.failures for st in steps])
    # interval 31 is [07:45, 08:00): its reading (stamped 08:00) is the first to see the 08:00 failure
    assert np.flatnonzero(failures[:, 2]).tolist() == [31, 79]
    assert failures.sum(axis=0).tolist() == [0, 0, 2, 2, 0, 0]
    assert np.array([st.long_failures for st in steps]).sum(axis=0).tolist() == [0, 0, 2, 2, 0, 0]


def test_a_partial_window_gives_the_share_of_the_interval():
    steps = quarters(schedule(shedding([0], (8 * 60 + 10, 9 * 60))), pkt(5, 8), 5)
    assert [st.on_fraction[0] for st in steps] == pytest.approx([10 / 15, 0, 0, 0, 1])  # off from 08:10 to 09:00
    hour = schedule(shedding([0], (8 * 60 + 10, 8 * 60 + 20))).step(pkt(5, 8), pkt(5, 9))
    assert hour.on_fraction.tolist() == pytest.approx([50 / 60, 50 / 60, 1, 1, 1, 1])


def test_windows_follow_months_and_day_types_of_the_local_day():
    july = schedule(shedding([0], (8 * 60, 9 * 60, (7,), None)))
    assert july.step(pkt(5), pkt(6)).on_fraction[0] == 1
    saturdays = schedule(shedding([0], (8 * 60, 9 * 60, None, (SATURDAY,))))
    assert saturdays.step(pkt(9), pkt(10)).on_fraction[0] == 1  # a Friday
    assert saturdays.step(pkt(10), pkt(11)).on_fraction[0] == pytest.approx(23 / 24)  # a Saturday


def test_a_window_that_wraps_midnight_is_one_interruption():
    s = schedule(shedding([0], (23 * 60, 60)))
    steps = [s.step(pkt(5) + 3600 * h, pkt(5) + 3600 * (h + 1)) for h in range(20, 26)]  # 20:00 to 02:00
    assert [st.on_fraction[0] for st in steps] == [1, 1, 1, 0, 0, 1]
    assert sum(int(st.failures[0]) for st in steps) == 1
    assert events(steps) == [(0, "05 23:00", DOWN), (1, "05 23:00", DOWN), (0, "06 01:00", UP), (1, "06 01:00", UP)]


def test_overlapping_and_touching_interruptions_merge():
    params = SupplyParams(
        shedding=(
            SheddingCategory((0,), (DailyWindow(8 * 60, 9 * 60), DailyWindow(9 * 60, 9 * 60 + 30))),
            SheddingCategory((0, 1), (DailyWindow(9 * 60 + 15, 10 * 60),)),
        )
    )
    day = schedule(params).step(pkt(5), pkt(6))
    assert day.failures.tolist() == [1, 1, 1, 1, 0, 0]
    assert day.on_fraction.tolist() == pytest.approx([22 / 24, 22 / 24, 1 - 0.75 / 24, 1 - 0.75 / 24, 1, 1])
    assert events([day]) == [
        (0, "05 08:00", DOWN), (1, "05 08:00", DOWN), (2, "05 09:15", DOWN), (3, "05 09:15", DOWN),
        (0, "05 10:00", UP), (1, "05 10:00", UP), (2, "05 10:00", UP), (3, "05 10:00", UP),
    ]  # fmt: skip


def test_local_windows_follow_daylight_saving_time():
    # Europe/Amsterdam goes from UTC+1 to UTC+2 at 01:00 UTC on 2026-03-29
    s = schedule(shedding([0], (8 * 60, 9 * 60)), timezone="Europe/Amsterdam")
    saturday, sunday = (int(datetime(2026, 3, d, tzinfo=timezone.utc).timestamp()) for d in (28, 29))
    assert events([s.step(saturday, saturday + 86400)])[0][1] == clock(saturday + 7 * 3600)  # 08:00 CET
    assert events([s.step(sunday, sunday + 86400)])[0][1] == clock(sunday + 6 * 3600)  # 08:00 CEST


def test_failure_counters_short_and_long():
    params = SupplyParams(
        shedding=(SheddingCategory((0,), (DailyWindow(8 * 60 + 10, 8 * 60 + 12), DailyWindow(510, 513))),),
        long_failure_s=180,
    )  # 08:10-08:12 lasts 120 s (short), 08:30-08:33 lasts 180 s (long)
    hour = schedule(params).step(pkt(5, 8), pkt(5, 9))
    assert hour.failures.tolist() == [2, 2, 0, 0, 0, 0]
    assert hour.long_failures.tolist() == [1, 1, 0, 0, 0, 0]
    assert len(hour.event_rows) == 8
    quiet = schedule(params).step(pkt(5, 8, 30), pkt(5, 8, 45))  # began at 08:30: not in (08:30, 08:45]
    assert quiet.failures.tolist() == [0] * 6
    assert [clock(t) for t in quiet.event_time_s] == ["05 08:33", "05 08:33"]


def test_without_last_gasp_there_are_counters_but_no_events():
    params = SupplyParams(shedding=FOUR_HOURS.shedding, last_gasp=False)
    day = schedule(params).step(pkt(5), pkt(6))
    assert day.failures.tolist() == [0, 0, 2, 2, 0, 0]
    assert len(day.event_rows) == len(day.event_time_s) == len(day.event_code) == 0


def test_cold_load_pickup_raises_the_powered_load_for_its_minutes():
    params = SupplyParams(shedding=shedding([0], (8 * 60, 10 * 60 + 5)).shedding, cold_load=PickupParams(2.0, 30))
    steps = quarters(schedule(params), pkt(5, 9, 45), 4)  # 09:45, 10:00, 10:15, 10:30
    assert [st.on_fraction[0] for st in steps] == pytest.approx([0, 10 / 15, 1, 1])
    # supply returns at 10:05 and the raised load lasts to 10:35
    assert [st.pickup[0] for st in steps] == pytest.approx([1, 2, 2, 1 + 5 / 15])
    assert [st.pickup[2] for st in steps] == [1, 1, 1, 1]
    assert all(np.all(st.pickup >= 1) for st in quarters(schedule(params), pkt(5), 96))


def test_gas_flows_only_inside_its_windows_and_is_no_power_failure():
    params = SupplyParams(gas_windows=(DailyWindow(6 * 60, 9 * 60), DailyWindow(18 * 60, 21 * 60)))
    s = schedule(params)
    steps = quarters(s, pkt(5))
    on = [i for i, st in enumerate(steps) if st.on_fraction[0] == 1]
    assert on == [*range(24, 36), *range(72, 84)]
    assert all(np.all(st.on_fraction == st.on_fraction[0]) for st in steps)
    assert s.step(pkt(5), pkt(6)).on_fraction.tolist() == pytest.approx([6 / 24] * 6)
    assert events(steps) == [] and sum(int(st.failures.sum()) for st in steps) == 0
    assert s.restored_at(None, pkt(5, 3)).tolist() == [-1] * 6


def test_gas_windows_and_shedding_add_up_without_counting_twice():
    params = SupplyParams(
        shedding=shedding([0], (8 * 60, 10 * 60)).shedding, gas_windows=(DailyWindow(6 * 60, 9 * 60),)
    )
    day = schedule(params).step(pkt(5), pkt(6))
    assert day.on_fraction.tolist() == pytest.approx([2 / 24, 2 / 24, 3 / 24, 3 / 24, 3 / 24, 3 / 24])


def test_restored_at_says_when_supply_returns():
    s = schedule(FOUR_HOURS)
    assert s.restored_at(None, pkt(5, 9)).tolist() == [-1, -1, pkt(5, 10), pkt(5, 10), -1, -1]
    assert s.restored_at(np.array([3, 0]), pkt(5, 8)).tolist() == [pkt(5, 10), -1]
    assert s.restored_at(None, pkt(5, 10)).tolist() == [-1] * 6
    # 04:00-06:00 in Pakistan is 23:00-01:00 UTC: the answer lies in the next UTC day
    late = schedule(shedding([2], (4 * 60, 6 * 60)))
    assert late.restored_at(np.array([4]), pkt(5, 4, 30)).tolist() == [pkt(5, 6)]


# --- random outages ---------------------------------------------------------------------------------

N_METERS, N_TRANSFORMERS, N_FEEDERS = 1000, 200, 20
TRANSFORMER = np.arange(N_METERS) * N_TRANSFORMERS // N_METERS
FEEDER = TRANSFORMER // (N_TRANSFORMERS // N_FEEDERS)


def random_schedule(params: SupplyParams, rows: slice = slice(None), seed: int = 7) -> SupplySchedule:
    return SupplySchedule(
        params,
        seed=seed,
        timezone="Asia/Karachi",
        meter_feeder=FEEDER[rows],
        meter_transformer=TRANSFORMER[rows],
        n_feeders=N_FEEDERS,
        n_transformers=N_TRANSFORMERS,
        group=3,
    )


STORMY = SupplyParams(
    shedding=shedding([1, 5], (8 * 60, 10 * 60)).shedding,
    outages=OutageParams("transformer", 300, 120, 1.0),
    cold_load=PickupParams(1.5, 45),
)


def hourly(s: SupplySchedule, hours: int = 24 * 7):
    steps = [s.step(pkt(5, 0) + 3600 * h, pkt(5, 0) + 3600 * (h + 1)) for h in range(hours)]
    return {
        field: np.array([getattr(st, field) for st in steps])
        for field in ("on_fraction", "pickup", "failures", "long_failures")
    } | {
        "events": [
            (int(r), int(t), int(c)) for st in steps for r, t, c in zip(st.event_rows, st.event_time_s, st.event_code)
        ]
    }


def test_random_outages_do_not_depend_on_the_range_simulated():
    whole = hourly(random_schedule(STORMY))
    head = hourly(random_schedule(STORMY, slice(0, 500)))
    tail = hourly(random_schedule(STORMY, slice(500, 1000)))
    for field in ("on_fraction", "pickup", "failures", "long_failures"):
        assert np.array_equal(whole[field], np.concatenate([head[field], tail[field]], axis=1)), field
    moved = sorted(head["events"] + [(r + 500, t, c) for r, t, c in tail["events"]], key=lambda e: (e[1], e[0], e[2]))
    assert whole["events"] == moved
    assert whole["failures"].sum() > 100  # the storm did happen
    assert whole["on_fraction"].min() == 0 and whole["pickup"].max() > 1


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    first = hourly(random_schedule(STORMY), 48)
    assert np.array_equal(first["on_fraction"], hourly(random_schedule(STORMY), 48)["on_fraction"])
    assert not np.array_equal(first["on_fraction"], hourly(random_schedule(STORMY, seed=8), 48)["on_fraction"])


def test_steps_of_any_length_agree():
    s = random_schedule(STORMY)
    hours = hourly(s, 48)
    two_days = s.step(pkt(5), pkt(7))
    assert np.array_equal(hours["failures"].sum(axis=0), two_days.failures)
    assert np.array_equal(hours["long_failures"].sum(axis=0), two_days.long_failures)
    assert np.allclose(hours["on_fraction"].mean(axis=0), two_days.on_fraction)
    assert hours["events"] == [  # both ordered by (time, row, code)
        (int(r), int(t), int(c)) for r, t, c in zip(two_days.event_rows, two_days.event_time_s, two_days.event_code)
    ]


def test_events_alternate_and_restored_at_matches_them():
    s = random_schedule(STORMY)
    run_end = pkt(12)
    run = hourly(s, 24 * 7)  # to pkt(12)
    first = s.restored_at(None, pkt(5))  # rows off when the run starts, and until when
    spans = {row: [[pkt(5), int(end)]] for row, end in enumerate(first.tolist()) if end != -1}
    for row, t, code in sorted(run["events"]):  # by row, then time
        if code == DOWN:
            assert not spans.get(row) or spans[row][-1][1] != -1, "power_down while down"
            spans.setdefault(row, []).append([t, -1])
        else:
            assert spans[row][-1][1] in (-1, t), "power_up while up"
            spans[row][-1][1] = t
    assert sum(len(v) for v in spans.values()) > 500
    for t in np.random.default_rng(0).integers(pkt(5), pkt(11), 40).tolist():
        got = s.restored_at(None, t).tolist()
        for row in range(N_METERS):
            holding = [end for start, end in spans.get(row, []) if start <= t and (end > t or end == -1)]
            if not holding:
                assert got[row] == -1
            elif holding[0] == -1:
                assert got[row] > run_end
            else:
                assert got[row] == holding[0]


def test_zero_rate_gives_no_outages():
    quiet = hourly(random_schedule(SupplyParams(outages=OutageParams("feeder", 0, 90, 0.8))), 24 * 3)
    assert np.all(quiet["on_fraction"] == 1) and quiet["events"] == [] and quiet["failures"].sum() == 0


def test_counts_per_year_and_median_duration_match_the_parameters():
    devices, per_year, median_min = 2000, 5.0, 30.0
    params = SupplyParams(
        outages=OutageParams("feeder", per_year, median_min, 1.0), long_failure_s=int(median_min * 60)
    )
    s = SupplySchedule(
        params,
        seed=11,
        timezone="UTC",
        meter_feeder=np.arange(devices),
        meter_transformer=np.zeros(devices, np.int64),
        n_feeders=devices,
        n_transformers=1,
    )
    start = int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp())
    year = s.step(start, start + 365 * 86400)
    count = int(year.failures.sum())
    expected = devices * per_year * 365 / 365.2425  # Poisson: sd = sqrt(expected) ~ 100
    assert abs(count - expected) < 6 * np.sqrt(expected)
    assert int((year.event_code == DOWN).sum()) == count
    # half the durations are at least the median (binomial: sd = 0.5 / sqrt(count) ~ 0.005)
    assert abs(year.long_failures.sum() / count - 0.5) < 6 * 0.5 / np.sqrt(count)
    # and the mean share of time off is per_year * mean duration (lognormal mean = median * exp(sigma^2 / 2))
    off = 1 - year.on_fraction.mean()
    assert off == pytest.approx(per_year * median_min * np.exp(0.5) / (365.2425 * 1440), rel=0.1)


def test_outage_draws_use_their_own_stream():
    assert Stream.OUTAGES == 15 and Stream(15).name == "OUTAGES"


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match=r"0\.\.1440"):
        shedding([0], (8 * 60, 2000))
    with pytest.raises(ValueError, match="outage"):
        SupplyParams(outages=OutageParams("substation", 1, 90, 0.8))
    with pytest.raises(ValueError, match="shedding feeders"):
        schedule(shedding([7], (0, 60)))
    with pytest.raises(ValueError, match="feeder indices"):
        schedule(SupplyParams(), feeders=(0, 3))
    with pytest.raises(ValueError, match="end after"):
        schedule(SupplyParams()).step(pkt(5), pkt(5))


def test_results_are_read_only():
    st = schedule(FOUR_HOURS).step(pkt(5, 8), pkt(5, 9))
    with pytest.raises(ValueError):
        st.on_fraction[0] = 1


def test_outages_that_began_days_earlier_are_still_seen():
    devices, per_year, days = 2000, 20.0, 3.0
    params = SupplyParams(outages=OutageParams("feeder", per_year, days * 1440, 0.1))
    s = SupplySchedule(
        params,
        seed=5,
        timezone="UTC",
        meter_feeder=np.arange(devices),
        meter_transformer=np.zeros(devices, np.int64),
        n_feeders=devices,
        n_transformers=1,
    )
    t = int(datetime(2026, 6, 1, 12, tzinfo=timezone.utc).timestamp())
    off = 1 - s.step(t, t + 1).on_fraction  # off at instant t
    # an instant is inside some interruption with probability 1 - exp(-rate * mean duration)
    mean_days = days * np.exp(0.1**2 / 2)
    assert off.mean() == pytest.approx(1 - np.exp(-per_year / 365.2425 * mean_days), abs=0.05)
    # restored_at follows each interruption across UTC days to the power-up event
    back = s.restored_at(None, t)
    assert np.array_equal(back != -1, off > 0) and back.max() > t + 2 * 86400
    ahead = s.step(t, t + 8 * 86400)
    first_up = {}
    for row, time_s, code in zip(ahead.event_rows.tolist(), ahead.event_time_s.tolist(), ahead.event_code.tolist()):
        if code == UP:
            first_up.setdefault(row, time_s)
    assert {row: int(back[row]) for row in np.flatnonzero(back != -1).tolist()} == {
        row: first_up[row] for row in np.flatnonzero(back != -1).tolist()
    }
