"""One sender's connection inside :class:`~metersim.sinks.mqtt.topology.ManyMqttSink`.

A :class:`Peer` is a :class:`~metersim.sinks.mqtt.connection.Connection` (connect, reconnect, give up)
with its own :class:`~metersim.sinks.mqtt.flow.Flow` and counters, its session
:class:`~metersim.sinks.mqtt.session.Lifecycle` (will, ``online``/``offline``), the buffer of
messages that arrived before its first CONNACK, and the two hooks of the reactor (``ready``,
``timer``). Every network event of the peer ends in :meth:`Peer._after`, which publishes pending
own messages, feeds the QoS 2 window, reports a failure to the sink and re-arms the peer's timer.
"""

from __future__ import annotations

from collections import deque
from itertools import repeat
from typing import TYPE_CHECKING, Any

from paho.mqtt.properties import Properties

from metersim.errors import DeliveryError
from metersim.sinks.base import SinkStats
from metersim.sinks.mqtt.client import new_client
from metersim.sinks.mqtt.connection import Connection, State
from metersim.sinks.mqtt.flow import Flow
from metersim.sinks.mqtt.session import Lifecycle

if TYPE_CHECKING:
    from metersim.sinks.mqtt.topology import ManyMqttSink

#: messages waiting for a connection's first CONNACK: (topic, payload, retain or None, MQTT 5 properties)
Waiting = deque[tuple[str, bytes, bool | None, Properties | None]]


class Peer:
    """The connection of one sender (a meter or concentrator id; None: an outbox without senders)."""

    __slots__ = (
        "client_id", "conn", "counted", "farewell", "flow", "lifecycle", "scheduled", "sender", "sink", "sock",
        "started", "stats", "tls", "waiting",
    )  # fmt: skip

    def __init__(self, sink: ManyMqttSink, sender: str | None, client_id: str) -> None:
        output = sink.output
        self.sink = sink
        self.sender = sender
        self.client_id = client_id
        self.stats = SinkStats()
        self.flow = Flow(
            self.stats,
            qos=output.qos,
            retain=output.retain,
            max_rate_msg_s=None,  # the sink paces all connections together
            max_inflight=output.max_inflight,
            buffer_messages=output.buffer_messages,
            step=sink.step,
            service=sink.service,
            is_up=self.is_up,
        )
        client = new_client(output, client_id, unbound=True)
        self.lifecycle = Lifecycle(sink.sessions, client_id, self.flow, mqtt5=sink.mqtt5) if sink.sessions else None
        self.flow.attach(client)
        qos0 = output.qos == 0
        self.conn = Connection(
            client,
            sink.host,
            sink.port,
            keepalive_s=output.keepalive_s,
            connect_timeout_s=output.connect_timeout_s,
            reconnect_max_s=output.reconnect_max_s,
            give_up_s=output.give_up_s,
            log=sink.log,
            on_discard=self.flow.discarded if qos0 else None,
            on_drained=self.flow.drained if qos0 else None,
            on_up=self._came_up,
            before_connect=None if self.lifecycle is None else self.lifecycle.before_connect,
            connect_properties=sink.connect_properties,
            tls=output.uses_tls,
            client_cert=output.tls is not None and output.tls.cert_file is not None,
            # an idle connection's keepalive round a quarter keepalive apart, not every second: with
            # 20,000 connections one round each second would cost more than half a core
            misc_every_s=output.keepalive_s / 4,
        )
        self.tls = output.uses_tls
        self.sock: Any = None
        self.scheduled = 0.0
        sink.reactor.attach(client, self)
        self.waiting: Waiting | None = deque()  # None once the first CONNACK has come and the buffer is drained
        self.started = False
        self.farewell: bool | None = None  # whether the on_close messages went to paho (None: not tried)
        self.counted = (0, 0, 0)  # accepted, acknowledged, errors as last added to the sink's totals

    def __repr__(self) -> str:
        return f"Peer({self.client_id!r}, {self.conn.state.value})"

    def is_up(self) -> bool:
        return self.conn.state is State.UP

    # --- the reactor's hooks ------------------------------------------------------------------------

    def start(self) -> None:
        """Open the connection (its slot in the ramp has come)."""
        self.started = True
        self.conn.start()
        self._after()

    def ready(self, events: int) -> None:
        if self.conn.state is State.DOWN:
            # A socket left open by a failed attempt: stop watching it (level-triggered epoll would spin).
            self.sink.reactor.forget(self)
            return
        self.conn.handle(events)
        self._after()

    def timer(self) -> None:
        self.conn.service()
        self._after()

    def _after(self) -> None:
        sink = self.sink
        sink.touched.add(self)  # every change of this peer's counters passes here, _deliver or drain
        if self.conn.state is not State.CONNECTING:
            sink.handshakes.discard(self)
        if self.lifecycle is not None and self.lifecycle.pending:
            self.lifecycle.retry()
        self.flow.pump()
        conn = self.conn
        if conn.state is State.DOWN:
            if conn.gave_up:
                self.sink.failed(
                    DeliveryError(
                        f"MQTT connection {self.client_id} to {conn.address} unreachable for {conn.away_s:.0f} s "
                        f"(give_up_s={conn.give_up_s:g}; last error: {conn.last_reason}); "
                        f"{self.in_flight} of {self.accepted} of its messages unacknowledged"
                    )
                )
            if not self.sink.any_up:
                self.sink.failed(conn.open_error())  # no connection ever came up: the broker is unusable
        self.sink.reactor.schedule(self, conn.due())

    def _came_up(self) -> None:
        """At each accepted CONNACK (inside paho's callback)."""
        if self.lifecycle is not None:
            self.lifecycle.connected()
        if self.waiting is not None:
            self.sink.came_up(self)

    # --- messages -----------------------------------------------------------------------------------

    def wait_with(
        self, topics: list[str], payloads: list[bytes], retain: bool | None, props: Properties | None
    ) -> None:
        """Take messages into the buffer (before the first CONNACK); :attr:`accepted` counts them."""
        assert self.waiting is not None
        self.waiting.extend(zip(topics, payloads, repeat(retain), repeat(props)))

    @property
    def accepted(self) -> int:
        """Messages accepted: by the flow, and waiting for the first CONNACK (not in ``stats`` yet, so that
        a QoS 0 flow, which counts what paho holds at a connect attempt as lost, does not count them)."""
        return self.stats.accepted + len(self.waiting or ())

    @property
    def in_flight(self) -> int:
        return self.stats.in_flight + len(self.waiting or ())

    def drain(self) -> None:
        """After the first CONNACK: hand the buffered messages to the flow, in order."""
        items, self.waiting = list(self.waiting or ()), None
        self.sink.touched.add(self)
        stats, count, i = self.stats, len(items), 0
        base = stats.accepted  # only this drain's flow.send changes it meanwhile
        try:
            while i < count:
                retain, props = items[i][2], items[i][3]
                j = i + 1
                while j < count and items[j][2] == retain and items[j][3] is props:
                    j += 1
                self.flow.send([t for t, _, _, _ in items[i:j]], [p for _, p, _, _ in items[i:j]], retain, props)
                i = j
        finally:
            missing = count - (stats.accepted - base)
            if missing > 0:  # interrupted or failed mid-way: accepted by the sink, and not delivered
                stats.accepted += missing
                if self.sink.stopped:
                    stats.errors += missing
            self.sink.touched.add(self)  # a tally in between (an interrupt) must see the end state too

    def fold_waiting(self) -> None:
        """At the end: count what still waits for a connection in ``stats`` (then in flight, so lost)."""
        self.stats.accepted += len(self.waiting or ())
        self.waiting = None

    # --- ending -------------------------------------------------------------------------------------

    def goodbye(self) -> None:
        """Before a clean close: publish the sessions' ``on_close`` messages if the connection is up."""
        if self.lifecycle is not None and self.is_up():
            self.farewell = self.lifecycle.closing()

    def farewell_pending(self) -> bool:
        """Whether the ``on_close`` messages went out and still await their acknowledgement."""
        return bool(self.farewell) and self.is_up() and self.flow.own_pending()

    def shut(self, properties: Properties | None) -> None:
        """Disconnect cleanly if the goodbye was acknowledged (or there is none), else drop (the will fires)."""
        self.sink.reactor.forget(self)
        if not self.started:
            return
        clean = self.is_up() and not self.sink.stopped and (self.lifecycle is None or self.farewell is True)
        if clean and not self.flow.own_pending():
            self.conn.close(properties)
        else:
            self.conn.abort()

    def abandon(self) -> None:
        """Interrupted: drop the connection at once; every unacknowledged message is an error."""
        self.sink.reactor.forget(self)
        if self.started:
            self.conn.abort()
        self.flow.abandon()
        self.fold_waiting()
        self.stats.errors += max(0, self.stats.in_flight)
