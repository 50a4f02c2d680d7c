import pytest

from metersim.errors import OutputNotWritableError
from metersim.sinks.base import Outbox
from metersim.sinks.file import FileSink


def test_writes_one_line_per_payload_and_counts(tmp_path):
    path = tmp_path / "nested" / "out.jsonl"
    with FileSink(path) as sink:
        sink.send(Outbox.of(["t"] * 2, [b'{"a":1}', b'{"a":2}']))
        sink.send(Outbox.of(["t"], [b'{"a":3}']))
    assert path.read_bytes() == b'{"a":1}\n{"a":2}\n{"a":3}\n'
    assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (3, 3, 0)


def test_unwritable_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputNotWritableError, match="cannot write"):
        FileSink(blocker / "out.jsonl").open()


def test_full_disk_is_reported_and_counted():
    sink = FileSink("/dev/full")
    sink.open()
    with pytest.raises(OutputNotWritableError, match="No space left"):
        sink.send(Outbox.of(["t"], [b"x" * (2 << 20)]))  # larger than the buffer: written at once
        sink.close()
    assert sink.stats.errors == 1
    sink.close()
