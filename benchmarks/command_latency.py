"""Two-way meters: how much an on-demand ``read`` sent with ``mosquitto_pub`` takes beyond the configured latency.

    python benchmarks/command_latency.py [--url mqtt://127.0.0.1:1883] [--commands 40] [--latency-s 1.0]

A live run (``start: now``, speed 1, 1,000 meters at 60 s) answers with a fixed response time
(``latency: {median_s: L, p95_s: L}``). Once its first reading arrives, ``--commands`` reads go out one
by one, each with its own ``mosquitto_pub`` (as a user would type it), 0.7 s apart; a paho subscriber
notes when each answer arrives. Prints the time beyond L (p50, p90, max [ms]; ``mosquitto_pub``'s own
start-up included) and the run's reading lateness. Asserts nothing; bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

SCENARIO = """\
simulation: {{start: now, duration: 10m, seed: 5, speed: 1}}
fleet:
  - {{name: homes, commodity: electricity, count: 1000, id_format: "LAT-{{index:04d}}", timezone: Asia/Karachi,
     interval_s: 60, annual_kwh: 2400}}
outputs:
  - type: mqtt
    url: {url}
    topic: "{prefix}/r/{{meter_id}}"
    qos: 1
    commands: {{topic: "{prefix}/cmd/{{meter_id}}", latency: {{median_s: {latency}, p95_s: {latency}}}}}
truth: {{path: {tmp}/ledger.csv}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--commands", type=int, default=40)
    parser.add_argument("--latency-s", type=float, default=1.0)
    args = parser.parse_args()
    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 1883
    prefix = f"lat-{uuid.uuid4().hex[:8]}"
    arrived: dict[str, float] = {}
    readings: list[int] = []

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        if message.topic.startswith(f"{prefix}/r/"):
            readings.append(1)
        else:
            arrived[json.loads(message.payload)["id"]] = time.monotonic()

    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{prefix}-watch")
    watcher.on_message = on_message
    watcher.connect(host, port)
    watcher.subscribe(f"{prefix}/cmd/+/response", 1)
    watcher.subscribe(f"{prefix}/r/#", 0)
    watcher.loop_start()
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "latency.yaml"
        scenario.write_text(SCENARIO.format(url=args.url, prefix=prefix, latency=args.latency_s, tmp=tmp))
        report = Path(tmp) / "report.json"
        run = subprocess.Popen([sys.executable, "-m", "metersim", "run", str(scenario), "-q", "-r", str(report)])
        try:
            deadline = time.monotonic() + 120  # a live start waits for the next minute, then catches up
            while not readings and time.monotonic() < deadline:
                time.sleep(0.05)
            sent: dict[str, float] = {}
            for k in range(args.commands):
                command_id = f"r{k}"
                sent[command_id] = time.monotonic()
                body = json.dumps({"id": command_id, "command": "read"})
                topic = f"{prefix}/cmd/LAT-{k % 1000 + 1:04d}"
                subprocess.run(
                    ["mosquitto_pub", "-h", host, "-p", str(port), "-q", "1", "-t", topic, "-m", body],
                    check=True,
                    timeout=10,
                )
                time.sleep(0.7)
            time.sleep(args.latency_s + 2)
        finally:
            run.send_signal(signal.SIGINT)
            run.wait(timeout=30)
            watcher.loop_stop()
        lateness = json.loads(report.read_text())["lateness"]
    extra = sorted((arrived[c] - sent[c] - args.latency_s) * 1000 for c in sent if c in arrived)
    print(f"answered {len(extra)} of {len(sent)}")
    if extra:
        p90 = extra[min(len(extra) - 1, int(0.9 * len(extra)))]
        print(
            f"beyond the configured {args.latency_s:g} s: p50 {statistics.median(extra):.1f} ms, "
            f"p90 {p90:.1f} ms, max {extra[-1]:.1f} ms (mosquitto_pub start-up included)"
        )
    print(f"reading lateness p50/p99/max: {lateness}")


if __name__ == "__main__":
    main()
