"""Real-broker fixtures: which broker to use, private Mosquitto instances, and an independent subscriber.

Broker resolution for ``broker_url`` (first that works):

1. ``$METERSIM_TEST_BROKER`` (``mqtt://host:port``);
2. a broker already listening on 127.0.0.1:1883;
3. a private ``mosquitto`` on a free loopback port, stopped at the end of the session;
4. the embedded amqtt broker -- except when ``CI=true``: CI must test against real Mosquitto.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.client import ConnectFlags, DisconnectFlags
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

LOOPBACK = "127.0.0.1"
IN_CI = os.environ.get("CI", "").strip().lower() == "true"
MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None
)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
#: how long a broker may take to accept connections after it is started [s]
START_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def split_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or LOOPBACK, parts.port or (8883 if parts.scheme == "mqtts" else 1883)


def need_mosquitto() -> str:
    """The mosquitto binary; skip the test without it (fail under CI)."""
    if MOSQUITTO is None:
        if IN_CI:
            pytest.fail("CI=true: the mosquitto binary is required for the integration tests")
        pytest.skip("no mosquitto binary")
    return MOSQUITTO


# --- a private mosquitto ------------------------------------------------------------------------------


class PrivateMosquitto:
    """A mosquitto child process on a fixed loopback port, so that it can be killed and restarted.

    ``extra_config`` is appended to the generated configuration (e.g. a TLS listener or
    ``password_file``); by default the listener is plain MQTT on ``port``.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        listener_config: str = "",
        extra_config: str = "",
        persistence: bool = False,
        allow_anonymous: bool = True,
    ) -> None:
        self.binary = need_mosquitto()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.config_path = workdir / f"mosquitto-{self.port}.conf"
        self.log_path = workdir / f"mosquitto-{self.port}.log"
        persistence_lines = (
            f"persistence true\npersistence_location {workdir}/\nautosave_interval 1\n"
            if persistence
            else "persistence false\n"
        )
        # As root, mosquitto would switch to its own user, which cannot use pytest's private tmp dirs.
        user_line = "user root\n" if os.geteuid() == 0 else ""
        self.config_path.write_text(
            f"listener {self.port} {LOOPBACK}\n"
            f"{listener_config}"
            f"allow_anonymous {'true' if allow_anonymous else 'false'}\n"
            f"{persistence_lines}"
            f"{user_line}"
            # Unlimited queues and windows: a slow test subscriber must never be dropped by the broker.
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            f"{extra_config}"
        )
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> PrivateMosquitto:
        if self.running:
            return self
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [self.binary, "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self._proc.returncode}: {self.log_tail()}")
            if port_open(LOOPBACK, self.port, 0.2):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {START_TIMEOUT_S:g} s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, nothing saved."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def freeze(self) -> None:
        """SIGSTOP: the broker stops reading and writing, but its sockets stay open."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGSTOP)

    def restart(self) -> PrivateMosquitto:
        """Kill (if running) and start again on the same port."""
        self.kill()
        return self.start()

    def stop(self) -> None:
        """SIGCONT (a frozen broker would never act on SIGTERM), SIGTERM, then SIGKILL after 5 s."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGCONT)
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def wait_for_save(self, timeout_s: float = 5.0) -> None:
        """Block until the broker writes its persistence file again (it autosaves every ~2 s)."""
        marker = "Saving in-memory database"
        before = self._log_text().count(marker)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._log_text().count(marker) > before:
                return
            time.sleep(0.05)
        raise TimeoutError(f"mosquitto did not save its database within {timeout_s:g} s: {self.log_tail()}")

    def _log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 10) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> PrivateMosquitto:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@pytest.fixture
def private_mosquitto(tmp_path: Path) -> Iterator[Callable[..., PrivateMosquitto]]:
    """A factory of PrivateMosquitto instances (not yet started); all are stopped after the test."""
    made: list[PrivateMosquitto] = []

    def make(**kwargs: object) -> PrivateMosquitto:
        broker = PrivateMosquitto(tmp_path / f"broker{len(made)}", **kwargs)  # type: ignore[arg-type]
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.stop()


# --- the shared broker --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mqtt://host:port`` of a broker for the whole session (see the module docstring)."""
    env = os.environ.get("METERSIM_TEST_BROKER", "").strip()
    if env:
        yield env
        return
    if port_open(LOOPBACK, 1883):
        yield f"mqtt://{LOOPBACK}:1883"
        return
    if MOSQUITTO is not None:
        with PrivateMosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
            yield broker.url
        return
    if IN_CI:
        pytest.fail("CI=true: no MQTT broker on 127.0.0.1:1883 and no mosquitto binary; CI must use real Mosquitto")
    from metersim.broker import EmbeddedBroker

    with EmbeddedBroker() as embedded:
        yield embedded.url


# --- an independent subscriber ------------------------------------------------------------------------


class Subscriber:
    """A paho client, in its own ``loop_start()`` thread, that records every (topic, payload) it gets.

    It subscribes (QoS 1 by default) in ``start()``, before the scenario runs, and re-subscribes
    whenever it connects without a session present (e.g. after a broker restart without persistence).
    """

    def __init__(
        self,
        url: str,
        topic_filter: str,
        *,
        qos: int = 1,
        client_id: str | None = None,
        clean_session: bool = True,
    ) -> None:
        self.host, self.port = split_url(url)
        self.topic_filter = topic_filter
        self.qos = qos
        self.client_id = client_id or f"metersim-test-sub-{uuid.uuid4().hex[:12]}"
        self.messages: list[tuple[str, bytes]] = []
        self.retained: list[bool] = []
        self.connects = 0
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        # A restarted broker should find this subscriber back quickly.
        self._client.reconnect_delay_set(1, 1)
        self._client.max_inflight_messages_set(0)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect

    def start(self, timeout_s: float = 10.0) -> Subscriber:
        self._client.connect(self.host, self.port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.stop()
            raise TimeoutError(f"no SUBACK for {self.topic_filter!r} within {timeout_s:g} s")
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Subscriber:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def count(self) -> int:
        with self._cond:
            return len(self.messages)

    def wait_for(self, n: int, timeout_s: float) -> bool:
        """Block until at least ``n`` messages arrived, or ``timeout_s`` [s] passed; True if they did."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self.messages) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wait_quiet(self, quiet_s: float = 0.3, timeout_s: float = 10.0) -> int:
        """Block until no message arrived for ``quiet_s`` [s] (or ``timeout_s``); the message count."""
        deadline = time.monotonic() + timeout_s
        last = -1
        while time.monotonic() < deadline:
            current = self.count
            if current == last:
                break
            last = current
            time.sleep(quiet_s)
        return self.count

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            return
        self.connects += 1
        if not flags.session_present or not self._subscribed.is_set():
            client.subscribe(self.topic_filter, self.qos)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if all(not rc.is_failure for rc in reason_codes):
            self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((message.topic, bytes(message.payload)))
            self.retained.append(bool(message.retain))
            self._cond.notify_all()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        return None


@pytest.fixture
def subscriber(broker_url: str) -> Iterator[Callable[..., Subscriber]]:
    """A factory of started Subscribers on ``broker_url`` (or another url); all are stopped after the test."""
    made: list[Subscriber] = []

    def make(topic_filter: str, *, url: str | None = None, **kwargs: object) -> Subscriber:
        sub = Subscriber(url or broker_url, topic_filter, **kwargs)  # type: ignore[arg-type]
        made.append(sub)
        return sub.start()

    yield make
    for sub in made:
        sub.stop()


# --- a subscriber in another process ------------------------------------------------------------------


class ExternalSubscriber:
    """``mosquitto_sub`` in its own process, writing to a file: a consumer the publisher cannot slow.

    Mosquitto drops QoS 1 messages for a subscriber more than ``max_queued_messages`` (1000 by
    default) behind, so a subscriber that shares the publisher's process (its GIL) or reads through
    a pipe that the publisher's process must drain would lose messages the publisher delivered.
    """

    def __init__(self, url: str, topic_filter: str, workdir: Path) -> None:
        binary = shutil.which("mosquitto_sub")
        if binary is None:
            if IN_CI:
                pytest.fail("CI=true: mosquitto_sub (mosquitto-clients) is required")
            pytest.skip("no mosquitto_sub")
        self.host, self.port = split_url(url)
        self.topic_filter = topic_filter
        self.path = workdir / f"sub-{uuid.uuid4().hex[:8]}.txt"
        self._out = open(self.path, "w")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            [binary, "-h", self.host, "-p", str(self.port), "-q", "1", "-v", "-t", topic_filter],
            stdout=self._out,
            stderr=subprocess.DEVNULL,
        )
        self._marker = topic_filter.rstrip("#").rstrip("/") + "/_ready"
        self._wait_ready()

    def _lines(self) -> list[str]:
        text = self.path.read_text()
        complete = text[: text.rfind("\n") + 1]
        return [line for line in complete.splitlines() if not line.startswith(self._marker)]

    def _wait_ready(self, timeout_s: float = 10.0) -> None:
        """Publish probes until one comes back: then the subscription is in place."""
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"metersim-test-probe-{uuid.uuid4().hex[:8]}")
        publisher.connect(self.host, self.port)
        publisher.loop_start()
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                publisher.publish(self._marker, b"probe", qos=1).wait_for_publish(2)
                time.sleep(0.2)
                if self._marker in self.path.read_text():
                    return
            raise TimeoutError(f"mosquitto_sub did not receive on {self.topic_filter!r}")
        finally:
            publisher.loop_stop()
            publisher.disconnect()

    def messages(self) -> list[tuple[str, str]]:
        return [tuple(line.split(" ", 1)) for line in self._lines()]  # type: ignore[misc]

    def wait_for(self, n: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self._lines()) >= n:
                return True
            time.sleep(0.2)
        return False

    def wait_quiet(self, quiet_s: float = 0.5, timeout_s: float = 10.0) -> int:
        deadline, last = time.monotonic() + timeout_s, -1
        while time.monotonic() < deadline:
            count = len(self._lines())
            if count == last:
                return count
            last = count
            time.sleep(quiet_s)
        return last

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        self._out.close()
