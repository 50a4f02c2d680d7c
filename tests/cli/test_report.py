"""`metersim report merge`: JSON out, the table on stderr, one-line refusals with their exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_user_error, file_scenario, metersim, write
from tests.scale.test_merge import B_HISTOGRAM, _report_dict


def _write_json(path: Path, data: object) -> str:
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture
def shards(tmp_path: Path) -> list[str]:
    a = _report_dict("1", lateness={"p50_ms": 10.0, "p99_ms": 10.0, "max_ms": 90.0}, lateness_histogram=B_HISTOGRAM)
    b = _report_dict("2", status="failed", meters=10, error_message="disk full")
    b["outputs"][1].update(accepted=17, acknowledged=7, errors=10, in_flight=0)
    return [_write_json(tmp_path / "a.json", a), _write_json(tmp_path / "b.json", b)]


def test_merge_prints_the_merged_json_and_the_table_on_stderr(shards):
    result = metersim("report", "merge", *shards)
    assert result.returncode == 0, result.stderr
    merged = json.loads(result.stdout)
    assert merged["status"] == "failed" and merged["error_message"] == "disk full"
    assert merged["meters"] == 30 and merged["readings_generated"] == 160 and merged["wall_s"] == 2.0
    assert merged["readings_per_s"] == 80.0  # 160 readings / 2 s
    assert [
        (o["output"], o["accepted"], o["acknowledged"], o["errors"], o["in_flight"]) for o in merged["outputs"]
    ] == [
        ("file out/x.shard-*-of-12.jsonl", 160, 160, 0, None),
        ("mqtt://127.0.0.1:1883 qos=1", 100, 88, 11, 1),
    ]
    # only one shard was paced: its histogram alone (49 emissions <= 10 ms, 1 at 90 ms) gives the quantiles
    assert merged["lateness"] == {"p50_ms": 10.0, "p99_ms": 90.0, "max_ms": 90.0}
    assert merged["messages_published"] == 260 and merged["errors"] == 11
    assert "metersim: feeder (failed)" in result.stderr
    assert "out/x.shard-*-of-12.jsonl" in result.stderr  # the table wraps "file" onto a line of its own
    assert "late p50 10.0 ms, p99 90.0 ms, max 90.0 ms" in " ".join(result.stderr.split())


def test_out_writes_the_file_and_quiet_prints_nothing(shards, tmp_path):
    target = tmp_path / "deep" / "merged.json"
    result = metersim("report", "merge", *shards, "-o", str(target), "-q")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    assert json.loads(target.read_text())["meters"] == 30


def test_the_reports_metersim_run_writes_merge(tmp_path):
    # the format round trip: two real runs' reports (the same scenario, so every counter doubles)
    scenario = write(tmp_path, file_scenario(tmp_path, duration="1h"))
    paths = []
    for name in ("one", "two"):
        path = tmp_path / f"{name}.json"
        result = metersim("run", str(scenario), "-q", "-r", str(path))
        assert result.returncode == 0, result.stderr
        paths.append(str(path))
    result = metersim("report", "merge", *paths, "-q")
    assert result.returncode == 0, result.stderr
    merged = json.loads(result.stdout)
    # 20 electricity meters x 4 quarter-hours + 10 gas meters x 1 hour, twice
    assert merged["readings_generated"] == 2 * 90 and merged["meters"] == 2 * 30
    assert merged["outputs"][0]["output"] == f"file {tmp_path / 'readings.jsonl'}"
    assert merged["outputs"][0]["acknowledged"] == 2 * 90


def test_a_missing_file_is_one_line_exit_2(shards, tmp_path):
    missing = tmp_path / "nope.json"
    result = metersim("report", "merge", shards[0], str(missing))
    assert_user_error(result, 2, f"metersim: error: cannot read report {missing}: No such file or directory")
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def test_a_file_that_is_not_json_is_one_line_exit_2(shards, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("scenario: yaml, not json\n")
    result = metersim("report", "merge", shards[0], str(bad))
    assert_user_error(result, 2, f"metersim: error: {bad}: not JSON (")
    assert len(result.stderr.strip().splitlines()) == 1


def test_json_that_is_not_a_report_is_one_line_exit_2(shards, tmp_path):
    other = _write_json(tmp_path / "other.json", {"scenario": "feeder", "meters": 3})
    result = metersim("report", "merge", shards[0], other)
    assert_user_error(result, 2, f"metersim: error: {other}: not a metersim run report: no status, start, end")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_report_of_another_window_is_refused_exit_2(shards, tmp_path):
    later = _write_json(tmp_path / "later.json", _report_dict("3", start="2026-01-05T00:00:00+00:00"))
    result = metersim("report", "merge", *shards, later)
    assert_user_error(result, 2, f"{later}: start '2026-01-05T00:00:00+00:00' is not '2026-01-01T00:00:00+00:00'")
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def test_an_out_that_cannot_be_written_is_exit_5(shards, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = metersim("report", "merge", *shards, "-o", str(blocker / "merged.json"))
    assert_user_error(result, 5, f"metersim: error: cannot write report {blocker / 'merged.json'}: ")


def test_report_without_a_verb_or_reports_is_a_usage_error():
    assert metersim("report").returncode == 2
    assert metersim("report", "merge").returncode == 2
