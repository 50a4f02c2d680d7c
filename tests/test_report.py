"""The run report: counts of a known run, JSON round trip, the summary table, writing it out."""

from __future__ import annotations

import dataclasses
import json

import pytest
from rich.console import Console

from metersim.errors import ConfigError, OutputNotWritableError
from metersim.outputs import Output, Outputs
from metersim.report import OutputReport, RunReport, common_description, in_flight_of, merge_reports
from metersim.simulation import Simulation
from metersim.sinks.base import SinkBase
from metersim.sinks.memory import MemorySink
from tests.conftest import make_scenario

# 20 electricity meters x 4 quarter-hours + 10 gas meters x 1 hour
READINGS_IN_AN_HOUR = 20 * 4 + 10


@pytest.fixture(scope="module")
def run():
    sink = MemorySink()
    report = Simulation(make_scenario(duration="1h"), name="quick", sinks=[sink]).run()
    return report, sink


def rendered(report: RunReport) -> str:
    console = Console(record=True, width=200, color_system=None)
    console.print(report.table())
    return console.export_text()


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


# --- merging the reports of shards ----------------------------------------------------------------------

#: bucket k's upper edge is 1e-5 s * 10 ** (k / 20): bucket 40 ends at 1 ms, 60 at 10 ms, 80 at 100 ms
A_HISTOGRAM = {"per_decade": 20, "low_s": 1e-5, "buckets": {"40": 50}, "total": 50, "sum_s": 0.045, "max_s": 0.00099}
B_HISTOGRAM = {
    "per_decade": 20, "low_s": 1e-5, "buckets": {"60": 49, "80": 1}, "total": 50, "sum_s": 0.5, "max_s": 0.09,
}  # fmt: skip


def _report_dict(shard: str, **changes) -> dict:
    data = {
        "scenario": "feeder",
        "status": "completed",
        "meters": 20,
        "start": "2026-01-01T00:00:00+00:00",
        "end": "2026-01-02T00:00:00+00:00",
        "readings_generated": 80,
        "readings_by_kind": {"electricity": 80},
        "readings_published": 80,
        "readings_encoded": {"json": 80},
        "events_published": 3,
        "labels": 2,
        "wall_s": 2.0,
        "simulated_s": 86_400,
        "outputs": [
            {
                "output": f"file out/x.shard-{shard}-of-12.jsonl",
                "accepted": 80,
                "acknowledged": 80,
                "errors": 0,
                "in_flight": None,
                "index": 0,
            },
            {
                "output": "mqtt://127.0.0.1:1883 qos=1",
                "accepted": 83,
                "acknowledged": 81,
                "errors": 1,
                "in_flight": 1,
                "index": 1,
            },
        ],
        "messages_published": 163,
        "messages_acknowledged": 161,
        "errors": 1,
        "readings_per_s": 40.0,
    }
    data.update(changes)
    return data


def _shard_a() -> RunReport:
    return RunReport.from_dict(
        _report_dict("1", lateness={"p50_ms": 0.99, "p99_ms": 0.99, "max_ms": 0.99}, lateness_histogram=A_HISTOGRAM)
    )


def _shard_b(**changes) -> RunReport:
    data = _report_dict(
        "11",
        status="interrupted",
        meters=10,
        readings_generated=10,
        readings_by_kind={"gas": 10},
        readings_published=10,
        readings_encoded={"json": 10},
        events_published=0,
        labels=0,
        wall_s=4.0,
        lateness={"p50_ms": 10.0, "p99_ms": 10.0, "max_ms": 90.0},
        lateness_histogram=B_HISTOGRAM,
        commands={"received": 4, "answered": {"ok": 3, "refused": 1}, "refused": 1, "dropped": 0},
    )
    data["outputs"][0].update(accepted=10, acknowledged=10)
    data["outputs"][1].update(accepted=10, acknowledged=10, errors=0, in_flight=0)
    data.update(changes)
    return RunReport.from_dict(data)


def test_counters_add_and_the_wall_time_is_the_longest():
    merged = merge_reports([_shard_a(), _shard_b()])
    assert merged.scenario == "feeder" and merged.start == "2026-01-01T00:00:00+00:00"
    assert merged.meters == 30
    assert merged.readings_generated == 90 and merged.readings_published == 90
    assert merged.readings_by_kind == {"electricity": 80, "gas": 10}
    assert merged.readings_encoded == {"json": 90}
    assert (merged.events_published, merged.labels) == (3, 2)
    assert merged.wall_s == 4.0 and merged.simulated_s == 86_400
    assert merged.readings_per_s == 22.5  # 90 readings / 4 s
    assert merged.commands == {"received": 4, "answered": {"ok": 3, "refused": 1}, "refused": 1, "dropped": 0}


def test_outputs_merge_by_position_and_their_differing_names_show_a_star():
    merged = merge_reports([_shard_a(), _shard_b()])
    assert merged.outputs == [
        OutputReport("file out/x.shard-*-of-12.jsonl", 90, 90, 0, None, index=0),  # shards 1 and 11: no "1*"
        OutputReport("mqtt://127.0.0.1:1883 qos=1", 93, 91, 1, 1, index=1),
    ]
    assert (merged.messages_published, merged.messages_acknowledged, merged.errors) == (183, 181, 1)


def test_lateness_percentiles_are_recomputed_from_the_merged_histogram_not_averaged():
    # 100 emissions: 50 in bucket 40 (<= 1 ms), 49 in bucket 60 (<= 10 ms), 1 in bucket 80 (max 90 ms).
    # p50: rank 50 is reached in bucket 40 -> 1 ms; p99: rank 99 in bucket 60 -> 10 ms; max 90 ms.
    # (Averaging the shards' p99s, 0.99 ms and 10 ms, would say 5.5 ms.)
    merged = merge_reports([_shard_a(), _shard_b()])
    assert merged.lateness == {"p50_ms": 1.0, "p99_ms": 10.0, "max_ms": 90.0}
    assert merged.lateness_histogram == {
        "per_decade": 20, "low_s": 1e-5, "buckets": {"40": 50, "60": 49, "80": 1}, "total": 100, "sum_s": 0.545,
        "max_s": 0.09,
    }  # fmt: skip
    assert "late p50 1.0 ms, p99 10.0 ms, max 90.0 ms" in " ".join(rendered(merged).split())


@pytest.mark.parametrize(
    ("statuses", "worst"),
    [
        (["completed", "completed"], "completed"),
        (["completed", "interrupted"], "interrupted"),
        (["interrupted", "failed", "completed"], "failed"),
        (["pending", "completed"], "completed"),
    ],
)
def test_the_status_is_the_worst(statuses, worst):
    reports = [RunReport.from_dict(_report_dict(str(i), status=s)) for i, s in enumerate(statuses)]
    assert merge_reports(reports).status == worst


def test_error_messages_are_kept_once_each():
    lost = "MQTT broker at 127.0.0.1:1883 unreachable for 60 s"
    reports = [RunReport.from_dict(_report_dict(str(i), status="failed", error_message=lost)) for i in range(2)]
    reports.append(RunReport.from_dict(_report_dict("2", status="failed", error_message="disk full")))
    assert merge_reports(reports).error_message == f"{lost}; disk full"


def test_reports_without_lateness_merge_to_none():
    merged = merge_reports([RunReport.from_dict(_report_dict("1")), RunReport.from_dict(_report_dict("2"))])
    assert merged.lateness is None and merged.lateness_histogram is None and merged.commands is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"start": "2026-01-02T00:00:00+00:00"}, "b.json: start '2026-01-02T00:00:00+00:00' is not "),
        ({"end": "2026-01-03T00:00:00+00:00"}, "b.json: end "),
        ({"scenario": "other"}, "b.json: scenario 'other' is not 'feeder' of a.json"),
        ({"outputs": []}, "b.json: outputs [] are not those of a.json ([0, 1])"),
        ({"lateness_histogram": None}, "b.json: has lateness quantiles but no lateness_histogram"),
        ({"lateness_histogram": {**B_HISTOGRAM, "per_decade": 10}}, "b.json: lateness histogram of another"),
    ],
)
def test_reports_of_other_scenarios_or_windows_are_refused_in_one_line(changes, reason):
    with pytest.raises(ConfigError) as error:
        merge_reports([_shard_a(), _shard_b(**changes)], ["a.json", "b.json"])
    assert reason in str(error.value) and "\n" not in str(error.value)
    assert error.value.exit_code == 2


@pytest.mark.parametrize(
    ("descriptions", "merged"),
    [
        (["discard", "discard"], "discard"),
        (["file out/x.shard-1-of-3.jsonl", "file out/x.shard-2-of-3.jsonl"], "file out/x.shard-*-of-3.jsonl"),
        (["mqtt://h:1883 qos=1 per-meter (12 conn.)", "mqtt://h:1883 qos=1 per-meter (9 conn.)"],
         "mqtt://h:1883 qos=1 per-meter (* conn.)"),
        (["file a.jsonl", "file b.jsonl"], "file *.jsonl"),
        (["file x", "file x2"], "file x*"),
    ],
)  # fmt: skip
def test_a_merged_description_keeps_what_is_common(descriptions, merged):
    assert common_description(descriptions) == merged


def test_one_report_merges_to_itself():
    a = _shard_a()
    assert merge_reports([a]) == a
