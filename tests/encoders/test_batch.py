"""`format: batch`: one message per concentrator upload; unpacked (with the standard library's gzip and
the zstandard package as independent decoders) they are exactly the per-reading JSON messages."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
import zstandard

from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink
from tests.conftest import ROOT, make_scenario, scenario_dict

TOPIC = "metersim/{group}/{concentrator}/upload"


def _scenario(concentrator: dict[str, Any] | None) -> Any:
    data = scenario_dict(duration="4h")
    data["fleet"][0]["count"] = 30
    data["fleet"][0]["jitter_s"] = 0  # every meter reports at the interval end: one emission an interval
    if concentrator is not None:
        data["fleet"][0]["concentrator"] = concentrator
    data["fleet"] = data["fleet"][:1]  # the electricity group
    return make_scenario(data)


def _runs(scenario: Any, **batch: Any) -> tuple[MemorySink, MemorySink]:
    per_reading = MemorySink()
    batched = MemorySink(topic=TOPIC, format="batch", options=tuple(batch.items()))
    Simulation(scenario, sinks=[per_reading, batched]).run()
    return per_reading, batched


def _unpack(payload: bytes, compression: str) -> dict[str, Any]:
    if compression == "gzip":
        payload = gzip.decompress(payload)
    elif compression == "zstd":
        payload = zstandard.ZstdDecompressor().decompress(payload)
    return json.loads(payload)


def _readings(sink: MemorySink) -> list[bytes]:
    return [p for _, p in sink.messages if b'"metersim/reading/v1"' in p]


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_batches_unpack_to_exactly_the_per_reading_messages(compression):
    scenario = _scenario({"meters": 10, "upload_every_s": 3600})
    per_reading, batched = _runs(scenario, size=100, compression=compression)
    messages = [(t, _unpack(p, compression)) for t, p in batched.messages if not p.startswith(b'{"meter_id"')]
    unpacked = [reading for _, m in messages for reading in m["readings"]]
    assert unpacked == [json.loads(p) for p in _readings(per_reading)]  # same readings, same order
    for topic, message in messages:
        assert message["schema"] == "metersim/batch/v1" and message["count"] == len(message["readings"])
        assert {r["concentrator"] for r in message["readings"]} == {message["concentrator"]}
        assert topic == f"metersim/lahore/{message['concentrator']}/upload"
    assert len(messages) * 20 < len(unpacked)  # an hour of 10 meters: ~40 readings a message


def test_size_caps_a_message_and_meters_without_a_concentrator_batch_by_group():
    per_reading, batched = _runs(_scenario(None), size=7)
    messages = [json.loads(p) for _, p in batched.messages if b'"metersim/batch/v1"' in p]
    assert [m["count"] for m in messages[:5]] == [7, 7, 7, 7, 2] and all(m["concentrator"] is None for m in messages)
    assert [r for m in messages for r in m["readings"]] == [json.loads(p) for p in _readings(per_reading)]
    assert batched.stats.accepted == len(batched.messages) < per_reading.stats.accepted


def test_gzip_output_is_byte_identical_for_a_seed():
    scenario = _scenario({"meters": 10, "upload_every_s": 1800})
    first, again = _runs(scenario, compression="gzip")[1], _runs(scenario, compression="gzip")[1]
    assert first.messages == again.messages


def test_every_batch_is_valid_against_the_published_schema():
    from jsonschema import Draft202012Validator, ValidationError
    from referencing import Registry, Resource

    schemas = {name: json.loads((ROOT / "schemas" / f"{name}-v1.json").read_text()) for name in ("batch", "reading")}
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    validator = Draft202012Validator(schemas["batch"], registry=registry)
    _, batched = _runs(_scenario({"meters": 10, "upload_every_s": 3600}))
    messages = [json.loads(p) for _, p in batched.messages if b'"metersim/batch/v1"' in p]
    assert messages
    for message in messages:
        validator.validate(message)
    with pytest.raises(ValidationError):
        validator.validate({**messages[0], "readings": []})
