"""Open the sink of each configured output."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING

from metersim.config import DiscardOutput, FileOutput, MqttOutput, Output, StdoutOutput
from metersim.config.outputs import ParquetOutput
from metersim.sinks.base import Sink
from metersim.sinks.discard import DiscardSink
from metersim.sinks.file import FileSink
from metersim.sinks.stdout import StdoutSink

if TYPE_CHECKING:
    from metersim.sinks.mqtt.session import Session


def open_sink(
    output: Output,
    stack: ExitStack,
    log: Callable[[str], None],
    *,
    resume: bool = False,
    content_type: str | None = None,
    session: Session | None = None,
    shard: int = 0,
) -> Sink:
    """Create and open the sink for one output; ``stack`` closes it (and any embedded broker).

    ``resume``: a run that continues from a state file appends to its files instead of truncating them.
    ``content_type``: the media type of the output's payloads (e.g. ``application/json``), sent as the
    MQTT 5 Content Type; other sinks (and MQTT 3.1.1) ignore it.
    ``session``: a per-connection lifecycle for MQTT (will, messages after CONNACK and before close,
    :mod:`metersim.sinks.mqtt.session`); other sinks ignore it.
    ``shard``: the shard this process runs; Parquet writes its files under ``shard=K`` so that the
    shards of a run share one directory; other sinks ignore it.

    MQTT with ``connections: single`` is an :class:`~metersim.sinks.mqtt.MqttSink`; with
    ``per-concentrator`` or ``per-meter`` a :class:`~metersim.sinks.mqtt.ManyMqttSink` (one connection
    per sender).
    """
    sink: Sink
    if isinstance(output, MqttOutput):
        from metersim.sinks.mqtt import ManyMqttSink, MqttSink  # paho is only imported when MQTT is used

        kind = MqttSink if output.connections == "single" else ManyMqttSink
        if output.embedded:
            from metersim.broker import EmbeddedBroker

            broker = stack.enter_context(EmbeddedBroker(output.embedded_port or 0))
            log(f"embedded MQTT broker listening on {broker.url}")
            sink = kind(output, host="127.0.0.1", port=broker.port, log=log, content_type=content_type, session=session)
        else:
            sink = kind(output, log=log, content_type=content_type, session=session)
    elif isinstance(output, FileOutput):
        sink = FileSink(output.path, append=resume)
    elif isinstance(output, StdoutOutput):
        sink = StdoutSink()
    elif isinstance(output, ParquetOutput):
        from metersim.sinks.parquet import ParquetSink  # pyarrow is only imported when Parquet is used

        sink = ParquetSink(
            output.path,
            shard=shard,
            row_group_rows=output.row_group_rows,
            compression_level=output.compression_level,
            append=resume,
        )
    elif isinstance(output, DiscardOutput):
        sink = DiscardSink()
    else:  # pragma: no cover - the config union is exhaustive
        raise TypeError(f"unknown output {output!r}")
    stack.enter_context(sink)
    return sink
