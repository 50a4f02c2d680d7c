"""The run report: counters gathered from the engine and the sinks, as JSON and as a summary table.

Reports of shards merge: :mod:`metersim.scale.merge`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from rich.table import Table

from metersim.engine import EngineCounters
from metersim.errors import not_writable
from metersim.outputs import Outputs
from metersim.sinks.base import Sink
from metersim.timebase import format_duration

#: worst last: a merged report takes the worst status of its parts
STATUSES = ("pending", "completed", "interrupted", "failed")


def in_flight_of(sink: Sink) -> int | None:
    """The messages an output sent and has not yet had acknowledged: MQTT only (published to the broker,
    its PUBACK/PUBCOMP not yet in; at QoS 0, not yet written to the socket). None for other outputs: a
    file's lines waiting in its buffer are not in flight, and nothing else awaits an acknowledgement."""
    return sink.stats.in_flight if sink.name == "mqtt" else None


@dataclass
class OutputReport:
    output: str
    accepted: int
    acknowledged: int
    errors: int
    in_flight: int | None  # MQTT outputs only (see in_flight_of); None for the others
    index: int | None = None  # position among the run's outputs (scenario's first): what merges group by


@dataclass
class RunReport:
    """What a run did. Message counts are summed over every output."""

    scenario: str
    status: str  # "completed", "interrupted" or "failed"
    meters: int
    start: str
    end: str
    readings_generated: int = 0  # whose report time came: meters and grid-side meters
    readings_by_kind: dict[str, int] = field(default_factory=dict)  # electricity, gas, grid-side
    readings_published: int = 0  # handed to the outputs after the transforms
    readings_encoded: dict[str, int] = field(default_factory=dict)  # per format
    readings_duplicated: int = 0  # second copies an injected comms fault sent (not in readings_published)
    events_published: int = 0  # meter events (power down/up, ...) handed to the outputs
    labels: int = 0  # ground-truth labels: injected supply interruptions and faults
    messages_published: int = 0
    messages_acknowledged: int = 0
    errors: int = 0
    wall_s: float = 0.0
    simulated_s: int = 0
    readings_per_s: float = 0.0
    #: paced runs: how late emissions left against their scheduled wall time (p50, p99, max) [ms]
    lateness: dict[str, float] | None = None
    #: paced runs: the histogram behind ``lateness`` (:meth:`Lateness.to_dict`), so that shards merge
    lateness_histogram: dict[str, Any] | None = None
    error_message: str | None = None
    #: outputs with ``commands``: received, answered by status, refused, dropped
    commands: dict[str, Any] | None = None
    outputs: list[OutputReport] = field(default_factory=list)

    def collect(self, counters: EngineCounters | None, outputs: Outputs, wall_s: float, start_s: int) -> None:
        """Gather the counters of the engine (None if it never started) and of every output."""
        sinks = outputs.sinks
        if counters is not None:
            self.readings_generated = counters.readings_generated
            self.readings_by_kind = dict(counters.generated_by_kind)
            self.readings_published = counters.readings_published
            self.readings_duplicated = counters.readings_duplicated
            self.events_published = counters.events_published
            self.labels = counters.labels
            self.simulated_s = max(0, counters.simulated_now_s - start_s)
            late = counters.lateness
            self.lateness = late.summary_ms() if late is not None else None
            self.lateness_histogram = late.to_dict() if late is not None else None
        self.readings_encoded = dict(outputs.encoded)
        self.wall_s = round(wall_s, 3)
        self.readings_per_s = round(self.readings_generated / wall_s, 1) if wall_s > 0 else 0.0
        self.outputs = [
            OutputReport(
                output=s.describe(),
                accepted=s.stats.accepted,
                acknowledged=s.stats.acknowledged,
                errors=s.stats.errors,
                in_flight=in_flight_of(s),
                index=i,
            )
            for i, s in enumerate(sinks)
        ]
        self._total_outputs()

    def _total_outputs(self) -> None:
        self.messages_published = sum(o.accepted for o in self.outputs)
        self.messages_acknowledged = sum(o.acknowledged for o in self.outputs)
        self.errors = sum(o.errors for o in self.outputs)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: Any) -> RunReport:
        """A report read back from :meth:`to_json`. Raises ValueError (one line) for anything else.

        Keys this version does not know are ignored (a later metersim may add some)."""
        if not isinstance(data, dict):
            raise ValueError(f"a report is a JSON object, not {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        missing = [name for name in ("scenario", "status", "meters", "start", "end") if name not in data]
        if missing:
            raise ValueError(f"no {', '.join(missing)}")
        values = {k: v for k, v in data.items() if k in known}
        outputs = values.pop("outputs", [])
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            raise ValueError("outputs: not a list of objects")
        try:
            report = cls(**values, outputs=[OutputReport(**o) for o in outputs])
        except TypeError as exc:  # an output without a field, or with one it does not have
            raise ValueError(f"outputs: {exc}") from None
        report._check()
        return report

    def _check(self) -> None:
        """The types of what from_dict read (the counters a merge adds must be integers)."""
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {', '.join(STATUSES)}")
        for name in ("scenario", "start", "end"):
            _expect(name, getattr(self, name), str)
        counters = ("meters", "readings_generated", "readings_published", "readings_duplicated", "events_published",
                    "labels", "simulated_s")  # fmt: skip
        for name in counters:
            _expect(name, getattr(self, name), int)
        for name in ("readings_by_kind", "readings_encoded"):
            counts = getattr(self, name)
            if not isinstance(counts, dict) or not all(_is_int(n) for n in counts.values()):
                raise ValueError(f"{name}: not an object of counts")
        _expect("wall_s", self.wall_s, (int, float))
        for name in ("lateness", "lateness_histogram", "commands"):
            if getattr(self, name) is not None:
                _expect(name, getattr(self, name), dict)
        if self.error_message is not None:
            _expect("error_message", self.error_message, str)
        for i, o in enumerate(self.outputs):
            for name in ("accepted", "acknowledged", "errors"):
                _expect(f"outputs[{i}].{name}", getattr(o, name), int)
            if o.in_flight is not None:
                _expect(f"outputs[{i}].in_flight", o.in_flight, int)
            if o.index is not None:
                _expect(f"outputs[{i}].index", o.index, int)

    def write(self, path: str | os.PathLike[str]) -> None:
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.to_json() + "\n", encoding="utf-8")
        except OSError as exc:
            raise not_writable("report", target, exc) from None

    def table(self) -> Table:
        table = Table(title=f"metersim: {self.scenario} ({self.status})", show_header=True)
        table.add_column("output")
        for name in ("accepted", "acknowledged", "errors", "in flight"):
            table.add_column(name, justify="right")
        for o in self.outputs:
            in_flight = "-" if o.in_flight is None else f"{o.in_flight:,}"
            table.add_row(o.output, f"{o.accepted:,}", f"{o.acknowledged:,}", f"{o.errors:,}", in_flight)
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in self.readings_by_kind.items())
        caption = (
            f"{self.readings_generated:,} readings{f' ({kinds})' if kinds else ''} from {self.meters:,} meters, "
            f"{format_duration(self.simulated_s)} simulated in {self.wall_s:.2f} s wall "
            f"({self.readings_per_s:,.0f} readings/s)"
        )
        if self.lateness is not None:
            late = self.lateness
            caption += f"; late p50 {late['p50_ms']:.1f} ms, p99 {late['p99_ms']:.1f} ms, max {late['max_ms']:.1f} ms"
        table.caption = caption
        return table


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_KINDS = {str: "a string", dict: "an object", int: "an integer"}


def _expect(name: str, value: object, kind: type | tuple[type, ...]) -> None:
    if isinstance(value, bool) or not isinstance(value, kind):
        what = _KINDS.get(kind, "a number") if isinstance(kind, type) else "a number"
        raise ValueError(f"{name}: {value!r} is not {what}")
