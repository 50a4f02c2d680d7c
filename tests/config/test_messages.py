"""What users read: plain messages, "did you mean", YAML's unquoted values, strict numbers, topic safety."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from metersim.config import MqttOutput, Scenario, load_scenario, parse_scenario
from metersim.config.base import dotted
from metersim.config.messages import close_match, format_problems, model_at, plain_message, without_union_tags
from metersim.config.tariffs import BandWindow
from metersim.config.topics import MQTT_MAX_BYTES
from metersim.errors import ConfigError
from tests.conftest import scenario_dict

#: what a mistyped profile gets
PROFILE_PROBLEM = (
    "fleet[0].profile: must be 'household', 'commercial', 'agricultural', 'bdew-h0', 'bdew-g0' or 'bdew-l0'; "
    "did you mean 'household'?"
)

PYDANTIC_WORDING = (
    "Input should",
    "literal[",
    "constrained-",
    "Field required",
    "Extra inputs",
    "fractional part",
    "Value error",
    "valid integer",
)


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    return info.value.problems


def plain(data: dict[str, Any]) -> list[str]:
    """``path: message`` for every error of validating ``data``, through :func:`plain_message` directly."""
    with pytest.raises(ValidationError) as info:
        Scenario.model_validate(data)
    return [f"{dotted(without_union_tags(e['loc'], Scenario))}: {plain_message(e)}" for e in info.value.errors()]


def tariff_with_window(start: Any, end: Any = "23:00") -> dict[str, Any]:
    data = scenario_dict()
    data["tariffs"] = {
        "tou": {
            "bands": [{"name": "peak", "windows": [{"start": start, "end": end}]}, {"name": "off"}],
            "prices": {"peak": 2, "off": 1},
        }
    }
    data["fleet"][0]["tariff"] = "tou"
    return data


def broken() -> dict[str, Any]:
    """A scenario with one of every kind of pydantic error."""
    data = scenario_dict(duraton="1d", seed=True, speed="fast")
    data["regions"] = []
    data["tariffs"] = {"t": {"bands": []}}
    data["fleet"][0].update(count=1000.0, profile="houshold", interval_s="x", annual_kwh=True, name="", jiter_s=3)
    data["fleet"][1].update(monthly_factors=[1], count=True, commodity="gaz")
    data["outputs"] = [
        {"type": "mqtt", "qos": 3, "retain": "x", "tls": [], "topik": "x", "keepalive_s": 70_000},
        {"type": "mqqt"},
        {},
        5,
        {"type": "file"},
        {"type": "mqtt", "max_rate_msg_s": 0, "connect_timeout_s": False},
    ]
    return data


EXPECTED = [
    "simulation.seed: must be a number, not true/false",
    'simulation.speed: must be "max" or a number > 0',
    "simulation.duraton: unknown key; did you mean 'duration'?",
    "regions: must be a mapping of keys to values, not a list",
    "tariffs.t.bands: needs at least 1 item, got 0",
    "fleet[0].name: must not be empty",
    "fleet[0].count: must be a whole number",
    "fleet[0].interval_s: must be a whole number, not 'x'",
    "fleet[0].annual_kwh: must be a number, not true/false",
    PROFILE_PROBLEM,
    "fleet[0].jiter_s: unknown key; did you mean 'jitter_s'?",
    "fleet[1].commodity: must be 'electricity' or 'gas'; did you mean 'gas'?",
    "fleet[1].count: must be a number, not true/false",
    "fleet[1].monthly_factors: needs at least 12 items, got 1",
    "outputs[0].qos: must be 0, 1 or 2",
    "outputs[0].retain: must be true or false, not 'x'",
    "outputs[0].keepalive_s: must be at most 65535",
    "outputs[0].tls: must be a mapping of keys to values, not a list",
    "outputs[0].topik: unknown key; did you mean 'topic'?",
    "outputs[1]: unknown type 'mqqt'; must be one of mqtt, file, stdout, parquet, discard; did you mean 'mqtt'?",
    "outputs[2]: needs `type`: one of mqtt, file, stdout, parquet, discard",
    "outputs[3]: must be a mapping of keys to values, not 5",
    "outputs[4].path: required",
    "outputs[5].max_rate_msg_s: must be greater than 0",
    "outputs[5].connect_timeout_s: must be a number, not true/false",
]


def test_plain_message_turns_every_pydantic_error_into_a_sentence():
    found = plain(broken())
    assert found == EXPECTED
    assert not [line for line in found if any(w in line for w in PYDANTIC_WORDING)]
    with pytest.raises(ValidationError) as info:
        Scenario.model_validate(broken())
    assert format_problems(info.value) == EXPECTED


def test_users_see_the_plain_messages():
    assert problems(broken()) == EXPECTED


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"count": True}, "fleet[0].count: must be a number, not true/false"),
        ({"count": 1000.0}, "fleet[0].count: must be a whole number"),
        ({"count": 0}, "fleet[0].count: must be at least 1"),
        ({"first_index": 1.5}, "fleet[0].first_index: must be a whole number"),
        ({"jitter_s": False}, "fleet[0].jitter_s: must be a number, not true/false"),
        ({"phase_shift_s": 60.0}, "fleet[0].phase_shift_s: must be a whole number"),
        ({"register_digits": "6"}, "fleet[0].register_digits: must be a whole number, not '6'"),
        ({"grid": {"substations": 2.0}}, "fleet[0].grid.substations: must be a whole number"),
        ({"instantaneous": {"phases": True}}, "fleet[0].instantaneous.phases: must be a number, not true/false"),
        ({"annual_kwh": False}, "fleet[0].annual_kwh: must be a number, not true/false"),
        ({"prifile": "household"}, "fleet[0].prifile: unknown key; did you mean 'profile'?"),
        (
            {"profile": "houshold"},
            PROFILE_PROBLEM,
        ),
        ({"name": None}, "fleet[0].name: must be text, not null"),
        ({"spike_kw": "2.5"}, "fleet[0].spike_kw: must be a number, not '2.5'"),
        ({"monthly_factors": [1] * 11 + [True]}, "fleet[0].monthly_factors[11]: must be a number, not true/false"),
    ],
)
def test_strict_whole_numbers_and_numbers(change, expected):
    data = scenario_dict()
    data["fleet"][0].update(change)
    assert plain(data) == [expected]


def test_strict_whole_numbers_through_parse_scenario():
    data = scenario_dict(seed=1.0)
    data["fleet"][0].update(count=True, annual_kwh=True)
    assert problems(data) == [
        "simulation.seed: must be a whole number",
        "fleet[0].count: must be a number, not true/false",
        "fleet[0].annual_kwh: must be a number, not true/false",
    ]


@pytest.mark.parametrize(
    ("section", "change", "expected"),
    [
        ("outputs", {"type": "mqtt", "embedded_port": 1883.0}, "outputs[0].embedded_port: must be a whole number"),
        (
            "outputs",
            {"type": "mqtt", "max_inflight": True},
            "outputs[0].max_inflight: must be a number, not true/false",
        ),
        ("outputs", {"type": "mqtt", "buffer_messages": 10.5}, "outputs[0].buffer_messages: must be a whole number"),
        ("outputs", {"type": "mqtt", "keepalive_s": 60.0}, "outputs[0].keepalive_s: must be a whole number"),
        ("outputs", {"type": "mqtt", "qos": True}, "outputs[0].qos: must be a number, not true/false"),
    ],
)
def test_output_numbers_are_strict(section, change, expected):
    data = scenario_dict()
    data[section] = [change]
    assert plain(data) == [expected]


def test_floats_still_take_whole_numbers():
    data = scenario_dict(speed=2)
    data["fleet"][0].update(annual_kwh=2400, spikes_per_day=1)
    scenario = parse_scenario(data)
    assert scenario.simulation.speed == 2.0 and isinstance(scenario.fleet[0].annual_kwh, float)


def test_our_own_messages_reach_users_through_parse_scenario_already():
    assert problems(scenario_dict(speed=True)) == ['simulation.speed: must be "max" or a number > 0']
    assert problems(scenario_dict(duration=1.5)) == [
        "simulation.duration: must be a duration such as 90s, 15m, 2h or 1d, or a whole number of seconds; got 1.5"
    ]


# --- did you mean -------------------------------------------------------------------------------


def test_close_matches():
    assert close_match("duraton", ["start", "duration", "end"]) == "duration"
    assert close_match("Household", ["household", "commercial"]) == "household"
    assert close_match("zzz", ["start", "duration"]) is None
    assert close_match(3, ["start"]) is None


def test_the_model_at_a_location_is_found_through_lists_dicts_and_union_tags():
    assert model_at(("fleet", 0), Scenario).__name__ == "MeterGroup"  # type: ignore[union-attr]
    assert model_at(("outputs", 0, "mqtt", "tls"), Scenario).__name__ == "TlsConfig"  # type: ignore[union-attr]
    assert model_at(("tariffs", "x", "bands", 0, "windows", 1), Scenario) is BandWindow
    assert model_at(("fleet", 0, "count"), Scenario) is None
    assert model_at(("nope", 0), Scenario) is None


def test_unknown_keys_suggest_the_closest_field():
    data = scenario_dict(duraton="1d")
    del data["simulation"]["duration"]
    data["outputs"] = [{"type": "mqtt", "tls": {"ca_fil": "x"}}]
    found = problems(data)
    assert "simulation.duraton: unknown key; did you mean 'duration'?" in found
    assert "outputs[0].tls.ca_fil: unknown key; did you mean 'ca_file'?" in found


def test_unknown_region_and_tariff_names_suggest_the_closest():
    data = scenario_dict()
    data["tariffs"] = {"flat": {"prices": {"all": 1}}}
    data["fleet"][0].update(region="lahor", tariff="flta")
    assert problems(data) == [
        "fleet[0].region: unknown region 'lahor'; did you mean 'lahore'?; "
        "known: ['amsterdam', 'karachi', 'lahore', 'tashkent']",
        "fleet[0].tariff: unknown tariff 'flta'; did you mean 'flat'?; known: ['flat']",
    ]


# --- YAML's unquoted timestamps and clock times --------------------------------------------------


def test_an_unquoted_timestamp_with_an_offset_is_the_same_instant(tmp_path):
    quoted = parse_scenario(scenario_dict(start="2026-07-06T00:00:00+05:00"))
    path = tmp_path / "s.yaml"
    text = (
        "simulation: {start: 2026-07-06T00:00:00+05:00, end: 2026-07-07T00:00:00+05:00}\n"
        "fleet: [{name: g, commodity: electricity, count: 1, annual_kwh: 1000}]\n"
        "outputs: [{type: discard}]\n"
    )
    path.write_text(text)
    scenario = load_scenario(path)
    assert scenario.simulation.start_s == quoted.simulation.start_s
    assert scenario.simulation.duration_s == 86400


def test_timestamps_from_yaml_need_an_offset_and_a_time():
    naive = scenario_dict(start=dt.datetime(2026, 7, 6))
    assert problems(naive) == ["simulation.start: timestamp 2026-07-06T00:00:00 needs a UTC offset, e.g. +05:00 or Z"]
    day = scenario_dict(start=dt.date(2026, 7, 6))
    assert problems(day) == [
        "simulation.start: 2026-07-06 is a date; give a time and a UTC offset, e.g. 2026-07-06T00:00:00Z"
    ]
    aware = dt.datetime(2026, 7, 6, tzinfo=dt.timezone.utc)
    assert parse_scenario(scenario_dict(start=aware)).simulation.start == "2026-07-06T00:00:00+00:00"


def test_unquoted_clock_times_are_explained(tmp_path):
    assert problems(tariff_with_window(1110)) == [
        'tariffs.tou.bands[0].windows[0].start: write clock times in quotes, e.g. "18:30" '
        "(unquoted 18:30 is read by YAML as the number 1110)"
    ]
    path = tmp_path / "s.yaml"
    path.write_text(
        "simulation: {start: '2026-01-01T00:00:00Z', duration: 1d}\n"
        "tariffs: {tou: {bands: [{name: peak, windows: [{start: 18:30, end: '23:00'}]}, {name: rest}],"
        " prices: {peak: 2, rest: 1}}}\n"
        "fleet: [{name: g, commodity: electricity, count: 1, annual_kwh: 1000, tariff: tou}]\n"
        "outputs: [{type: discard}]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert info.value.problems == [
        'tariffs.tou.bands[0].windows[0].start: write clock times in quotes, e.g. "18:30" '
        "(unquoted 18:30 is read by YAML as the number 1110)"
    ]
    assert parse_scenario(tariff_with_window("18:30")).tariffs["tou"].bands[0].windows[0].start_min == 1110


# --- MQTT outputs: client ids, credentials in the URL --------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "clash"),
    [
        ({"url": "mqtt://h:1883"}, {"url": "mqtt://h"}, True),
        ({"url": "mqtt://h:1883"}, {"url": "mqtt://h:1884"}, False),
        ({"url": "mqtt://h"}, {"url": "mqtt://other"}, False),
        ({"url": "embedded", "embedded_port": 1900}, {"url": "embedded", "embedded_port": 1900}, True),
        ({"url": "embedded"}, {"url": "embedded"}, False),  # each gets its own broker on a free port
    ],
)
def test_two_outputs_with_one_client_id_on_one_broker(a, b, clash):
    data = scenario_dict()
    data["outputs"] = [
        {"type": "discard"},
        {"type": "mqtt", "client_id": "sim", **a},
        {"type": "mqtt", "client_id": "sim", **b},
    ]
    if clash:
        found = problems(data)
        assert len(found) == 1 and found[0].startswith(
            "outputs[2].client_id: 'sim' is also the client_id of outputs[1] on the same broker"
        )
    else:
        parse_scenario(data)


def test_credentials_in_the_url_are_parsed_once_and_never_displayed():
    output = MqttOutput(type="mqtt", url="mqtt://al%40ice:s3cr%3At@broker.example:1884")
    assert (output.url_username, output.url_password) == ("al@ice", "s3cr:t")
    assert output.display_url == "mqtt://al%40ice@broker.example:1884"
    assert "s3cr" not in output.display_url
    assert (output.host, output.port) == ("broker.example", 1884)
    user_only = MqttOutput(type="mqtt", url="mqtts://bob@[::1]")
    assert (user_only.url_username, user_only.url_password, user_only.display_url) == ("bob", None, "mqtts://bob@[::1]")
    plain_url = MqttOutput(type="mqtt", url="mqtt://h")
    assert (plain_url.url_username, plain_url.url_password, plain_url.display_url) == (None, None, "mqtt://h")
    embedded = MqttOutput(type="mqtt", url="embedded")
    assert (embedded.url_username, embedded.display_url) == (None, "embedded")
    copied = output.model_copy(update={"url": "mqtt://h"})
    assert (copied.url_username, copied.url_password) == (None, None)


# --- topic safety at load ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("", "must not be empty"),
        (
            "m/{meter_id",
            "is not a valid template (expected '}' before end of string); write a literal brace as {{ or }}",
        ),
        (
            "m/meter_id}",
            "is not a valid template (Single '}' encountered in format string); write a literal brace as {{ or }}",
        ),
        ("m/{}", "positional fields ({} or {0}) are not allowed; name a field, e.g. {meter_id}"),
        ("m/{0}", "positional fields ({} or {0}) are not allowed; name a field, e.g. {meter_id}"),
        ("m/{meter_id.x}", "{meter_id.x}: attribute or index access is not allowed; use the plain field name"),
        ("m/{meter_id[0]}", "{meter_id[0]}: attribute or index access is not allowed; use the plain field name"),
        ("m/{meter_id:d}", "has a bad format spec: Unknown format code 'd' for object of type 'str'"),
        ("m/{meter_id!r}", "{meter_id!r}: conversions are not allowed"),
        ("m/\x00", "must not contain a NUL character"),
        ("m/" + "x" * MQTT_MAX_BYTES, "is longer than MQTT's limit of 65535 bytes"),
    ],
)
def test_bad_topic_templates(topic, message):
    data = scenario_dict()
    data["outputs"] = [{"type": "mqtt", "topic": topic}]
    assert problems(data) == [f"outputs[0].topic: {message}"]


def test_a_topic_that_the_longest_meter_id_makes_too_long():
    data = scenario_dict()
    data["fleet"][0]["id_format"] = "{index:0200d}" + "x" * 30_000
    data["outputs"] = [{"type": "mqtt", "topic": "m/{meter_id}/{meter_id}/{meter_id}"}]
    found = problems(data)
    assert len(found) == 1 and found[0].startswith("outputs[0].topic: is 90604 bytes long for fleet[0]")
    assert found[0].endswith("over MQTT's limit of 65535 bytes")


def test_region_names_in_topics_must_be_one_level():
    data = scenario_dict()
    data["regions"] = {
        "north/east": {
            "latitude_deg": 1,
            "longitude_deg": 1,
            "temp_mean_c": 20,
            "temp_amplitude_c": 5,
            "timezone": "UTC",
        }
    }
    data["fleet"][0]["region"] = "north/east"
    parse_scenario(data)  # no topic uses {region}
    data["outputs"] = [{"type": "discard"}, {"type": "mqtt", "topic": "m/{region}/{meter_id}"}]
    assert problems(data) == ["fleet[0].region: must not contain /: outputs[1].topic uses {region}"]


def test_mqtt_limits_on_keepalive_and_client_id():
    data = scenario_dict()
    data["outputs"] = [{"type": "mqtt", "keepalive_s": 65_536, "client_id": "é" * 40_000}]
    assert plain(data) == [
        "outputs[0].client_id: is longer than MQTT's limit of 65535 bytes (UTF-8)",
        "outputs[0].keepalive_s: must be at most 65535",
    ]
    assert MqttOutput(type="mqtt", keepalive_s=65_535, client_id="é" * 32_767).keepalive_s == 65_535


def test_no_nul_in_paths():
    data = scenario_dict()
    data["outputs"] = [
        {"type": "file", "path": "out\x00.jsonl"},
        {"type": "mqtt", "tls": {"ca_file": "ca\x00.pem"}},
    ]
    data["truth"] = {"path": "t.csv", "weather_path": "w\x00.csv"}
    assert problems(data) == [
        "outputs[0].path: must not contain a NUL character",
        "outputs[1].tls.ca_file: must not contain a NUL character",
        "truth.weather_path: must not contain a NUL character",
    ]
