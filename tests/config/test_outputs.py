import pytest

from metersim.config import MqttOutput, parse_scenario
from metersim.errors import ConfigError
from tests.conftest import scenario_dict


def problems(data):
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    return info.value.problems


def test_validation_does_not_depend_on_the_environment(monkeypatch):
    # The MQTT sink reads the variables when the run starts, and reports a missing one there.
    data = scenario_dict()
    data["outputs"] = [{"type": "mqtt", "username_env": "METERSIM_TEST_USER", "password_env": "METERSIM_TEST_PW"}]
    monkeypatch.delenv("METERSIM_TEST_USER", raising=False)
    monkeypatch.delenv("METERSIM_TEST_PW", raising=False)
    output = parse_scenario(data).outputs[0]
    assert isinstance(output, MqttOutput)
    assert (output.username_env, output.password_env) == ("METERSIM_TEST_USER", "METERSIM_TEST_PW")
    monkeypatch.setenv("METERSIM_TEST_USER", "alice")
    assert parse_scenario(data) == parse_scenario(data)


@pytest.mark.parametrize("url", ["http://x", "mqtt://", "tcp://h:1883", "mqtt://h:99999"])
def test_bad_broker_urls(url):
    data = scenario_dict()
    data["outputs"] = [{"type": "mqtt", "url": url}]
    assert any(p.startswith("outputs[0].url") for p in problems(data))


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "tls"),
    [
        ("mqtt://broker.example:1884", "mqtt", "broker.example", 1884, False),
        ("mqtt://broker.example", "mqtt", "broker.example", 1883, False),
        ("mqtts://broker.example", "mqtts", "broker.example", 8883, True),
        ("MQTTS://[::1]:9000", "mqtts", "::1", 9000, True),
        ("embedded", "embedded", "127.0.0.1", 1883, False),
    ],
)
def test_the_url_is_parsed_once(url, scheme, host, port, tls):
    output = MqttOutput(type="mqtt", url=url)
    assert (output.url, output.scheme, output.host, output.port, output.uses_tls) == (url, scheme, host, port, tls)
    assert output.embedded == (url == "embedded")


def test_parsed_url_follows_a_copy_with_a_new_url():
    output = MqttOutput(type="mqtt").model_copy(update={"url": "mqtts://other"})
    assert (output.host, output.port, output.uses_tls) == ("other", 8883, True)


def test_tls_on_plain_mqtt_and_client_pairs():
    assert MqttOutput.model_validate({"type": "mqtt", "tls": {"insecure": True}}).uses_tls
    data = scenario_dict()
    data["outputs"] = [{"type": "mqtt", "tls": {"cert_file": "a.pem"}}]
    assert problems(data) == ["outputs[0].tls: give both `cert_file` and `key_file`, or neither"]


def test_topic_templates():
    data = scenario_dict()
    data["outputs"] = [{"type": "mqtt", "topic": "m/{nope}/{meter_id}"}, {"type": "mqtt", "topic": "m/+/{meter_id}"}]
    assert problems(data) == [
        "outputs[0].topic: unknown field(s) ['nope']; allowed: {meter_id}, {commodity}, {group}, {region}, "
        "{substation}, {feeder}, {transformer}, {concentrator}, {manufacturer}, {model}, {firmware}",
        "outputs[1].topic: a topic to publish to cannot contain + or # wildcards",
    ]
    assert MqttOutput(type="mqtt", topic="a/{group}/{meter_id}").topic_fields == {"group", "meter_id"}
