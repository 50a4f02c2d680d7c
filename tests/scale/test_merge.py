"""Merging shards' reports: counters add, lateness quantiles from the merged histograms, the worst status."""

from __future__ import annotations

import pytest
from rich.console import Console

from metersim.errors import ConfigError
from metersim.report import OutputReport, RunReport
from metersim.scale.merge import common_description, merge_reports


def rendered(report: RunReport) -> str:
    console = Console(record=True, width=200, color_system=None)
    console.print(report.table())
    return console.export_text()


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
