"""Register, band, rollover and ground-truth properties of every meter and every interval."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metersim.engine import Observer
from metersim.ledger.truth import truth_columns
from metersim.model.shapes import ELECTRICITY, HOT_WATER
from metersim.simulation import Simulation, build_groups
from metersim.windows import resolve_window
from tests.conftest import make_scenario, run_to_memory

TWO_BAND = {
    "commodity": "electricity",
    "currency": "EUR",
    "bands": [
        {
            "name": "low",
            "windows": [
                {"start": "23:00", "end": "07:00", "day_types": ["weekday"]},
                {"start": "00:00", "end": "24:00", "day_types": ["saturday", "sunday_holiday"]},
            ],
        },
        {"name": "normal"},
    ],
    "prices": {"low": 0.2, "normal": 0.3},
}


def rich_scenario(
    seed: int, start: str, digits: int, pv: float, timezone: str, region: str, days: int = 2, end: str | None = None
):
    span = {"end": end} if end else {"duration": f"{days}d"}
    return make_scenario(
        {
            "simulation": {"start": start, **span, "seed": seed},
            "tariffs": {"two-band": TWO_BAND},
            "fleet": [
                {
                    "name": "homes",
                    "commodity": "electricity",
                    "count": 12,
                    "timezone": timezone,
                    "region": region,
                    "interval_s": 900,
                    "annual_kwh": 4000,
                    "tariff": "two-band",
                    "pv": {"fraction": pv, "kwp_mean": 6},
                    "register_digits": digits,
                    "initial_register_max": 10**digits * 0.999,
                    "grid": {"substations": 1, "feeders_per_substation": 1, "transformers_per_feeder": 3},
                }
            ],
            "outputs": [{"type": "discard"}],
        }
    )


class Truth(Observer):
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.outcomes = []

    def observe(self, observation) -> None:
        columns = truth_columns(observation)
        names = list(columns)
        self.rows += [dict(zip(names, values)) for values in zip(*(list(columns[n]) for n in names))]
        self.outcomes.append(observation)


def milli(value: float | str) -> int:
    """Units (a number, or a ledger CSV field) to thousandths."""
    return round(float(value) * 1000)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    digits=st.sampled_from([3, 4, 6]),
    pv=st.sampled_from([0.0, 0.5, 1.0]),
    place=st.sampled_from([("Europe/Amsterdam", "amsterdam"), ("Asia/Karachi", "lahore")]),
    start=st.sampled_from(["2026-03-28T00:00:00+01:00", "2026-06-20T00:00:00+01:00", "2026-10-24T00:00:00+02:00"]),
)
def test_registers_bands_rollover_and_truth(seed, digits, pv, place, start):
    scenario = rich_scenario(seed, start, digits, pv, *place)
    truth = Truth()
    readings = run_to_memory(scenario, observers=[truth]).readings()
    wrap = 10**digits * 1000
    series = defaultdict(list)
    for r in readings:
        series[r["meter_id"]].append(r)
    truth_rows = {(row["meter_id"], int(row["seq"])): row for row in truth.rows}
    assert len(truth_rows) == len(readings)
    for meter, rs in series.items():
        previous = None
        for r in rs:
            regs = {k: milli(v) for k, v in r["registers"].items()}
            row = truth_rows[(meter, r["seq"])]
            # The ledger equals what was published (no faults are injected).
            assert milli(row["import"]) == milli(r["interval"]["value"])
            assert milli(row["register_import"]) == regs["1-0:1.8.0"]
            assert milli(row["export"]) == milli(r.get("export", {"value": 0})["value"])
            if "1-0:1.8.1" in regs:  # consumer meters carry band registers
                assert (regs["1-0:1.8.1"] + regs["1-0:1.8.2"]) % wrap == regs["1-0:1.8.0"]
                assert (regs["1-0:2.8.1"] + regs["1-0:2.8.2"]) % wrap == regs["1-0:2.8.0"]
                assert row["band"] == r["band"]
            if previous is not None:
                for code in ("1-0:1.8.0", "1-0:2.8.0"):
                    delta = (regs[code] - previous[code]) % wrap
                    value = r["interval"]["value"] if code == "1-0:1.8.0" else r["export"]["value"]
                    # The interval value is the register delta; a register only drops when it rolls over.
                    assert delta == milli(value)
                    if regs[code] < previous[code]:
                        assert previous[code] + milli(value) >= wrap
            previous = regs


def test_band_registers_follow_local_time_on_both_dst_days():
    days = (
        ("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", 92),
        ("2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00", 100),
    )
    for start, end, intervals in days:
        scenario = rich_scenario(1, start, 6, 0.0, "Europe/Amsterdam", "amsterdam", end=end)
        readings = [r for r in run_to_memory(scenario).readings() if r["meter_id"] == "homes-000001"]
        assert len(readings) == intervals  # a 23-hour and a 25-hour local day
        # Both change days are Sundays: every interval of the local day is in the weekend "low" band,
        # and the band registers grew by exactly the day's consumption.
        assert {r["band"] for r in readings} == {"low"}
        first, last = readings[0], readings[-1]
        low_growth = milli(last["registers"]["1-0:1.8.1"]) - milli(first["registers"]["1-0:1.8.1"])
        assert low_growth == sum(milli(r["interval"]["value"]) for r in readings[1:])
        assert last["registers"]["1-0:1.8.2"] == first["registers"]["1-0:1.8.2"]


def test_weekday_bands_switch_at_local_23_and_07():
    scenario = rich_scenario(1, "2026-03-30T00:00:00+02:00", 6, 0.0, "Europe/Amsterdam", "amsterdam", days=1)
    bands = {r["ts"][11:16]: r["band"] for r in run_to_memory(scenario).readings() if r["meter_id"] == "homes-000001"}
    assert bands["07:00"] == "low"  # the interval 06:45-07:00 started in the low band
    assert bands["07:15"] == "normal"
    assert bands["23:00"] == "normal"
    assert bands["23:15"] == "low"


def test_grid_side_meters_balance_downstream_consumption_and_losses():
    scenario = rich_scenario(3, "2026-06-20T00:00:00+05:00", 6, 0.5, "Asia/Karachi", "lahore")
    truth = Truth()
    run_to_memory(scenario, observers=[truth])
    for outcome in truth.outcomes:
        rows = truth_columns(outcome)
        meters = [i for i, d in enumerate(rows["device"]) if d == "meter"]
        by_transformer = defaultdict(int)
        for i in meters:
            by_transformer[rows["transformer"][i]] += milli(rows["import"][i]) - milli(rows["export"][i])
        transformer_delivery = 0
        for i, device in enumerate(rows["device"]):
            delivered = milli(rows["import"][i]) - milli(rows["export"][i])
            if device == "transformer":
                expected = by_transformer[rows["meter_id"][i]] + milli(rows["unmetered"][i]) + milli(rows["losses"][i])
                assert delivered == expected
                assert rows["losses"][i] >= 0
                transformer_delivery += delivered
            elif device == "feeder":
                # A feeder meter = the sum of its meters + unmetered + transformer losses + its own losses.
                assert delivered == transformer_delivery + milli(rows["losses"][i])


# --- band registers start in proportion to each band's consumption ------------------------------------------

PEAK_4H = {
    "commodity": "electricity",
    "currency": "PKR",
    "bands": [{"name": "peak", "windows": [{"start": "17:00", "end": "21:00"}]}, {"name": "off-peak"}],
    "prices": {"peak": 49.35, "off-peak": 33.0},
}


def test_band_registers_start_with_each_bands_share_of_the_load_and_sum_exactly_to_the_total():
    scenario = make_scenario(
        {
            "simulation": {"start": "2026-07-01T00:00:00+05:00", "duration": "1h", "seed": 8},
            "tariffs": {"tou": PEAK_4H},
            "fleet": [
                {
                    "name": "homes",
                    "commodity": "electricity",
                    "count": 40,
                    "timezone": "Asia/Karachi",
                    "region": "lahore",
                    "interval_s": 900,
                    "annual_kwh": 3000,
                    "tariff": "tou",
                }
            ],
            "outputs": [{"type": "discard"}],
        }
    )
    window, _ = resolve_window(scenario)
    (simulator,) = build_groups(scenario, window)
    registers = simulator.registers.read()
    total, (peak, off_peak) = registers.total, registers.bands
    np.testing.assert_array_equal(peak + off_peak, total)  # exactly, in thousandths
    assert (peak >= 0).all() and (off_peak >= 0).all()
    big = total > 1_000_000  # over 1000 kWh: a thousandth is below 1e-6 of the total
    assert big.sum() > 20
    share = peak[big] / total[big]
    # Independently: the 17-21 h share of each day type's household curve (85 %) plus hot water (15 %);
    # BDEW's seasonal modulation of the curve moves it by less than the margin.
    hot_water = np.asarray(HOT_WATER) / np.mean(HOT_WATER)
    by_day_type = []
    for curve in ELECTRICITY["household"].values():
        daily = 0.85 * np.asarray(curve) / np.mean(curve) + 0.15 * hot_water
        by_day_type.append(daily[17:21].sum() / daily.sum())
    # The year mixes the three day types; the hourly knots are interpolated, hence the margin.
    assert min(by_day_type) - 0.01 <= share.min() <= share.max() <= max(by_day_type) + 0.01
    assert share.max() - share.min() < 1e-6  # one split for every meter (up to a thousandth of its total)
    assert share.mean() > 4 / 24 + 0.05  # the evening peak weighs more than its 4 hours of the day
    # and the first reading adds the interval (00:00-00:15, off-peak) on top of that start
    first = [r for r in run_to_memory(scenario).readings() if r["seq"] == 0]
    for r in first:
        i = int(r["meter_id"].rsplit("-", 1)[1]) - 1
        assert milli(r["registers"]["1-0:1.8.1"]) == peak[i]
        assert milli(r["registers"]["1-0:1.8.2"]) == off_peak[i] + milli(r["interval"]["value"])


def test_a_bdew_h0_groups_band_registers_start_with_h0s_evening_share():
    scenario = make_scenario(
        {
            "simulation": {"start": "2026-07-01T00:00:00+02:00", "duration": "1h", "seed": 8},
            "tariffs": {"tou": {**PEAK_4H, "currency": "EUR"}},
            "fleet": [
                {
                    "name": "homes",
                    "commodity": "electricity",
                    "count": 40,
                    "timezone": "Europe/Amsterdam",
                    "interval_s": 900,
                    "annual_kwh": 3500,
                    "profile": "bdew-h0",
                    "tariff": "tou",
                }
            ],
            "outputs": [{"type": "discard"}],
        }
    )
    window, _ = resolve_window(scenario)
    (simulator,) = build_groups(scenario, window)
    registers = simulator.registers.read()
    big = registers.total > 1_000_000
    share = registers.bands[0][big] / registers.total[big]
    # Independently, from the shipped BDEW table: each cell's 17:00-21:00 share (slots 68..83).
    cells: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * 96)
    with (Path(__file__).parent.parent / "metersim" / "data" / "bdew" / "profiles.csv").open() as f:
        for row in csv.DictReader(f):
            if row["profile"] == "h0":
                cells[row["season"], row["day"]][int(row["slot"])] = float(row["watts"])
    by_cell = [sum(v[68:84]) / sum(v) for v in cells.values()]
    assert min(by_cell) <= share.min() <= share.max() <= max(by_cell)


def test_grid_side_meters_publish_the_band_in_force_like_the_ledger():
    scenario = rich_scenario(5, "2026-06-22T00:00:00+05:00", 6, 0.5, "Asia/Karachi", "lahore", days=1)  # a Monday
    truth = Truth()
    readings = run_to_memory(scenario, observers=[truth]).readings()
    ledger = {(row["meter_id"], int(row["seq"])): row["band"] for row in truth.rows}
    grid = [r for r in readings if "device" in r]
    assert {r["device"] for r in grid} == {"transformer", "feeder"}
    band_at = {r["ts"]: r["band"] for r in readings if "device" not in r}
    for r in grid:
        assert r["band"] == ledger[(r["meter_id"], r["seq"])] == band_at[r["ts"]]
        assert not any(code.startswith(("1-0:1.8.1", "1-0:1.8.2")) for code in r["registers"])  # no band registers
    assert {r["band"] for r in grid} == {"low", "normal"}


# --- the converted gas volume keeps its sub-litre carry ------------------------------------------------------

KARACHI = 5 * 3600  # Asia/Karachi, UTC+5 all year [s]


def karachi_gas(truth_path: Path) -> dict:
    """A week of July (with half a day either side for the daily mean temperatures), hourly, half with converters."""
    return {
        "simulation": {"start": "2026-06-30T12:00:00+05:00", "end": "2026-07-08T12:00:00+05:00", "seed": 23},
        "fleet": [
            {
                "name": "karachi-gas",
                "commodity": "gas",
                "count": 40,
                "id_format": "PK-SSGC-{index:06d}",
                "timezone": "Asia/Karachi",
                "region": "karachi",
                "interval_s": 3600,
                "annual_m3": 600,
                "converter_fraction": 0.5,
            }
        ],
        "outputs": [{"type": "discard"}],
        "truth": {"path": str(truth_path)},
    }


def daily_mean_temperatures(rows: list[dict]) -> dict[int, float]:
    """Daily mean air temperature [degC] per local day, from the ledger's hourly interval-middle temperatures.

    The weather interpolates its daily means linearly between local noons (metersim/model/weather.py), so a
    local day's hours average 3/4 of its own mean and 1/8 of each neighbour's, and the 48 hours from the noon
    before to the noon after average 1/2 and 1/4 each: twice the first minus the second is the day's mean.
    """
    by_hour = {int(row["interval_end_s"]) - 1800 + KARACHI: float(row["temperature_c"]) for row in rows}
    hours = np.array(sorted(by_hour))
    temperature = np.array([by_hour[h] for h in hours])
    out = {}
    for day in np.unique(hours // 86400)[1:-1]:
        own = temperature[hours // 86400 == day].mean()
        around = temperature[(hours >= day * 86400 - 43200) & (hours < (day + 1) * 86400 + 43200)].mean()
        out[int(day)] = 2 * own - around
    return out


def en12405_factor(air_c: float) -> float:
    """Vb / Vm: 21 mbar gauge to 1.01325 bar, gas halfway between the day's mean air and 10 degC to 15 degC."""
    return (1.01325 + 0.021) / 1.01325 * 288.15 / (273.15 + (air_c + 10.0) / 2)


def test_karachi_july_converted_volume_grows_by_the_volume_weighted_en12405_factor(tmp_path):
    Simulation(make_scenario(karachi_gas(tmp_path / "truth.csv"))).run()
    with open(tmp_path / "truth.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    air = daily_mean_temperatures(rows)
    week = range(min(air), min(air) + 7)  # 1-7 July, local days
    assert len(air) == 7 and set(air) == set(week)
    assert all(28 < t < 36 for t in air.values())  # a Karachi July
    wrap = 10**6 * 1000
    series = defaultdict(list)
    for row in rows:
        series[row["meter_id"]].append(row)
    converters = 0
    fleet = {"metered": 0, "converted": 0, "weighted": 0.0}
    for meter_rows in series.values():
        meter_rows.sort(key=lambda row: int(row["seq"]))
        if all(row["register_converted"] == "0.000" for row in meter_rows):
            continue  # no converter
        converters += 1
        days = [(int(row["interval_end_s"]) - 3600 + KARACHI) // 86400 for row in meter_rows]
        inside = [i for i, day in enumerate(days) if day in week]
        before, last = meter_rows[inside[0] - 1], meter_rows[inside[-1]]
        metered = (milli(last["register_import"]) - milli(before["register_import"])) % wrap
        converted = (milli(last["register_converted"]) - milli(before["register_converted"])) % wrap
        litres = [milli(meter_rows[i]["import"]) for i in inside]
        assert metered == sum(litres)
        weighted = sum(v * en12405_factor(air[days[i]]) for v, i in zip(litres, inside))
        expected = weighted / metered
        assert expected > 1.002  # the gas is near 20 degC, above the 15 degC base, yet 21 mbar above base pressure
        # per meter: the register increase ratio is the volume-weighted factor within 0.05 %
        assert converted / metered == pytest.approx(expected, rel=5e-4)
        assert converted != metered  # an hour's few litres no longer round the correction away
        fleet["metered"] += metered
        fleet["converted"] += converted
        fleet["weighted"] += weighted
    assert 10 <= converters <= 30  # about half of 40
    expected = fleet["weighted"] / fleet["metered"]
    assert fleet["converted"] / fleet["metered"] == pytest.approx(expected, rel=5e-4)


def test_the_converted_carry_survives_a_state_restore(tmp_path):
    scenario = make_scenario(karachi_gas(tmp_path / "unused.csv"))
    window, _ = resolve_window(scenario)
    (whole,) = build_groups(scenario, window)
    (first,) = build_groups(scenario, window)
    (resumed,) = build_groups(scenario, window)
    ends = [window.start_s + (seq + 1) * 3600 for seq in range(48)]
    for seq, end in enumerate(ends[:29]):
        whole.step(seq, end)
        first.step(seq, end)
    state = first.state(29)
    assert state["registers.converted_carry"].dtype == np.float64
    assert np.abs(state["registers.converted_carry"]).max() > 0.01  # there is a carry worth keeping
    resumed.restore(state)
    assert resumed.first_seq == 29
    for seq, end in enumerate(ends[29:], start=29):
        expected, got = whole.step(seq, end).meters.registers, resumed.step(seq, end).meters.registers
        np.testing.assert_array_equal(got.converted, expected.converted)
        np.testing.assert_array_equal(got.total, expected.total)
