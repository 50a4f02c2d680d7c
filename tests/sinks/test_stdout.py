"""The stdout sink: one payload per line on a binary stream, counters, and a reader that went away."""

from __future__ import annotations

import contextlib
import io
import json
import os

import pytest

from metersim.errors import OutputNotWritableError
from metersim.simulation import Simulation
from metersim.sinks.base import Outbox
from metersim.sinks.stdout import StdoutSink
from tests.conftest import make_scenario


def outbox(*payloads: bytes) -> Outbox:
    return Outbox.of([f"t/{i}" for i in range(len(payloads))], list(payloads))


def test_each_payload_is_one_line_and_every_message_is_counted():
    stream = io.BytesIO()
    with StdoutSink(stream) as sink:
        sink.send(outbox(b'{"a":1}', b'{"b":2}'))
        sink.send(outbox(b'{"c":3}'))
        assert sink.describe() == "stdout"
    assert stream.getvalue() == b'{"a":1}\n{"b":2}\n{"c":3}\n'
    assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (3, 3, 0)
    assert sink.stats.in_flight == 0


def test_a_run_writes_every_reading_as_a_line_of_json():
    stream = io.BytesIO()
    scenario = make_scenario(duration="1h")
    report = Simulation(scenario, sinks=[StdoutSink(stream)]).run()
    lines = stream.getvalue().splitlines()
    # 20 electricity meters x 4 quarter-hours + 10 gas meters x 1 hour
    assert len(lines) == 20 * 4 + 10
    stdout = report.outputs[-1]  # after the scenario's own output (discard)
    assert (stdout.output, stdout.accepted, stdout.acknowledged, stdout.errors) == ("stdout", len(lines), len(lines), 0)
    readings = [json.loads(line) for line in lines]
    assert {r["commodity"] for r in readings} == {"electricity", "gas"}


def _pipe_without_reader(buffering: int):
    read_end, write_end = os.pipe()
    os.close(read_end)
    return os.fdopen(write_end, "wb", buffering=buffering)


def test_a_pipe_whose_reader_closed_raises_a_one_line_not_writable_error():
    stream = _pipe_without_reader(0)
    sink = StdoutSink(stream)
    try:
        with pytest.raises(OutputNotWritableError) as error:
            sink.send(outbox(b"x", b"y"))
        message = str(error.value)
        assert message.startswith("cannot write to stdout: ") and "\n" not in message
        assert "pipe" in message.lower()
        assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (2, 0, 2)
        sink.close()  # flushing to a reader that chose to stop is not a second error
    finally:
        with contextlib.suppress(OSError):
            stream.close()


def test_a_buffered_pipe_fails_as_soon_as_a_write_reaches_the_pipe():
    stream = _pipe_without_reader(io.DEFAULT_BUFFER_SIZE)
    sink = StdoutSink(stream)
    try:
        big = b"z" * (4 * io.DEFAULT_BUFFER_SIZE)  # larger than the buffer: written through at once
        with pytest.raises(OutputNotWritableError):
            sink.send(outbox(big))
        assert sink.stats.errors == 1 and sink.stats.acknowledged == 0
    finally:
        with contextlib.suppress(OSError):
            stream.close()


def test_every_send_reaches_the_os_so_nothing_is_in_flight():
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "wb", buffering=io.DEFAULT_BUFFER_SIZE)
    try:
        sink = StdoutSink(stream)
        sink.send(outbox(b"a", b"b"))
        assert os.read(read_end, 100) == b"a\nb\n"  # not left in Python's buffer
        assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.in_flight) == (2, 2, 0)
    finally:
        stream.close()
        os.close(read_end)


def test_a_reader_that_goes_away_between_sends_is_the_sinks_own_error_not_a_silent_flush():
    """Before, small writes sat in Python's buffer, counted as acknowledged, and the final flush
    swallowed the broken pipe: a run whose reader had gone reported every line as delivered."""
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "wb", buffering=io.DEFAULT_BUFFER_SIZE)
    sink = StdoutSink(stream)
    try:
        sink.send(outbox(b"first"))
        os.close(read_end)  # `| head -n 1` has what it wanted
        with pytest.raises(OutputNotWritableError) as error:
            sink.send(outbox(b"second", b"third"))
        assert str(error.value) == "cannot write to stdout: Broken pipe"
        assert isinstance(error.value.__context__, BrokenPipeError)  # how the CLI knows to end quietly
        assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (3, 1, 2)
        sink.flush()  # reported once, by the send that met it
        sink.close()
        with pytest.raises(OutputNotWritableError):  # and nothing more is written
            sink.send(outbox(b"fourth"))
        assert sink.stats.errors == 3
    finally:
        with contextlib.suppress(OSError):
            stream.close()
