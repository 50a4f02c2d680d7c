"""A new paho client for one ``mqtt`` output: protocol version, credentials and TLS, not yet connected."""

from __future__ import annotations

import os
import socket

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from metersim.config import MqttOutput
from metersim.errors import ConfigError
from metersim.sinks.mqtt.tls import configure_tls


class UnboundClient(mqtt.Client):
    """A paho client whose socket is not bound before it connects.

    paho 2.2 always passes ``source_address=("", 0)`` to ``socket.create_connection``, which then calls
    ``bind()`` first. A bound port must be unique among all bound sockets, whatever their peer, and the
    kernel gives bind() only half of the ephemeral range at speed: measured here, past ~13,000
    connections to one broker each bind() took ~3 ms and the connect rate fell from ~1,500/s to ~100/s. An
    unbound connect() picks the port for its 4-tuple instead. (With a proxy or a bind address, paho's own.)
    """

    def _create_socket_connection(self) -> socket.socket:
        if self._get_proxy() or self._bind_address or self._bind_port:
            return super()._create_socket_connection()
        return socket.create_connection((self._host, self._port), timeout=self._connect_timeout)


def new_client(output: MqttOutput, client_id: str, *, unbound: bool = False) -> mqtt.Client:
    """A paho client (callback API 2, no reconnect of its own) speaking ``output.protocol``.

    ``unbound``: an :class:`UnboundClient` (for thousands of connections to one broker).
    Raises ConfigError for a named environment variable that is not set, TlsError for unusable TLS files.
    """
    kind = UnboundClient if unbound else mqtt.Client
    if output.protocol == "5":  # paho refuses clean_session on MQTT 5; clean start is a CONNECT option there
        client = kind(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=False,
        )
    else:
        client = kind(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=True,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
    # Named environment variables win over credentials in the URL (mqtt://user:pass@host), as
    # mosquitto_pub's -u/-P win over -L; neither is ever logged.
    username = _env(output.username_env, "username_env")
    password = _env(output.password_env, "password_env")
    if output.username_env is None:
        username = output.url_username
    if output.password_env is None:
        password = output.url_password
    if username is not None or password is not None:
        client.username_pw_set(username or "", password)
    if output.uses_tls:
        configure_tls(client, output.tls)
    return client


def _env(name: str | None, field: str) -> str | None:
    """The value of the environment variable named by a config field; never logged."""
    if name is None:
        return None
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(f"outputs.{field}: names ${name}, which is not set in the environment")
    return value
