"""Two-way meters: a burst of ``read`` commands, one per meter, to a live run. Prints figures; asserts nothing.

    python benchmarks/commands.py [--meters 10000] [--url mqtt://127.0.0.1:1883] [--repeats 1] [--keep]
                                  [--duration 4m] [--interval-s 60] [--timeout-s 120] [--private-broker]

Per repeat, a scenario in a temporary directory: ``--meters`` electricity meters (``interval_s``
``--interval-s``, report offsets spread by default), ``start: now`` with ``backfill: true`` (the run
begins at the last interval boundary and catches up at once, then is paced at speed 1 for
``--duration``), one MQTT output (QoS 1, no rate limit) with ``commands`` (read, ping, status; latency
median 0.5 s, p95 2 s) and a truth ledger, whose command log ``commands.jsonl`` holds each command's
drawn latency (``answered_ms - received_ms``). Topics carry a random prefix, so a shared broker is fine;
but a default Mosquitto drops QoS 1 messages queued beyond 1000 for one subscriber, so with a burst this
big ``--private-broker`` (a mosquitto of our own, no queue or in-flight limit) shows what metersim alone does.

``metersim run`` runs as a child process. Once it answers a ``ping`` (sent every second until it does),
one paho client sends one ``read`` per meter as fast as it can (QoS 1, all PUBACKs awaited) while a
second paho client, subscribed beforehand to the responses, notes each one's wall arrival time. Figures:

* **answered**: responses received / commands sent, and their statuses;
* **extra** [ms]: (response arrival - send) - drawn latency, per command: what the simulator adds on top of
  the configured response time (p50, p90, p99, max), and the raw send -> response time (p50, p99);
* **in** / **out** [ms]: extra split at the simulated ``received_ms`` and ``answered_ms`` (at speed 1 the
  simulated clock is the wall clock, to within the run's start-up): send -> taken off the inbox, and
  answer due -> response arrived;
* **lateness** of the readings (the report's p50, p99, max [ms]) and whether p99 < 100 ms.

Medians over ``--repeats``. Bounded: the ping wait (60 s), the burst and its responses (``--timeout-s``)
and the run itself (its duration + 60 s, then SIGINT, then SIGKILL).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

PING_WAIT_S = 60.0
STOP_WAIT_S = 60.0
LOOPBACK = "127.0.0.1"


def private_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A mosquitto on a free loopback port with no per-client queue or in-flight limit (its default drops QoS 1
    messages beyond 1000 queued for a slow subscriber); stop it by its PID."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port = int(sock.getsockname()[1])
    conf = workdir / "mosquitto.conf"
    user = "user root\n" if os.geteuid() == 0 else ""
    conf.write_text(
        f"listener {port} {LOOPBACK}\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n{user}"
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with open(workdir / "mosquitto.log", "wb") as log:
        proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((LOOPBACK, port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise SystemExit(f"mosquitto did not listen on {port} within 10 s")


def scenario(meters: int, url: str, prefix: str, duration: str, interval_s: int) -> dict[str, Any]:
    return {
        "simulation": {"start": "now", "backfill": True, "duration": duration, "seed": 7, "speed": 1},
        "fleet": [
            {
                "name": "homes",
                "commodity": "electricity",
                "count": meters,
                "id_format": "M{index:06d}",
                "timezone": "Asia/Karachi",
                "interval_s": interval_s,
                "annual_kwh": 2400,
            }
        ],
        "outputs": [
            {
                "type": "mqtt",
                "url": url,
                "topic": f"{prefix}/r/{{meter_id}}",
                "events_topic": f"{prefix}/e/{{meter_id}}",
                "qos": 1,
                "max_rate_msg_s": None,
                "commands": {
                    "topic": f"{prefix}/cmd/{{meter_id}}",
                    "allow": ["read", "ping", "status"],
                    "latency": {"median_s": 0.5, "p95_s": 2.0},
                },
            }
        ],
        "truth": {"path": "out/ledger.csv"},
    }


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile (nan for none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def client(name: str, host: str, port: int) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-{uuid.uuid4().hex[:8]}")
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect(host, port, keepalive=60)
    c.loop_start()
    deadline = time.monotonic() + 10
    while not c.is_connected() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not c.is_connected():
        raise SystemExit(f"cannot connect to {host}:{port}")
    return c


def stop(proc: subprocess.Popen[bytes], wait_s: float) -> int:
    """Wait up to ``wait_s`` for the run to end, then SIGINT it, then SIGKILL it; its exit code."""
    for sig in (None, signal.SIGINT, signal.SIGKILL):
        if sig is not None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout=wait_s if sig is None else 20)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


def one_run(args: argparse.Namespace, host: str, port: int, tmp: Path) -> dict[str, Any]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    ids = [f"M{i:06d}" for i in range(1, args.meters + 1)]
    path = tmp / "scenario.yaml"  # JSON is YAML
    url = f"mqtt://{host}:{port}" if args.private_broker else args.url
    path.write_text(json.dumps(scenario(args.meters, url, prefix, args.duration, args.interval_s)))

    arrived: dict[str, tuple[float, str]] = {}  # command id -> (wall arrival [s], status)
    lock = threading.Lock()

    def on_message(c: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        with lock:
            arrived.setdefault(str(body.get("id")), (now, str(body.get("status"))))

    listener = client("bench-resp", host, port)
    listener.on_message = on_message
    listener.subscribe(f"{prefix}/cmd/+/response", qos=1)
    sender = client("bench-cmd", host, port)
    acked = 0

    def on_publish(c: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        nonlocal acked
        acked += 1

    sender.on_publish = on_publish
    began = time.monotonic()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "metersim", "run", str(path), "-r", str(tmp / "report.json")]
    with open(tmp / "run.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        # ready: a ping to the first meter is answered (the run has subscribed); resent every second
        ping = 0
        deadline = time.monotonic() + PING_WAIT_S
        while not any(k.startswith("ping") for k in arrived) and time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"metersim exited early ({proc.returncode}); see {tmp / 'run.log'}")
            body = {"id": f"ping{ping}", "command": "ping"}
            sender.publish(f"{prefix}/cmd/{ids[0]}", json.dumps(body), qos=1)
            ping += 1
            time.sleep(1.0)
        if not any(k.startswith("ping") for k in arrived):
            raise SystemExit(f"no answer to ping within {PING_WAIT_S:.0f} s; see {tmp / 'run.log'}")
        ready_s = time.monotonic() - began
        acked = 0
        sent: dict[str, float] = {}
        burst_began = time.monotonic()
        for i, meter in enumerate(ids):
            payload = json.dumps({"id": f"r{i}", "command": "read"})
            sent[f"r{i}"] = time.time()
            sender.publish(f"{prefix}/cmd/{meter}", payload, qos=1)
        publish_s = time.monotonic() - burst_began
        deadline = burst_began + args.timeout_s
        while acked < len(ids) and time.monotonic() < deadline:
            time.sleep(0.005)
        puback_s = time.monotonic() - burst_began
        while time.monotonic() < deadline:
            with lock:
                answered = sum(1 for k in sent if k in arrived)
            if answered >= len(ids):
                break
            time.sleep(0.01)
        answers_s = time.monotonic() - burst_began
        code = stop(proc, max(1.0, args.limit_s - (time.monotonic() - began)))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for c in (sender, listener):
            c.loop_stop()
            c.disconnect()

    log_path = tmp / "out" / "commands.jsonl"
    drawn: dict[str, tuple[float, float, float]] = {}  # id -> (received, answered [s, simulated], latency)
    if log_path.exists():
        for line in log_path.read_text().splitlines():
            row = json.loads(line)
            if row.get("id") in sent and row.get("answered_ms") is not None:
                rec, ans = row["received_ms"] / 1000, row["answered_ms"] / 1000
                drawn[row["id"]] = (rec, ans, ans - rec)
    extra, raw, inbound, outbound = [], [], [], []
    statuses: dict[str, int] = {}
    for key, at in sent.items():
        if key not in arrived:
            continue
        wall, status = arrived[key]
        statuses[status] = statuses.get(status, 0) + 1
        raw.append((wall - at) * 1000)
        if key in drawn:
            rec, ans, latency = drawn[key]
            extra.append((wall - at - latency) * 1000)
            inbound.append((rec - at) * 1000)
            outbound.append((wall - ans) * 1000)
    with open(tmp / "per_command.csv", "w") as out:  # for a closer look (--keep)
        out.write("id,sent,arrived,received,answered\n")
        for key, at in sent.items():
            rec, ans, _ = drawn.get(key, (float("nan"),) * 3)
            out.write(f"{key},{at:.4f},{arrived.get(key, (float('nan'), ''))[0]:.4f},{rec:.3f},{ans:.3f}\n")
    report = json.loads((tmp / "report.json").read_text()) if (tmp / "report.json").exists() else {}
    late = report.get("lateness") or {}
    return {
        "exit": code,
        "ready_s": ready_s,
        "publish_s": publish_s,
        "puback_s": puback_s,
        "answers_s": answers_s,
        "answered": sum(statuses.values()),
        "logged": len(drawn),
        "statuses": statuses,
        "extra_p50": quantile(extra, 0.5),
        "extra_p90": quantile(extra, 0.9),
        "extra_p99": quantile(extra, 0.99),
        "extra_max": max(extra, default=float("nan")),
        "raw_p50": quantile(raw, 0.5),
        "raw_p99": quantile(raw, 0.99),
        "in_p50": quantile(inbound, 0.5),
        "in_p99": quantile(inbound, 0.99),
        "out_p50": quantile(outbound, 0.5),
        "out_p99": quantile(outbound, 0.99),
        "late_p50": float(late.get("p50_ms", "nan")),
        "late_p99": float(late.get("p99_ms", "nan")),
        "late_max": float(late.get("max_ms", "nan")),
        "published": int(report.get("readings_published", 0)),
        "report_commands": report.get("commands"),
        "status": report.get("status"),
    }


def duration_s(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories (and print them)")
    parser.add_argument("--duration", default="4m", help="simulated = wall duration, backfill included")
    parser.add_argument("--interval-s", type=int, default=60)
    parser.add_argument("--timeout-s", type=float, default=120.0, help="bound on the burst and its answers")
    parser.add_argument(
        "--private-broker", action="store_true", help="a mosquitto of our own (no queue limits) instead of --url"
    )
    args = parser.parse_args()
    args.limit_s = duration_s(args.duration) + STOP_WAIT_S
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 1883

    print(
        f"metersim commands: {args.meters:,} `read`s to {args.meters:,} meters, interval {args.interval_s} s, "
        f"speed 1, {args.duration}, latency median 0.5 s p95 2 s, QoS 1, "
        f"{'a private broker' if args.private_broker else f'{host}:{port}'}, Python "
        f"{sys.version.split()[0]}"
    )
    runs = []
    for n in range(args.repeats):
        tmp = Path(tempfile.mkdtemp(prefix="metersim-cmd-bench-"))
        broker = None
        try:
            if args.private_broker:
                broker, port = private_broker(tmp)
                host = LOOPBACK
            r = one_run(args, host, port, tmp)
        finally:
            if broker is not None:
                broker.send_signal(signal.SIGTERM)
                try:
                    broker.wait(10)
                except subprocess.TimeoutExpired:
                    broker.kill()
                    broker.wait()
            if not args.keep:
                subprocess.run(["rm", "-rf", str(tmp)], check=False)
        runs.append(r)
        print(
            f"run {n + 1}: exit {r['exit']} ({r['status']}), ready {r['ready_s']:.1f} s, burst published in "
            f"{r['publish_s']:.2f} s, PUBACKed in {r['puback_s']:.2f} s, answered in {r['answers_s']:.2f} s; "
            f"statuses {r['statuses']}; report commands {r['report_commands']}" + (f"; kept {tmp}" if args.keep else "")
        )

    def med(key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    rows = [
        ("answered / sent", f"{med('answered'):,.0f} / {args.meters:,}", f"(in command log: {med('logged'):,.0f})"),
        ("extra p50 / p90", f"{med('extra_p50'):,.1f} / {med('extra_p90'):,.1f} ms", "beyond the drawn latency"),
        ("extra p99 / max", f"{med('extra_p99'):,.1f} / {med('extra_max'):,.1f} ms", ""),
        ("raw send->answer p50/p99", f"{med('raw_p50'):,.1f} / {med('raw_p99'):,.1f} ms", "drawn latency included"),
        ("in: send->taken p50/p99", f"{med('in_p50'):,.1f} / {med('in_p99'):,.1f} ms", "sim clock ~ wall"),
        ("out: due->arrived p50/p99", f"{med('out_p50'):,.1f} / {med('out_p99'):,.1f} ms", "sim clock ~ wall"),
        (
            "lateness p50/p99/max",
            f"{med('late_p50'):,.1f} / {med('late_p99'):,.1f} / {med('late_max'):,.1f} ms",
            "p99 < 100 ms: " + ("yes" if med("late_p99") < 100 else "NO"),
        ),
        ("readings published", f"{med('published'):,.0f}", ""),
    ]
    print(f"\nmedians of {len(runs)} run(s)")
    for name, value, note in rows:
        print(f"  {name:<26} {value:>28}  {note}")


if __name__ == "__main__":
    main()
