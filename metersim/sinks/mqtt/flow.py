"""Flow control: pace the publishes, apply backpressure, and count every message.

Counting (``SinkStats``): a message is *accepted* once the flow took it (paho, or at QoS 2 the
flow's own backlog), *acknowledged* once the broker acknowledged it (QoS 1: PUBACK, QoS 2: PUBCOMP
and nothing earlier) or, at QoS 0, once it has left paho for the socket; QoS 0 messages paho had not
written when the connection dropped are counted in ``errors``.

Backpressure at QoS 0 and 1: paho's out-queue is bounded (``buffer_messages``), and in flight at
most ``max_inflight`` messages. When ``publish()`` answers ``MQTT_ERR_QUEUE_SIZE`` the flow waits for
acknowledgements (or a reconnect) and retries the same message, so nothing is dropped and message
ids (16 bit) never wrap onto live ones.

QoS 2 keeps its window (``QOS2_MAX_INFLIGHT``) across reconnects: paho itself never holds more than
the window. After a reconnect paho re-sends *every* message it holds at once, ignoring its own
``max_inflight_messages`` (``_messages_reconnect_reset_out`` in paho 2.2), and a broker at stock
limits would acknowledge the excess and drop it. So the flow keeps accepted QoS 2 messages in its own
bounded backlog (``buffer_messages`` together with those in paho) and hands paho the next one only
when a PUBCOMP has made room (:meth:`Flow.pump`, which the sink runs after every network round).

MQTT 5: a PUBACK or PUBCOMP with a failure reason code (0x80 and above: not authorized, quota
exceeded, ...) counts the message in ``errors``, not ``acknowledged``; on 3.1.1 a broker cannot say so.
A QoS 2 refusal comes in PUBREC, whose reason code paho 2.2 ignores (it sends PUBREL anyway, and
Mosquitto completes with PUBCOMP 0): such a message is counted as acknowledged.
The sink's own messages (the retained status, :meth:`Flow.publish_own`) are never counted.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from metersim.sinks.base import SinkStats

#: publishes between two services of the network loop (reads PUBACKs, writes leftovers, keepalive)
SERVICE_EVERY = 100
#: longest single wait inside a blocking step [s]; bounds how late deadlines are noticed
STEP_S = 0.05
#: longest burst above ``max_rate_msg_s`` after an idle spell [s of the rate]
RATE_BURST_S = 0.05
#: QoS 2 messages in flight at most. Mosquitto keeps at most ``max_inflight_messages`` (default 20)
#: incoming QoS 2 messages per client awaiting PUBREL. Observed with 2.0.11 and a 100-message window:
#: it answered PUBREC/PUBCOMP for all 1000 messages but delivered 200 (MQTT 3.1.1 cannot carry a
#: "quota exceeded" reason); with ``max_queued_messages 0`` it disconnected the client instead.
#: The flow never lets paho hold more than this many QoS 2 messages, not even right after a reconnect.
QOS2_MAX_INFLIGHT = 20

_OK = MQTTErrorCode.MQTT_ERR_SUCCESS
_QUEUE_SIZE = MQTTErrorCode.MQTT_ERR_QUEUE_SIZE
_NO_CONN = MQTTErrorCode.MQTT_ERR_NO_CONN
#: MQTT 5 reason codes from 0x80 up are failures (a 3.1.1 acknowledgement is always 0)
_FAILURE = 0x80


class Flow:
    """Publish lists of messages through one paho client at one QoS.

    Parameters
    ----------
    stats
        The sink's counters, updated in place.
    step
        Make progress on the connection, waiting up to the given time [s] (raises on give-up).
    service
        Make progress on the connection without waiting.
    is_up
        Whether the connection is up (CONNACK accepted).
    """

    def __init__(
        self,
        stats: SinkStats,
        *,
        qos: int,
        retain: bool,
        max_rate_msg_s: float | None,
        max_inflight: int,
        buffer_messages: int,
        step: Callable[[float], None],
        service: Callable[[], None],
        is_up: Callable[[], bool],
    ) -> None:
        self.stats = stats
        self.qos = qos
        self.retain = retain
        self.max_inflight = min(max_inflight, QOS2_MAX_INFLIGHT) if qos == 2 else max_inflight
        self.buffer_messages = buffer_messages
        self._rate = max_rate_msg_s
        self._next_slot = 0.0  # monotonic time [s] at which the next batch may be published
        self._step = step
        self._service = service
        self._is_up = is_up
        self._client: mqtt.Client | None = None
        # QoS 2: accepted, not yet handed to paho: (topic, payload, retain, properties)
        self._backlog: deque[tuple[str, bytes, bool, Properties | None]] = deque()
        self._held = 0  # QoS 2: handed to paho and not yet completed (PUBCOMP)
        self._own: set[int] = set()  # mids of the sink's own messages awaiting their PUBACK: not counted
        self._last_own: mqtt.MQTTMessageInfo | None = None

    def attach(self, client: mqtt.Client) -> None:
        """Bound ``client``'s queues and count its acknowledgements; later sends publish through it."""
        # Bounded: QUEUE_SIZE applies backpressure, and mids (16 bit) cannot wrap onto live ones.
        client.max_inflight_messages_set(self.max_inflight)
        # QoS 2: paho holds at most the window (``pump`` keeps to it; this limit backs it up).
        client.max_queued_messages_set(self._queue_limit)
        if self.qos == 2:
            client.on_publish = self._on_complete
        elif self.qos:
            client.on_publish = self._on_publish
        self._client = client

    # --- publishing ---------------------------------------------------------------------------------

    @property
    def _queue_limit(self) -> int:
        return self.max_inflight if self.qos == 2 else self.buffer_messages

    def send(
        self,
        topics: list[str],
        payloads: list[bytes],
        retain: bool | None = None,
        properties: Properties | None = None,
    ) -> None:
        """Publish ``payloads[i]`` to ``topics[i]`` for every i; block while the bounded buffer is full.

        ``retain``: None for the output's ``retain``. ``properties``: MQTT 5 PUBLISH properties shared
        by every message (None on 3.1.1).
        """
        keep = self.retain if retain is None else retain
        if self.qos == 2:
            self._send_qos2(topics, payloads, len(payloads), keep, properties)
        elif self.qos:
            self._send_reliable(topics, payloads, len(payloads), keep, properties)
        else:
            self._send_qos0(topics, payloads, len(payloads), keep, properties)

    def publish_own(self, topic: str, payload: bytes, qos: int, retain: bool, properties: Properties | None) -> bool:
        """Publish a message of the sink's own (its status), outside the counts; False if paho had no room.

        paho cannot lift its queue limit on an open connection, so a full buffer refuses this message
        too; the caller retries after the next wait (acknowledgements make room).
        """
        assert self._client is not None
        info = self._client.publish(topic, payload, qos, retain, properties)
        if info.rc not in (_OK, _NO_CONN):  # NO_CONN: stored, sent after the next CONNACK
            return False
        if qos and self.qos:  # at QoS 0 the flow sets no on_publish, so nothing would clear the mid
            self._own.add(info.mid)
        self._last_own = info
        return True

    def own_pending(self) -> bool:
        """Whether the last message of :meth:`publish_own` still awaits its acknowledgement."""
        info = self._last_own
        return info is not None and not info.is_published()

    def _send_reliable(
        self, topics: list[str], payloads: list[bytes], count: int, retain: bool, props: Properties | None
    ) -> None:
        """QoS 1: every rc except QUEUE_SIZE means paho stored the message (it re-sends it later)."""
        assert self._client is not None
        publish = self._client.publish
        qos, stats, step = self.qos, self.stats, self._step
        i = 0
        while i < count:
            end = min(i + SERVICE_EVERY, count)
            self._pace(end - i)
            start = i
            while i < end:
                if publish(topics[i], payloads[i], qos, retain, props).rc == _QUEUE_SIZE:
                    # The bounded buffer is full: wait for acknowledgements (or a reconnect), retry.
                    stats.accepted += i - start
                    start = i
                    step(STEP_S)
                    continue
                i += 1
            stats.accepted += i - start
            self._service()

    def _send_qos2(
        self, topics: list[str], payloads: list[bytes], count: int, retain: bool, props: Properties | None
    ) -> None:
        """QoS 2: take messages into the backlog while there is room; paho gets them through ``pump``."""
        backlog, stats, limit = self._backlog, self.stats, self.buffer_messages
        i = 0
        while i < count:
            room = limit - len(backlog) - self._held
            if room <= 0:
                self._step(STEP_S)  # the sink pumps after each wait: PUBCOMPs make room
                continue
            end = min(i + room, i + SERVICE_EVERY, count)
            self._pace(end - i)
            backlog.extend((topic, payload, retain, props) for topic, payload in zip(topics[i:end], payloads[i:end]))
            stats.accepted += end - i
            i = end
            self.pump()
            self._service()

    def pump(self) -> None:
        """QoS 2: hand paho the next messages of the backlog while fewer than the window await PUBCOMP.

        Paho stores a message it cannot send yet (no connection: ``MQTT_ERR_NO_CONN``) and sends it
        after the next CONNACK, so it counts as held; only ``MQTT_ERR_QUEUE_SIZE`` means "not taken".
        """
        backlog = self._backlog
        if not backlog:
            return
        assert self._client is not None
        publish, window = self._client.publish, self.max_inflight
        while backlog and self._held < window:
            topic, payload, retain, props = backlog[0]
            if publish(topic, payload, 2, retain, props).rc == _QUEUE_SIZE:
                return
            backlog.popleft()
            self._held += 1

    def abandon(self) -> None:
        """Forget the QoS 2 backlog (the sink counts it in ``errors``); nothing more is handed to paho."""
        self._backlog.clear()

    def _send_qos0(
        self, topics: list[str], payloads: list[bytes], count: int, retain: bool, props: Properties | None
    ) -> None:
        """QoS 0: paho sends at once or not at all; a message not sent is retried after a reconnect."""
        assert self._client is not None
        publish = self._client.publish
        stats, is_up = self.stats, self._is_up
        i = 0
        while i < count:
            while not is_up():
                self._step(STEP_S)
            end = min(i + SERVICE_EVERY, count)
            self._pace(end - i)
            start = i
            while i < end and publish(topics[i], payloads[i], 0, retain, props).rc == _OK:
                i += 1
            stats.accepted += i - start
            self._service()

    def _pace(self, count: int) -> None:
        """Hold the publish rate at ``max_rate_msg_s``, servicing the connection while waiting."""
        if self._rate is None:
            return
        now = time.monotonic()
        # After an idle spell, allow at most a short burst rather than everything that was "saved".
        slot = max(self._next_slot, now - RATE_BURST_S)
        self._next_slot = slot + count / self._rate
        while (wait := slot - time.monotonic()) > 0:
            self._step(min(wait, STEP_S))

    # --- accounting (hooks of the connection and of paho) -------------------------------------------

    def drained(self) -> None:
        """QoS 0: paho has nothing left to write, so everything accepted so far has left it.

        A whole batch is counted at once because paho's per-message on_publish for QoS 0 costs about
        a fifth of a publish.
        """
        stats = self.stats
        stats.acknowledged += stats.in_flight

    def discarded(self) -> str:
        """QoS 0: paho drops the messages it had not written yet; count them, and say so ("" if none)."""
        stats = self.stats
        lost = stats.in_flight
        if lost <= 0:
            return ""
        stats.errors += lost
        return f"{lost} QoS 0 messages lost"

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        own = self._own
        if own and mid in own:
            own.discard(mid)
            return
        if reason_code.value >= _FAILURE:
            self.stats.errors += 1
        else:
            self.stats.acknowledged += 1

    def _on_complete(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        """QoS 2: paho reports a message only on its PUBCOMP, when the broker has released it."""
        own = self._own
        if own and mid in own:
            own.discard(mid)  # a QoS 1 status message's PUBACK: not in the window either
            return
        self._held -= 1
        if reason_code.value >= _FAILURE:
            self.stats.errors += 1
        else:
            self.stats.acknowledged += 1
