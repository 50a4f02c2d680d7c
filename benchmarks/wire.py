"""Issue 9: readings/s over MQTT of ``format: batch`` (100 readings a message) against per-reading ``format: json``,
next to ``mosquitto_pub -l`` publishing the same messages to the same broker. Prints figures; asserts nothing.

    python benchmarks/wire.py [--repeats 5] [--meters 2000] [--hours 8] [--root DIR] [--no-subscriber]
                              [--profile json|batch]

Starts a private Mosquitto on a free loopback port (unlimited queues and in-flight windows, so that it drops
nothing), stopped by its PID at the end. One scenario (electricity meters in Lahore, 100 per concentrator,
15-min interval, no jitter, ``speed: max``) runs in a child ``python -m metersim run`` into an MQTT output at
QoS 1 without a rate limit, once per format per repeat, the order alternating. readings/s is the report's
``readings_published / wall_s``; ``wall_s`` covers opening the output (connect), building the fleet, the
simulation with encoding and publishing, and closing (waiting for the last PUBACKs), but not interpreter
start-up or loading the scenario.

The reference: the same payloads (the same scenario into a ``type: file`` output of the same format, one
message per line) are timed through ``mosquitto_pub -q 1 -l``, from process start to exit (connect and
disconnect included), on one topic per format where metersim uses one per meter or per concentrator.

An independent ``mosquitto_sub`` (C, QoS 1) counts what the broker delivers in every run; the "delivered"
column is the smallest count over the repeats against the messages sent. Figures are medians over
``--repeats``; these machines are noisy, so compare only figures from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
FORMATS = ("json", "batch")
#: the messages a batch carries (issue 9's acceptance figure) [readings/message]
BATCH_SIZE = 100
#: bounds on every child process [s]: a run that hangs fails the benchmark instead of stalling it
RUN_TIMEOUT_S = 600.0
BROKER_START_S = 10.0
#: how long the subscriber may trail the publisher at the end of a run [s]
DRAIN_S = 15.0
PROBE_TOPIC = "wire-probe/ready"
#: the checkout whose metersim runs (``--root``); a list so that main can set it once
CHECKOUT = [ROOT]

SCENARIO = """\
simulation: {{start: '2026-01-01T00:00:00+05:00', duration: {hours}h, seed: 1, speed: max}}
fleet:
  - name: lahore
    commodity: electricity
    count: {meters}
    id_format: 'PK-LESCO-{{index:06d}}'
    timezone: Asia/Karachi
    region: lahore
    interval_s: 900
    jitter_s: 0
    annual_kwh: 2400
    concentrator: {{meters: {batch}}}
outputs: [{{type: discard}}]
truth: null
"""
FORMAT_OPTIONS = {"json": "format: json", "batch": f"format: batch, batch: {{size: {BATCH_SIZE}}}"}
# The batch topic names the concentrator, so that each DCU's uploads are one topic, as a head-end sees them;
# json keeps the default, one topic per meter.
MQTT_TOPIC = {"json": "", "batch": ", topic: 'metersim/{group}/{concentrator}/batch'"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def tool(name: str) -> str:
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/local/sbin/{name}") if os.access(p, os.X_OK)), None
    )
    if found is None:
        sys.exit(f"wire.py: needs {name} (apt-get install mosquitto mosquitto-clients)")
    return found


class Broker:
    """A private Mosquitto on a free loopback port; ``stop`` ends it by its PID."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        conf = workdir / "mosquitto.conf"
        # Unlimited queue and in-flight window per client: a subscriber that trails is never dropped.
        # As root, mosquitto would switch to its own user; nothing here needs that.
        conf.write_text(
            f"listener {self.port} {LOOPBACK}\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 0\nmax_inflight_messages 0\n" + ("user root\n" if os.geteuid() == 0 else ""),
            encoding="utf-8",
        )
        self.log = workdir / "mosquitto.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([tool("mosquitto"), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + BROKER_START_S
        while time.monotonic() < deadline and self.proc.poll() is None:
            with socket.socket() as s:
                if s.connect_ex((LOOPBACK, self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        sys.exit(f"wire.py: mosquitto did not listen on {self.port}: {self.log.read_text(errors='replace')[-500:]}")

    @property
    def url(self) -> str:
        return f"mqtt://{LOOPBACK}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, 15)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, 9)
                self.proc.wait(5)


class Counter:
    """``mosquitto_sub`` at QoS 1 writing one line (the topic) per message: C, so it does not hold the publisher
    back, and independent of metersim's code. Ready once it has received a probe message."""

    def __init__(self, broker: Broker, workdir: Path, topics: tuple[str, ...]) -> None:
        self.out = workdir / "counted.txt"
        args = [tool("mosquitto_sub"), "-h", LOOPBACK, "-p", str(broker.port), "-q", "1", "-F", "%t"]
        for topic in (*topics, PROBE_TOPIC):
            args += ["-t", topic]
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL)
        for _ in range(100):  # bounded: 100 probes of ~50 ms
            subprocess.run([*pub_args(broker, PROBE_TOPIC), "-m", "probe"], check=True, timeout=10)
            time.sleep(0.05)
            if PROBE_TOPIC in self.out.read_text(encoding="utf-8"):
                return
        self.stop()
        sys.exit("wire.py: mosquitto_sub never received its probe")

    def count(self) -> int:
        return sum(1 for line in self.out.read_text(encoding="utf-8").splitlines() if line != PROBE_TOPIC)

    def wait_for(self, n: int) -> int:
        """Messages counted, once ``n`` have arrived or no more arrive within :data:`DRAIN_S`."""
        deadline, last = time.monotonic() + DRAIN_S, -1
        while time.monotonic() < deadline:
            got = self.count()
            if got >= n:
                return got
            if got != last:  # still arriving: give it the full drain time again
                deadline, last = time.monotonic() + DRAIN_S, got
            time.sleep(0.1)
        return self.count()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, 15)
            self.proc.wait(5)


def pub_args(broker: Broker, topic: str) -> list[str]:
    return [tool("mosquitto_pub"), "-h", LOOPBACK, "-p", str(broker.port), "-q", "1", "-t", topic]


def metersim(scenario: Path, output: str, report: Path, profile: Path | None = None) -> dict[str, Any]:
    """One ``metersim run`` of ``scenario`` into ``output`` (YAML flow mapping), from ``--root``; its report."""
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT[0])}
    head = [sys.executable, "-m", "cProfile", "-o", str(profile)] if profile else [sys.executable]
    args = [*head, "-m", "metersim", "run", str(scenario), "--quiet", "--report", str(report)]
    subprocess.run([*args, "--set", f"outputs=[{output}]"], cwd=CHECKOUT[0], env=env, check=True, timeout=RUN_TIMEOUT_S)
    result: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return result


def mqtt_output(broker: Broker, fmt: str) -> str:
    return f"{{type: mqtt, url: '{broker.url}', qos: 1, max_rate_msg_s: null, {FORMAT_OPTIONS[fmt]}{MQTT_TOPIC[fmt]}}}"


@dataclass
class Payloads:
    """One format's messages, one a line, as ``mosquitto_pub -l`` reads them."""

    path: Path
    messages: int
    readings: int


def write_payloads(scenario: Path, fmt: str, workdir: Path) -> Payloads:
    path = workdir / f"{fmt}.lines"
    metersim(scenario, f"{{type: file, path: '{path}', {FORMAT_OPTIONS[fmt]}}}", workdir / "f.json")
    lines = path.read_bytes().splitlines()
    readings = len(lines) if fmt == "json" else sum(int(json.loads(line)["count"]) for line in lines)
    return Payloads(path, len(lines), readings)


@dataclass
class Samples:
    """Per format and client: readings/s and messages/s of each repeat, and the fewest messages delivered."""

    readings_s: list[float] = field(default_factory=list)
    messages_s: list[float] = field(default_factory=list)
    sent: int = 0
    delivered: int | None = None

    def add(self, readings: int, messages: int, wall_s: float, delivered: int | None) -> None:
        self.readings_s.append(readings / wall_s)
        self.messages_s.append(messages / wall_s)
        self.sent = messages
        if delivered is not None:
            self.delivered = delivered if self.delivered is None else min(self.delivered, delivered)

    @property
    def median(self) -> float:
        return statistics.median(self.readings_s)


def one_run(
    client: str, fmt: str, broker: Broker, scenario: Path, payloads: Payloads, workdir: Path, count: bool
) -> tuple[int, int, float, int | None]:
    """(readings, messages, wall [s], delivered or None) of one publishing run."""
    topic = f"wire/{fmt}"
    counter = Counter(broker, workdir, ("metersim/#", topic)) if count else None
    try:
        if client == "metersim":
            report = metersim(scenario, mqtt_output(broker, fmt), workdir / "r.json")
            out = report["outputs"][0]
            if report["status"] != "completed" or out["acknowledged"] != out["accepted"]:
                print(f"  warning: metersim {fmt}: {report['status']}, {out}", file=sys.stderr)
            readings, messages = int(report["readings_published"]), int(report["messages_published"])
            wall_s = float(report["wall_s"])
        else:
            began = time.monotonic()
            with open(payloads.path, "rb") as lines:
                subprocess.run([*pub_args(broker, topic), "-l"], stdin=lines, check=True, timeout=RUN_TIMEOUT_S)
            wall_s = time.monotonic() - began
            readings, messages = payloads.readings, payloads.messages
        delivered = counter.wait_for(messages) if counter else None
    finally:
        if counter:
            counter.stop()
    return readings, messages, wall_s, delivered


def profile(scenario: Path, broker: Broker, fmt: str, workdir: Path) -> None:
    """cProfile one metersim run (its main thread; paho's network thread is not sampled)."""
    import pstats

    stats_path = workdir / "run.prof"
    metersim(scenario, mqtt_output(broker, fmt), workdir / "p.json", profile=stats_path)
    stats = pstats.Stats(str(stats_path))
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--meters", type=int, default=2000, help="electricity meters, 100 per concentrator")
    parser.add_argument("--hours", type=int, default=8, help="simulated window [h] at 15 min")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose metersim runs")
    parser.add_argument("--no-subscriber", action="store_true", help="do not count deliveries")
    parser.add_argument("--profile", choices=FORMATS, help="only cProfile one metersim run of this format")
    args = parser.parse_args()
    CHECKOUT[0] = args.root.resolve()
    if not 1 <= args.repeats <= 50 or args.meters < BATCH_SIZE or not 1 <= args.hours <= 240:
        parser.error("need 1 <= --repeats <= 50, --meters >= 100, 1 <= --hours <= 240")
    with tempfile.TemporaryDirectory(prefix="metersim-wire-") as tmp:
        workdir = Path(tmp)
        scenario = workdir / "scenario.yaml"
        scenario.write_text(SCENARIO.format(meters=args.meters, hours=args.hours, batch=BATCH_SIZE), encoding="utf-8")
        broker = Broker(workdir)
        try:
            if args.profile:
                profile(scenario, broker, args.profile, workdir)
                return
            payloads = {fmt: write_payloads(scenario, fmt, workdir) for fmt in FORMATS}
            samples = {(c, f): Samples() for c in ("metersim", "mosquitto_pub") for f in FORMATS}
            plan = list(samples)
            print(
                f"{args.meters:,} meters x {args.hours} h at 15 min = {payloads['json'].readings:,} readings; "
                f"QoS 1, broker {broker.url} (mosquitto, unlimited queues); medians of {args.repeats} alternating runs"
            )
            for repeat in range(args.repeats):
                for client, fmt in plan if repeat % 2 == 0 else plan[::-1]:
                    result = one_run(client, fmt, broker, scenario, payloads[fmt], workdir, not args.no_subscriber)
                    samples[client, fmt].add(*result)
            report(samples, payloads)
        finally:
            broker.stop()


def report(samples: dict[tuple[str, str], Samples], payloads: dict[str, Payloads]) -> None:
    print(f"{'format':<7}{'client':<15}{'readings/s':>12}{'(min..max)':>22}{'messages/s':>12}{'delivered':>18}")
    for (client, fmt), s in samples.items():
        spread = f"{min(s.readings_s):,.0f}..{max(s.readings_s):,.0f}"
        delivered = "-" if s.delivered is None else f"{s.delivered:,}/{s.sent:,}"
        print(
            f"{fmt:<7}{client:<15}{s.median:>12,.0f}{spread:>22}{statistics.median(s.messages_s):>12,.0f}"
            f"{delivered:>18}"
        )
    bytes_per = {f: p.path.stat().st_size / p.messages for f, p in payloads.items()}
    print(f"payload: json {bytes_per['json']:,.0f} B/message, batch {bytes_per['batch']:,.0f} B/message")
    for client in ("metersim", "mosquitto_pub"):
        batch, per_msg = samples[client, "batch"], samples[client, "json"]
        # Each repeat's own ratio as well: its two runs are seconds apart, so drifting load cancels out.
        paired = sorted(b / j for b, j in zip(batch.readings_s, per_msg.readings_s, strict=True))
        print(
            f"batch/json readings/s, {client:<14} {batch.median / per_msg.median:6.2f}x  (per repeat: "
            f"{', '.join(f'{r:.1f}' for r in paired)})" + ("  issue 9: >= 10x" * (client == "metersim"))
        )
    for fmt in FORMATS:
        ratio = samples["metersim", fmt].median / samples["mosquitto_pub", fmt].median
        print(f"metersim/mosquitto_pub readings/s, {fmt:<5} {ratio:6.2f}")


if __name__ == "__main__":
    main()
