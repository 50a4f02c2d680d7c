"""A stop signal while the broker is away: the run stops promptly, counts what was not delivered, reports."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import yaml

from tests.conftest import ROOT, scenario_dict

pytestmark = pytest.mark.integration


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_broker_is_away_stops_the_run_and_counts_the_loss(tmp_path, private_mosquitto, signum):
    broker = private_mosquitto().start()
    data = scenario_dict(duration="1d")
    data["fleet"][0]["count"] = 2000
    data["outputs"] = [
        {"type": "mqtt", "url": broker.url, "qos": 1, "buffer_messages": 500, "max_rate_msg_s": None, "give_up_s": 300}
    ]
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(data), encoding="utf-8")
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "metersim", "run", str(scenario), "--report", str(report)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    broker.freeze()  # the broker stops acknowledging: the bounded buffer fills and the run blocks
    time.sleep(1.5)
    sent_at = time.monotonic()
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=15)
    assert time.monotonic() - sent_at < 5, "did not stop within 5 s"
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    summary = json.loads(report.read_text())
    assert summary["status"] == "interrupted"
    (output,) = summary["outputs"]
    assert output["errors"] > 0  # what the frozen broker never acknowledged is counted, not hidden
    assert output["accepted"] == output["acknowledged"] + output["errors"]
    assert output["in_flight"] == 0
