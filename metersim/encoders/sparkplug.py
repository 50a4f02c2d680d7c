"""``format: sparkplug-b``: Sparkplug B 3.0 payloads and the edge-node state machine.

Mapping (DOMAIN.md section 2): Sparkplug *group* = the meters' group (``group_of``, default the fleet
group's name), *edge node* = the meter's data concentrator (``edge_of``; default one edge node per
group, named after it), *device* = the meter (its id). Topics are ``spBv1.0/{group}/{VERB}/{edge}[/{meter}]``;
Sparkplug fixes the namespace, so an output's topic template is not used.

Payloads are the ``Payload`` message of the Eclipse Tahu ``sparkplug_b.proto``, written by hand with
:mod:`metersim.encoders.protobuf`. Times are milliseconds since the Unix epoch, UTC: a payload's
``timestamp`` is when it leaves (the reading's ``sent_s``), a metric's ``timestamp`` is the interval
end (when the value was measured).

What appears when, per edge node (a ``seq`` counter 0..255 per edge node, wrapping 255 -> 0):

* **Before connecting**: :meth:`SparkplugEncoder.wills` gives each known node's NDEATH, to register as the
  MQTT will (QoS 1, not retained): one metric, ``bdSeq`` (Int64), and no ``seq``.
* **On connect**: :meth:`SparkplugEncoder.births` gives the NBIRTH of every known node not yet born in
  this session: ``seq`` 0, metrics ``bdSeq`` (the same value as the will) and ``Node Control/Rebirth``
  (Boolean false). A node first met in a batch is born inline instead, just before its first device.
* **A reading** (:meth:`SparkplugEncoder.encode`, in row order): if its meter is not born in this session,
  first a DBIRTH declaring every metric of the meter with name, alias, datatype, unit (``engUnit``
  property) and the reading's values; then always one DDATA with the values by alias only (no names, no
  datatypes). Every metric of a reading whose quality is ``late`` (a backlog sent after a comms or supply
  outage) has ``is_historical`` set. So ``encode`` gives one DDATA per reading plus the births in
  between; :attr:`SparkplugEncoder.control` counts those births and deaths.
* **A meter's outage or comms loss**: :meth:`SparkplugEncoder.deaths` gives a DDEATH (``seq``, no
  metrics) for each of the meters that is born; its next reading gives a DBIRTH again.
* **Reconnect** (a new MQTT session): :meth:`SparkplugEncoder.reconnect` increments every node's
  ``bdSeq`` (0..255, wrapping) and unborns its devices; then ``wills`` and ``births`` again.

Metrics of a reading (names as in payload v1): the registers by OBIS code (Double, kWh or m3;
failure counters UInt64), ``interval``, ``export`` (Double, kWh or m3), ``power`` (Double, kW,
electricity), instantaneous values by OBIS code (Double, V, A, -, Hz), ``battery_pct`` (Double, %),
``band`` and ``quality`` (String), ``seq`` (UInt64). Aliases are unique across an edge node's
metrics (NBIRTH's are 0 and 1): device ``k`` of a node has metric ``i`` of :data:`CATALOGUE` as alias
``16 + 64 * k + i``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from metersim._array import Array
from metersim.encoders.json import (
    FREQUENCY_OBIS,
    GAS_CONVERTED_OBIS,
    NEUTRAL_OBIS,
    PHASE_OBIS,
    POWER_FACTOR_OBIS,
    _units,
    instantaneous_values,
    register_columns,
)
from metersim.encoders.protobuf import BOOLEAN, DOUBLE, INT64, STRING, UINT64, Metric, Value, encode_payload
from metersim.records import EVENT_CODES, LATE, QUALITY_NAMES, EventBatch, MeterSet, ReadingBatch

NAMESPACE = "spBv1.0"
BDSEQ, REBIRTH = "bdSeq", "Node Control/Rebirth"
FIRST_DEVICE_ALIAS = 16  # below: the node's own metrics
STRIDE = 64  # aliases per device
MAX_BANDS = 8  # as the tariff config allows
#: every metric a meter may have, by name; its index is its alias offset within the device
CATALOGUE: tuple[str, ...] = (
    "1-0:1.8.0",
    *(f"1-0:1.8.{k}" for k in range(1, MAX_BANDS + 1)),
    "1-0:2.8.0",
    *(f"1-0:2.8.{k}" for k in range(1, MAX_BANDS + 1)),
    "7-0:3.0.0",
    GAS_CONVERTED_OBIS,
    "0-0:96.7.21",
    "0-0:96.7.9",
    "interval",
    "export",
    "power",
    *(code for phase in PHASE_OBIS for code in phase),
    POWER_FACTOR_OBIS,
    FREQUENCY_OBIS,
    "battery_pct",
    "band",
    "seq",
    "quality",
    NEUTRAL_OBIS,  # appended: aliases are append-only
)
_SLOT = {name: i for i, name in enumerate(CATALOGUE)}
assert len(CATALOGUE) <= STRIDE
_INSTANT_UNITS = {POWER_FACTOR_OBIS: None, FREQUENCY_OBIS: "Hz"} | {v: "V" for v, _ in PHASE_OBIS}
#: one edge node id per meter of a meter set (e.g. its concentrator's id)
EdgeOf = Callable[[MeterSet], Sequence[str]]


class Message(NamedTuple):
    topic: str
    payload: bytes


class SparkplugNode:
    """One edge node's session state: ``seq`` (of the last message sent), ``bd_seq``, which devices are born.

    Lifecycle: :meth:`ndeath` (register it as the will) -> connect -> :meth:`nbirth` -> DBIRTH/DDATA/DDEATH
    of its devices -> connection lost -> :meth:`reconnect` -> :meth:`ndeath` -> connect -> :meth:`nbirth` ...
    """

    def __init__(self, group: str, edge_node: str, bd_seq: int = 0) -> None:
        self.group, self.edge_node = group, edge_node
        self.bd_seq = bd_seq  # of the current (or first) session, 0..255
        self.seq = 0  # of the last message: NBIRTH has 0
        self.born = False
        self.devices: set[str] = set()  # devices born in this session
        self._next_alias = FIRST_DEVICE_ALIAS

    def topic(self, verb: str, device: str | None = None) -> str:
        node = f"{NAMESPACE}/{self.group}/{verb}/{self.edge_node}"
        return node if device is None else f"{node}/{device}"

    def _next_seq(self) -> int:
        if not self.born:
            raise ValueError(f"{self.edge_node}: no NBIRTH in this session")
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    def reserve_aliases(self, count: int) -> int:
        """The first of ``count`` aliases no other metric of this node has."""
        first, self._next_alias = self._next_alias, self._next_alias + count
        return first

    def ndeath(self, timestamp_ms: int | None = None) -> Message:
        """The NDEATH for this session's will: only the ``bdSeq`` metric, no ``seq``."""
        payload = encode_payload([Metric(BDSEQ, INT64, self.bd_seq)], timestamp_ms=timestamp_ms)
        return Message(self.topic("NDEATH"), payload)

    def nbirth(self, timestamp_ms: int, metrics: Sequence[Metric] = ()) -> Message:
        """Start the session: ``seq`` 0, ``bdSeq`` as in the will, ``Node Control/Rebirth`` false, no devices born."""
        self.born, self.seq = True, 0
        self.devices.clear()
        own = [Metric(BDSEQ, INT64, self.bd_seq, 0, timestamp_ms), Metric(REBIRTH, BOOLEAN, False, 1, timestamp_ms)]
        return Message(self.topic("NBIRTH"), encode_payload([*own, *metrics], timestamp_ms=timestamp_ms, seq=0))

    def reconnect(self) -> None:
        """A new MQTT session: the next ``bdSeq`` (255 -> 0); the node and its devices must be born again."""
        self.bd_seq = (self.bd_seq + 1) & 0xFF
        self.born = False
        self.devices.clear()

    def dbirth(self, device: str, metrics: Sequence[Metric], timestamp_ms: int) -> Message:
        """Declare ``device`` and every metric it will report (names, aliases, datatypes, values)."""
        seq = self._next_seq()
        self.devices.add(device)
        return Message(self.topic("DBIRTH", device), encode_payload(metrics, timestamp_ms=timestamp_ms, seq=seq))

    def ddata(self, device: str, metrics: Sequence[Metric], timestamp_ms: int, historical: bool = False) -> Message:
        """New values of a born device, by alias (by name where a metric has none)."""
        if device not in self.devices:
            raise ValueError(f"{self.edge_node}/{device}: DDATA before DBIRTH")
        if historical:
            metrics = [m if m.is_historical else replace(m, is_historical=True) for m in metrics]
        payload = encode_payload(metrics, timestamp_ms=timestamp_ms, seq=self._next_seq(), by_alias=True)
        return Message(self.topic("DDATA", device), payload)

    def ddeath(self, device: str, timestamp_ms: int) -> Message:
        """``device`` is gone (outage, comms loss): its metrics are stale until its next DBIRTH."""
        seq = self._next_seq()
        self.devices.discard(device)
        return Message(self.topic("DDEATH", device), encode_payload((), timestamp_ms=timestamp_ms, seq=seq))


@dataclass(eq=False)
class _Devices:
    """Where the meters of one meter set are: their edge node, and the first alias of each meter."""

    meters: MeterSet  # kept alive, so that its id() is never reused while cached
    nodes: list[SparkplugNode]
    node_at: Array  # position -> index into ``nodes`` (int64)
    alias_at: Array  # position -> the meter's first alias (int64)
    ids: list[str] = field(repr=False)


# (catalogue slot, datatype, unit, values per row, which rows have it or None for all)
_Column = tuple[int, int, str | None, list[Value], list[bool] | None]


def _columns(batch: ReadingBatch) -> list[_Column]:
    """The metrics of every reading of ``batch``, as columns, in payload order."""
    meters = batch.meters
    unit = meters.unit
    cols: list[_Column] = []
    for obis, values in register_columns(batch.registers, meters.commodity):
        counter = obis.startswith("0-0:")
        cols.append((_slot(obis), UINT64 if counter else DOUBLE, None if counter else unit, list(values), None))
    regs = batch.registers
    if regs.converted is not None and regs.converted_mask is not None:
        cols.append(
            (_SLOT[GAS_CONVERTED_OBIS], DOUBLE, unit, list(_units(regs.converted)), regs.converted_mask.tolist())
        )
    cols.append((_SLOT["interval"], DOUBLE, unit, list(_units(batch.import_milli)), None))
    if batch.export_milli is not None:
        cols.append((_SLOT["export"], DOUBLE, unit, list(_units(batch.export_milli)), None))
    if meters.commodity == "electricity":
        kw = np.round(batch.import_milli * (3.6 / batch.interval_s), 3).tolist()  # as payload v1
        cols.append((_SLOT["power"], DOUBLE, "kW", kw, None))
    if batch.instantaneous is not None and len(batch):
        rows = instantaneous_values(batch.instantaneous)
        for code in rows[0]:
            cols.append((_SLOT[code], DOUBLE, _INSTANT_UNITS.get(code, "A"), [r[code] for r in rows], None))
    if batch.battery_pct is not None:
        cols.append((_SLOT["battery_pct"], DOUBLE, "%", batch.battery_pct.tolist(), None))
    if meters.band_names is not None:
        names = meters.band_names
        cols.append((_SLOT["band"], STRING, None, [names[b] for b in batch.band.tolist()], None))
    cols.append((_SLOT["seq"], UINT64, None, batch.seq.tolist(), None))
    cols.append((_SLOT["quality"], STRING, None, [QUALITY_NAMES[q] for q in batch.quality.tolist()], None))
    return cols


def _slot(name: str) -> int:
    slot = _SLOT.get(name)
    if slot is None:
        raise ValueError(f"no Sparkplug alias slot for metric {name!r} (at most {MAX_BANDS} tariff bands)")
    return slot


class SparkplugEncoder:
    """``format: sparkplug-b``: one DDATA per reading, preceded by the births it needs (see the module).

    ``edge_of`` gives the edge node of each meter of a meter set (default: the group's name for all);
    ``group_of`` the Sparkplug group of a meter set (default: its fleet group's name). Stateful: one
    encoder serves one stream of messages, in order.
    """

    format = "sparkplug-b"
    one_per_reading = False
    content_type: str | None = None

    def __init__(self, edge_of: EdgeOf | None = None, group_of: Callable[[MeterSet], str] | None = None) -> None:
        self._edge_of = edge_of or (lambda meters: [meters.group] * meters.count)
        self._group_of = group_of or (lambda meters: meters.group)
        self.nodes: dict[tuple[str, str], SparkplugNode] = {}
        self._sets: dict[int, _Devices] = {}
        self._last: tuple[ReadingBatch, list[Message]] | None = None
        self.control = 0  # NBIRTH, DBIRTH and DDEATH messages made (beyond one DDATA per reading)

    def node(self, group: str, edge_node: str) -> SparkplugNode:
        """The edge node ``group``/``edge_node``, made on first use (so a sink can ask for its will first)."""
        node = self.nodes.get((group, edge_node))
        if node is None:
            node = self.nodes[group, edge_node] = SparkplugNode(group, edge_node)
        return node

    def wills(self) -> list[Message]:
        """The NDEATH of every known edge node, to register as MQTT wills before connecting."""
        return [node.ndeath() for node in self.nodes.values()]

    def births(self, time_s: int) -> list[Message]:
        """On connect: the NBIRTH of every known edge node not born in this session [time_s: epoch s]."""
        out = [node.nbirth(time_s * 1000) for node in self.nodes.values() if not node.born]
        self.control += len(out)
        return out

    def reconnect(self) -> None:
        """A new MQTT session for every node: next ``bdSeq``, births needed again."""
        for node in self.nodes.values():
            node.reconnect()

    def deaths(self, meters: MeterSet, positions: Iterable[int], time_s: int) -> list[Message]:
        """DDEATH for each born meter at ``positions`` of ``meters`` (an outage, a comms loss) [time_s: epoch s]."""
        devices = self._devices(meters)
        ids, node_at, nodes = devices.ids, devices.node_at, devices.nodes
        out = []
        for p in positions:
            node, meter = nodes[int(node_at[p])], ids[p]
            if meter in node.devices:
                out.append(node.ddeath(meter, time_s * 1000))
        self.control += len(out)
        return out

    def messages(self, batch: ReadingBatch) -> list[Message]:
        """Every message ``batch`` gives, in order: births where needed, one DDATA per row (cached per batch)."""
        if self._last is not None and self._last[0] is batch:
            return self._last[1]
        out = self._encode(batch)
        self._last = (batch, out)
        return out

    def encode(self, batch: ReadingBatch) -> list[bytes]:
        return [m.payload for m in self.messages(batch)]

    def event_encoder(self) -> SparkplugEvents:
        """The encoder of this output's meter events, sharing its sessions (DDEATH on a power down)."""
        return SparkplugEvents(self)

    def topics(self, batch: ReadingBatch, template: str) -> list[str]:
        """The Sparkplug topics of :meth:`messages`; ``template`` is not used (Sparkplug fixes the namespace)."""
        return [m.topic for m in self.messages(batch)]

    def _devices(self, meters: MeterSet) -> _Devices:
        devices = self._sets.get(id(meters))
        if devices is not None:
            return devices
        edges = list(self._edge_of(meters))
        if len(edges) != meters.count:
            raise ValueError(f"{meters.group}: {len(edges)} edge nodes for {meters.count} meters")
        group = self._group_of(meters)
        names, node_at = np.unique(np.array(edges, dtype=object), return_inverse=True)
        node_at = node_at.astype(np.int64).reshape(-1)
        nodes = [self.node(group, str(name)) for name in names.tolist()]
        # rank of each meter among its node's meters of this set: its device number there
        counts = np.bincount(node_at, minlength=len(nodes))
        order = np.argsort(node_at, kind="stable")
        rank = np.empty(meters.count, dtype=np.int64)
        rank[order] = np.arange(meters.count) - np.repeat(np.cumsum(counts) - counts, counts)
        first = np.array([node.reserve_aliases(int(n) * STRIDE) for node, n in zip(nodes, counts)], dtype=np.int64)
        alias_at = first[node_at] + rank * STRIDE
        devices = self._sets[id(meters)] = _Devices(meters, nodes, node_at, alias_at, meters.ids)
        return devices

    def _encode(self, batch: ReadingBatch) -> list[Message]:
        devices = self._devices(batch.meters)
        ids, nodes, node_at, alias_at = devices.ids, devices.nodes, devices.node_at, devices.alias_at
        cols = _columns(batch)
        names = [CATALOGUE[slot] for slot, *_ in cols]
        late = (batch.quality == LATE).tolist()
        end_ms, sent_ms = (batch.end_s * 1000).tolist(), (batch.sent_s * 1000).tolist()
        out: list[Message] = []
        for j, p in enumerate(batch.meters_at.tolist()):
            node, meter, base = nodes[int(node_at[p])], ids[p], int(alias_at[p])
            ts, hist = end_ms[j], late[j]
            metrics = [
                Metric(name, datatype, values[j], base + slot, ts, hist, unit)
                for name, (slot, datatype, unit, values, has) in zip(names, cols)
                if has is None or has[j]
            ]
            if not node.born:
                out.append(node.nbirth(sent_ms[j]))
                self.control += 1
            if meter not in node.devices:
                out.append(node.dbirth(meter, metrics, sent_ms[j]))
                self.control += 1
            out.append(node.ddata(meter, metrics, sent_ms[j]))
        return out


class SparkplugEvents:
    """The events of a ``sparkplug-b`` output: a meter's ``power_down`` (last gasp) is its DDEATH, so its
    next reading brings a DBIRTH again; Sparkplug has no message for the other meter events."""

    format = "sparkplug-b"
    one_per_event = False

    def __init__(self, readings: SparkplugEncoder) -> None:
        self.readings = readings
        self._last: tuple[EventBatch, list[Message]] | None = None

    def _messages(self, events: EventBatch) -> list[Message]:
        if self._last is None or self._last[0] is not events:
            down = np.flatnonzero(events.code == EVENT_CODES["power_down"])
            out = [
                m
                for k in down.tolist()
                for m in self.readings.deaths(events.meters, [int(events.meters_at[k])], int(events.time_s[k]))
            ]
            self._last = (events, out)
        return self._last[1]

    def encode(self, events: EventBatch) -> list[bytes]:
        return [m.payload for m in self._messages(events)]

    def topics(self, events: EventBatch, template: str) -> list[str]:
        return [m.topic for m in self._messages(events)]
