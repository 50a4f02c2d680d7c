"""Two-way meters end to end against real Mosquitto: paho and mosquitto_pub as the head-end, metersim's files
read back with json/csv. Command log and response times are simulated; wall bounds divide them by the speed."""

from __future__ import annotations

import csv
import json
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.integration.conftest import PrivateMosquitto, split_url

pytestmark = pytest.mark.integration

SPEED = 360  # simulated s per wall s: one 15-minute interval every 2.5 s
MEDIAN_S, P95_S = 1.0, 2.0  # commands.latency [simulated s]
ALLOW = ["read", "disconnect", "reconnect", "load_limit", "ping", "status", "firmware", "set_tariff"]  # no time_sync
RUN_TIMEOUT_S = 60.0

#: /tmp/c/paced.yaml without its outputs
BASE = """
simulation: {start: "2026-01-01T00:00:00+05:00", duration: 1h, seed: 7}
tariffs:
  tou:
    commodity: electricity
    currency: PKR
    bands: [{name: peak, windows: [{start: "17:00", end: "22:00"}]}, {name: offpeak}]
    prices: {peak: 50, offpeak: 30}
    standing_charge_per_day: 10
  tou-late:
    commodity: electricity
    currency: PKR
    bands: [{name: peak, windows: [{start: "01:00", end: "02:00"}]}, {name: offpeak}]
    prices: {peak: 50, offpeak: 30}
fleet:
  - {name: homes, commodity: electricity, count: 20, id_format: "PK-{index:04d}", timezone: Asia/Karachi,
     interval_s: 900, annual_kwh: 2400, tariff: tou}
"""


def scenario(tmp: Path, url: str, base: str, **over: Any) -> Path:
    """The shape of /tmp/c/paced.yaml, on topics under ``base``; ``over`` sets simulation/commands/mqtt keys."""
    commands = {
        "topic": base + "/cmd/{meter_id}",
        "allow": over.pop("allow", ALLOW),
        "latency": {"median_s": MEDIAN_S, "p95_s": P95_S},
    }
    mqtt_out = {"type": "mqtt", "url": url, "topic": base + "/r/{meter_id}", "qos": 1, "commands": commands}
    if "protocol" in over:
        mqtt_out["protocol"] = over.pop("protocol")
    data = yaml.safe_load(BASE)
    data["simulation"].update({"speed": SPEED, **over})
    data |= {
        "outputs": [mqtt_out, {"type": "file", "path": "out/readings.jsonl"}],
        "truth": {"path": "out/ledger.csv"},
    }
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def metersim(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "metersim", *map(str, args)]


def rerun(path: Path, out: str, *extra: str) -> None:
    """The scenario again at full speed, its file output and ledger (and command log) in ``out``."""
    sets = ["-s", f"outputs.1.path={out}/readings.jsonl", "-s", f"truth.path={out}/ledger.csv"]
    cmd = metersim("run", path.name, "-q", "--speed", "max", *sets, *extra)
    subprocess.run(cmd, cwd=path.parent, check=True, timeout=RUN_TIMEOUT_S)


@contextmanager
def running(path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``metersim run`` in the background; killed if the block fails before :func:`finish`."""
    cmd = metersim("run", path.name, "-q", "-r", "out/report.json")
    proc = subprocess.Popen(cmd, cwd=path.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def finish(proc: subprocess.Popen[bytes]) -> None:
    try:
        _out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class Got(NamedTuple):
    wall: float
    topic: str
    payload: bytes
    correlation: bytes | None


@dataclass
class HeadEnd:
    """One paho client that publishes commands and collects everything under ``filters``, with arrival times."""

    url: str
    filters: list[str]
    mqtt5: bool = False
    got: list[Got] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        protocol = mqtt.MQTTv5 if self.mqtt5 else mqtt.MQTTv311
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"head-{uuid.uuid4().hex[:10]}", protocol=protocol
        )
        self.client.max_inflight_messages_set(0)
        self.client.on_connect = lambda c, *_: c.subscribe([(f, 1) for f in self.filters])
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        corr = getattr(msg.properties, "CorrelationData", None) if msg.properties is not None else None
        with self._cond:
            self.got.append(Got(time.monotonic(), msg.topic, bytes(msg.payload), corr))
            self._cond.notify_all()

    def __enter__(self) -> HeadEnd:
        host, port = split_url(self.url)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        assert self._subscribed.wait(10), "no SUBACK"
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def send(self, topic: str, body: dict[str, Any] | bytes, props: Properties | None = None) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.client.publish(topic, payload, qos=1, properties=props).wait_for_publish(10)

    def wait(self, pred: Any, timeout_s: float = 15.0) -> Got:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while (hit := next((g for g in self.got if pred(g)), None)) is None:
                left = deadline - time.monotonic()
                assert left > 0, "timed out waiting for a message"
                self._cond.wait(left)
            return hit

    def responses(self, cmd: str) -> list[dict[str, Any]]:
        with self._cond:
            return [
                json.loads(g.payload) for g in self.got if g.topic.startswith(cmd) and g.topic.endswith("/response")
            ]

    def ready(self, cmd: str, props: Properties | None = None, reply: str = "", sender: Any = None) -> int:
        """Ping PK-0001 (from ``sender``) until an answer comes back (the meters listen); the pings sent (bounded)."""
        for n in range(1, 200):
            (sender or self).send(f"{cmd}/PK-0001", {"id": f"ready-{n}", "command": "ping"}, props)
            try:
                self.wait(lambda g: g.topic == (reply or f"{cmd}/PK-0001/response") and b'"ready-' in g.payload, 0.1)
                return n
            except AssertionError:
                continue
        raise AssertionError("the run never answered a ping")


class Live(NamedTuple):
    dir: Path
    scenario: Path
    responses: dict[str, dict[str, Any]]
    read_wall_s: float


@pytest.fixture(scope="module")
def live(broker_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One paced run with read, disconnect, load_limit, set_tariff, firmware, reconnect and two refusals."""
    tmp = tmp_path_factory.mktemp("live")
    base = f"metersim-test/{uuid.uuid4().hex[:12]}"
    cmd = f"{base}/cmd"
    path = scenario(tmp, broker_url, base)
    with HeadEnd(broker_url, [f"{base}/#"]) as head:
        with running(path) as proc:
            head.ready(cmd)
            head.send(f"{cmd}/PK-0002", {"id": "d1", "command": "disconnect"})
            head.send(f"{cmd}/PK-0003", {"id": "l1", "command": "load_limit", "args": {"kw": 0.05}})
            head.send(f"{cmd}/PK-0004", {"id": "t1", "command": "set_tariff", "args": {"tariff": "tou-late"}})
            head.send(f"{cmd}/PK-0005", {"id": "f1", "command": "firmware", "args": {"version": "2.0"}})
            head.send(f"{cmd}/PK-0006", {"id": "ts1", "command": "time_sync"})  # not in allow
            head.send(f"{cmd}/NOPE-9", {"id": "x1", "command": "read"})  # no such meter
            # the first interval readings (ts 00:15) are out: the simulated clock is past 00:15
            head.wait(lambda g: g.topic.startswith(f"{base}/r/") and b"T00:15:00" in g.payload)
            host, port = split_url(broker_url)
            read = '{"id": "r1", "command": "read"}'
            args = ["-h", host, "-p", str(port), "-q", "1", "-t", f"{cmd}/PK-0001", "-m", read]
            sent = time.monotonic()
            subprocess.run([shutil.which("mosquitto_pub") or "mosquitto_pub", *args], check=True, timeout=10)
            got = head.wait(lambda g: g.topic == f"{cmd}/PK-0001/response" and b'"r1"' in g.payload)
            read_wall_s = got.wall - sent
            head.send(f"{cmd}/PK-0002", {"id": "c1", "command": "reconnect"})
            finish(proc)
        time.sleep(0.3)  # the last answers on their way
        responses = {r["id"]: r for r in head.responses(cmd) if r["id"] is not None}
    yield Live(tmp, path, responses, read_wall_s)


@pytest.mark.slow  # the shared paced run: 1 h at SPEED, about 10 s
def test_read_answers_within_latency_and_between_interval_registers(live: Live):
    read = live.responses["r1"]
    assert read["status"] == "ok" and read["meter_id"] == "PK-0001" and read["error"] is None
    # log-normal latency, sigma = ln(p95/median)/1.645 = 0.42: 3 * p95 (6 s) is beyond its 99.99th
    # percentile; plus one command poll (0.02 s wall) and mosquitto_pub's start: <= 6 s / SPEED + 0.2 s.
    assert live.read_wall_s <= 3 * P95_S / SPEED + 0.2
    log = {e["id"]: e for e in jsonl(live.dir / "out/commands.jsonl")}
    assert 0 < log["r1"]["latency_s"] <= 3 * P95_S
    assert epoch(read["time"]) == pytest.approx(log["r1"]["answered_ms"] / 1000, abs=1)
    value = read["result"]["registers"]["1-0:1.8.0"]
    t = epoch(read["result"]["time"])
    series = sorted(
        (epoch(r["ts"]), r["registers"]["1-0:1.8.0"])
        for r in jsonl(live.dir / "out/readings.jsonl")
        if r.get("schema") == "metersim/reading/v1" and r["meter_id"] == "PK-0001"
    )
    before = [v for ts, v in series if ts <= t]
    after = [v for ts, v in series if ts > t]
    assert before and after
    assert before[-1] <= value <= after[0]


@pytest.mark.slow  # the shared paced run: 1 h at SPEED, about 10 s
def test_disconnect_then_reconnect_zeroes_the_span(live: Live):
    assert live.responses["d1"]["status"] == "ok" and live.responses["c1"]["status"] == "ok"
    off = epoch(live.responses["d1"]["result"]["effective"])
    on = epoch(live.responses["c1"]["result"]["effective"])
    assert off == epoch("2026-01-01T00:15:00+05:00")  # sent before 00:15: the next boundary
    assert off < on <= epoch("2026-01-01T01:00:00+05:00")
    records = jsonl(live.dir / "out/readings.jsonl")
    mine = sorted(
        (r for r in records if r["meter_id"] == "PK-0002" and r["schema"] == "metersim/reading/v1"),
        key=lambda r: r["seq"],
    )
    span = [r for r in mine if off <= epoch(r["ts"]) - 900 < on]
    assert span and all(r["interval"]["value"] == 0 for r in span)
    assert any(r["interval"]["value"] > 0 for r in mine if epoch(r["ts"]) - 900 >= on)
    frozen = {r["registers"]["1-0:1.8.0"] for r in mine if off <= epoch(r["ts"]) <= on}
    assert len(frozen) == 1
    events = {
        (e["event"], epoch(e["ts"]))
        for e in records
        if e["schema"] == "metersim/event/v1" and e["meter_id"] == "PK-0002"
    }
    assert ("remote_disconnection", off) in events and ("remote_connection", on) in events
    with open(live.dir / "out/ledger.csv", newline="") as f:
        ledger = [row for row in csv.DictReader(f) if row["meter_id"] == "PK-0002"]
    zero = [row for row in ledger if off < int(row["interval_end_s"]) <= on]
    assert len(zero) == len(span) and all(float(row["true_consumption"]) == 0 for row in zero)
    # against the bill of the same scenario (no command applied): less energy, same standing charge
    bill_cmd = metersim("bill", live.scenario.name, "-q", "--speed", "max", "-o", "bills.csv")
    subprocess.run(bill_cmd, cwd=live.dir, check=True, timeout=RUN_TIMEOUT_S)
    with open(live.dir / "bills.csv", newline="") as f:
        bill = next(row for row in csv.DictReader(f) if row["meter_id"] == "PK-0002")
    billed = float(bill["units_peak"]) + float(bill["units_offpeak"])
    assert sum(float(row["import"]) for row in ledger) < billed - 0.0005
    # the 1-hour run touches one local calendar day: one day's standing charge, disconnected or not
    assert float(bill["standing_charge"]) == 10.0


@pytest.mark.slow  # the shared paced run: 1 h at SPEED, about 10 s
def test_refusals_rejected_and_error(live: Live):
    assert live.responses["ts1"]["status"] == "rejected" and "allow" in live.responses["ts1"]["error"]
    assert live.responses["ts1"]["meter_id"] == "PK-0006"
    unknown = live.responses["x1"]
    assert unknown["status"] == "error" and unknown["meter_id"] is None and "NOPE-9" in unknown["error"]
    for ok in ("l1", "t1", "f1"):
        assert live.responses[ok]["status"] == "ok", live.responses[ok]
    report = json.loads((live.dir / "out/report.json").read_text())["commands"]
    assert report["refused"] == 1 and report["dropped"] == 0
    assert report["answered"]["rejected"] == 1 and report["answered"]["error"] == 1
    assert sum(report["answered"].values()) == report["received"]


@pytest.mark.slow  # the shared paced run: 1 h at SPEED, about 10 s
def test_replay_is_byte_identical(live: Live):
    rep = live.dir / "rep"
    rerun(live.scenario, "rep", "--replay-commands", "out/commands.jsonl")
    for name in ("readings.jsonl", "ledger.csv", "labels.csv", "commands.jsonl"):
        want, got = ((d / name).read_bytes().splitlines(keepends=True) for d in (live.dir / "out", rep))
        diff = next(((w, g) for w, g in zip(want, got) if w != g), None)
        assert b"".join(got) == b"".join(want), f"{name}: live {diff and diff[0]!r} replay {diff and diff[1]!r}"
    assert len(jsonl(rep / "commands.jsonl")) >= 9


def test_mqtt5_response_topic_and_correlation(tmp_path, private_mosquitto):
    broker: PrivateMosquitto = private_mosquitto().start()
    path = scenario(tmp_path, broker.url, "m5", protocol="5", duration="15m")
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = "my/replies"
    props.CorrelationData = b"abc"
    with HeadEnd(broker.url, ["my/replies", "m5/cmd/+/response"], mqtt5=True) as head, running(path) as proc:
        head.ready("m5/cmd", props, reply="my/replies")
        head.send("m5/cmd/PK-0003", {"id": "q5", "command": "status"}, props)
        got = head.wait(lambda g: g.topic == "my/replies" and b'"q5"' in g.payload)
        finish(proc)
    assert got.correlation == b"abc"
    answer = json.loads(got.payload)
    assert answer["status"] == "ok" and answer["meter_id"] == "PK-0003" and answer["result"]["relay"] == "closed"
    assert not head.responses("m5/cmd")  # nothing on the default response topics


def fuzz_payloads(rng: random.Random, cmd: str, n: int) -> tuple[list[tuple[str, bytes]], int]:
    """``n`` (topic, payload) pairs of seven kinds; the number that are well-formed but not allowed."""
    out, disallowed = [], 0
    bad_args = json.loads(
        '[{"kw": "x"}, {"kw": -1}, {"kw": 20000}, {"kw": 1, "extra": 2}, {"tariff": 5}, {"version": null},'
        ' {"tariff": "tou-late", "from": "yesterday"}, [], "args", {"x": 1}]'
    )
    for i in range(n):
        meter = f"PK-{rng.randint(1, 20):04d}"
        kind = i % 7
        if kind == 0:
            body = rng.randbytes(rng.randint(0, 300))
        elif kind == 1:
            doc = {"id": rng.choice([1, None, [], {}, True]), "command": rng.choice([7, None, ["read"], {"a": 1}])}
            body = json.dumps(rng.choice([doc, [doc], "read", 3.5, None])).encode()
        elif kind == 2:
            body = json.dumps({"id": f"h{i}", "command": "read", "pad": "x" * rng.randint(4100, 9000)}).encode()
        elif kind == 3:
            body = json.dumps(
                {"id": f"u{i}", "command": rng.choice(["reboot", "READ", "", "rm -rf", "pingg"])}
            ).encode()
        elif kind == 4:
            meter = rng.choice(["PK-0000", "PK-0021", "pk-0001", "PK-00001", "x" * 40, "PK-０００１"])
            body = json.dumps({"id": f"w{i}", "command": "read"}).encode()
        elif kind == 5:
            command = rng.choice(["load_limit", "set_tariff", "firmware", "read", "ping"])
            body = json.dumps({"id": f"a{i}", "command": command, "args": rng.choice(bad_args)}).encode()
        else:
            body = json.dumps({"id": f"n{i}", "command": "disconnect"}).encode()
            disallowed += 1
        out.append((f"{cmd}/{meter}", body))
    return out, disallowed


@pytest.mark.slow  # two runs: one paced (about 8 s), one at full speed
def test_fuzzed_commands_are_all_answered_and_change_nothing(broker_url: str, tmp_path: Path):
    base = f"metersim-test/{uuid.uuid4().hex[:12]}"
    cmd = f"{base}/cmd"
    path = scenario(tmp_path, broker_url, base, duration="30m", speed=240, allow=["read", "ping", "status"])
    fuzz, disallowed = fuzz_payloads(random.Random(20261201), cmd, 1000)
    with HeadEnd(broker_url, [f"{cmd}/+/response"]) as sink, HeadEnd(broker_url, [f"{base}/unused"]) as pub:
        with running(path) as proc:
            pings = sink.ready(cmd, sender=pub)
            sent = [pub.client.publish(topic, body, qos=1) for topic, body in fuzz]
            for info in sent:
                info.wait_for_publish(10)
            finish(proc)
        time.sleep(0.5)
        answers = [r for r in sink.responses(cmd) if not str(r.get("id")).startswith("ready-")]
        ping_answers = len(sink.responses(cmd)) - len(answers)
    assert 1 <= ping_answers <= pings
    assert len(answers) == 1000
    statuses = [a["status"] for a in answers]
    assert statuses.count("rejected") == disallowed and statuses.count("error") == 1000 - disallowed
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert report["status"] == "completed"
    c = report["commands"]
    assert c["received"] == 1000 + ping_answers and c["dropped"] == 0 and c["refused"] == 1000 - disallowed
    assert c["answered"] == {"error": 1000 - disallowed, "ok": ping_answers, "rejected": disallowed}
    rerun(path, "base")  # no commands
    fuzzed, clean = (tmp_path / "out/readings.jsonl").read_bytes(), (tmp_path / "base/readings.jsonl").read_bytes()
    assert sorted(fuzzed.splitlines()) == sorted(clean.splitlines())
    assert fuzzed == clean
