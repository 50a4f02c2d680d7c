import errno
import os

import pytest

from metersim.encoders.json_text import Payloads
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


def test_a_line_counts_as_acknowledged_once_the_os_has_it(tmp_path):
    """Lines wait in the sink's buffer (accepted) until a flush hands them to the OS (acknowledged)."""
    path = tmp_path / "out.jsonl"
    with FileSink(path) as sink:
        sink.send(Outbox.of(["t"] * 3, [b"1", b"2", b"3"]))
        assert (sink.stats.accepted, sink.stats.acknowledged) == (3, 0)
        assert path.read_bytes() == b""
        sink.flush()
        assert (sink.stats.accepted, sink.stats.acknowledged) == (3, 3)
        assert path.read_bytes() == b"1\n2\n3\n"  # read through another handle, before close
    assert path.read_bytes() == b"1\n2\n3\n"


def test_a_full_buffer_is_written_without_a_flush(tmp_path):
    path = tmp_path / "out.jsonl"
    line = b"x" * 1000
    with FileSink(path) as sink:
        sink.send(Outbox.of(["t"] * 1100, [line] * 1100))  # over a MiB
        assert sink.stats.acknowledged == 1100
        assert path.stat().st_size == 1100 * 1001


def _partial_then_full(monkeypatch, allowed: int):
    """os.write takes ``allowed`` more bytes in all, then fails with ENOSPC, as a filling disk does."""
    import errno
    import os as real_os

    left = [allowed]
    write = real_os.write

    def filling(fd, data):
        if left[0] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = write(fd, bytes(data)[: left[0]])
        left[0] -= n
        return n

    monkeypatch.setattr("metersim.sinks.file.os.write", filling)


def test_a_disk_that_fills_mid_line_keeps_complete_lines_only_and_counts_exactly(tmp_path, monkeypatch):
    path = tmp_path / "out.jsonl"
    sink = FileSink(path)
    sink.open()
    sink.send(Outbox.of(["t"] * 2, [b"aaaa", b"bbbb"]))  # 10 bytes
    sink.flush()
    _partial_then_full(monkeypatch, 7)  # "cccc\ndd" of the next lines fits, then the disk is full
    sink.send(Outbox.of(["t"] * 3, [b"cccc", b"dddd", b"eeee"]))
    with pytest.raises(OutputNotWritableError, match=r"cannot write .*out\.jsonl: No space left on device"):
        sink.flush()
    sink.close()  # the failure was reported once
    assert path.read_bytes() == b"aaaa\nbbbb\ncccc\n"  # the cut line "dd" is gone
    assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (5, 3, 2)
    assert sink.stats.in_flight == 0


def test_a_resumed_file_that_fills_is_cut_back_to_its_last_complete_line(tmp_path, monkeypatch):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"old1\nold2\nhal")  # a killed run left half a line
    sink = FileSink(path, append=True)
    sink.open()
    assert path.read_bytes() == b"old1\nold2\n"
    _partial_then_full(monkeypatch, 3)
    sink.send(Outbox.of(["t"], [b"new1"]))
    with pytest.raises(OutputNotWritableError):
        sink.flush()
    sink.close()
    assert path.read_bytes() == b"old1\nold2\n"
    assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (1, 0, 1)


def test_a_disk_that_fills_inside_a_later_block_keeps_the_complete_lines_and_counts_them(tmp_path, monkeypatch):
    written, write = [0], os.write

    def filling(fd, data):  # 6 more bytes in all: "c\nd\nee", then the disk is full
        if written[0] >= 6:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = write(fd, bytes(data)[: 6 - written[0]])
        written[0] += n
        return n

    path = tmp_path / "out.jsonl"
    sink = FileSink(path)
    sink.open()
    big = Payloads([b"c\nd\n" + b"e" * 200_000 + b"\n", b"f\n"])  # a block over the write size, then a small one
    monkeypatch.setattr("metersim.sinks.file.os.write", filling)
    sink.send(Outbox.of([], big))
    with pytest.raises(OutputNotWritableError, match="No space left on device"):
        sink.flush()
    sink.close()
    assert path.read_bytes() == b"c\nd\n"
    assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (4, 2, 2)


def test_a_file_writes_an_outboxs_lines_and_counts_its_messages(tmp_path):
    """A format that renders JSON Lines (JSON) hands the file its blocks: nothing is split or joined."""
    asked = []

    def payloads() -> list[bytes]:
        raise AssertionError("a file must not ask for the payloads when the outbox has lines")

    def lines() -> list[bytes]:
        asked.append(1)
        return [b'{"a":1}\n{"a":2}\n', b'{"a":3}\n']

    path = tmp_path / "out.jsonl"
    with FileSink(path) as sink:
        sink.send(Outbox(3, payloads, lambda: [], lines=lines))
        sink.send(Outbox.of([], [b"x", b"y"]))  # a format without lines: its payloads joined
        sink.send(Outbox.of([], []))
    assert path.read_bytes() == b'{"a":1}\n{"a":2}\n{"a":3}\nx\ny\n'
    assert asked == [1]
    assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (5, 5, 0)


def test_an_outbox_asked_for_payloads_first_gives_their_lines():
    """Once the payloads exist (an MQTT output asked first) the lines come from them, not a second encoding."""
    blocks = [b"a\nbb\n", b"c\n"]

    def never() -> list[bytes]:
        raise AssertionError("the payloads were there: no second rendering")

    kept = Outbox(3, lambda: Payloads(blocks), lambda: [], lines=never)
    assert kept.payloads == [b"a", b"bb", b"c"]
    assert kept.lines is kept.payloads.blocks  # type: ignore[attr-defined]
    plain = Outbox(2, lambda: [b"a", b"b"], lambda: [], lines=never)
    assert plain.payloads == [b"a", b"b"] and plain.lines == [b"a\nb\n"]
    asked = []
    once = Outbox(1, lambda: [b"z"], lambda: [], lines=lambda: asked.append(1) or [b"z\n"])
    assert once.lines == once.lines == [b"z\n"] and asked == [1]
    assert Outbox.of([], []).lines == []
