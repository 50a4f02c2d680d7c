"""Throughput of metersim, measured side by side in one run. Prints figures and ratios; asserts nothing.

    python benchmarks/throughput.py [--repeats 3] [--broker mqtt://127.0.0.1:1883] [--skip-million]

1. readings/s into ``discard``: 100,000 electricity meters, one day at 15 minutes (9.6 M readings);
2. readings/s into a JSON Lines file;
3. per-reading MQTT messages/s at QoS 0 and QoS 1 against the broker, next to a plain paho loop that
   publishes the same payloads to the same broker, and the ratio of the two (runs alternate);
4. 1,000,000 meters x 1 day into ``discard`` in a child process, with its peak memory (max RSS).

Figures are medians over ``--repeats`` runs; these machines are noisy.
"""

from __future__ import annotations

import argparse
import copy
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metersim.config import Scenario, parse_scenario  # noqa: E402
from metersim.errors import MetersimError  # noqa: E402
from metersim.simulation import Simulation  # noqa: E402
from metersim.sinks.memory import MemorySink  # noqa: E402

BASE: dict[str, Any] = {
    "simulation": {"start": "2026-01-01T00:00:00+05:00", "duration": "1d", "seed": 1, "speed": "max"},
    "fleet": [
        {
            "name": "bench",
            "commodity": "electricity",
            "count": 100_000,
            "id_format": "BENCH-{index:07d}",
            "timezone": "Asia/Karachi",
            "interval_s": 900,
            "annual_kwh": 2400,
        }
    ],
    "outputs": [{"type": "discard"}],
}


# The realistic model switched fully on: weather region, time-of-use bands, PV netting on 15 % of
# roofs, solar water heaters, instantaneous values and grid-side meters.
RICH_GROUP: dict[str, Any] = {
    "region": "lahore",
    "tariff": "tou",
    "pv": {"fraction": 0.15, "kwp_mean": 5},
    "solar_water_heater": {"fraction": 0.2},
    "instantaneous": {"phases": 1},
    "grid": {"substations": 2, "feeders_per_substation": 5, "transformers_per_feeder": 20},
}
TOU = {
    "bands": [{"name": "peak", "windows": [{"start": "17:00", "end": "21:00"}]}, {"name": "off-peak"}],
    "prices": {"peak": 49.35, "off-peak": 33.02},
}


def scenario(meters: int, output: dict[str, Any], duration: str = "1d", rich: bool = False) -> Scenario:
    data = copy.deepcopy(BASE)
    data["fleet"][0]["count"] = meters
    data["simulation"]["duration"] = duration
    data["outputs"] = [output]
    if rich:
        data["fleet"][0].update(RICH_GROUP)
        data["tariffs"] = {"tou": TOU}
    return parse_scenario(data)


def timed_run(s: Scenario) -> tuple[int, float]:
    """(readings, wall seconds) of one in-process run, failing loudly on errors."""
    try:
        report = Simulation(s).run()
    except MetersimError as exc:
        raise SystemExit(f"benchmark run failed: {exc}") from None
    return report.readings_generated, report.wall_s


def median_rate(s: Scenario, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        readings, wall = timed_run(s)
        rates.append(readings / wall)
    return statistics.median(rates)


def payloads_of(meters: int, duration: str) -> list[tuple[str, bytes]]:
    """The exact messages metersim publishes for the MQTT scenario, for the plain paho loop."""
    sink = MemorySink()
    Simulation(scenario(meters, {"type": "discard"}, duration), sinks=[sink]).run()
    return sink.messages


def plain_paho(host: str, port: int, messages: list[tuple[str, bytes]], qos: int, lean: bool = False) -> float:
    """Messages/s of a bare paho loop publishing pre-encoded payloads, retrying when the queue is full.

    The default is DESIGN.md's pattern: ``loop(0)`` every 100 publishes, completion counted by
    ``on_publish``. ``lean=True`` (QoS 0 only) services the socket with ``loop_read``/``loop_write``
    and no callback, which avoids the wake-up byte paho writes per publish once ``loop()`` has run:
    the fastest plain loop we know, and the fairer yardstick for metersim's sink.
    """
    acked = 0

    def on_publish(client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        nonlocal acked
        acked += 1

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-plain-{uuid.uuid4().hex[:8]}")
    if not lean:
        client.on_publish = on_publish
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(10_000)
    client.connect(host, port, keepalive=60)
    while not client.is_connected():
        if lean:
            client.loop_read()
            client.loop_write()
            time.sleep(0.01)
        else:
            client.loop(0.05)
    publish = client.publish

    def service(timeout: float) -> None:
        if lean:
            client.loop_read()
            client.loop_write()
            client.loop_misc()
        else:
            client.loop(timeout)

    began = time.perf_counter()
    for i, (topic, payload) in enumerate(messages):
        while publish(topic, payload, qos).rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            service(0.001)
        if i % 100 == 0:
            service(0)
    deadline = time.monotonic() + 120
    if lean:
        while client.want_write() and time.monotonic() < deadline:
            service(0)
        acked = len(messages)
    while acked < len(messages) and time.monotonic() < deadline:
        service(0.01)
    elapsed = time.perf_counter() - began
    client.disconnect()
    if acked < len(messages):
        raise SystemExit(f"plain paho: only {acked} of {len(messages)} messages completed")
    return len(messages) / elapsed


def million_meters_child() -> None:
    """Runs in a child process so that its peak RSS is its own."""
    began = time.perf_counter()
    readings, wall = timed_run(scenario(1_000_000, {"type": "discard"}, rich="--rich" in sys.argv))
    total = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{readings} {wall:.3f} {total:.3f} {peak_mb:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--mqtt-meters", type=int, default=1000, help="meters for the MQTT runs (x96 messages)")
    parser.add_argument("--skip-million", action="store_true")
    parser.add_argument("--million-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rich", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.million_child:
        million_meters_child()
        return

    print(f"metersim throughput, medians of {args.repeats} runs, Python {sys.version.split()[0]}")
    discard = median_rate(scenario(100_000, {"type": "discard"}), args.repeats)
    print(f"discard  100,000 meters x 1 day @15 min: {discard:>12,.0f} readings/s  (target >= 2,000,000)")
    rich = median_rate(scenario(100_000, {"type": "discard"}, rich=True), args.repeats)
    print(f"discard  same, realistic model fully on:  {rich:>12,.0f} readings/s  (target >= 2,000,000)")

    with tempfile.TemporaryDirectory() as tmp:
        jsonl = median_rate(scenario(10_000, {"type": "file", "path": f"{tmp}/r.jsonl"}), args.repeats)
    print(f"file     10,000 meters x 1 day -> JSONL:  {jsonl:>12,.0f} readings/s")

    url = urlsplit(args.broker)
    host, port = url.hostname or "127.0.0.1", url.port or 1883
    messages = [(f"bench/{topic.split('/')[2]}", payload) for topic, payload in payloads_of(args.mqtt_meters, "1d")]
    for qos in (0, 1):
        ours, plain, lean = [], [], []
        for _ in range(args.repeats):
            output = {
                "type": "mqtt",
                "url": f"mqtt://{host}:{port}",
                "qos": qos,
                "topic": "bench/{meter_id}",
                "max_rate_msg_s": None,  # as fast as the broker accepts, like the plain loop
            }
            n, wall = timed_run(scenario(args.mqtt_meters, output))
            ours.append(n / wall)
            plain.append(plain_paho(host, port, messages, qos))
            if qos == 0:
                lean.append(plain_paho(host, port, messages, qos, lean=True))
        mine, base = statistics.median(ours), statistics.median(plain)
        print(
            f"mqtt     QoS {qos}, {len(messages):,} messages: metersim {mine:>9,.0f} msg/s, "
            f"plain paho loop(0) {base:>9,.0f} msg/s, ratio {mine / base:.2f}"
            + ("  (target >= 0.90)" if qos == 0 else "")
        )
        if lean:
            fastest = statistics.median(lean)
            print(
                f"mqtt     QoS 0, same messages: plain paho lean loop (loop_read/loop_write) {fastest:>9,.0f} msg/s, "
                f"ratio {mine / fastest:.2f}"
            )

    if not args.skip_million:
        for variant in ([], ["--rich"]):
            child = subprocess.run(
                [sys.executable, __file__, "--million-child", *variant], capture_output=True, text=True, check=True
            )
            fields = child.stdout.split()
            rate, total_s, peak_mb = int(fields[0]) / float(fields[1]), float(fields[2]), float(fields[3])
            label = "realistic" if variant else "plain    "
            print(
                f"discard  1,000,000 meters x 1 day, {label}: {rate:>12,.0f} readings/s, "
                f"{total_s:.1f} s incl. fleet build, peak RSS {peak_mb:,.0f} MB  (target < 1,536 MB)"
            )


if __name__ == "__main__":
    main()
