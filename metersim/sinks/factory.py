"""Open the sink of each configured output."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

from metersim.config import DiscardOutput, FileOutput, MqttOutput, Output, StdoutOutput
from metersim.sinks.base import Sink
from metersim.sinks.discard import DiscardSink
from metersim.sinks.file import FileSink
from metersim.sinks.stdout import StdoutSink


def open_sink(output: Output, stack: ExitStack, log: Callable[[str], None], *, resume: bool = False) -> Sink:
    """Create and open the sink for one output; ``stack`` closes it (and any embedded broker).

    ``resume``: a run that continues from a state file appends to its files instead of truncating them.
    """
    sink: Sink
    if isinstance(output, MqttOutput):
        from metersim.sinks.mqtt import MqttSink  # paho is only imported when MQTT is used

        if output.embedded:
            from metersim.broker import EmbeddedBroker

            broker = stack.enter_context(EmbeddedBroker(output.embedded_port or 0))
            log(f"embedded MQTT broker listening on {broker.url}")
            sink = MqttSink(output, host="127.0.0.1", port=broker.port, log=log)
        else:
            sink = MqttSink(output, log=log)
    elif isinstance(output, FileOutput):
        sink = FileSink(output.path, append=resume)
    elif isinstance(output, StdoutOutput):
        sink = StdoutSink()
    elif isinstance(output, DiscardOutput):
        sink = DiscardSink()
    else:  # pragma: no cover - the config union is exhaustive
        raise TypeError(f"unknown output {output!r}")
    stack.enter_context(sink)
    return sink
