"""Issue 9: many MQTT connections (``connections: per-meter``) from one process. Prints figures; asserts nothing.

    python benchmarks/connections.py [--connections 20000] [--messages-per-connection 5] [--repeats 3]
                                     [--qos 1] [--time-limit-s 600]

Per repeat, a fresh private Mosquitto (``max_connections -1``) on a free loopback port, stopped by its PID at
the end, and one :class:`~metersim.sinks.mqtt.ManyMqttSink` in this process with no connect ramp (a rate of
1,000,000/s, so that the figure is what the client and broker reach) and no publish rate limit:

* **connect rate** [connections/s]: ``--connections`` senders each send one message; every message waits for
  its sender's connection, and the phase ends when all are acknowledged: connections / phase time;
* **memory per connection** [KB]: the growth of VmRSS (``/proc/PID/status``) over the connect phase divided by
  the connections, for this process and for the broker;
* **messages/s** with all connections publishing: ``--messages-per-connection`` rounds of one message per
  connection, then a flush (all acknowledged at ``--qos`` >= 1): messages / phase time.

Medians over ``--repeats``, each in a fresh child process, once the TIME_WAIT sockets of earlier runs
expired. Bounded: each phase ends by ``drain_timeout_s``, and a SIGALRM after ``--time-limit-s``
interrupts the sink. The open-file limit is raised to what the connections need (the broker inherits
it); if that is not allowed, the benchmark says so and stops. (In a container without CAP_SYS_RESOURCE
and a hard limit of 20,000, the most one broker can hold is a little below 20,000.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metersim.config import MqttOutput  # noqa: E402 - after the path set-up, to run from a checkout
from metersim.sinks.base import Outbox  # noqa: E402
from metersim.sinks.mqtt import ManyMqttSink  # noqa: E402

LOOPBACK = "127.0.0.1"
BROKER_START_S = 10.0
#: file descriptors kept for everything but the connections (the broker's listener, logs, pipes)
FD_SPARE = 64
#: Linux keeps a closed connection in TIME_WAIT for 60 s; a repeat waits at most this long [s] for them to go
TIME_WAIT_S = 65.0
TIME_WAIT_LEFT = 500


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kb(pid: int | str = "self") -> int:
    """VmRSS of a process [KB]."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def raise_file_limit(needed: int) -> None:
    """Soft (and, where allowed, hard) RLIMIT_NOFILE >= ``needed``; exit with a reason otherwise."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(needed, soft), max(needed, hard)))
    except (OSError, ValueError):
        if hard < needed:
            sys.exit(
                f"--connections {needed - FD_SPARE} needs {needed} open files, but the hard RLIMIT_NOFILE is {hard} "
                f"and may not be raised here (no CAP_SYS_RESOURCE): use --connections {hard - FD_SPARE} or fewer"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Broker:
    """A private mosquitto on a free loopback port, stopped by its PID."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.port = free_port()
        conf = workdir / f"mosquitto-{self.port}.conf"
        user = "user root\n" if os.geteuid() == 0 else ""
        conf.write_text(
            f"listener {self.port} {LOOPBACK}\nallow_anonymous true\npersistence false\nmax_connections -1\n"
            f"max_queued_messages 0\nmax_inflight_messages 0\n{user}"
        )
        self.log = open(workdir / f"mosquitto-{self.port}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + BROKER_START_S
        while time.monotonic() < deadline:
            try:
                socket.create_connection((LOOPBACK, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {BROKER_START_S:g} s")

    @property
    def url(self) -> str:
        return f"mqtt://{LOOPBACK}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


@dataclass
class Sample:
    connect_per_s: float
    client_kb: float
    broker_kb: float
    messages_per_s: float
    errors: int


def outbox(senders: list[str], seq: int) -> Outbox:
    topics = [f"bench/{s}" for s in senders]
    payload = b'{"seq": %d, "wh": 123456}' % seq
    return Outbox(len(senders), lambda: [payload] * len(senders), lambda: topics, senders=lambda: senders)


def one_run(workdir: Path, connections: int, messages: int, qos: int) -> Sample:
    broker = Broker(workdir)
    try:
        out = MqttOutput.model_validate(
            {
                "type": "mqtt",
                "url": broker.url,
                "qos": qos,
                "connections": "per-meter",
                "client_id": "bench",
                "max_rate_msg_s": None,
                "drain_timeout_s": 600,
                "connect_timeout_s": 30,
                "connections_options": {"connect_rate_per_s": 1_000_000},
            }
        )
        senders = [f"m{i:06d}" for i in range(connections)]
        sink = ManyMqttSink(out)

        def stop(signum: int, frame: FrameType | None) -> None:
            sink.interrupt()

        signal.signal(signal.SIGALRM, stop)
        own0, broker0 = rss_kb(), rss_kb(broker.proc.pid)
        with sink:
            start = time.monotonic()
            sink.send(outbox(senders, 0))
            sink.flush()
            connect_s = time.monotonic() - start
            own1, broker1 = rss_kb(), rss_kb(broker.proc.pid)
            start = time.monotonic()
            for seq in range(1, messages + 1):
                sink.send(outbox(senders, seq))
            sink.flush()
            publish_s = time.monotonic() - start
        return Sample(
            connect_per_s=connections / connect_s,
            client_kb=(own1 - own0) / connections,
            broker_kb=(broker1 - broker0) / connections,
            messages_per_s=connections * messages / publish_s if messages else 0.0,
            errors=sink.stats.errors,
        )
    finally:
        broker.stop()


def time_wait_sockets() -> int:
    """TCP sockets in TIME_WAIT (state 06 in /proc/net/tcp)."""
    try:
        return sum(1 for line in Path("/proc/net/tcp").read_text().splitlines()[1:] if line.split()[3] == "06")
    except OSError:
        return 0


def settle_time_wait() -> None:
    """Wait (at most TIME_WAIT_S) for the previous repeat's closed connections to leave TIME_WAIT: with 20,000
    of them the kernel's choice of an ephemeral port for connect() slows down several-fold (measured: ~1 ms)."""
    deadline = time.monotonic() + TIME_WAIT_S
    while time_wait_sockets() > TIME_WAIT_LEFT and time.monotonic() < deadline:
        time.sleep(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=20_000)
    parser.add_argument("--messages-per-connection", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--qos", type=int, choices=(0, 1, 2), default=1)
    parser.add_argument("--time-limit-s", type=int, default=600, help="stop a repeat after this long")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one repeat, as JSON
    args = parser.parse_args()
    if not 1 <= args.connections <= 60_000:
        sys.exit("--connections: 1 to 60000 (one loopback port per connection)")
    raise_file_limit(args.connections + FD_SPARE)  # the children and their brokers inherit it
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))  # run the finally blocks: stop the broker
    if args.child:
        signal.alarm(args.time_limit_s)
        with tempfile.TemporaryDirectory(prefix="metersim-conn-") as tmp:
            sample = one_run(Path(tmp), args.connections, args.messages_per_connection, args.qos)
        print(json.dumps(asdict(sample)))
        return
    samples: list[Sample] = []
    for repeat in range(args.repeats):
        settle_time_wait()
        # A fresh process per repeat: memory freed by an earlier repeat would hide the growth of the next.
        argv = [sys.executable, __file__, "--child", *sys.argv[1:]]
        child = subprocess.run(argv, capture_output=True, text=True, timeout=args.time_limit_s + 60, check=False)
        if child.returncode != 0:
            sys.exit(f"repeat {repeat + 1} failed ({child.returncode}): {child.stderr.strip()[-2000:]}")
        sample = Sample(**json.loads(child.stdout.strip().splitlines()[-1]))
        samples.append(sample)
        print(
            f"repeat {repeat + 1}: {sample.connect_per_s:,.0f} connections/s, {sample.client_kb:.1f} KB/connection"
            f" (broker {sample.broker_kb:.1f} KB), {sample.messages_per_s:,.0f} messages/s, {sample.errors} errors",
            flush=True,
        )

    def median(values: list[float]) -> float:
        return statistics.median(values)

    print(
        f"\n{args.connections} connections, QoS {args.qos}, {args.messages_per_connection} messages each, "
        f"median of {len(samples)}:\n"
        f"  connect rate            {median([s.connect_per_s for s in samples]):>10,.0f} connections/s\n"
        f"  memory per connection   {median([s.client_kb for s in samples]):>10.1f} KB (client process)\n"
        f"                          {median([s.broker_kb for s in samples]):>10.1f} KB (mosquitto)\n"
        f"  all publishing          {median([s.messages_per_s for s in samples]):>10,.0f} messages/s\n"
        f"  errors                  {sum(s.errors for s in samples):>10}"
    )


if __name__ == "__main__":
    main()
