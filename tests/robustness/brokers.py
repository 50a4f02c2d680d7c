"""Private Mosquitto brokers for the fault tests: free loopback ports, stopped by PID, as configured.

:class:`Mosquitto` extends the integration tests' :class:`~tests.integration.conftest.PrivateMosquitto`
(a child process on a fixed port, so that it can be killed and restarted on the same port) with the
configurations the fault catalogue needs:

* ``stock_limits``: Mosquitto's defaults, ``max_inflight_messages 20`` and ``max_queued_messages
  1000`` (the shared test broker lifts both, so that a slow test subscriber is never dropped);
  ``max_queued_messages`` then overrides the second alone;
* ``persistence`` (``autosave_on_changes``: save after every change instead of every second);
* ``tls``: a TLS listener with a certificate and key, optionally ``require_certificate`` (mTLS);
* ``password_file``: no anonymous clients;
* ``plain_port``: a second, plain listener, for the independent subscriber of a TLS broker.

:func:`make_certificates` makes, with the openssl CLI, a CA, server certificates signed by it (one for
127.0.0.1, one for another name), a self-signed server certificate, a client certificate and an
unrelated CA. :class:`Subscriber` is the independent consumer (``mosquitto_sub``, persistent
session). :class:`Run` starts the real ``metersim run`` as a child process; :func:`check_result`
checks its exit code, standard error and report. :class:`Lab` owns what a test starts (brokers,
subscribers, proxies) and tears it all down, frozen brokers included, by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import ROOT, scenario_dict
from tests.integration.conftest import IN_CI, LOOPBACK, MOSQUITTO_PASSWD, PrivateMosquitto, free_port
from tests.robustness.proxy import Proxy

#: how long a subscriber may take to receive what a run delivered [s]
DELIVERY_S = 30.0


# --- certificates -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    """PEM files made by :func:`make_certificates` (keys unencrypted)."""

    ca: Path  # the CA that signed the server, other-name and client certificates
    server_cert: Path  # CN/SAN 127.0.0.1 and localhost, signed by ``ca``
    server_key: Path
    other_name_cert: Path  # SAN DNS:broker.other.invalid only, signed by ``ca``
    other_name_key: Path
    self_signed_cert: Path  # SAN 127.0.0.1, its own issuer (no CA)
    self_signed_key: Path
    client_cert: Path  # clientAuth, signed by ``ca``
    client_key: Path
    other_ca: Path  # a CA that signed nothing here


def _openssl(cwd: Path, *args: str) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {result.stderr.strip()}")


_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _ca(cwd: Path, name: str) -> tuple[str, str]:
    cert, key = f"{name}.crt", f"{name}.key"
    _openssl(
        cwd, "req", "-x509", *_EC, "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN=metersim test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


def _signed(cwd: Path, name: str, ca: tuple[str, str], subject: str, extensions: str) -> None:
    (cwd / f"{name}.ext").write_text(extensions + "\nbasicConstraints=CA:FALSE\n")
    _openssl(cwd, "req", *_EC, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)
    _openssl(
        cwd, "x509", "-req", "-in", f"{name}.csr", "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
        "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
    )  # fmt: skip


def make_certificates(directory: Path) -> Certificates:
    """Make every certificate of :class:`Certificates` in ``directory``; skip the test without openssl."""
    if shutil.which("openssl") is None:
        if IN_CI:
            pytest.fail("CI=true: the openssl CLI is required for the TLS tests")
        pytest.skip("no openssl CLI")
    directory.mkdir(parents=True, exist_ok=True)
    ca = _ca(directory, "ca")
    other_ca = _ca(directory, "other-ca")
    server = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"
    _signed(directory, "server", ca, "/CN=127.0.0.1", server)
    other = "subjectAltName=DNS:broker.other.invalid\nextendedKeyUsage=serverAuth"
    _signed(directory, "other-name", ca, "/CN=broker.other.invalid", other)
    _signed(directory, "client", ca, "/CN=metersim-client", "extendedKeyUsage=clientAuth")
    _openssl(
        directory, "req", "-x509", *_EC, "-keyout", "self-signed.key", "-out", "self-signed.crt", "-days", "2",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    )  # fmt: skip
    d = directory
    return Certificates(
        ca=d / ca[0],
        server_cert=d / "server.crt",
        server_key=d / "server.key",
        other_name_cert=d / "other-name.crt",
        other_name_key=d / "other-name.key",
        self_signed_cert=d / "self-signed.crt",
        self_signed_key=d / "self-signed.key",
        client_cert=d / "client.crt",
        client_key=d / "client.key",
        other_ca=d / other_ca[0],
    )


# --- brokers ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenerTls:
    """The TLS part of a listener: the broker's certificate and key; ``ca`` to verify clients (mTLS)."""

    cert: Path
    key: Path
    ca: Path | None = None
    require_certificate: bool = False


class Mosquitto(PrivateMosquitto):
    """A private Mosquitto with the configuration the fault tests need (see the module docstring)."""

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        persistence: bool = False,
        autosave_on_changes: bool = False,
        stock_limits: bool = False,
        max_queued_messages: int | None = None,
        tls: ListenerTls | None = None,
        password_file: Path | None = None,
        plain_port: int | None = None,
        extra_config: str = "",
    ) -> None:
        super().__init__(workdir, port=port)
        self.stock_limits = stock_limits
        self.plain_port = plain_port
        lines = [f"listener {self.port} {LOOPBACK}"]
        if tls is not None:
            lines += [f"certfile {tls.cert}", f"keyfile {tls.key}"]
            if tls.ca is not None:
                lines.append(f"cafile {tls.ca}")
            if tls.require_certificate:
                lines.append("require_certificate true")
        if plain_port is not None:
            lines.append(f"listener {plain_port} {LOOPBACK}")
        if password_file is not None:
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        if persistence:
            lines += ["persistence true", f"persistence_location {workdir}/", "autosave_interval 1"]
            if autosave_on_changes:
                lines.append("autosave_on_changes true")
        else:
            lines.append("persistence false")
        if os.geteuid() == 0:
            # As root, mosquitto would switch to its own user, which cannot use pytest's private tmp dirs.
            lines.append("user root")
        if not stock_limits:
            lines += ["max_queued_messages 0", "max_inflight_messages 0"]
        elif max_queued_messages is not None:
            lines.append(f"max_queued_messages {max_queued_messages}")
        self.config_path.write_text("\n".join(lines) + "\n" + extra_config)

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def subscriber_port(self) -> int:
        """Where an independent subscriber connects: the plain listener if there is one."""
        return self.plain_port or self.port

    def wait_for_save(self, timeout_s: float = 5.0) -> None:
        """Block until the broker has written its persistence file again, completely.

        Mosquitto logs "Saving in-memory database" when it starts a save, writes ``mosquitto.db.new``
        and renames it over ``mosquitto.db``: a kill right after the log line would find the old file.
        """
        db = self.workdir / "mosquitto.db"

        def stamp() -> int:
            try:
                return db.stat().st_mtime_ns
            except FileNotFoundError:
                return 0

        before = stamp()
        deadline = time.monotonic() + timeout_s
        super().wait_for_save(timeout_s)
        while stamp() == before or db.with_name("mosquitto.db.new").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"mosquitto did not finish saving {db} within {timeout_s:g} s")
            time.sleep(0.01)

    def thaw(self) -> None:
        """SIGCONT after :meth:`freeze`."""
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGCONT)


def password_file(directory: Path, user: str, password: str) -> Path:
    """A Mosquitto password file with one user (``mosquitto_passwd -b -c``); skip without the tool."""
    if MOSQUITTO_PASSWD is None:
        if IN_CI:
            pytest.fail("CI=true: mosquitto_passwd is required")
        pytest.skip("no mosquitto_passwd")
    path = directory / "passwords"
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run([MOSQUITTO_PASSWD, "-b", "-c", str(path), user, password], check=True, timeout=30)
    path.chmod(0o600)
    return path


# --- an independent subscriber ------------------------------------------------------------------------


class Subscriber:
    """``mosquitto_sub -c -i ID -q QOS -v``: another process, a persistent session, every message to a file.

    It connects straight to the broker (never through a proxy), subscribes to ``prefix/#`` and
    resubscribes on every connect (mosquitto_sub does), so it also finds a broker restarted without
    persistence back. :meth:`received` parses the payloads into (meter_id, seq) pairs.
    """

    def __init__(
        self,
        port: int,
        prefix: str,
        workdir: Path,
        *,
        qos: int = 1,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        binary = shutil.which("mosquitto_sub")
        if binary is None:
            if IN_CI:
                pytest.fail("CI=true: mosquitto_sub (mosquitto-clients) is required")
            pytest.skip("no mosquitto_sub")
        self.port = port
        self.prefix = prefix
        self.client_id = f"metersim-test-sub-{uuid.uuid4().hex[:12]}"
        self.path = workdir / f"{self.client_id}.txt"
        self._auth = (username, password)
        self._marker = f"{prefix}/_ready"
        self._out = open(self.path, "wb")  # noqa: SIM115 - closed in stop()
        args = ["-h", LOOPBACK, "-p", str(port), "-q", str(qos), "-c", "-i", self.client_id, "-v"]
        if username is not None:
            args += ["-u", username, "-P", password or ""]
        self._process = subprocess.Popen(
            [binary, *args, "-t", f"{prefix}/#"], stdout=self._out, stderr=subprocess.DEVNULL
        )
        self._offset = 0
        self._pairs: Counter[tuple[str, int]] = Counter()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self._process.pid

    def pause(self) -> None:
        """SIGSTOP: the subscriber stops reading; the broker queues its messages."""
        os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self._process.pid, signal.SIGCONT)

    def _wait_ready(self, timeout_s: float = 10.0) -> None:
        """Publish probes until one comes back: then the subscription is in place."""
        probe = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"metersim-test-probe-{uuid.uuid4().hex[:8]}")
        if self._auth[0] is not None:
            probe.username_pw_set(*self._auth)
        probe.connect(LOOPBACK, self.port)
        probe.loop_start()
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                probe.publish(self._marker, b"probe", qos=1).wait_for_publish(2)
                time.sleep(0.2)
                if self._marker.encode() in self.path.read_bytes():
                    return
            raise TimeoutError(f"mosquitto_sub did not receive on port {self.port}")
        finally:
            probe.loop_stop()
            probe.disconnect()

    def received(self) -> Counter[tuple[str, int]]:
        """How often each (meter_id, seq) arrived so far (complete lines only, probes left out)."""
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            topic, _, payload = line.partition(b" ")
            if topic.endswith(b"/_ready"):
                continue
            reading = orjson.loads(payload)
            self._pairs[reading["meter_id"], reading["seq"]] += 1
        return self._pairs

    def wait_for(self, n: int, timeout_s: float = DELIVERY_S) -> bool:
        """Block until at least ``n`` distinct readings arrived; True if they did within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self.received()) >= n:
                return True
            time.sleep(0.1)
        return False

    def wait_quiet(self, quiet_s: float = 0.5, timeout_s: float = DELIVERY_S) -> int:
        """Block until nothing arrived for ``quiet_s`` [s]; the number of messages (duplicates included)."""
        deadline, last = time.monotonic() + timeout_s, -1
        while time.monotonic() < deadline:
            count = sum(self.received().values())
            if count == last:
                break
            last = count
            time.sleep(quiet_s)
        return last

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._process.pid, signal.SIGCONT)
        self._process.terminate()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        self._out.close()


# --- running metersim --------------------------------------------------------------------------------


def fleet_scenario(
    directory: Path,
    prefix: str,
    *,
    meters: int,
    duration: str = "1d",
    outputs: list[dict[str, Any]],
    interval_s: int = 900,
    speed: str | float = "max",
    name: str = "scenario",
) -> Path:
    """A scenario of ``meters`` electricity meters ``{prefix}-000001``... publishing to ``prefix/<meter_id>``.

    Each meter sends ``duration / interval_s`` readings; an MQTT output without a ``topic`` gets
    ``prefix/{meter_id}``. Returns the path of the YAML file written into ``directory``.
    """
    data = scenario_dict(duration=duration, speed=speed)
    group = dict(data["fleet"][0])
    group.update(count=meters, id_format=f"{prefix}-{{index:06d}}", interval_s=interval_s, jitter_s=0)
    data["fleet"] = [group]
    data["outputs"] = [
        {"topic": f"{prefix}/{{meter_id}}", **out} if out.get("type") == "mqtt" else out for out in outputs
    ]
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def expected_readings(prefix: str, meters: int, per_meter: int) -> set[tuple[str, int]]:
    """Every (meter_id, seq) a completed run of :func:`fleet_scenario` sends."""
    return {(f"{prefix}-{index:06d}", seq) for index in range(1, meters + 1) for seq in range(per_meter)}


def new_prefix() -> str:
    """A topic root (and meter id prefix) of its own for one test."""
    return f"msrob{uuid.uuid4().hex[:10]}"


@dataclass
class Result:
    """How a ``metersim run`` ended: exit code, standard error, and its ``--report`` (None if absent)."""

    returncode: int
    stderr: str
    stdout: str
    report: dict[str, Any] | None
    wall_s: float

    @property
    def output(self) -> dict[str, Any]:
        """The first output of the report."""
        assert self.report is not None, self.stderr
        first: dict[str, Any] = self.report["outputs"][0]
        return first

    def errors(self) -> list[str]:
        """The ``metersim: error:`` lines of standard error."""
        return [line for line in self.stderr.splitlines() if line.startswith("metersim: error:")]


class Run:
    """``python -m metersim run SCENARIO --report R`` as a child process, from the repository root."""

    def __init__(self, scenario: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.report_path = scenario.with_suffix(".report.json")
        command = [sys.executable, "-m", "metersim", "run", str(scenario), "--report", str(self.report_path), *args]
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout_s: float = 120.0) -> Result:
        """Wait for the run to end (killed, and the test failed, after ``timeout_s``)."""
        try:
            stdout, stderr = self.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate(timeout=10)
            pytest.fail(f"metersim run did not end within {timeout_s:g} s; stderr: {stderr[-2000:]}")
        wall_s = time.monotonic() - self.started
        report = json.loads(self.report_path.read_text()) if self.report_path.exists() else None
        return Result(self.process.returncode, stderr, stdout, report, wall_s)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=10)


def run(scenario: Path, *args: str, timeout_s: float = 120.0, env: dict[str, str] | None = None) -> Result:
    """Run to the end; the result."""
    return Run(scenario, *args, env=env).wait(timeout_s)


def check_result(result: Result, exit_code: int, *, status: str | None = None) -> None:
    """The documented exit code, no traceback, and a report whose counts reconcile.

    Per output: ``accepted == acknowledged + errors + in_flight`` (``in_flight`` is reported for MQTT
    outputs only, None for the others); the sums over outputs; and ``in_flight`` is 0 at the end of a
    run that ended (anything not acknowledged by then is counted in ``errors``).
    """
    assert result.returncode == exit_code, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr
    assert "Exception ignored" not in result.stderr, result.stderr
    report = result.report
    assert report is not None, f"no report; stderr: {result.stderr[-2000:]}"
    if status is not None:
        assert report["status"] == status, report
    for out in report["outputs"]:
        in_flight = out["in_flight"] or 0
        assert out["accepted"] == out["acknowledged"] + out["errors"] + in_flight, out
        assert in_flight == 0, out
        assert min(out["accepted"], out["acknowledged"], out["errors"]) >= 0, out
    assert report["messages_published"] == sum(o["accepted"] for o in report["outputs"]), report
    assert report["messages_acknowledged"] == sum(o["acknowledged"] for o in report["outputs"]), report
    assert report["errors"] == sum(o["errors"] for o in report["outputs"]), report


def check_delivered(sub: Subscriber, result: Result, expected: set[tuple[str, int]]) -> Counter[tuple[str, int]]:
    """A completed run at QoS >= 1: every (meter, seq) it accepted arrived (duplicates allowed)."""
    out = result.output
    assert out["accepted"] == out["acknowledged"] == len(expected), out
    sub.wait_for(len(expected))
    sub.wait_quiet()
    received = sub.received()
    missing = expected - set(received)
    assert not missing, f"{len(missing)} of {len(expected)} readings never arrived, e.g. {sorted(missing)[:5]}"
    assert set(received) <= expected, sorted(set(received) - expected)[:5]
    return received


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition`` every 20 ms; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.02)


# --- what a test starts, torn down -------------------------------------------------------------------


class Lab:
    """The brokers, subscribers and proxies of one test; ``close()`` stops them all (by PID)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._brokers: list[Mosquitto] = []
        self._subscribers: list[Subscriber] = []
        self._proxies: list[Proxy] = []

    def broker(self, **kwargs: object) -> Mosquitto:
        """A started :class:`Mosquitto` (keyword arguments as its constructor's)."""
        made = Mosquitto(self.directory / f"broker{len(self._brokers)}", **kwargs)  # type: ignore[arg-type]
        self._brokers.append(made)
        return made.start()

    def subscriber(self, broker: Mosquitto, prefix: str, **kwargs: object) -> Subscriber:
        made = Subscriber(broker.subscriber_port, prefix, self.directory, **kwargs)  # type: ignore[arg-type]
        self._subscribers.append(made)
        return made

    def proxy(self, upstream_port: int) -> Proxy:
        made = Proxy(upstream_port)
        self._proxies.append(made)
        return made

    def close(self) -> None:
        for proxy in self._proxies:
            proxy.close()
        for subscriber in self._subscribers:
            subscriber.stop()
        for broker in self._brokers:
            broker.kill()  # SIGKILL by PID: also a frozen broker, at once

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = [
    "LOOPBACK",
    "Certificates",
    "Lab",
    "ListenerTls",
    "Mosquitto",
    "Result",
    "Run",
    "Subscriber",
    "check_delivered",
    "check_result",
    "expected_readings",
    "fleet_scenario",
    "free_port",
    "make_certificates",
    "new_prefix",
    "password_file",
    "run",
    "wait_until",
]
