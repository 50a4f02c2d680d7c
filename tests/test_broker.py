"""The embedded amqtt broker: starts on a free port, carries messages, frees the port, reports a busy port."""

from __future__ import annotations

import socket
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from metersim.broker import EmbeddedBroker
from metersim.errors import BrokerUnreachableError

TIMEOUT_S = 10.0


def _can_bind(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like any server: connections the broker closed may linger in TIME_WAIT on this port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _client(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    return client


def test_publish_and_subscribe_through_the_embedded_broker() -> None:
    with EmbeddedBroker() as broker:
        assert broker.port > 0
        assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
        received: list[tuple[str, bytes]] = []
        got_all = threading.Event()
        subscribed = threading.Event()

        def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
            received.append((message.topic, bytes(message.payload)))
            if len(received) == 3:
                got_all.set()

        sub = _client(broker.port)
        sub.on_message = on_message
        sub.on_subscribe = lambda *args: subscribed.set()
        sub.subscribe("metersim/#", qos=1)
        assert subscribed.wait(TIMEOUT_S)

        pub = _client(broker.port)
        infos = [pub.publish(f"metersim/e/m{i}/reading", b"%d" % i, qos=1) for i in range(3)]
        for info in infos:
            info.wait_for_publish(TIMEOUT_S)
        assert got_all.wait(TIMEOUT_S)
        assert sorted(received) == [(f"metersim/e/m{i}/reading", b"%d" % i) for i in range(3)]
        for client in (pub, sub):
            client.disconnect()
            client.loop_stop()
        port = broker.port
    assert _can_bind(port), "stop() must free the port"
    with EmbeddedBroker(port) as again:
        assert again.port == port


def test_a_busy_port_is_reported() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        broker = EmbeddedBroker(port)
        with pytest.raises(BrokerUnreachableError, match=rf"127\.0\.0\.1:{port}.*in use"):
            broker.start()
        broker.stop()  # harmless after a failed start


def test_stop_twice_and_port_before_start() -> None:
    broker = EmbeddedBroker()
    with pytest.raises(RuntimeError):
        _ = broker.port
    broker.start()
    broker.stop()
    broker.stop()
    assert not broker.running
