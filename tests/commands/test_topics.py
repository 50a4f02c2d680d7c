"""Command topic templates: subscription filter, the fields a topic names, and the response topic."""

import pytest

from metersim.commands.topics import RESPONSE_SUFFIX, CommandTopics, response_topic


def test_default_template():
    topics = CommandTopics("metersim/cmd/{meter_id}")
    assert topics.filter == "metersim/cmd/+"
    assert topics.levels == [("metersim", False), ("cmd", False), ("meter_id", True)]
    assert topics.fields_of("metersim/cmd/PK-0001") == {"meter_id": "PK-0001"}


def test_concentrator_template():
    topics = CommandTopics("a/{concentrator}/{meter_id}")
    assert topics.filter == "a/+/+"
    assert topics.fields_of("a/DCU-7/PK-0001") == {"concentrator": "DCU-7", "meter_id": "PK-0001"}


def test_field_first_and_in_the_middle():
    topics = CommandTopics("{region}/cmd/{meter_id}/in")
    assert topics.filter == "+/cmd/+/in"
    assert topics.fields_of("north/cmd/m1/in") == {"region": "north", "meter_id": "m1"}
    assert topics.fields_of("north/cmd/m1/out") is None


@pytest.mark.parametrize(
    "topic",
    [
        "metersim/cmd",  # too few levels
        "metersim/cmd/PK-0001/extra",  # too many
        "metersim/cmd/PK-0001/response",  # our own answer is not a command
        "metersim/cmdx/PK-0001",  # literal mismatch
        "Metersim/cmd/PK-0001",  # literals are case-sensitive
        "other/cmd/PK-0001",
        "",
    ],
)
def test_topics_that_do_not_fit(topic):
    assert CommandTopics("metersim/cmd/{meter_id}").fields_of(topic) is None


def test_concentrator_mismatches():
    topics = CommandTopics("a/{concentrator}/{meter_id}")
    assert topics.fields_of("a/PK-0001") is None
    assert topics.fields_of("a/d/m/x") is None
    assert topics.fields_of("b/d/m") is None


def test_empty_levels_are_values_too():
    # MQTT allows an empty level; the template maps it to an empty value (the handler finds no such meter)
    assert CommandTopics("metersim/cmd/{meter_id}").fields_of("metersim/cmd/") == {"meter_id": ""}


def test_escaped_braces_are_literal():
    topics = CommandTopics("x{{y}}/{meter_id}")
    assert topics.filter == "x{y}/+"
    assert topics.fields_of("x{y}/m9") == {"meter_id": "m9"}
    assert topics.fields_of("x{{y}}/m9") is None


def test_template_is_kept():
    assert CommandTopics("c/{meter_id}").template == "c/{meter_id}"


def test_response_topic():
    assert RESPONSE_SUFFIX == "/response"
    assert response_topic("metersim/cmd/PK-0001") == "metersim/cmd/PK-0001/response"
    assert response_topic("a/DCU-7/PK-0001") == "a/DCU-7/PK-0001/response"


def test_a_response_topic_that_cannot_be_published_to_is_not_used():
    from metersim.commands.topics import publishable

    assert publishable("my/replies")
    for bad in (None, "", "a/+/b", "a/#", "nul\x00here", "x" * 65_536):
        assert not publishable(bad)
