"""Many MQTT connections: one per sender (``connections: per-concentrator`` or ``per-meter``).

Each distinct sender of the outboxes (``Outbox.senders``: a meter or concentrator id) gets its own
paho client, created on the sender's first message, with the output's protocol, credentials, TLS,
keepalive and session settings, the client id ``connections_options.client_id`` (fields
``{client_id}``, ``{sender}``, ``{index}``: the output's client id, the sender, 0, 1, ... in order of
first message) and, with ``status_topic``, its own retained status. An outbox without senders
goes to one connection with the output's own client id.

* **Ramp:** at most ``connect_rate_per_s`` new connections per second (after a burst of ``RAMP_BURST_S``
  of the rate), at most ``MAX_HANDSHAKES`` awaiting their CONNACK. A sender's messages wait for its
  first CONNACK in its bounded buffer (``buffer_messages``; full: ``send()`` waits), then go in order.
* **No thread per client:** every client is driven from the caller's thread by one
  :class:`~metersim.sinks.mqtt.selector_loop.Reactor` (epoll): paho's per-publish cost (Python,
  under the GIL) is the bottleneck, not the sockets, and one thread keeps the counters free of locks.
* **Counting** is per connection (a :class:`~metersim.sinks.mqtt.flow.Flow` each, the same rules as
  one connection) and summed into ``stats`` at the end of every call; a message waiting for its
  connection is accepted and in flight. flush / close / interrupt / give up act on every connection:
  a connection that is away longer than ``give_up_s`` fails the run (:class:`DeliveryError`); as long
  as no connection has ever come up, a failed first attempt is :class:`BrokerUnreachableError` at once.
* **File descriptors:** one per connection (paho's wake-up socket pair exists only with its own
  loops). ``open()`` raises the soft ``RLIMIT_NOFILE`` to the hard one; a connection beyond what the
  limit allows is a one-line :class:`DeliveryError` instead of a connect error per connection.
"""

from __future__ import annotations

import math
import secrets
import time
from collections import deque
from collections.abc import Callable

from paho.mqtt.properties import Properties

from metersim.config import MqttOutput
from metersim.config.wire import ConnectionsOptions
from metersim.errors import DeliveryError, MetersimError
from metersim.sinks.base import Interrupted, Outbox, SinkBase
from metersim.sinks.mqtt.flow import STEP_S
from metersim.sinks.mqtt.limits import ThrottledLog, open_fds, raise_nofile_limit
from metersim.sinks.mqtt.peer import Peer
from metersim.sinks.mqtt.properties import PublishProperties, connect_properties, end_session_properties
from metersim.sinks.mqtt.selector_loop import Reactor
from metersim.sinks.mqtt.session import Session
from metersim.sinks.mqtt.sink import OFFLINE_WAIT_S
from metersim.sinks.mqtt.status import StatusSession

#: burst of new connections allowed after an idle spell [s of the connect rate]
RAMP_BURST_S = 0.05
#: connections awaiting their CONNACK at most: more would overflow the broker's listen backlog (Mosquitto's
#: is 100) while it is busy, and a dropped SYN costs its connection a 1 s retransmission
MAX_HANDSHAKES = 64
#: file descriptors kept free for everything else the process opens (files, the broker's, pipes)
FD_RESERVE = 64
#: shortest gap [s] between two non-blocking network rounds while publishing (a round costs an epoll call)
SERVICE_GAP_S = 0.002


class ManyMqttSink(SinkBase):
    """Publish each message on its sender's own MQTT connection; the parameters are those of MqttSink."""

    name = "mqtt"

    def __init__(
        self,
        output: MqttOutput,
        *,
        host: str | None = None,
        port: int | None = None,
        log: Callable[[str], None] | None = None,
        content_type: str | None = None,
        session: Session | None = None,
    ) -> None:
        super().__init__()
        self.output = output
        self.options = output.connections_options or ConnectionsOptions.model_validate({})
        self.host = host if host is not None else output.host
        self.port = port if port is not None else output.port
        self.qos = output.qos
        self.client_id = output.client_id or f"metersim-{secrets.token_hex(6)}"
        self.mqtt5 = output.protocol == "5"
        self.end_session = end_session_properties() if self.mqtt5 else None
        self.connect_properties = connect_properties(output.session_expiry_s) if self.mqtt5 else None
        self._properties = PublishProperties(content_type, output.message_expiry_s) if self.mqtt5 else None
        self.sessions: list[Session] = [] if output.status_topic is None else [StatusSession(output.status_topic)]
        if session is not None:
            self.sessions.append(session)  # last: its will wins
        self.log = ThrottledLog(log or _ignore)
        self.reactor = Reactor()
        self.peers: dict[str | None, Peer] = {}
        # Running totals over the peers, brought up to date from the peers touched since (``_tally``):
        # summing 20,000 peers after every network event would make a flush quadratic.
        self.touched: set[Peer] = set()
        self.handshakes: set[Peer] = set()  # started, no CONNACK (nor failure) yet
        self._totals = [0, 0, 0]  # accepted, acknowledged, errors
        self.any_up = False  # some connection had a CONNACK: later failures are retried, not fatal at once
        self._to_open: deque[Peer] = deque()
        self._to_drain: deque[Peer] = deque()
        self._draining = False
        self._next_open = 0.0  # monotonic [s]: the ramp's next slot
        self._open_every_s = 1.0 / self.options.connect_rate_per_s
        self._rate = output.max_rate_msg_s
        self._next_slot = 0.0  # monotonic [s]: the publish pacing's next slot
        self._serviced_at = 0.0
        self._fd_limit = math.inf
        self._fd_base = 0
        self._opened = False
        self._closed = False
        self._failure: MetersimError | None = None

    # --- describing ---------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def client_ids(self) -> list[str]:
        """The client id of every connection made so far, in order of creation."""
        return [peer.client_id for peer in self.peers.values()]

    @property
    def connected(self) -> int:
        """How many connections are up (CONNACK accepted) now."""
        return sum(1 for peer in self.peers.values() if peer.is_up())

    def describe(self) -> str:
        scheme = "mqtts" if self.output.uses_tls else "mqtt"
        version = " mqtt5" if self.mqtt5 else ""
        return f"{scheme}://{self.address} qos={self.qos}{version} {self.output.connections} ({len(self.peers)} conn.)"

    # --- the Sink protocol --------------------------------------------------------------------------

    def open(self) -> None:
        """Raise the open-file limit; connections are made on each sender's first message."""
        if self._closed:
            raise RuntimeError("ManyMqttSink cannot be reopened after close()")
        if self._opened:
            return
        self._opened = True
        self._fd_limit = raise_nofile_limit()
        self._fd_base = open_fds()

    def send(self, outbox: Outbox) -> None:
        """Publish every message of ``outbox`` on its sender's connection; block while a buffer is full."""
        self._check_stop()
        count = len(outbox)
        if count == 0:
            return
        if self._closed:
            raise RuntimeError("send() after close()")
        self.open()
        topics, payloads, senders = outbox.topics, outbox.payloads, outbox.senders
        if len(topics) != count or len(payloads) != count or (senders is not None and len(senders) != count):
            raise ValueError(f"outbox of {count} messages has {len(topics)} topics and {len(payloads)} payloads")
        props = None if self._properties is None else self._properties.of(outbox.user_properties)
        try:
            if senders is None:
                self._deliver(self._peer(None), topics, payloads, outbox.retain, props)
                return
            groups: dict[str, tuple[list[str], list[bytes]]] = {}
            for sender, topic, payload in zip(senders, topics, payloads):
                group = groups.get(sender)
                if group is None:
                    groups[sender] = ([topic], [payload])
                else:
                    group[0].append(topic)
                    group[1].append(payload)
            for sender, (ts, ps) in groups.items():
                self._deliver(self._peer(sender), ts, ps, outbox.retain, props)
                self.service()
        finally:
            self._sync()

    def poll(self) -> None:
        """Keep every connection alive between emissions: pings, acks, reconnects, the ramp."""
        if self.peers and not self._interrupted and self._failure is None:
            self._round(0.0)
            self._sync()

    def flush(self) -> None:
        """Wait until every accepted message is acknowledged (QoS >= 1) or written (QoS 0), on every connection.

        Opens the connections still waiting in the ramp. Raises DeliveryError after ``drain_timeout_s``.
        """
        self._check_stop()
        deadline = time.monotonic() + self.output.drain_timeout_s
        try:
            while (unfinished := self._unfinished()) > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    accepted = self._tally()[0]
                    raise DeliveryError(
                        f"{unfinished} of {accepted} MQTT messages over {len(self.peers)} connections were not "
                        f"acknowledged by the broker at {self.address} within "
                        f"drain_timeout_s={self.output.drain_timeout_s:g} s"
                    )
                self.step(min(STEP_S, remaining))
        finally:
            self._sync()

    def close(self) -> None:
        """Flush, publish each connection's ``on_close`` messages (``offline``), then disconnect each cleanly.

        Safe to call twice; disconnects even if the flush fails. After ``interrupt()``: drops every
        connection at once, counts what is unacknowledged in ``stats.errors``, and raises nothing.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._interrupted:
                self._stop_now()
            else:
                self.flush()
        except Interrupted:
            pass  # the connections are dropped, and the counts are final
        finally:
            try:
                self._say_goodbye()
            finally:
                for peer in self.peers.values():
                    peer.shut(self.end_session)
                    peer.fold_waiting()
                    peer.stats.errors += max(0, peer.stats.in_flight)
                self.touched.update(self.peers.values())
                self.reactor.close()
                self._sync()

    def _say_goodbye(self) -> None:
        """Publish every up connection's ``on_close`` messages and wait (bounded) for their acknowledgement."""
        if not self.sessions or self._interrupted or self._failure is not None:
            return
        for peer in self.peers.values():
            peer.goodbye()
        deadline = time.monotonic() + min(OFFLINE_WAIT_S, self.output.drain_timeout_s)
        waiting = list(self.peers.values())
        # Bounded: the deadline ends it; a peer whose goodbye is unacknowledged then is dropped (its will fires).
        while waiting := [peer for peer in waiting if peer.farewell_pending()]:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._interrupted:
                return
            try:
                self.reactor.run_once(min(STEP_S, remaining))
            except MetersimError:
                return

    # --- connections: creation, ramp, failures (peers call back here) --------------------------------

    def _peer(self, sender: str | None) -> Peer:
        peer = self.peers.get(sender)
        if peer is not None:
            return peer
        index = len(self.peers)
        if self._fd_base + index + 1 + FD_RESERVE > self._fd_limit:
            self._failure = DeliveryError(
                f"connections: {self.output.connections} needs more than {index} MQTT connections, but the open-file "
                f"limit (RLIMIT_NOFILE) is {self._fd_limit:.0f}: raise it (ulimit -n)"
            )
            raise self._failure
        if sender is None:
            client_id = self.client_id
        else:
            client_id = self.options.client_id.format(client_id=self.client_id, sender=sender, index=index)
        peer = Peer(self, sender, client_id)
        self.peers[sender] = peer
        self._to_open.append(peer)
        return peer

    def came_up(self, peer: Peer) -> None:
        """A peer's first CONNACK: publish what waited for it (outside paho's callback)."""
        self.any_up = True
        if peer.waiting is not None:
            self._to_drain.append(peer)

    def failed(self, error: MetersimError) -> None:
        """A peer gave up (or could not open at all): the run fails with ``error``."""
        self._failure = error
        raise error

    def _open_due(self) -> bool:
        """Start the connections whose slot in the ramp has come; whether the ramp waits for a slot (not for
        handshakes: those wake the loop themselves)."""
        now = time.monotonic()
        to_open, handshakes = self._to_open, self.handshakes
        while to_open:
            if len(handshakes) >= MAX_HANDSHAKES:
                return False
            slot = max(self._next_open, now - RAMP_BURST_S)
            if slot > now:
                return True
            self._next_open = slot + self._open_every_s
            peer = to_open.popleft()
            handshakes.add(peer)
            peer.start()
        return False

    # --- driving the network ------------------------------------------------------------------------

    def _round(self, timeout_s: float) -> None:
        """One network round: open what the ramp allows, wait up to ``timeout_s`` [s], publish what waited."""
        if self._open_due():
            timeout_s = min(timeout_s, max(0.0, self._next_open - time.monotonic()))
        self.reactor.run_once(timeout_s)
        self._serviced_at = time.monotonic()
        if self._to_drain and not self._draining:
            self._draining = True  # a drain that waits (step) must not start another drain
            try:
                while self._to_drain:
                    self._to_drain.popleft().drain()
            finally:
                self._draining = False

    def step(self, timeout_s: float) -> None:
        """Make progress, waiting up to ``timeout_s`` [s]; raises on interrupt or a failed connection."""
        self._check_stop()
        self._round(timeout_s)

    def service(self) -> None:
        """Non-blocking progress while publishing, at most every SERVICE_GAP_S."""
        self._check_stop()
        if time.monotonic() - self._serviced_at >= SERVICE_GAP_S:
            self._round(0.0)

    def _deliver(
        self, peer: Peer, topics: list[str], payloads: list[bytes], retain: bool | None, props: Properties | None
    ) -> None:
        """Pace, then hand the messages to the peer (its waiting buffer or its flow)."""
        self.touched.add(peer)
        count = len(payloads)
        if self._rate is not None:
            now = time.monotonic()
            slot = max(self._next_slot, now - RAMP_BURST_S)
            self._next_slot = slot + count / self._rate
            while (wait := slot - time.monotonic()) > 0:
                self.step(min(wait, STEP_S))
        i = 0
        while peer.waiting is not None and i < count:
            room = self.output.buffer_messages - len(peer.waiting)
            if room <= 0:
                self.step(STEP_S)  # the connection's first CONNACK empties the buffer
                continue
            end = min(count, i + room)
            peer.wait_with(topics[i:end], payloads[i:end], retain, props)
            i = end
        if i < count:
            peer.flow.send(topics[i:], payloads[i:], retain, props)

    # --- counting and stopping ----------------------------------------------------------------------

    def _tally(self) -> list[int]:
        """The totals (accepted, acknowledged, errors) over every peer, updated from the touched ones."""
        totals = self._totals
        for peer in self.touched:
            now = (peer.accepted, peer.stats.acknowledged, peer.stats.errors)
            for k, (new, old) in enumerate(zip(now, peer.counted)):
                totals[k] += new - old
            peer.counted = now
        self.touched.clear()
        return totals

    def _unfinished(self) -> int:
        accepted, acknowledged, errors = self._tally()
        return accepted - acknowledged - errors

    def _sync(self) -> None:
        """Put the connections' summed counters into ``stats`` (every public call ends with this)."""
        stats = self.stats
        stats.accepted, stats.acknowledged, stats.errors = self._tally()

    def _check_stop(self) -> None:
        if self._interrupted:
            raise self._stop_now()
        if self._failure is not None:
            raise self._failure

    def _stop_now(self) -> Interrupted:
        """Drop every connection; count every unacknowledged message as an error; the error to raise."""
        for peer in self.peers.values():
            peer.abandon()
        self.touched.update(self.peers.values())
        self._to_open.clear()
        self._to_drain.clear()
        self._sync()
        stats = self.stats
        return Interrupted(
            f"{self.describe()} interrupted: {stats.errors} of {stats.accepted} accepted messages "
            f"not acknowledged by the broker (counted as errors)"
        )

    @property
    def stopped(self) -> bool:
        return self._interrupted


def _ignore(_line: str) -> None:
    return None
