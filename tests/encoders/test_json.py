import json
from collections import defaultdict
from datetime import date, datetime, timedelta

import jsonschema
import pytest

from metersim.fleet import build_attributes
from metersim.model.weather import Weather
from metersim.parameters import climate_params
from metersim.streams import group_key
from tests.conftest import BASE, ROOT, make_scenario, run_to_memory

SCHEMA = json.loads((ROOT / "schemas" / "reading-v1.json").read_text())


@pytest.fixture(scope="module")
def readings():
    return run_to_memory(make_scenario(duration="2h")).readings()


def test_every_payload_is_valid_against_the_published_schema(readings):
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    for reading in readings:
        validator.validate(reading)


def test_payload_matches_the_documented_example_shape(readings):
    first = next(r for r in readings if r["meter_id"] == "PK-LESCO-000001")
    assert first["commodity"] == "electricity"
    assert first["ts"] == "2026-01-01T00:15:00+05:00"
    assert first["interval_s"] == 900
    assert first["seq"] == 0
    assert set(first["registers"]) == {"1-0:1.8.0"}
    assert first["interval"]["unit"] == "kWh"
    assert first["power"]["value"] == pytest.approx(first["interval"]["value"] * 4, abs=0.001)
    gas = next(r for r in readings if r["commodity"] == "gas")
    assert set(gas["registers"]) == {"7-0:3.0.0"}
    assert gas["interval"]["unit"] == "m3"
    assert gas["ts"].endswith("+05:00")  # Asia/Tashkent


def test_numbers_carry_at_most_three_decimals():
    payloads = run_to_memory(make_scenario(duration="1h")).messages
    for _, payload in payloads:
        for number in json.loads(payload, parse_float=str)["registers"].values():
            assert len(number.partition(".")[2]) <= 3


def test_schema_rejects_a_broken_payload(readings):
    broken = dict(readings[0], seq=-1)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


# --- a rich fleet: time-of-use bands, PV, instantaneous values, grid-side meters, gas converters -----------

RICH_SEED = 17
PHASES = {1: ("1-0:32.7.0", "1-0:31.7.0"), 2: ("1-0:52.7.0", "1-0:51.7.0"), 3: ("1-0:72.7.0", "1-0:71.7.0")}
#: the field order documented in metersim/encoders/json.py
FIELD_ORDER = [
    "meter_id",
    "schema",
    "commodity",
    "ts",
    "interval_s",
    "seq",
    "registers",
    "interval",
    "export",
    "power",
    "instantaneous",
    "battery_pct",
    "band",
    "device",
    "topology",
    "concentrator",
    "hardware",
    "serial",
    "quality",
    "sent_at",
]


def rich_scenario():
    return make_scenario(
        {
            "simulation": {"start": "2026-01-10T00:00:00+05:00", "duration": "1d", "seed": RICH_SEED},
            "tariffs": {
                "tou": {
                    "bands": [{"name": "peak", "windows": [{"start": "17:00", "end": "22:00"}]}, {"name": "offpeak"}],
                    "prices": {"peak": 40, "offpeak": 25},
                }
            },
            "fleet": [
                {
                    "name": "homes",
                    "commodity": "electricity",
                    "count": 12,
                    "timezone": "Asia/Karachi",
                    "region": "lahore",
                    "interval_s": 900,
                    "annual_kwh": 3000,
                    "tariff": "tou",
                    "pv": {"fraction": 0.5},
                    "instantaneous": {"phases": 3},
                    "grid": {"substations": 1, "feeders_per_substation": 2, "transformers_per_feeder": 2},
                },
                {
                    "name": "farms",
                    "commodity": "electricity",
                    "count": 8,
                    "timezone": "America/Chicago",
                    "interval_s": 1800,
                    "annual_kwh": 9000,
                    "profile": "agricultural",
                    "instantaneous": {"phases": 1, "nominal_v": 120, "frequency_hz": 60},
                },
                {
                    "name": "flats",
                    "commodity": "gas",
                    "count": 30,
                    "timezone": "Asia/Tashkent",
                    "interval_s": 3600,
                    "annual_m3": 1500,
                    "converter_fraction": 0.5,
                },
            ],
            "outputs": [{"type": "discard"}],
        }
    )


@pytest.fixture(scope="module")
def rich():
    scenario = rich_scenario()
    return scenario, run_to_memory(scenario).readings()


def test_every_rich_payload_is_valid_against_the_published_schema(rich):
    _, payloads = rich
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    kinds = set()
    for reading in payloads:
        validator.validate(reading)
        kinds.add((reading["commodity"], reading.get("device", "meter"), "instantaneous" in reading))
    assert kinds == {
        ("electricity", "meter", True),
        ("electricity", "transformer", False),
        ("electricity", "feeder", False),
        ("gas", "meter", False),
    }


def test_fields_come_in_the_documented_order(rich):
    _, payloads = rich

    def first(predicate):
        return list(next(r for r in payloads if predicate(r)))

    for reading in payloads:
        keys = list(reading)
        assert keys == [name for name in FIELD_ORDER if name in reading]
    assert first(lambda r: r["meter_id"].startswith("homes-") and "device" not in r) == [
        "meter_id", "schema", "commodity", "ts", "interval_s", "seq", "registers", "interval",
        "export", "power", "instantaneous", "band", "topology", "quality", "sent_at",
    ]  # fmt: skip
    assert first(lambda r: r.get("device") == "transformer") == [
        "meter_id", "schema", "commodity", "ts", "interval_s", "seq", "registers", "interval",
        "export", "power", "band", "device", "topology", "quality", "sent_at",
    ]  # fmt: skip
    assert first(lambda r: r["commodity"] == "gas") == [
        "meter_id", "schema", "commodity", "ts", "interval_s", "seq", "registers", "interval",
        "battery_pct", "quality", "sent_at",
    ]  # fmt: skip
    assert first(lambda r: r["meter_id"].startswith("farms-")) == [
        "meter_id", "schema", "commodity", "ts", "interval_s", "seq", "registers", "interval",
        "power", "instantaneous", "quality", "sent_at",
    ]  # fmt: skip


def test_registers_come_in_obis_order(rich):
    _, payloads = rich
    home = next(r for r in payloads if r["meter_id"].startswith("homes-") and "device" not in r)
    assert list(home["registers"]) == ["1-0:1.8.0", "1-0:1.8.1", "1-0:1.8.2", "1-0:2.8.0", "1-0:2.8.1", "1-0:2.8.2"]
    grid = next(r for r in payloads if r.get("device") == "feeder")
    assert list(grid["registers"]) == ["1-0:1.8.0", "1-0:2.8.0"]


@pytest.mark.parametrize(("group", "phases", "volts", "hertz"), [("homes-0", 3, 230, 50), ("farms-", 1, 120, 60)])
def test_instantaneous_values_have_the_phases_obis_codes_and_ohms_law(rich, group, phases, volts, hertz):
    _, payloads = rich
    readings = [r for r in payloads if r["meter_id"].startswith(group)]
    assert readings
    codes = {code for k in range(1, phases + 1) for code in PHASES[k]} | {"1-0:13.7.0", "1-0:14.7.0"}
    if phases == 1:
        codes.add("1-0:91.7.0")  # the neutral's current
    for r in readings:
        values = r["instantaneous"]
        assert set(values) == codes
        if phases == 1:
            assert values["1-0:91.7.0"] == values["1-0:31.7.0"]  # no theft: what goes in comes back
        power_factor, frequency = values["1-0:13.7.0"], values["1-0:14.7.0"]
        assert 0.7 <= power_factor <= 1.0
        assert frequency == pytest.approx(hertz, rel=0.002)
        watts = r["interval"]["value"] * 1000 * 3600 / r["interval_s"]  # Wh per interval -> W
        assert r["power"]["value"] == pytest.approx(watts / 1000, abs=0.0005)
        for k in range(1, phases + 1):
            volt_code, amp_code = PHASES[k]
            assert values[volt_code] == pytest.approx(volts, rel=0.05)
            # P = phases x V x I x PF, with the published (rounded) voltage and power factor; I to 0.01 A
            expected = watts / (phases * values[volt_code] * power_factor)
            assert abs(values[amp_code] - expected) <= 0.005 + 1e-9


def _local_day(ts: str, interval_s: int) -> int:
    """The local day [d since 1970-01-01] of the start of the interval that ends at ``ts``."""
    end = datetime.fromisoformat(ts)
    local_start = end.replace(tzinfo=None) - timedelta(seconds=interval_s)
    return (local_start.date() - date(1970, 1, 1)).days


def test_the_converted_volume_is_published_only_by_converter_meters_and_grows_by_the_en12405_factor(rich):
    scenario, payloads = rich
    group = next(g for g in scenario.fleet if g.name == "flats")
    attributes = build_attributes(group, RICH_SEED)
    converter = {i for i, has in zip(attributes.meter_ids(), attributes.has_converter) if has}
    assert 5 <= len(converter) <= 25  # about half of 30
    weather = Weather(
        climate_params(scenario.all_regions["tashkent"]), RICH_SEED, group_key("tashkent"), "Asia/Tashkent"
    )
    series = defaultdict(list)
    for r in payloads:
        if r["commodity"] == "gas":
            series[r["meter_id"]].append(r)
    assert len(series) == 30
    for meter, readings in series.items():
        if meter not in converter:
            assert all("7-0:3.2.0" not in r["registers"] for r in readings)
            continue
        exact = None
        for r in sorted(readings, key=lambda r: r["seq"]):
            assert list(r["registers"]) == ["7-0:3.0.0", "7-0:3.2.0"]
            volume, converted = (round(r["registers"][k] * 1000) for k in ("7-0:3.0.0", "7-0:3.2.0"))
            litres = round(r["interval"]["value"] * 1000)
            # EN 12405: 21 mbar above 1.01325 bar, gas halfway between the day's mean air and 10 degC, 15 degC base
            air_c = float(weather.daily_mean_c(_local_day(r["ts"], r["interval_s"])))
            factor = (1.01325 + 0.021) / 1.01325 * 288.15 / (273.15 + (air_c + 10) / 2)
            # the converted register starts at the initial volume and shows the exact cumulative converted
            # volume rounded to a litre: no rounding loss accumulates interval by interval
            if exact is None:
                exact = volume - litres
            exact += litres * factor
            assert abs(converted - exact) <= 0.5 + 1e-6
        assert converted > volume  # January: the gas is colder than the base, so it converts to more


def test_battery_is_on_every_gas_reading_and_discharges_linearly():
    data = {
        "simulation": {"start": "2026-01-01T00:00:00+05:00", "duration": "365d", "seed": 3},
        "fleet": [
            {
                "name": "flats",
                "commodity": "gas",
                "count": 12,
                "timezone": "Asia/Tashkent",
                "interval_s": 86400,
                "annual_m3": 900,
            },
            dict(BASE["fleet"][0], interval_s=86400, count=2),
        ],
        "outputs": [{"type": "discard"}],
    }
    readings = run_to_memory(make_scenario(data)).readings()
    assert all("battery_pct" not in r for r in readings if r["commodity"] == "electricity")
    series = defaultdict(list)
    for r in readings:
        if r["commodity"] == "gas":
            assert "7-0:3.2.0" not in r["registers"]  # no converters in this group
            series[r["meter_id"]].append(r)
    assert len(series) == 12
    twelve_years_s = 12 * 365 * 86400
    for readings in series.values():
        readings.sort(key=lambda r: r["seq"])
        assert len(readings) == 365
        battery = [r["battery_pct"] for r in readings]
        assert all(0 <= b <= 100 and round(b, 1) == b for b in battery)  # one decimal
        assert all(b >= a for a, b in zip(battery[1:], battery[:-1]))  # never recharges
        elapsed_s = datetime.fromisoformat(readings[-1]["ts"]).timestamp()
        elapsed_s -= datetime.fromisoformat(readings[0]["ts"]).timestamp()
        # 100 % over twelve years: 364 days is 8.31 %; each reading is rounded to 0.1 %
        drop = battery[0] - battery[-1]
        assert abs(drop - 100 * elapsed_s / twelve_years_s) <= 0.1 + 1e-9


def test_the_per_meter_texts_an_encoder_keeps_are_compact():
    # orjson returns each text inside the ~4 KiB buffer it wrote it in; kept per meter that was ~4 KiB a
    # meter (660 MB for a 168k-meter shard). tracemalloc measures what the encoder keeps after a batch.
    import tracemalloc

    from metersim.encoders.json import JsonEncoder
    from metersim.simulation import build_groups
    from metersim.windows import resolve_window

    data = {**BASE, "fleet": [dict(BASE["fleet"][0], count=10_000)]}
    scenario = make_scenario(data)
    window, _ = resolve_window(scenario)
    (simulator,) = build_groups(scenario, window)
    batch = simulator.step(0, window.start_s + simulator.interval_s).meters
    ids = simulator.meter_set.ids  # built before the measurement: the MeterSet's own, not the encoder's
    encoder = JsonEncoder()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        lines = encoder.lines(batch)
        assert sum(block.count(b"\n") for block in lines) == len(ids)
        del lines
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept / len(ids) < 300  # bytes per meter: ~55 compact, ~4,100 in orjson's buffers
