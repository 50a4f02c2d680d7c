"""The emission stage: readings and meter events go to every output, each format encoded once, lazily."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import orjson
import pytest

from metersim import outputs as outputs_module
from metersim.encoders.json import JsonEncoder
from metersim.outputs import Output, Outputs, encoder_key
from metersim.records import EVENT_CODES, EventBatch, ReadingBatch
from metersim.simulation import build_groups
from metersim.sinks.discard import DiscardSink
from metersim.sinks.file import FileSink
from metersim.sinks.memory import MemorySink
from metersim.windows import resolve_window
from tests.conftest import ROOT, make_scenario

EVENT_SCHEMA = json.loads((ROOT / "schemas" / "event-v1.json").read_text())
READING_SCHEMA = json.loads((ROOT / "schemas" / "reading-v1.json").read_text())


@pytest.fixture(scope="module")
def readings() -> ReadingBatch:
    scenario = make_scenario()
    window, _ = resolve_window(scenario)
    simulator = build_groups(scenario, window)[0]  # lahore, Asia/Karachi
    return simulator.step(0, window.start_s + simulator.interval_s).meters


def events_of(readings: ReadingBatch, rows: list[int], names: list[str]) -> EventBatch:
    time_s = np.full(len(rows), int(readings.end_s[0]) - 300, dtype=np.int64)
    return EventBatch(
        readings.meters,
        np.array(rows, dtype=np.int64),
        time_s,
        np.array([EVENT_CODES[n] for n in names], dtype=np.int16),
        time_s.copy(),
    )


def test_events_go_to_every_output_encoded_once(readings):
    a, b = MemorySink(), MemorySink()
    outputs = Outputs([Output(a, topic=a.topic), Output(b, topic=b.topic), Output(DiscardSink())])
    outputs.emit_events(events_of(readings, [0, 3], ["power_down", "power_up"]))
    assert outputs.events_encoded == {"json": 2}  # one encoding shared by both memory outputs
    assert outputs.encoded == {}  # readings are counted apart
    assert [p for _, p in a.messages] == [p for _, p in b.messages]
    assert all(x is y for (_, x), (_, y) in zip(a.messages, b.messages))  # the same bytes objects
    for sink in outputs.sinks:
        assert sink.stats.accepted == sink.stats.acknowledged == 2
    for _, payload in a.messages:
        jsonschema.Draft202012Validator(EVENT_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(
            orjson.loads(payload)
        )


def test_discard_encodes_no_event(readings):
    sink = DiscardSink()
    outputs = Outputs([Output(sink)])

    class Exploding:
        format = "json"

        def encode(self, events: EventBatch) -> list[bytes]:
            raise AssertionError("discard must not encode")

        def topics(self, events: EventBatch, template: str) -> list[str]:
            raise AssertionError("discard must not render topics")

    outputs.event_encoders["json"] = Exploding()
    outputs.emit_events(events_of(readings, [1, 2, 3], ["power_down"] * 3))
    assert sink.stats.accepted == 3
    assert outputs.events_encoded == {}


def test_an_output_with_topics_publishes_events_on_the_default_or_its_own_template(readings):
    plain, custom = MemorySink(), MemorySink()
    outputs = Outputs(
        [
            Output(plain, topic=plain.topic),
            Output(custom, topic=custom.topic, events_topic="meters/{group}/{meter_id}/events/{event}"),
        ]
    )
    outputs.emit_events(events_of(readings, [0], ["terminal_cover_removed"]))
    assert [t for t, _ in plain.messages] == ["metersim/electricity/PK-LESCO-000001/event"]
    assert [t for t, _ in custom.messages] == ["meters/lahore/PK-LESCO-000001/events/terminal_cover_removed"]
    assert outputs.events_encoded == {"json": 1}


def test_a_stream_writes_events_as_lines_among_the_readings(readings, tmp_path):
    path = tmp_path / "out.jsonl"
    with FileSink(path) as sink:
        outputs = Outputs([Output(sink)])
        outputs.emit_events(events_of(readings, [4], ["power_down"]))
        outputs.emit(readings, np.arange(3))
        outputs.emit_events(events_of(readings, [4], ["power_up"]))
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    kinds = [line["schema"] for line in lines]
    event, reading = "metersim/event/v1", "metersim/reading/v1"
    assert kinds == [event, reading, reading, reading, event]
    for line in lines:
        jsonschema.validate(line, EVENT_SCHEMA if line["schema"] == event else READING_SCHEMA)
    assert [line["event"] for line in lines if line["schema"] == event] == ["power_down", "power_up"]
    assert outputs.encoded == {"json": 3}
    assert outputs.events_encoded == {"json": 2}
    assert sink.stats.accepted == sink.stats.acknowledged == 5  # a sink counts both as messages


def test_no_event_sends_nothing(readings, tmp_path):
    path = tmp_path / "out.jsonl"
    memory = MemorySink()
    with FileSink(path) as sink:
        outputs = Outputs([Output(sink), Output(memory, topic=memory.topic)])
        outputs.emit_events(events_of(readings, [], []))
    assert path.read_bytes() == b""  # not even an empty line
    assert memory.messages == []
    assert sink.stats.accepted == memory.stats.accepted == 0
    assert outputs.events_encoded == {}


def test_a_sink_that_needs_topics_on_an_output_without_any_is_an_error(readings):
    sink = MemorySink()
    outputs = Outputs([Output(sink)])  # topic None: a stream
    with pytest.raises(ValueError, match="no topic template for events"):
        outputs.emit_events(events_of(readings, [0], ["power_down"]))


def test_an_output_whose_format_has_no_event_encoder_gets_no_events(readings, monkeypatch):
    monkeypatch.setattr(outputs_module, "event_encoder_for", lambda fmt: None)
    sink = MemorySink()
    outputs = Outputs([Output(sink, topic=sink.topic)])
    outputs.emit_events(events_of(readings, [0], ["power_down"]))
    assert sink.messages == [] and sink.stats.accepted == 0
    outputs.emit(readings, np.arange(2))  # readings still flow
    assert len(sink.messages) == 2


def test_readings_are_unchanged_by_events(readings):
    sink = MemorySink()
    outputs = Outputs([Output(sink, topic=sink.topic)])
    outputs.emit(readings, np.array([0, 2]))
    assert [t for t, _ in sink.messages] == [
        "metersim/electricity/PK-LESCO-000001/reading",
        "metersim/electricity/PK-LESCO-000003/reading",
    ]
    for payload in sink.readings():
        assert payload["schema"] == "metersim/reading/v1"
        jsonschema.validate(payload, READING_SCHEMA)
    assert outputs.encoded == {"json": 2}
    assert outputs.events_encoded == {}


def test_the_event_template_of_an_output():
    sink = MemorySink()
    assert Output(sink).event_template is None
    assert Output(sink, topic="x/{meter_id}").event_template == "metersim/{commodity}/{meter_id}/event"
    assert Output(sink, topic="x", events_topic="e/{event}").event_template == "e/{event}"
    assert Output(sink, events_topic="e/{event}").event_template == "e/{event}"


class _StreamOnly(JsonEncoder):
    """A JSON encoder that may render JSON Lines blocks only: a message-per-payload encoding fails."""

    def encode(self, batch: ReadingBatch) -> list[bytes]:
        raise AssertionError("a stream must not need one payload per message")


def test_a_stream_takes_the_encoders_lines_and_nothing_is_encoded_twice(readings, tmp_path):
    encoder = _StreamOnly()
    with FileSink(tmp_path / "a.jsonl") as a, FileSink(tmp_path / "b.jsonl") as b:
        outputs = Outputs([Output(a), Output(b)], encoders={encoder_key("json", ()): encoder})
        outputs.emit(readings, np.array([4, 0, 2]))
    assert outputs.encoded == {"json": 3}  # once, for both files
    text = (tmp_path / "a.jsonl").read_bytes()
    assert text == (tmp_path / "b.jsonl").read_bytes()
    lines = [orjson.loads(line) for line in text.splitlines()]
    assert [line["meter_id"] for line in lines] == ["PK-LESCO-000005", "PK-LESCO-000001", "PK-LESCO-000003"]
    for line in lines:
        jsonschema.validate(line, READING_SCHEMA)


@pytest.mark.parametrize("stream_first", [True, False])
def test_a_stream_and_an_mqtt_like_output_share_one_encoding_in_either_order(readings, tmp_path, stream_first):
    memory, path = MemorySink(), tmp_path / "out.jsonl"
    with FileSink(path) as sink:
        pair = [Output(sink), Output(memory, topic=memory.topic)]
        outputs = Outputs(pair if stream_first else pair[::-1])
        outputs.emit(readings, np.arange(5))
        outputs.emit(readings, np.array([7]))
    assert outputs.encoded == {"json": 6}
    written = path.read_bytes()
    assert written.endswith(b"\n") and written.splitlines() == [p for _, p in memory.messages]
    assert [orjson.loads(p)["meter_id"] for _, p in memory.messages] == [
        f"PK-LESCO-{k:06d}" for k in (1, 2, 3, 4, 5, 8)
    ]


def test_a_format_without_lines_reaches_a_stream_as_its_payloads_joined(readings, tmp_path):
    path, memory = tmp_path / "out.jsonl", MemorySink(format="batch", options=(("size", 2),))
    with FileSink(path) as sink:
        outputs = Outputs([Output(sink, format="batch", options=(("size", 2),)), Output(memory, "batch", "t")])
        outputs.emit(readings, np.arange(5))
    messages = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [len(m["readings"]) for m in messages] == [2, 2, 1]
    assert sink.stats.accepted == sink.stats.acknowledged == 3
