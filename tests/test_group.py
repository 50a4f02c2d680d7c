"""Register, band, rollover and ground-truth properties of every meter and every interval."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from metersim.engine import Observer
from metersim.ledger.truth import truth_columns
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


def milli(value: float) -> int:
    return round(value * 1000)


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
