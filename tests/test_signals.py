"""SIGTERM and SIGHUP stop a run like Ctrl-C: promptly, flushed, reported; also as PID 1 of a PID namespace."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, scenario_dict


def _scenario(tmp: Path) -> Path:
    data = scenario_dict(duration="1d", speed=3600)  # a day at an hour per second: far longer than the test
    data["outputs"] = [{"type": "file", "path": str(tmp / "readings.jsonl")}]
    data["truth"] = {"path": str(tmp / "truth.csv")}
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # (the run's early check of its output paths creates and removes a probe file there)
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size > 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def _check_stopped(process: subprocess.Popen[str], tmp: Path, signum: int, sent_at: float) -> None:
    _, stderr = process.communicate(timeout=10)
    assert time.monotonic() - sent_at < 5, "did not stop within 5 s"
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr  # the summary table's title
    report = json.loads((tmp / "report.json").read_text())
    assert report["status"] == "interrupted"
    raw = (tmp / "readings.jsonl").read_bytes()
    assert raw.endswith(b"\n")  # complete lines only
    lines = raw.splitlines()
    (file_output,) = report["outputs"]
    assert len(lines) == file_output["acknowledged"] == file_output["accepted"] > 0
    for line in lines:
        json.loads(line)
    published = [r for r in (tmp / "truth.csv").read_text().splitlines()[1:] if r.endswith(",true")]
    assert len(published) == len(lines)  # the ledger marks as published exactly what was written


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_a_run_promptly_and_flushes(tmp_path, signum):
    scenario = _scenario(tmp_path)
    command = [sys.executable, "-m", "metersim", "run", str(scenario), "--report", str(tmp_path / "report.json")]
    process = _start(command)
    _wait_for(tmp_path / "truth.csv")
    time.sleep(1.0)
    process.send_signal(signum)
    _check_stopped(process, tmp_path, signum, time.monotonic())


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1) to make a PID namespace")
def test_sigterm_stops_a_run_that_is_pid_1_of_its_namespace(tmp_path):
    scenario = _scenario(tmp_path)
    report = str(tmp_path / "report.json")
    inner = [sys.executable, "-m", "metersim", "run", str(scenario), "--report", report]
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a PID namespace here: {probe.stderr.decode().strip()}")
    process = _start(["unshare", "--pid", "--fork", "--mount-proc", *inner])
    _wait_for(tmp_path / "truth.csv")
    time.sleep(1.0)
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 1  # metersim itself, PID 1 inside the namespace
    sent_at = time.monotonic()
    subprocess.run(["kill", "-TERM", children[0]], check=True)
    _check_stopped(process, tmp_path, signal.SIGTERM, sent_at)
