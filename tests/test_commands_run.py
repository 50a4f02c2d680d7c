"""Two-way meters without an external broker: hand-written command logs fed with ``--replay-commands``.

A replay takes only the recorded commands, so nothing but the run's own connection touches the (embedded,
in-process) broker. Expected times are worked out by hand from the scenario: the run starts at
2026-01-01T00:00:00+05:00 = 1767207600 s since the epoch, intervals are 900 s, and a change takes effect at
the first interval boundary after the answer.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from metersim.broker import EmbeddedBroker

START = 1767207600  # 2026-01-01T00:00:00+05:00
MEDIAN_S, P95_S = 1.0, 2.0
ALLOW = ["read", "disconnect", "reconnect", "load_limit", "ping", "status", "firmware", "set_tariff"]


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    with EmbeddedBroker() as embedded:
        yield embedded.url


def write_scenario(tmp: Path, url: str, duration: str = "2h") -> Path:
    late = {"name": "peak", "windows": [{"start": "01:00", "end": "02:00"}]}
    data = {
        "simulation": {"start": "2026-01-01T00:00:00+05:00", "duration": duration, "seed": 7, "speed": "max"},
        "tariffs": {
            "tou": {
                "commodity": "electricity",
                "currency": "PKR",
                "bands": [{"name": "peak", "windows": [{"start": "17:00", "end": "22:00"}]}, {"name": "offpeak"}],
                "prices": {"peak": 50, "offpeak": 30},
                "standing_charge_per_day": 10,
            },
            "tou-late": {
                "commodity": "electricity",
                "currency": "PKR",
                "bands": [late, {"name": "offpeak"}],
                "prices": {"peak": 50, "offpeak": 30},
            },
        },
        "fleet": [
            {
                "name": "homes",
                "commodity": "electricity",
                "count": 20,
                "id_format": "PK-{index:04d}",
                "timezone": "Asia/Karachi",
                "interval_s": 900,
                "annual_kwh": 2400,
                "tariff": "tou",
            }
        ],
        "outputs": [
            {
                "type": "mqtt",
                "url": url,
                "topic": "replay/r/{meter_id}",
                "qos": 1,
                "commands": {
                    "topic": "replay/cmd/{meter_id}",
                    "allow": ALLOW,
                    "latency": {"median_s": MEDIAN_S, "p95_s": P95_S},
                },
            },
            {"type": "file", "path": "out/readings.jsonl"},
        ],
        "truth": {"path": "out/ledger.csv"},
    }
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def entry(n: int, at_s: int, meter: str, body: dict[str, Any] | str) -> dict[str, Any]:
    """One command log line: received ``at_s`` simulated seconds after the start."""
    payload = body if isinstance(body, str) else json.dumps(body)
    return {"n": n, "received_ms": (START + at_s) * 1000, "topic": f"replay/cmd/{meter}", "payload": payload}


def write_log(tmp: Path, entries: list[dict[str, Any]]) -> Path:
    path = tmp / "given.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return path


def replay(scenario: Path, log: Path, out: str = "out") -> subprocess.CompletedProcess[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "metersim",
        "run",
        scenario.name,
        "-q",
        "--replay-commands",
        str(log),
        "-s",
        f"outputs.1.path={out}/readings.jsonl",
        "-s",
        f"truth.path={out}/ledger.csv",
        "-r",
        f"{out}/report.json",
    ]
    return subprocess.run(cmd, cwd=scenario.parent, capture_output=True, timeout=60)


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def readings(path: Path, meter: str) -> list[dict[str, Any]]:
    return sorted(
        (r for r in jsonl(path) if r["schema"] == "metersim/reading/v1" and r["meter_id"] == meter),
        key=lambda r: r["seq"],
    )


def test_replayed_disconnect_and_reconnect(tmp_path: Path, broker: str):
    scenario = write_scenario(tmp_path, broker)
    log = write_log(
        tmp_path,
        [
            entry(0, 60, "PK-0002", {"id": "d1", "command": "disconnect"}),  # answered ~00:01 -> open from 00:15
            entry(1, 31 * 60, "PK-0002", {"id": "c1", "command": "reconnect"}),  # ~00:31 -> closed from 00:45
        ],
    )
    done = replay(scenario, log)
    assert done.returncode == 0, done.stderr.decode()
    off, on = START + 900, START + 2700
    mine = readings(tmp_path / "out/readings.jsonl", "PK-0002")
    assert len(mine) == 8
    span = [r["interval"]["value"] for r in mine if off <= epoch(r["ts"]) - 900 < on]
    assert span == [0, 0]  # 00:15-00:30 and 00:30-00:45
    assert all(r["interval"]["value"] > 0 for r in mine if not off <= epoch(r["ts"]) - 900 < on)
    assert len({r["registers"]["1-0:1.8.0"] for r in mine if off <= epoch(r["ts"]) <= on}) == 1
    events = [
        (e["event"], e["code"], epoch(e["ts"]))
        for e in jsonl(tmp_path / "out/readings.jsonl")
        if e["schema"] == "metersim/event/v1"
    ]
    assert events == [("remote_disconnection", 62, off), ("remote_connection", 63, on)]
    with open(tmp_path / "out/ledger.csv", newline="") as f:
        zero = [r for r in csv.DictReader(f) if r["meter_id"] == "PK-0002" and off < int(r["interval_end_s"]) <= on]
    assert [float(r["true_consumption"]) for r in zero] == [0.0, 0.0]
    answered = {e["id"]: e for e in jsonl(tmp_path / "out/commands.jsonl")}
    for cid, sent_s, effective in (("d1", 60, off), ("c1", 31 * 60, on)):
        e = answered[cid]
        assert e["status"] == "ok" and e["received_ms"] == (START + sent_s) * 1000
        assert 0 < e["latency_s"] <= 10 * P95_S
        assert e["answered_ms"] == e["received_ms"] + round(e["latency_s"] * 1000)
        assert epoch(e["result"]["effective"]) == effective
    assert answered["d1"]["after"]["relay"] == "open" and answered["c1"]["after"]["relay"] == "closed"


def test_replayed_set_tariff_moves_the_peak(tmp_path: Path, broker: str):
    scenario = write_scenario(tmp_path, broker)
    log = write_log(
        tmp_path, [entry(0, 60, "PK-0004", {"id": "t1", "command": "set_tariff", "args": {"tariff": "tou-late"}})]
    )
    done = replay(scenario, log)
    assert done.returncode == 0, done.stderr.decode()
    bands = {epoch(r["ts"]): r["band"] for r in readings(tmp_path / "out/readings.jsonl", "PK-0004")}
    # tou-late's peak is 01:00-02:00 local: the intervals ending 01:15 .. 02:00; tou has no peak before 17:00
    assert bands == {START + 900 * k: ("peak" if k >= 5 else "offpeak") for k in range(1, 9)}
    assert {r["band"] for r in readings(tmp_path / "out/readings.jsonl", "PK-0005")} == {"offpeak"}
    events = [
        (e["meter_id"], e["event"])
        for e in jsonl(tmp_path / "out/readings.jsonl")
        if e["schema"] == "metersim/event/v1"
    ]
    assert events == [("PK-0004", "configuration_changed")]


def test_replayed_refusals_and_counts(tmp_path: Path, broker: str):
    scenario = write_scenario(tmp_path, broker, duration="30m")
    log = write_log(
        tmp_path,
        [
            entry(0, 10, "PK-0006", {"id": "ts1", "command": "time_sync"}),  # not in allow
            entry(1, 20, "NOPE-9", {"id": "x1", "command": "read"}),  # no such meter
            entry(2, 30, "PK-0001", "not json"),
            entry(3, 40, "PK-0001", {"id": "k1", "command": "load_limit", "args": {"kw": -1}}),
            entry(4, 50, "PK-0001", {"id": "p1", "command": "ping"}),
            entry(5, 60, "PK-0001", {"id": "big", "command": "ping", "pad": "x" * 5000}),  # > max_payload_bytes
        ],
    )
    done = replay(scenario, log)
    assert done.returncode == 0, done.stderr.decode()
    statuses = [(e["n"], e["status"]) for e in sorted(jsonl(tmp_path / "out/commands.jsonl"), key=lambda e: e["n"])]
    assert statuses == [(0, "rejected"), (1, "error"), (2, "error"), (3, "error"), (4, "ok"), (5, "error")]
    report = json.loads((tmp_path / "out/report.json").read_text())["commands"]
    assert report == {"received": 6, "answered": {"error": 4, "ok": 1, "rejected": 1}, "refused": 4, "dropped": 0}
    assert (tmp_path / "out/readings.jsonl").read_text().count("metersim/event/v1") == 0


def test_replaying_the_same_log_twice_is_byte_identical(tmp_path: Path, broker: str):
    scenario = write_scenario(tmp_path, broker)
    log = write_log(
        tmp_path,
        [
            entry(0, 5, "PK-0001", {"id": "r1", "command": "read"}),
            entry(1, 100, "PK-0003", {"id": "l1", "command": "load_limit", "args": {"kw": 0.05}}),
            entry(2, 200, "PK-0005", {"id": "f1", "command": "firmware", "args": {"version": "2.0"}}),
            entry(3, 1000, "PK-0001", {"id": "r2", "command": "read"}),
            entry(4, 4000, "PK-0003", {"id": "c1", "command": "reconnect"}),
        ],
    )
    for out in ("a", "b"):
        done = replay(scenario, log, out)
        assert done.returncode == 0, done.stderr.decode()
    for name in ("readings.jsonl", "ledger.csv", "labels.csv", "commands.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    # replaying the replay's own log gives the same log again
    done = replay(scenario, tmp_path / "a/commands.jsonl", "c")
    assert done.returncode == 0, done.stderr.decode()
    assert (tmp_path / "c/commands.jsonl").read_bytes() == (tmp_path / "a/commands.jsonl").read_bytes()
    reads = {e["id"]: e for e in jsonl(tmp_path / "a/commands.jsonl")}
    first, second = (reads[k]["result"]["registers"]["1-0:1.8.0"] for k in ("r1", "r2"))
    assert first <= second
    events = {e["event"] for e in jsonl(tmp_path / "a/readings.jsonl") if e["schema"] == "metersim/event/v1"}
    assert {"firmware_activated", "configuration_changed"} <= events


def test_a_file_that_is_not_a_command_log_is_refused(tmp_path: Path, broker: str):
    scenario = write_scenario(tmp_path, broker)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"n": 0, "topic": "replay/cmd/PK-0001"}\n')  # no received_ms, no payload
    done = replay(scenario, bad)
    assert done.returncode == 2
    assert "bad.jsonl:1: not a command log line" in done.stderr.decode()


def test_a_refused_command_log_leaves_earlier_output_alone(tmp_path: Path, broker: str):
    scenario = write_scenario(tmp_path, broker)
    (tmp_path / "out").mkdir()
    earlier = tmp_path / "out/readings.jsonl"
    earlier.write_text("an earlier run\n")
    (tmp_path / "bad.jsonl").write_text("junk\n")
    done = replay(scenario, tmp_path / "bad.jsonl")
    assert done.returncode == 2, done.stderr.decode()
    assert earlier.read_text() == "an earlier run\n"


def test_bill_reflects_a_disconnect(tmp_path: Path, broker: str):
    scenario = write_scenario(tmp_path, broker)
    log = write_log(tmp_path, [entry(0, 60, "PK-0002", {"id": "d1", "command": "disconnect"})])
    done = replay(scenario, log)
    assert done.returncode == 0, done.stderr.decode()
    with open(tmp_path / "out/ledger.csv", newline="") as f:
        truth = sum(float(r["import"]) for r in csv.DictReader(f) if r["meter_id"] == "PK-0002")
    cmd = [
        sys.executable,
        "-m",
        "metersim",
        "bill",
        scenario.name,
        "-q",
        "-o",
        "bills.csv",
        "--replay-commands",
        str(log),
    ]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    with open(tmp_path / "bills.csv", newline="") as f:
        bill = next(row for row in csv.DictReader(f) if row["meter_id"] == "PK-0002")
    # 2 h with the meter off from 00:15: the bill's energy is the ledger's (a quarter of an hour)
    assert float(bill["units_peak"]) + float(bill["units_offpeak"]) == pytest.approx(truth, abs=0.002)
