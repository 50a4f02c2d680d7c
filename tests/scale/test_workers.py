"""``--workers N``: shard processes under one command, their union the single run, stopped and failed as one."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from metersim.scale.shards import Shard
from metersim.scale.workers import worker_shards
from metersim.streams import CHUNK
from tests.cli.test_cli import free_port, metersim, write
from tests.conftest import ROOT, scenario_dict

WAIT_S = 60.0


def _fleet(tmp_path: Path, **simulation) -> dict:
    """Two groups of more than one chunk (one with a grid and PV), a JSON Lines file and the ledger."""
    data = scenario_dict(**({"duration": "2h"} | simulation))
    data["fleet"][0] |= {
        "count": CHUNK + 1500,
        "region": "lahore",
        "pv": {"fraction": 0.2},
        "grid": {"substations": 1, "feeders_per_substation": 3, "transformers_per_feeder": 4},
    }
    data["fleet"][1]["count"] = CHUNK + 300
    data["outputs"] = [{"type": "file", "path": str(tmp_path / "readings.jsonl")}]
    data["truth"] = {"path": str(tmp_path / "ledger.csv")}
    return data


def _lines(paths: list[Path]) -> Counter[str]:
    seen: Counter[str] = Counter()
    for path in paths:
        lines = path.read_text().splitlines()
        seen.update(lines[1:] if path.suffix == ".csv" else lines)
    return seen


def _popen(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "metersim", "run", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _wait_for_children(proc: subprocess.Popen[str], count: int, path: Path) -> list[int]:
    """The worker pids, once every worker is running and the first readings are written."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and proc.poll() is None:
        children = _children(proc.pid)
        written = [p for p in path.parent.glob(path.name) if p.stat().st_size]
        if len(children) == count and len(written) == count:
            return children
        time.sleep(0.1)
    raise AssertionError(f"{count} workers did not start writing: {proc.communicate(timeout=5)[1]}")


def test_worker_shards_nest_inside_an_outer_shard():
    assert worker_shards(2, None) == [Shard(0, 2), Shard(1, 2)]
    assert worker_shards(3, Shard(1, 2)) == [Shard(3, 6), Shard(4, 6), Shard(5, 6)]


@pytest.mark.slow
def test_two_workers_write_exactly_the_single_run_and_one_merged_report(tmp_path):
    scenario = write(tmp_path, _fleet(tmp_path))
    single = metersim("run", str(scenario), "-q", "-r", str(tmp_path / "single.json"))
    assert single.returncode == 0, single.stderr
    for name in ("readings.jsonl", "ledger.csv", "labels.csv"):
        (tmp_path / name).rename(tmp_path / f"single-{name}")
    run = metersim("run", str(scenario), "--workers", "2", "-r", str(tmp_path / "report.json"))
    assert run.returncode == 0, run.stderr
    assert "in 2 workers" in run.stderr and "Traceback" not in run.stderr
    for name in ("readings.jsonl", "ledger.csv", "labels.csv"):
        stem, suffix = name.split(".")
        shards = [tmp_path / f"{stem}.shard-{k}-of-2.{suffix}" for k in range(2)]
        assert all(p.stat().st_size for p in shards[:1]), name
        assert _lines(shards) == _lines([tmp_path / f"single-{name}"]), name
    merged, alone = (
        json.loads((tmp_path / "report.json").read_text()),
        json.loads((tmp_path / "single.json").read_text()),
    )
    assert merged["status"] == "completed" and merged["meters"] == alone["meters"]
    for key in ("readings_generated", "readings_by_kind", "readings_published", "messages_published", "labels"):
        assert merged[key] == alone[key], key


def _paced(tmp_path: Path) -> Path:
    data = _fleet(tmp_path, duration="1d", speed=600)  # 144 s of wall time: stopped long before its end
    data["fleet"][0]["count"] = data["fleet"][1]["count"] = CHUNK + 100
    return write(tmp_path, data)


@pytest.mark.slow
def test_sigterm_stops_every_worker_flushes_and_reports_the_run_interrupted(tmp_path):
    proc = _popen(str(_paced(tmp_path)), "--workers", "2", "-q", "-r", str(tmp_path / "report.json"))
    workers = _wait_for_children(proc, 2, tmp_path / "readings.shard-*-of-2.jsonl")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "interrupted"
    files = sorted(tmp_path.glob("readings.shard-*-of-2.jsonl"))
    lines = [line for f in files for line in f.read_text().splitlines()]
    assert all(json.loads(line)["schema"] == "metersim/reading/v1" for line in lines)  # every line whole
    assert len(lines) == report["readings_published"] == report["messages_acknowledged"] > 0


@pytest.mark.slow
def test_a_worker_that_dies_fails_the_run_with_its_reason_and_stops_the_others(tmp_path):
    proc = _popen(str(_paced(tmp_path)), "--workers", "2", "-q", "-r", str(tmp_path / "report.json"))
    first, second = _wait_for_children(proc, 2, tmp_path / "readings.shard-*-of-2.jsonl")
    os.kill(second, signal.SIGKILL)
    _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 9, err
    assert re.search(r"metersim: error: worker 1 \(shard 1/2\) died \(killed by SIGKILL\)", err), err
    assert "Traceback" not in err
    assert not Path(f"/proc/{first}").exists()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "failed" and "died" in report["error_message"]


@pytest.mark.slow
def test_the_metrics_of_two_workers_are_summed(tmp_path):
    port = free_port()
    report_path = tmp_path / "report.json"
    proc = _popen(str(_paced(tmp_path)), "--workers", "2", "-q", "--metrics-port", str(port), "-r", str(report_path))
    try:
        _wait_for_children(proc, 2, tmp_path / "readings.shard-*-of-2.jsonl")
        written = [len(p.read_text().splitlines()) for p in sorted(tmp_path.glob("readings.shard-*-of-2.jsonl"))]
        time.sleep(1.0)  # every worker has sent newer counters since (every 0.25 s)
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    accepted = samples[("metersim_messages_accepted_total", (("output", "0"), ("type", "file")))]
    generated = samples[("metersim_readings_generated_total", (("kind", "electricity"),))]
    report = json.loads(report_path.read_text())
    assert min(written) > 0
    assert sum(written) <= accepted <= report["messages_published"]  # the sum of both, not one worker's
    assert 0 < generated <= report["readings_by_kind"]["electricity"]


def test_a_bad_worker_count_is_a_config_error(tmp_path):
    result = metersim("run", str(write(tmp_path, _fleet(tmp_path))), "--workers", "0")
    assert result.returncode == 2 and "--workers 0" in result.stderr and "Traceback" not in result.stderr
