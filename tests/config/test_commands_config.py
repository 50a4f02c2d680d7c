"""The ``commands:`` block of an MQTT output (CommandsConfig): defaults and every refusal."""

import pytest

from metersim.config import parse_scenario
from metersim.config.commands import CommandsConfig, Failures, Latency
from metersim.errors import ConfigError
from tests.conftest import scenario_dict


def with_commands(commands, **output):
    data = scenario_dict()
    data["outputs"] = [{"type": "mqtt", **output, "commands": commands}]
    return data


def problems(data):
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    return info.value.problems


def test_defaults():
    commands = parse_scenario(with_commands({})).outputs[0].commands
    assert commands.topic == "metersim/cmd/{meter_id}"
    assert commands.allow == ["read", "ping", "status"]
    assert (commands.latency.median_s, commands.latency.p95_s) == (0.5, 2.0)
    assert (commands.concentrator_latency.median_s, commands.concentrator_latency.p95_s) == (3.0, 10.0)
    assert (commands.failures.error, commands.failures.rejected, commands.failures.timeout) == (0.0, 0.0, 0.0)
    assert commands.timeout_s == 30.0
    assert commands.qos is None
    assert commands.max_payload_bytes == 4096
    assert commands.reconnect_button_s is None
    assert commands.load_limit_action == "trip"
    assert commands.over_limit_s == 60.0
    assert commands.firmware_offline_s == 300.0


def test_no_commands_block_means_none():
    data = scenario_dict()
    data["outputs"] = [{"type": "mqtt"}]
    assert parse_scenario(data).outputs[0].commands is None


def test_default_allow_is_a_fresh_list_each_time():
    first, second = CommandsConfig(), CommandsConfig()
    first.allow.append("disconnect")
    assert second.allow == ["read", "ping", "status"]


def test_a_full_block_is_kept():
    block = {
        "topic": "a/{group}/{meter_id}",
        "allow": ["read", "disconnect", "reconnect", "load_limit", "set_tariff", "time_sync", "firmware"],
        "latency": {"median_s": 1, "p95_s": 1},
        "failures": {"error": 0.25, "rejected": 0.25, "timeout": 0.5},
        "timeout_s": 5,
        "qos": 2,
        "max_payload_bytes": 64,
        "reconnect_button_s": 120,
        "load_limit_action": "curtail",
        "over_limit_s": 0,
    }
    commands = parse_scenario(with_commands(block)).outputs[0].commands
    assert commands.topic == "a/{group}/{meter_id}"
    assert commands.allow == block["allow"]
    assert commands.failures.timeout == 0.5
    assert (commands.qos, commands.max_payload_bytes, commands.reconnect_button_s) == (2, 64, 120.0)
    assert (commands.load_limit_action, commands.over_limit_s) == ("curtail", 0.0)


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("cmd/x", "must name {meter_id} (the meter a command is for)"),
        ("cmd/{concentrator}", "must name {meter_id} (the meter a command is for)"),
        ("cmd/m-{meter_id}", "each field must be a whole topic level (e.g. cmd/{meter_id}), not 'm-{meter_id}'"),
        ("cmd/{meter_id}-x", "each field must be a whole topic level (e.g. cmd/{meter_id}), not '{meter_id}-x'"),
        (
            "cmd/{concentrator}{meter_id}",
            "each field must be a whole topic level (e.g. cmd/{meter_id}), not '{concentrator}{meter_id}'",
        ),
        ("cmd/+/{meter_id}", "a topic to publish to cannot contain + or # wildcards"),
        ("cmd/{meter_id}/#", "a topic to publish to cannot contain + or # wildcards"),
        ("cmd/{meter_id}/response", "must not end in /response (responses go to the command topic + /response)"),
    ],
)
def test_bad_topics(topic, expected):
    assert problems(with_commands({"topic": topic})) == [f"outputs[0].commands.topic: {expected}"]


def test_a_field_with_a_format_spec_is_not_a_whole_level():
    found = problems(with_commands({"topic": "cmd/{concentrator:>8}/{meter_id}"}))
    assert found == [
        "outputs[0].commands.topic: each field must be a whole topic level (e.g. cmd/{meter_id}), "
        "not '{concentrator:>8}'"
    ]


def test_unknown_topic_field():
    found = problems(with_commands({"topic": "cmd/{nope}/{meter_id}"}))
    assert len(found) == 1
    assert found[0].startswith("outputs[0].commands.topic: unknown field(s) ['nope']")


def test_duplicate_allow_entry():
    assert problems(with_commands({"allow": ["read", "ping", "read"]})) == [
        "outputs[0].commands.allow: lists a command twice"
    ]


def test_unknown_command_in_allow():
    found = problems(with_commands({"allow": ["read", "reboot"]}))
    assert len(found) == 1
    assert found[0].startswith("outputs[0].commands.allow[1]: must be 'read', 'disconnect'")
    assert found[0].endswith("'ping' or 'status'")


def test_latency_p95_below_median():
    assert problems(with_commands({"latency": {"median_s": 2, "p95_s": 1}})) == [
        "outputs[0].commands.latency: p95_s (1) must be at least median_s (2)"
    ]
    found = problems(with_commands({"concentrator_latency": {"median_s": 5, "p95_s": 4.5}}))
    assert found == ["outputs[0].commands.concentrator_latency: p95_s (4.5) must be at least median_s (5)"]


def test_latency_equal_is_allowed_and_sigma_is_zero():
    assert Latency(median_s=3, p95_s=3).sigma == 0.0
    # ln(e^1.6448536269514722) / 1.6448536269514722 = 1
    assert Latency(median_s=1, p95_s=5.180000).sigma == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("median", [0, -1, 86_401])
def test_latency_bounds(median):
    found = problems(with_commands({"latency": {"median_s": median, "p95_s": 100_000}}))
    assert any(p.startswith("outputs[0].commands.latency.median_s") for p in found)


def test_failures_summing_over_one():
    assert problems(with_commands({"failures": {"error": 0.5, "rejected": 0.4, "timeout": 0.2}})) == [
        "outputs[0].commands.failures: error + rejected + timeout must not exceed 1"
    ]


def test_failures_summing_to_exactly_one_is_allowed():
    failures = Failures(error=0.5, rejected=0.25, timeout=0.25)
    assert failures.error + failures.rejected + failures.timeout == 1.0


@pytest.mark.parametrize("name", ["error", "rejected", "timeout"])
def test_a_failure_probability_above_one(name):
    found = problems(with_commands({"failures": {name: 1.5}}))
    assert any(p.startswith(f"outputs[0].commands.failures.{name}") for p in found)


def test_commands_need_a_single_connection():
    assert problems(with_commands({}, connections="per-meter")) == [
        "outputs[0].commands: commands are answered on `connections: single` only"
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_payload_bytes", 63),
        ("max_payload_bytes", 1_048_577),
        ("timeout_s", 0),
        ("qos", 3),
        ("load_limit_action", "shed"),
        ("over_limit_s", 3601),
        ("reconnect_button_s", -1),
        ("firmware_offline_s", -0.5),
    ],
)
def test_out_of_range_fields(field, value):
    found = problems(with_commands({field: value}))
    assert any(p.startswith(f"outputs[0].commands.{field}") for p in found)


def test_unknown_field_in_the_block():
    found = problems(with_commands({"alow": ["read"]}))
    assert any(p.startswith("outputs[0].commands.alow") for p in found)


def test_commands_path_defaults_beside_the_ledger():
    data = with_commands({})
    data["truth"] = {"path": "out/x/ledger.csv"}
    assert parse_scenario(data).truth.resolved_commands_path == "out/x/commands.jsonl"
    data["truth"]["commands_path"] = "elsewhere/log.jsonl"
    assert parse_scenario(data).truth.resolved_commands_path == "elsewhere/log.jsonl"


def test_a_topic_field_every_group_must_have():
    (problem,) = [p for p in problems(with_commands({"topic": "a/{concentrator}/{meter_id}"})) if "fleet[0]" in str(p)]
    assert "uses {concentrator} but fleet[0] has none" in str(problem)


def test_only_one_output_listens():
    data = with_commands({})
    data["outputs"].append({"type": "mqtt", "client_id": "b", "commands": {}})
    found = [str(p) for p in problems(data)]
    assert any("only one output may listen for commands (outputs[0] does)" in p for p in found), found
