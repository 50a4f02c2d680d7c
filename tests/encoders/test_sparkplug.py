"""Sparkplug B: every payload decodes with protobuf against the Eclipse Tahu schema (sparkplug_b.proto,
compiled here with grpc_tools), and what it says is checked against the batches and the spec's rules."""

from __future__ import annotations

import importlib.util
import sys
from collections import defaultdict
from itertools import pairwise
from typing import Any

import numpy as np
import pytest

from metersim.encoders.sparkplug import SparkplugEncoder, SparkplugNode
from metersim.engine import Observer
from metersim.records import Observation, ReadingBatch
from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink
from tests.conftest import ROOT, make_scenario, scenario_dict

grpc_tools = pytest.importorskip("grpc_tools")
from grpc_tools import protoc  # noqa: E402

PROTO = ROOT / "tests" / "encoders" / "sparkplug_b.proto"
# the DataType enum of the schema, restated from the spec (Sparkplug 3.0, 6.4.16)
INT64, UINT64, DOUBLE, BOOLEAN, STRING = 4, 8, 10, 11, 12
LATE = "late"
VALUE_FIELD = {UINT64: "long_value", DOUBLE: "double_value", STRING: "string_value"}
DCU_METERS = 5  # meters per concentrator in the scenario


@pytest.fixture(scope="module")
def spb(tmp_path_factory):
    """The generated ``sparkplug_b_pb2`` module."""
    out = tmp_path_factory.mktemp("spb")
    assert protoc.main(["protoc", f"-I{PROTO.parent}", f"--python_out={out}", str(PROTO)]) == 0
    spec = importlib.util.spec_from_file_location("sparkplug_b_pb2", out / "sparkplug_b_pb2.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sparkplug_b_pb2"] = module
    spec.loader.exec_module(module)
    return module


class Published(Observer):
    """Collects the published rows of every interval's batches, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[ReadingBatch] = []

    def observe(self, observation: Observation) -> None:
        for batch in observation.published.batches():
            self.batches.append(batch.take(np.flatnonzero(batch.published)))


def _scenario():
    data = scenario_dict(duration="1d", start="2026-01-10T00:00:00+05:00")
    data["tariffs"] = {
        "tou": {
            "bands": [{"name": "peak", "windows": [{"start": "17:00", "end": "22:00"}]}, {"name": "offpeak"}],
            "prices": {"peak": 40, "offpeak": 25},
        }
    }
    lahore, tashkent = data["fleet"]
    lahore.update(
        tariff="tou",
        instantaneous={"phases": 3},
        concentrator={"meters": DCU_METERS},
        comms={
            "reconnect_jitter_s": 60,
            "outages": [{"path": "lahore-DCU0002", "start": "2026-01-10T06:00:00+05:00", "hours": 3}],
        },
    )
    tashkent["converter_fraction"] = 0.5
    return make_scenario(data)


def edge_of(meters):
    """The scenario's concentrators, worked out here: lahore in blocks of 5, tashkent without (the group)."""
    if meters.group == "lahore":
        return [f"lahore-DCU{p // DCU_METERS + 1:04d}" for p in range(meters.count)]
    return [meters.group] * meters.count


@pytest.fixture(scope="module")
def run(spb):
    published = Published()
    Simulation(_scenario(), sinks=[MemorySink()], observers=[published]).run()
    encoder = SparkplugEncoder(edge_of=edge_of)
    streams = [(batch, encoder.messages(batch)) for batch in published.batches]
    assert [m.payload for m in encoder.messages(published.batches[-1])] == encoder.encode(published.batches[-1])
    decoded = [(batch, [(t, spb.Payload.FromString(p)) for t, p in msgs]) for batch, msgs in streams]
    return encoder, decoded


def _verb(topic: str) -> str:
    return topic.split("/")[2]


def _expected(batch: ReadingBatch, j: int) -> dict[str, Any]:
    """The metrics row ``j`` should carry, from the batch's numbers (units: thousandths / 1000)."""
    regs, meters = batch.registers, batch.meters
    gas = meters.commodity == "gas"
    out: dict[str, Any] = {("7-0:3.0.0" if gas else "1-0:1.8.0"): regs.total[j] / 1000}
    if regs.bands is not None:
        out |= {f"1-0:1.8.{k + 1}": regs.bands[k, j] / 1000 for k in range(regs.bands.shape[0])}
    if regs.converted is not None and regs.converted_mask[j]:
        out["7-0:3.2.0"] = regs.converted[j] / 1000
    if regs.failures is not None:
        out |= {"0-0:96.7.21": int(regs.failures[j]), "0-0:96.7.9": int(regs.long_failures[j])}
    out["interval"] = batch.import_milli[j] / 1000
    if not gas:
        out["power"] = round(batch.import_milli[j] * 3.6 / batch.interval_s, 3)
    if batch.instantaneous is not None:
        inst = batch.instantaneous
        codes = [("1-0:32.7.0", "1-0:31.7.0"), ("1-0:52.7.0", "1-0:51.7.0"), ("1-0:72.7.0", "1-0:71.7.0")]
        for k in range(inst.volts.shape[1]):
            out[codes[k][0]], out[codes[k][1]] = float(inst.volts[j, k]), float(inst.amps[j, k])
        out["1-0:13.7.0"], out["1-0:14.7.0"] = float(inst.power_factor[j]), float(inst.frequency_hz[j])
    if batch.battery_pct is not None:
        out["battery_pct"] = float(batch.battery_pct[j])
    if meters.band_names is not None:
        out["band"] = meters.band_names[batch.band[j]]
    out["seq"] = int(batch.seq[j])
    out["quality"] = ("valid", "late", "estimated", "suspect")[batch.quality[j]]
    return out


def _value(metric) -> Any:
    return getattr(metric, metric.WhichOneof("value"))


def test_ddata_carries_every_reading_by_alias_with_its_values_times_and_history_flag(run):
    _, decoded = run
    births: dict[tuple[str, str], dict[int, tuple[str, int]]] = defaultdict(dict)  # node -> alias -> (name, type)
    readings = late = 0
    for batch, msgs in decoded:
        ids = batch.meters.ids
        data = [(t, p) for t, p in msgs if _verb(t) == "DDATA"]
        assert len(data) == len(batch)  # exactly one DDATA per reading, in row order
        for topic, payload in msgs:
            _, group, verb, edge, *device = topic.split("/")
            if verb == "DBIRTH":
                for m in payload.metrics:
                    births[group, edge][m.alias] = (m.name, m.datatype)
        for j, (topic, payload) in enumerate(data):
            _, group, _, edge, device = topic.split("/")
            assert device == ids[batch.meters_at[j]]
            assert payload.timestamp == batch.sent_s[j] * 1000
            is_late = batch.quality[j] == 1
            got = {}
            for m in payload.metrics:
                assert not m.HasField("name") and not m.HasField("datatype")  # aliases only (spec 6.4.7)
                assert m.timestamp == batch.end_s[j] * 1000
                assert m.is_historical == is_late
                name, datatype = births[group, edge][m.alias]
                assert m.WhichOneof("value") == VALUE_FIELD[datatype]  # the field the schema gives the type
                got[name] = _value(m)
            assert got == _expected(batch, j)
            readings, late = readings + 1, late + is_late
    assert readings > 2000 and 0 < late < readings  # the DCU0002 backlog is historical, the rest is not


def test_seq_counts_every_message_of_an_edge_node_from_nbirth_zero_and_wraps_after_255(run):
    _, decoded = run
    seqs: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for _, msgs in decoded:
        for topic, payload in msgs:
            seqs[topic.split("/")[3]].append((_verb(topic), payload.seq))
    assert set(seqs) == {f"lahore-DCU{k:04d}" for k in range(1, 5)} | {"tashkent"}
    for edge, seen in seqs.items():
        assert seen[0] == ("NBIRTH", 0)
        assert all(s == (prev + 1) % 256 for (_, prev), (_, s) in pairwise(seen)), edge
        if edge.startswith("lahore"):  # 5 meters x 96 readings: more than 256 messages, so it wrapped
            assert len(seen) > 256 and [s for _, s in seen].count(0) >= 2


def test_dbirth_declares_each_meter_before_its_first_ddata_with_unique_aliases_and_datatypes(run):
    _, decoded = run
    born: set[str] = set()
    aliases: dict[str, set[int]] = defaultdict(set)
    for _, msgs in decoded:
        for topic, payload in msgs:
            verb, edge, device = _verb(topic), topic.split("/")[3], topic.split("/")[-1]
            if verb == "DBIRTH":
                assert device not in born
                born.add(device)
                names = {m.name: m for m in payload.metrics}
                assert all(m.HasField("alias") and m.HasField("datatype") for m in payload.metrics)
                new = {m.alias for m in payload.metrics}
                assert len(new) == len(payload.metrics) and not new & aliases[edge]  # unique per edge node
                assert not new & {0, 1}  # the NBIRTH's bdSeq and Rebirth
                aliases[edge] |= new
                assert names["seq"].datatype == UINT64 and names["quality"].datatype == STRING
                energy = names.get("1-0:1.8.0") or names["7-0:3.0.0"]
                assert energy.datatype == DOUBLE and names["interval"].datatype == DOUBLE
                unit = dict(zip(energy.properties.keys, (v.string_value for v in energy.properties.values)))
                assert unit == {"engUnit": "kWh" if "1-0:1.8.0" in names else "m3"}
            elif verb == "DDATA":
                assert device in born
    assert len(born) == 30


def test_nbirth_and_ndeath_will_share_bdseq_and_a_new_session_increments_it(run, spb):
    encoder, decoded = run
    nbirths = [p for _, msgs in decoded for t, p in msgs if _verb(t) == "NBIRTH"]
    assert len(nbirths) == 5
    for payload in nbirths:
        metrics = {m.name: m for m in payload.metrics}
        assert metrics["bdSeq"].datatype == INT64 and metrics["bdSeq"].long_value == 0
        rebirth = metrics["Node Control/Rebirth"]
        assert rebirth.datatype == BOOLEAN and rebirth.boolean_value is False
    encoder.reconnect()
    wills = {t: spb.Payload.FromString(p) for t, p in encoder.wills()}
    births = {t: spb.Payload.FromString(p) for t, p in encoder.births(1_800_000_000)}
    assert len(wills) == len(births) == 5
    for topic, will in wills.items():
        assert topic.startswith("spBv1.0/") and _verb(topic) == "NDEATH"
        assert not will.HasField("seq") and [m.name for m in will.metrics] == ["bdSeq"]
        birth = births[topic.replace("/NDEATH/", "/NBIRTH/")]
        assert birth.seq == 0 and birth.timestamp == 1_800_000_000_000
        assert will.metrics[0].long_value == birth.metrics[0].long_value == 1


def test_bdseq_wraps_after_255(spb):
    node = SparkplugNode("G", "E")
    seen = []
    for _ in range(257):
        seen.append(spb.Payload.FromString(node.ndeath().payload).metrics[0].long_value)
        node.reconnect()
    assert seen[:3] == [0, 1, 2] and seen[255:] == [255, 0]


def test_ddeath_on_an_outage_and_dbirth_again_at_the_next_reading(run, spb):
    encoder, decoded = run
    batch = next(b for b, _ in decoded if b.meters.group == "lahore")
    encoder.reconnect()
    encoder.births(0)
    first = [(t, spb.Payload.FromString(p)) for t, p in encoder.messages(batch.take(np.arange(len(batch))))]
    assert {_verb(t) for t, _ in first} == {"DBIRTH", "DDATA"}  # reborn in the new session
    positions = [int(batch.meters_at[0]), int(batch.meters_at[1])]
    deaths = [(t, spb.Payload.FromString(p)) for t, p in encoder.deaths(batch.meters, positions, 1_800_000_000)]
    ids = batch.meters.ids
    assert [t for t, _ in deaths] == [f"spBv1.0/lahore/DDEATH/lahore-DCU0001/{ids[p]}" for p in positions]
    last_seq = max(p.seq for t, p in first if "/lahore-DCU0001/" in t)
    assert [p.seq for _, p in deaths] == [(last_seq + 1) % 256, (last_seq + 2) % 256]
    assert all(p.timestamp == 1_800_000_000_000 and not p.metrics for _, p in deaths)
    assert encoder.deaths(batch.meters, positions, 1_800_000_000) == []  # already dead: nothing more
    again = [(t, p) for t, p in encoder.messages(batch.take(np.arange(2)))]
    assert [_verb(t) for t, _ in again] == ["DBIRTH", "DDATA", "DBIRTH", "DDATA"]
