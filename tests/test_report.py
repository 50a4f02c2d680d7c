"""The run report: counts of a known run, JSON round trip, the summary table, writing it out."""

from __future__ import annotations

import dataclasses
import json

import pytest

from metersim.errors import OutputNotWritableError
from metersim.outputs import Output, Outputs
from metersim.report import OutputReport, RunReport, in_flight_of
from metersim.simulation import Simulation
from metersim.sinks.base import SinkBase
from metersim.sinks.memory import MemorySink
from tests.conftest import make_scenario
from tests.scale.test_merge import _report_dict, rendered

# 20 electricity meters x 4 quarter-hours + 10 gas meters x 1 hour
READINGS_IN_AN_HOUR = 20 * 4 + 10


@pytest.fixture(scope="module")
def run():
    sink = MemorySink()
    report = Simulation(make_scenario(duration="1h"), name="quick", sinks=[sink]).run()
    return report, sink


def test_the_report_counts_what_the_run_did(run):
    report, sink = run
    assert report.status == "completed" and report.scenario == "quick"
    assert report.meters == 30
    assert report.start == "2025-12-31T19:00:00+00:00" and report.end == "2025-12-31T20:00:00+00:00"
    assert report.simulated_s == 3600
    assert report.readings_generated == report.readings_published == READINGS_IN_AN_HOUR
    assert report.readings_by_kind == {"electricity": 20 * 4, "gas": 10}
    # message counts are summed over every output: discard and the MemorySink each took every reading
    assert report.messages_published == report.messages_acknowledged == 2 * len(sink.messages)
    assert report.readings_encoded == {"json": READINGS_IN_AN_HOUR}
    assert report.errors == 0 and report.labels == 0 and report.error_message is None
    assert report.lateness is None  # as fast as possible: nothing is scheduled, so nothing is late
    # the scenario's own output (discard) and the MemorySink
    assert [o.output for o in report.outputs] == ["discard", "memory"]
    assert all(o.accepted == READINGS_IN_AN_HOUR for o in report.outputs)
    assert all(o.in_flight is None for o in report.outputs)  # only MQTT outputs have messages in flight


def test_to_json_round_trips(run):
    report, _ = run
    data = json.loads(report.to_json())
    assert data == dataclasses.asdict(report)
    rebuilt = RunReport(**{**data, "outputs": [OutputReport(**o) for o in data["outputs"]]})
    assert rebuilt == report


def test_the_table_shows_each_output_and_the_caption_the_totals(run):
    report, _ = run
    text = rendered(report)
    assert "metersim: quick (completed)" in text
    caption = " ".join(text.split())  # the caption wraps
    assert f"{READINGS_IN_AN_HOUR} readings (electricity 80, gas 10) from 30 meters, 1h simulated in" in caption
    for name in ("discard", "memory"):
        row = next(line for line in text.splitlines() if name in line)
        cells = [cell for cell in row.split() if cell != "│"]
        assert cells == [name, str(READINGS_IN_AN_HOUR), str(READINGS_IN_AN_HOUR), "0", "-"]
    assert "late p50" not in text


def test_large_counts_are_grouped_by_thousands():
    report = RunReport(scenario="big", status="completed", meters=1_234_567, start="", end="")
    report.readings_generated = 98_765_432
    report.outputs = [OutputReport("mqtt broker:1883", 98_765_432, 98_765_000, 400, 32)]
    text = rendered(report)
    assert "98,765,432 readings from 1,234,567 meters" in " ".join(text.split())
    assert "98,765,000" in text and "400" in text


class _Counting(SinkBase):
    def __init__(self, name: str, accepted: int, acknowledged: int) -> None:
        super().__init__()
        self.name = name
        self.stats.accepted, self.stats.acknowledged = accepted, acknowledged


def test_in_flight_is_what_an_mqtt_broker_has_not_acknowledged_and_nothing_else():
    mqtt, file = _Counting("mqtt", 1000, 990), _Counting("file", 1000, 0)  # the file's lines sit in a buffer
    assert (in_flight_of(mqtt), in_flight_of(file)) == (10, None)
    report = RunReport(scenario="s", status="failed", meters=1, start="", end="")
    report.collect(None, Outputs([Output(mqtt), Output(file)]), 1.0, 0)
    assert [(o.output, o.in_flight) for o in report.outputs] == [("mqtt", 10), ("file", None)]
    assert json.loads(report.to_json())["outputs"][1]["in_flight"] is None
    rows = [line.split() for line in rendered(report).splitlines() if line.startswith("│")]
    assert [[c for c in row if c != "│"][-1] for row in rows] == ["10", "-"]


def test_a_paced_run_reports_its_lateness_in_the_caption():
    report = Simulation(make_scenario(duration="1h", speed=36_000), sinks=[MemorySink()]).run()
    assert report.lateness is not None
    assert set(report.lateness) == {"p50_ms", "p99_ms", "max_ms"}
    assert 0 <= report.lateness["p50_ms"] <= report.lateness["p99_ms"] <= report.lateness["max_ms"]
    late = report.lateness
    caption = f"late p50 {late['p50_ms']:.1f} ms, p99 {late['p99_ms']:.1f} ms, max {late['max_ms']:.1f} ms"
    assert caption in " ".join(rendered(report).split())
    assert report.table().caption.endswith(caption)


def test_write_creates_the_folders_and_writes_the_json(run, tmp_path):
    report, _ = run
    target = tmp_path / "deep" / "er" / "report.json"
    report.write(target)
    assert target.read_text(encoding="utf-8") == report.to_json() + "\n"


def test_writing_where_no_file_can_be_raises_a_one_line_error(run, tmp_path):
    report, _ = run
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = blocker / "report.json"  # a path below a regular file (fails even as root)
    with pytest.raises(OutputNotWritableError) as error:
        report.write(target)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"cannot write report {target}: ")


# --- the histogram behind the lateness, output indices, reading a report back -------------------------


def test_a_paced_report_carries_the_histogram_its_quantiles_come_from():
    report = Simulation(make_scenario(duration="1h", speed=36_000), sinks=[MemorySink()]).run()
    histogram = report.lateness_histogram
    assert histogram is not None
    assert histogram["total"] == sum(histogram["buckets"].values()) > 0
    assert report.lateness["max_ms"] == round(histogram["max_s"] * 1000, 2)
    assert 0 <= histogram["sum_s"] <= histogram["total"] * histogram["max_s"]


def test_outputs_carry_their_position_in_the_run(run):
    report, _ = run
    assert [(o.index, o.output) for o in report.outputs] == [(0, "discard"), (1, "memory")]
    assert run[0].lateness_histogram is None


def test_from_dict_reads_back_what_to_json_wrote(run):
    report, _ = run
    assert RunReport.from_dict(json.loads(report.to_json())) == report


def test_from_dict_ignores_keys_it_does_not_know_and_reads_reports_without_indices():
    data = _report_dict("a")
    data["shard"] = "1/3"  # a later metersim may add keys
    for o in data["outputs"]:
        del o["index"]
    report = RunReport.from_dict(data)
    assert [o.index for o in report.outputs] == [None, None]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.pop("start"), "no start"),
        (lambda d: d.update(status="exploded"), "status 'exploded' is not one of"),
        (lambda d: d.update(meters="20"), "meters: '20' is not an integer"),
        (lambda d: d.update(readings_generated=True), "readings_generated: True is not an integer"),
        (lambda d: d.update(readings_by_kind={"gas": 1.5}), "readings_by_kind: not an object of counts"),
        (lambda d: d.update(outputs={"a": 1}), "outputs: not a list of objects"),
        (lambda d: d["outputs"][0].pop("accepted"), "outputs:"),
        (lambda d: d["outputs"][0].update(colour="red"), "outputs:"),
        (lambda d: d["outputs"][1].update(in_flight="many"), "outputs[1].in_flight"),
        (lambda d: d.update(commands=[1]), "commands: [1] is not an object"),
    ],
)
def test_from_dict_refuses_what_is_not_a_report(change, reason):
    data = _report_dict("a")
    change(data)
    with pytest.raises(ValueError) as error:
        RunReport.from_dict(data)
    assert reason in str(error.value) and "\n" not in str(error.value)
