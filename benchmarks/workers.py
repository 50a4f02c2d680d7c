"""``--workers 2`` against one worker, side by side. Prints figures and ratios; asserts nothing.

    python benchmarks/workers.py [--repeats 3] [--meters 100000] [--days 7]
                                 [--mqtt-meters 20000] [--mqtt-duration 1d] [--broker 127.0.0.1:1883]
                                 [--cases discard,parquet,mqtt]

Every run is a whole ``python -m metersim run SCENARIO -q -r report.json [--workers 2]`` in a fresh
process (imports, forking the workers and merging their reports included), and the runs alternate
1 worker / 2 workers so that both see the same spells of load. Cases:

1. ``discard``: a plain fleet, ``--meters`` x ``--days`` at 15 minutes (100,000 x 7 days = 67.2 M
   readings): the model alone;
2. ``parquet``: the same into ``type: parquet`` in a temporary directory, removed after every run;
3. ``mqtt``: ``--mqtt-meters`` x ``--mqtt-duration`` hourly, one message per reading at QoS 0 to the
   broker (``max_rate_msg_s: null``: no limiter) under a topic prefix of its own per run, counted by a
   C subscriber (``mosquitto_sub -C <expected + 1 probe> -W <timeout>``, started first and proved
   subscribed by a probe message).

Per case and worker count, medians over ``--repeats`` of: the wall time of the whole command [s],
readings (or messages) per wall second, the report's ``readings_per_s`` (readings over the slowest
worker's ``Simulation.run``, imports not included), CPU time of the command and all its workers
[s, user + system, from ``wait4``], readings per CPU second, the cores used (CPU time over wall time),
and the peak RSS of its largest process [MB]. Then the ratio 2 workers / 1 worker of the wall-time
rates. For MQTT, also the messages the report says were published and those the subscriber received,
per wall second of the command, and the CPU time per message of the broker and of the subscriber.

The load average is printed at the start and at the end: on a shared machine other work takes cores
from both worker counts, and a 2-worker run needs both cores to show its ratio. With the kernel's
``sched_autogroup`` on (printed), CPU is shared between sessions first: while other sessions are busy,
two workers of one command get no more CPU than one, and only the CPU-time figures compare.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: one run's longest wall time [s]; a run past it is killed (the loop stays bounded)
RUN_TIMEOUT_S = 1200.0
#: how long [s] the subscriber may take to receive its last messages once the run has ended
DRAIN_S = 10.0
#: how long [s] to wait for the subscriber to receive a probe (i.e. to be subscribed)
SUBSCRIBE_TIMEOUT_S = 10.0
#: between two probes [s]: long enough that a probe not seen by then was never routed to the subscriber
PROBE_EVERY_S = 0.5
PROBE = "metersim-benchmark-probe"


def scenario(meters: int, duration: str, interval_s: int, output: dict[str, Any]) -> dict[str, Any]:
    """The plain benchmark fleet as plain data (JSON is YAML)."""
    return {
        "simulation": {"start": "2026-01-01T00:00:00+05:00", "duration": duration, "seed": 1, "speed": "max"},
        "fleet": [
            {
                "name": "bench",
                "commodity": "electricity",
                "count": meters,
                "id_format": "BENCH-{index:07d}",
                "timezone": "Asia/Karachi",
                "interval_s": interval_s,
                "annual_kwh": 2400,
            }
        ],
        "outputs": [output],
    }


def seconds(duration: str) -> int:
    """``7d``, ``1d12h``, ``90s`` ... in seconds (the forms this benchmark's options take)."""
    units = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
    total, number = 0, ""
    for char in duration:
        if char.isdigit():
            number += char
        elif char in units and number:
            total, number = total + int(number) * units[char], ""
        else:
            raise SystemExit(f"duration {duration!r}: use digits with d, h, m, s (e.g. 1d, 12h)")
    if number or total <= 0:
        raise SystemExit(f"duration {duration!r}: use digits with d, h, m, s (e.g. 1d, 12h)")
    return total


@dataclass
class Run:
    """The figures of one ``metersim run`` command."""

    wall_s: float  # the whole command, by the wall clock
    cpu_s: float  # user + system of the command and its workers
    rss_mb: float  # peak RSS of its largest process
    report: dict[str, Any]
    delivered: int | None = None  # MQTT: messages the subscriber received
    broker_cpu_s: float | None = None  # MQTT: the broker's CPU time over the run (None: not readable)
    subscriber_cpu_s: float | None = None  # MQTT: mosquitto_sub's CPU time


def reap(process: subprocess.Popen[bytes], timeout_s: float) -> resource.struct_rusage | None:
    """Wait up to ``timeout_s`` for ``process``; its resource usage, or None if it still runs.

    ``wait4``, not ``wait``: its rusage holds the CPU time of the process and of the children it reaped
    (a command's workers), and the peak RSS of the largest of them.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
            return usage
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def metersim(path: Path, workers: int, report_path: Path) -> Run:
    """Run ``metersim run path`` (with ``--workers`` when ``workers > 1``) and measure it."""
    command = [sys.executable, "-m", "metersim", "run", str(path), "-q", "-r", str(report_path)]
    if workers > 1:
        command += ["--workers", str(workers)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as stderr:
        began = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=path.parent, stdout=subprocess.DEVNULL, stderr=stderr)
        usage = reap(process, RUN_TIMEOUT_S)
        wall_s = time.perf_counter() - began
        if usage is None:
            process.kill()
            reap(process, RUN_TIMEOUT_S)
            raise SystemExit(f"run killed after {RUN_TIMEOUT_S:.0f} s ({workers} workers): {' '.join(command)}")
        if process.returncode != 0:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace").strip()[-2000:]
            raise SystemExit(f"run failed (exit {process.returncode}, {workers} workers): {' '.join(command)}\n{tail}")
    report: dict[str, Any] = json.loads(report_path.read_text())
    # ru_maxrss is in KB on Linux
    return Run(wall_s, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, report)


def broker_pid(port: int) -> int | None:
    """The PID of the process listening on loopback ``port`` (from ``ss``), or None."""
    try:
        done = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"pid=(\d+)", done.stdout)
    return int(found.group(1)) if found else None


def cpu_of(pid: int | None) -> float | None:
    """User + system CPU time [s] of process ``pid`` so far (``/proc/PID/stat``), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime in clock ticks


def subscribed(
    broker: tuple[str, int], prefix: str, expected: int, timeout_s: float, out: Path
) -> subprocess.Popen[bytes]:
    """Start ``mosquitto_sub`` on ``prefix/#`` and return once it has received a probe message.

    It stops by itself after ``expected`` messages and the probe (``-C``), or after ``timeout_s`` (``-W``).
    """
    host, port = broker
    command = ["mosquitto_sub", "-h", host, "-p", str(port), "-t", f"{prefix}/#", "-q", "0"]
    command += ["-C", str(expected + 1), "-W", str(int(timeout_s))]
    with out.open("wb") as sink:
        sub = subprocess.Popen(command, stdout=sink, stderr=subprocess.DEVNULL)
    began = time.monotonic()
    # a probe sent before the SUBSCRIBE is not delivered (QoS 0, not retained); the first seen ends it.
    # mosquitto_sub flushes each message, so the file shows it at once
    while out.stat().st_size == 0:
        if sub.poll() is not None or time.monotonic() - began > SUBSCRIBE_TIMEOUT_S:
            sub.kill()
            sub.wait()
            raise SystemExit(f"mosquitto_sub did not subscribe to {prefix}/# on {host}:{port} within "
                             f"{SUBSCRIBE_TIMEOUT_S:.0f} s")  # fmt: skip
        publish = ["mosquitto_pub", "-h", host, "-p", str(port), "-t", f"{prefix}/probe", "-q", "0", "-m", PROBE]
        subprocess.run(publish, check=True, timeout=SUBSCRIBE_TIMEOUT_S, capture_output=True)
        time.sleep(PROBE_EVERY_S)
    return sub


def mqtt_run(path: Path, data: dict[str, Any], workers: int, broker: tuple[str, int], tmp: Path) -> Run:
    """One MQTT run to a topic prefix of its own, its messages counted by a C subscriber."""
    prefix = f"metersim-bench-workers/{uuid.uuid4().hex[:12]}"
    data = json.loads(json.dumps(data))
    data["outputs"][0]["topic"] = prefix + "/{meter_id}"
    data["outputs"][0]["events_topic"] = prefix + "/{meter_id}/{event}"
    path.write_text(json.dumps(data))
    group = data["fleet"][0]
    expected = group["count"] * (seconds(data["simulation"]["duration"]) // group["interval_s"])
    received = tmp / "received.txt"
    sub = subscribed(broker, prefix, expected, RUN_TIMEOUT_S + DRAIN_S, received)
    pid = broker_pid(broker[1])
    broker_before = cpu_of(pid)
    try:
        run = metersim(path, workers, tmp / "report.json")
        usage = reap(sub, DRAIN_S)  # it ends by itself once it has every message
        if usage is None:  # some were lost: it would wait for them until -W
            sub.terminate()
            usage = reap(sub, DRAIN_S)
    finally:
        if sub.returncode is None:
            sub.kill()
            reap(sub, DRAIN_S)
    broker_after = cpu_of(pid)
    if broker_before is not None and broker_after is not None:
        run.broker_cpu_s = broker_after - broker_before
    if usage is not None:
        run.subscriber_cpu_s = usage.ru_utime + usage.ru_stime
    with received.open("rb") as lines:
        counted = sum(1 for line in lines if line.strip() != PROBE.encode())
    received.unlink()
    run.delivered = counted
    return run


def one(case: str, data: dict[str, Any], workers: int, broker: tuple[str, int], tmp: Path) -> Run:
    path = tmp / f"{case}.json"
    if case == "mqtt":
        return mqtt_run(path, data, workers, broker, tmp)
    path.write_text(json.dumps(data))
    try:
        return metersim(path, workers, tmp / "report.json")
    finally:
        if case == "parquet":  # each run writes its own 67 M readings; the next starts from nothing
            shutil.rmtree(tmp / "parquet", ignore_errors=True)


def loadavg() -> str:
    one_min, five_min, fifteen_min = os.getloadavg()
    return f"{one_min:.2f} {five_min:.2f} {fifteen_min:.2f} (1, 5, 15 min)"


def autogroup() -> str:
    """Whether the kernel shares CPU between sessions before processes (``sched_autogroup``)."""
    try:
        enabled = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return "sched_autogroup: unknown"
    if not enabled:
        return "sched_autogroup: off"
    # the workers are in this session, hence in one autogroup: against other busy sessions they share
    # one session's CPU share, and a second worker adds no CPU time
    return ("sched_autogroup: on (under contention, this command's workers share one session's CPU share: "
            "compare 'cores used')")  # fmt: skip


def median(values: list[float]) -> float:
    return statistics.median(values)


def summary(case: str, runs: dict[int, list[Run]]) -> None:
    """Print the medians of each worker count and the ratio of the wall-time rates."""
    unit = "messages" if case == "mqtt" else "readings"
    rates: dict[int, float] = {}
    for workers, done in runs.items():
        count = median(
            [float(r.report["messages_published" if case == "mqtt" else "readings_generated"]) for r in done]
        )
        rates[workers] = median([r.report["readings_generated"] / r.wall_s for r in done])
        print(f"  {workers} worker{'s' if workers > 1 else ' '}: wall {median([r.wall_s for r in done]):6.1f} s "
              f"(runs {', '.join(f'{r.wall_s:.1f}' for r in done)}); {rates[workers]:>12,.0f} readings/s by wall; "
              f"report readings_per_s {median([r.report['readings_per_s'] for r in done]):>12,.0f}; "
              f"CPU {median([r.cpu_s for r in done]):6.1f} s = "
              f"{median([r.report['readings_generated'] / r.cpu_s for r in done]):>12,.0f} readings/CPU-s, "
              f"{median([r.cpu_s / r.wall_s for r in done]):4.2f} cores used; "
              f"peak RSS {median([r.rss_mb for r in done]):5.0f} MB; {count:,.0f} {unit}")  # fmt: skip
        if case == "mqtt":
            published = median([r.report["messages_published"] / r.wall_s for r in done])
            delivered = median([(r.delivered or 0) / r.wall_s for r in done])
            counts = ", ".join(f"{r.delivered:,}/{r.report['messages_published']:,}" for r in done)
            print(f"             published {published:>9,.0f} msg/s, delivered to mosquitto_sub {delivered:>9,.0f} "
                  f"msg/s (by the command's wall time); delivered/published per run: {counts}")  # fmt: skip
            broker = [r.broker_cpu_s / r.report["messages_published"] * 1e6 for r in done if r.broker_cpu_s]
            subscriber = [r.subscriber_cpu_s / (r.delivered or 1) * 1e6 for r in done if r.subscriber_cpu_s]
            if broker:
                print(f"             broker CPU {median(broker):5.1f} us per message published (in and out to one "
                      "subscriber; all its clients, other work included)")  # fmt: skip
            if subscriber:
                print(f"             mosquitto_sub CPU {median(subscriber):5.1f} us per message delivered")
    if 1 in rates and 2 in rates:
        print(f"  ratio 2 workers / 1 worker (readings/s by wall): {rates[2] / rates[1]:.2f}x")
        if case == "mqtt":
            d1 = median([(r.delivered or 0) / r.wall_s for r in runs[1]])
            d2 = median([(r.delivered or 0) / r.wall_s for r in runs[2]])
            print(f"  ratio 2 workers / 1 worker (delivered msg/s): {d2 / d1 if d1 else float('nan'):.2f}x")
    print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs per worker count and case; medians printed")
    parser.add_argument("--meters", type=int, default=100_000, help="meters of the discard and parquet cases")
    parser.add_argument("--days", type=int, default=7, help="days of the discard and parquet cases (15 min)")
    parser.add_argument("--mqtt-meters", type=int, default=20_000, help="meters of the MQTT case")
    parser.add_argument("--mqtt-duration", default="1d", help="simulated time of the MQTT case (hourly readings)")
    parser.add_argument("--broker", default="127.0.0.1:1883", help="host:port of the MQTT broker (loopback)")
    parser.add_argument("--cases", default="discard,parquet,mqtt", help="comma-separated: discard, parquet, mqtt")
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    if unknown := set(cases) - {"discard", "parquet", "mqtt"}:
        raise SystemExit(f"--cases: unknown {', '.join(sorted(unknown))}")
    host, _, port = args.broker.rpartition(":")
    broker = (host or "127.0.0.1", int(port))
    if "mqtt" in cases and shutil.which("mosquitto_sub") is None:
        raise SystemExit("the mqtt case needs mosquitto_sub and mosquitto_pub (apt install mosquitto-clients)")

    print(f"metersim --workers 2 against 1 worker, medians of {args.repeats} fresh runs each, alternating; "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")  # fmt: skip
    print(f"load average at start: {loadavg()}  (a shared machine: other work may be running)")
    print(autogroup(), flush=True)
    with tempfile.TemporaryDirectory(prefix="metersim-bench-workers-") as name:
        tmp = Path(name)
        # max_rate_msg_s null: the default (5,000 msg/s per connection) protects slow subscribers, and
        # would measure the limiter, not the workers; a C subscriber keeps up at QoS 0
        mqtt = {"type": "mqtt", "qos": 0, "max_rate_msg_s": None, "url": f"mqtt://{broker[0]}:{broker[1]}"}
        data = {
            "discard": scenario(args.meters, f"{args.days}d", 900, {"type": "discard"}),
            "parquet": scenario(args.meters, f"{args.days}d", 900, {"type": "parquet", "path": str(tmp / "parquet")}),
            "mqtt": scenario(args.mqtt_meters, args.mqtt_duration, 3600, mqtt),
        }
        for case in cases:
            if case == "mqtt":
                print(f"mqtt: {args.mqtt_meters:,} meters x {args.mqtt_duration} hourly, QoS 0 to {args.broker}, "
                      "counted by mosquitto_sub")  # fmt: skip
            else:
                print(f"{case}: {args.meters:,} meters x {args.days} days at 15 min")
            runs: dict[int, list[Run]] = {1: [], 2: []}
            for _ in range(args.repeats):
                for workers in runs:  # alternating, so that both see the same spells of load
                    runs[workers].append(one(case, data[case], workers, broker, tmp))
            summary(case, runs)
    print(f"load average at end:   {loadavg()}")


if __name__ == "__main__":
    main()
