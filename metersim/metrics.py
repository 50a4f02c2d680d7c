"""Prometheus metrics of a running simulation (``metersim run --metrics-port PORT``).

:func:`snapshot_of` copies a running :class:`~metersim.simulation.Simulation`'s counters into a
:class:`MetricsSnapshot` (JSON-able, so a worker process can send its own through a pipe);
:func:`serve_metrics` serves the sum of the snapshots its ``source`` returns at every scrape, on
``http://127.0.0.1:PORT/metrics`` (loopback only), through prometheus-client with a registry of its own.

The metrics (``output`` is the output's position in the scenario's ``outputs``, ``type`` its sink)::

    metersim_readings_generated_total{kind}          readings whose report time came (electricity, gas, grid-side)
    metersim_readings_published_total                handed to the outputs after the transforms
    metersim_events_published_total                  meter events handed to the outputs
    metersim_readings_encoded_total{format}          readings encoded, per format (shared by outputs of a format)
    metersim_messages_accepted_total{output,type}    messages the output accepted
    metersim_messages_acknowledged_total{output,type}  written to the OS, or acknowledged by the broker
    metersim_messages_lost_total{output,type}        messages the output knows it failed to deliver
    metersim_messages_in_flight{output,type}         MQTT: accepted, neither acknowledged nor lost (gauge)
    metersim_mqtt_connections_up{output,type}        MQTT: connections with an accepted CONNACK now (gauge)
    metersim_mqtt_reconnects_total{output,type}      MQTT: connections lost after they were up, then retried
    metersim_emission_lateness_seconds               paced runs: how late emissions left (histogram)

The lateness histogram has every fifth bucket edge of :mod:`metersim.engine.lateness` (four per
decade, 10 us to 1000 s, then +Inf); its ``_sum`` is exact. An edge there is exclusive (a value on it
counts in the bucket above), Prometheus' ``le`` inclusive: only values exactly on an edge differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from metersim.engine.lateness import BUCKETS, Lateness, bucket_upper_s
from metersim.errors import OutputNotWritableError

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from metersim.simulation import Simulation
    from metersim.sinks.base import Sink

HOST = "127.0.0.1"
#: the fine buckets (20 per decade) folded into Prometheus buckets: every fifth edge, below +Inf
EDGE_EVERY = 5
#: the fine buckets whose upper edges become ``le`` bounds (the top bucket, unbounded, is +Inf)
LE_BUCKETS = tuple(range(0, BUCKETS - 1, EDGE_EVERY))
#: how long closing waits for the server's thread [s]
STOP_TIMEOUT_S = 5.0


class MetricsPortError(OutputNotWritableError):
    """The metrics port cannot be listened on (in use, privileged): exit 5, like an output that cannot open."""


@dataclass
class OutputMetrics:
    """One output's counters [messages]; the MQTT-only ones are None for other outputs."""

    index: int  # position among the run's outputs (the scenario's first, then any extra sinks)
    type: str  # the sink's name: mqtt, file, parquet, stdout, discard, memory
    accepted: int = 0
    acknowledged: int = 0
    errors: int = 0
    in_flight: int | None = None
    connections_up: int | None = None
    reconnects: int | None = None


@dataclass
class MetricsSnapshot:
    """A run's counters at one instant (zeros before its engine starts)."""

    generated_by_kind: dict[str, int] = field(default_factory=dict)  # [readings]
    readings_published: int = 0
    events_published: int = 0
    encoded: dict[str, int] = field(default_factory=dict)  # [readings] per format
    outputs: list[OutputMetrics] = field(default_factory=list)
    lateness: Lateness | None = None  # paced runs only

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (to cross a pipe from a worker process); :meth:`from_dict` reads it back."""
        data = asdict(self)
        data["lateness"] = None if self.lateness is None else self.lateness.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricsSnapshot:
        late = data.get("lateness")
        return cls(
            generated_by_kind=dict(data["generated_by_kind"]),
            readings_published=int(data["readings_published"]),
            events_published=int(data["events_published"]),
            encoded=dict(data["encoded"]),
            outputs=[OutputMetrics(**o) for o in data["outputs"]],
            lateness=None if late is None else Lateness.from_dict(late),
        )

    @classmethod
    def total(cls, snapshots: Sequence[MetricsSnapshot]) -> MetricsSnapshot:
        """The sum of the snapshots of a run's workers: counters and gauges add, outputs by (index, type)."""
        total = cls()
        outputs: dict[tuple[int, str], OutputMetrics] = {}
        for snap in snapshots:
            _add_into(total.generated_by_kind, snap.generated_by_kind)
            _add_into(total.encoded, snap.encoded)
            total.readings_published += snap.readings_published
            total.events_published += snap.events_published
            if snap.lateness is not None:
                if total.lateness is None:
                    total.lateness = Lateness()
                total.lateness.merge(snap.lateness)
            for o in snap.outputs:
                into = outputs.setdefault((o.index, o.type), OutputMetrics(o.index, o.type))
                into.accepted += o.accepted
                into.acknowledged += o.acknowledged
                into.errors += o.errors
                into.in_flight = _add_optional(into.in_flight, o.in_flight)
                into.connections_up = _add_optional(into.connections_up, o.connections_up)
                into.reconnects = _add_optional(into.reconnects, o.reconnects)
        total.outputs = [outputs[key] for key in sorted(outputs)]
        return total


def _add_into(total: dict[str, int], counts: dict[str, int]) -> None:
    for key, n in counts.items():
        total[key] = total.get(key, 0) + n


def _add_optional(a: int | None, b: int | None) -> int | None:
    return a if b is None else b if a is None else a + b


def snapshot_of(simulation: Simulation) -> MetricsSnapshot:
    """The counters of ``simulation`` now. Safe from another thread while it runs: it reads integers and
    copies dicts and lists in single C-level calls (atomic under the GIL), and never calls a sink."""
    snap = MetricsSnapshot()
    engine, outputs = simulation.engine, simulation.outputs
    if engine is not None:
        counters = engine.counters
        snap.generated_by_kind = dict(counters.generated_by_kind)
        snap.readings_published = counters.readings_published
        snap.events_published = counters.events_published
        late = counters.lateness
        snap.lateness = late.copy() if late is not None else None
    if outputs is not None:
        snap.encoded = dict(outputs.encoded)
        snap.outputs = [_output_metrics(i, output.sink) for i, output in enumerate(list(outputs.outputs))]
    return snap


def _output_metrics(index: int, sink: Sink) -> OutputMetrics:
    stats = sink.stats
    # acknowledged and errors before accepted: all three only grow, so the difference is never negative
    acknowledged, errors = stats.acknowledged, stats.errors
    accepted = stats.accepted
    metrics = OutputMetrics(index, sink.name, accepted, acknowledged, errors)
    if sink.name == "mqtt":
        metrics.in_flight = max(0, accepted - acknowledged - errors)
        metrics.connections_up, metrics.reconnects = _connections(sink)
    return metrics


def _connections(sink: Sink) -> tuple[int | None, int | None]:
    """(connections up, connections lost after they were up) of an MQTT sink; None where it has none."""
    from metersim.sinks.mqtt import ManyMqttSink, MqttSink, State  # paho: only when there is an MQTT output

    if isinstance(sink, ManyMqttSink):
        for _ in range(3):  # the run's thread may add a connection while the values are copied
            try:
                conns = [peer.conn for peer in list(sink.peers.values())]
                break
            except RuntimeError:
                continue
        else:
            return None, None
        return sum(c.state is State.UP for c in conns), sum(c.losses for c in conns)
    if isinstance(sink, MqttSink):
        conn = sink.connection  # None before open and after close
        up = int(conn is not None and conn.state is State.UP)
        # a count the sink keeps past close (if it has one) rather than the closed connection's
        kept = getattr(sink, "reconnects", None)
        return up, kept if isinstance(kept, int) else (conn.losses if conn is not None else 0)
    return None, None


def families(snapshot: MetricsSnapshot) -> Iterator[Metric]:
    """The Prometheus metric families of ``snapshot`` (names and meanings in the module docstring)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    generated = CounterMetricFamily(
        "metersim_readings_generated", "Readings whose report time came, per kind of meter.", labels=["kind"]
    )
    for kind, n in snapshot.generated_by_kind.items():
        generated.add_metric([kind], n)
    yield generated
    yield CounterMetricFamily(
        "metersim_readings_published", "Readings handed to the outputs after the transforms.",
        value=snapshot.readings_published,
    )  # fmt: skip
    yield CounterMetricFamily(
        "metersim_events_published", "Meter events handed to the outputs.", value=snapshot.events_published
    )
    encoded = CounterMetricFamily("metersim_readings_encoded", "Readings encoded, per format.", labels=["format"])
    for fmt, n in snapshot.encoded.items():
        encoded.add_metric([fmt], n)
    yield encoded
    labels = ["output", "type"]
    per_output: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
        "accepted": CounterMetricFamily("metersim_messages_accepted", "Messages the output accepted.", labels=labels),
        "acknowledged": CounterMetricFamily(
            "metersim_messages_acknowledged",
            "Messages written to the OS, or acknowledged by the broker (QoS 0: written to the socket).",
            labels=labels,
        ),
        "errors": CounterMetricFamily(
            "metersim_messages_lost", "Messages the output knows it failed to deliver.", labels=labels
        ),
        "in_flight": GaugeMetricFamily(
            "metersim_messages_in_flight", "MQTT: messages accepted, neither acknowledged nor lost.", labels=labels
        ),
        "connections_up": GaugeMetricFamily(
            "metersim_mqtt_connections_up", "MQTT: connections with an accepted CONNACK.", labels=labels
        ),
        "reconnects": CounterMetricFamily(
            "metersim_mqtt_reconnects", "MQTT: connections lost after they were up, then retried.", labels=labels
        ),
    }
    for o in snapshot.outputs:
        for name, family in per_output.items():
            value = getattr(o, name)
            if value is not None:
                family.add_metric([str(o.index), o.type], value)
    yield from per_output.values()
    late = snapshot.lateness
    if late is not None:
        histogram = HistogramMetricFamily(
            "metersim_emission_lateness_seconds", "Paced runs: how late emissions left against their wall time."
        )
        histogram.add_metric([], _buckets(late), sum_value=late.sum_s)
        yield histogram


def _buckets(late: Lateness) -> list[tuple[str, float]]:
    """Cumulative counts at every ``LE_BUCKETS`` edge, then +Inf (the total)."""
    out: list[tuple[str, float]] = []
    seen = 0
    counts = late.counts
    for k in range(BUCKETS - 1):
        seen += counts[k]
        if k in LE_BUCKETS:
            out.append((f"{bucket_upper_s(k):.4g}", seen))
    out.append(("+Inf", sum(counts)))
    return out


class _Collector:
    """Sums what ``source`` returns at each scrape (prometheus-client calls ``collect`` from its thread)."""

    def __init__(self, source: Callable[[], Sequence[MetricsSnapshot]]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        yield from families(MetricsSnapshot.total(self._source()))


@contextmanager
def serve_metrics(
    port: int, source: Callable[[], Sequence[MetricsSnapshot]], log: Callable[[str], None] | None = None
) -> Iterator[int]:
    """Serve the summed ``source()`` on ``http://127.0.0.1:port/metrics`` while the block runs.

    ``port`` 0 picks a free port; the context value is the port bound, and ``log`` (if given) receives
    ``metersim: metrics on http://127.0.0.1:PORT/metrics``. A port that cannot be listened on raises
    :class:`MetricsPortError` before the block runs. The server stops when the block ends.
    """
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)  # of its own: no process metrics, no global state
    registry.register(_Collector(source))
    try:
        server, thread = start_http_server(port, addr=HOST, registry=registry)
    except (OSError, OverflowError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise MetricsPortError(f"cannot serve metrics on {HOST}:{port}: {reason}") from None
    bound = int(server.server_address[1])
    if log is not None:
        log(f"metersim: metrics on http://{HOST}:{bound}/metrics")
    try:
        yield bound
    finally:
        server.shutdown()
        server.server_close()
        thread.join(STOP_TIMEOUT_S)
