"""The command log (JSON Lines): fields written, read back with json, and read_log for replay."""

import base64
import json

import pytest

from metersim.commands.log import CommandLog, Inbound, read_log
from metersim.commands.messages import Request
from metersim.errors import ConfigError, OutputNotWritableError

MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z [epoch ms]
FIELDS = [
    "n", "received", "received_ms", "topic", "payload", "response_topic", "correlation_b64", "meter_id", "id",
    "command", "args", "status", "error", "answered", "answered_ms", "latency_s", "effective", "result", "before",
    "after",
]  # fmt: skip


def write_one(log, message, **overrides):
    values = {
        "meter_id": "PK-0001",
        "command_id": "c1",
        "request": Request("c1", "load_limit", {"kw": 2.5}),
        "status": "ok",
        "error": None,
        "answered_ms": message.received_ms + 1500,
        "result": {"limit_kw": 2.5},
        "effective_s": MS // 1000 + 900,
        "before": {"relay": "closed", "limit_kw": None},
        "after": {"relay": "closed", "limit_kw": 2.5},
    }
    values.update(overrides)
    log.write(message, **values)


def lines_of(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_line_has_the_documented_fields_in_order(tmp_path):
    path = tmp_path / "sub" / "commands.jsonl"  # the folder is made
    payload = b'{"id":"c1","command":"load_limit","args":{"kw":2.5}}'
    message = Inbound("metersim/cmd/PK-0001", payload, "head/end/reply", b"\x00\x01corr", MS + 123, 0)
    with CommandLog(path) as log:
        write_one(log, message)
        assert log.lines == 1
    (entry,) = lines_of(path)
    assert list(entry) == FIELDS
    assert entry == {
        "n": 0,
        "received": "2026-01-01T00:00:00.123Z",
        "received_ms": MS + 123,
        "topic": "metersim/cmd/PK-0001",
        "payload": payload.decode(),
        "response_topic": "head/end/reply",
        "correlation_b64": "AAFjb3Jy",  # base64 of 00 01 'corr'
        "meter_id": "PK-0001",
        "id": "c1",
        "command": "load_limit",
        "args": {"kw": 2.5},
        "status": "ok",
        "error": None,
        "answered": "2026-01-01T00:00:01.623Z",
        "answered_ms": MS + 1623,
        "latency_s": 1.5,
        "effective": "2026-01-01T00:15:00.000Z",
        "result": {"limit_kw": 2.5},
        "before": {"relay": "closed", "limit_kw": None},
        "after": {"relay": "closed", "limit_kw": 2.5},
    }


def test_a_refused_non_utf8_payload_goes_to_payload_b64(tmp_path):
    path = tmp_path / "commands.jsonl"
    message = Inbound("metersim/cmd/nobody", b"\xff\xfe\x00garbage", received_ms=MS, n=3)
    with CommandLog(path) as log:
        write_one(
            log, message, meter_id=None, command_id=None, request=None, status="error",
            error="the payload is not JSON (UTF-8)", answered_ms=MS, result=None, effective_s=None, before=None,
            after=None,
        )  # fmt: skip
    (entry,) = lines_of(path)
    assert "payload" not in entry
    assert list(entry)[4] == "payload_b64"
    assert base64.b64decode(entry["payload_b64"]) == b"\xff\xfe\x00garbage"
    assert entry["payload_b64"] == "//4AZ2FyYmFnZQ=="
    assert (entry["meter_id"], entry["id"], entry["command"], entry["args"]) == (None, None, None, None)
    assert (entry["response_topic"], entry["correlation_b64"], entry["effective"]) == (None, None, None)
    assert (entry["status"], entry["latency_s"], entry["n"]) == ("error", 0.0, 3)


def test_append_keeps_earlier_lines(tmp_path):
    path = tmp_path / "commands.jsonl"
    with CommandLog(path) as log:
        write_one(log, Inbound("t/a", b"{}", received_ms=MS, n=0))
    with CommandLog(path, append=True) as log:
        write_one(log, Inbound("t/b", b"{}", received_ms=MS, n=1))
    assert [e["topic"] for e in lines_of(path)] == ["t/a", "t/b"]
    with CommandLog(path) as log:  # not appending: a fresh file
        write_one(log, Inbound("t/c", b"{}", received_ms=MS, n=0))
    assert [e["topic"] for e in lines_of(path)] == ["t/c"]


def test_write_outside_the_context_is_an_error(tmp_path):
    log = CommandLog(tmp_path / "x.jsonl")
    with pytest.raises(RuntimeError, match="outside its context"):
        write_one(log, Inbound("t", b"{}"))


def test_unwritable_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputNotWritableError), CommandLog(blocker / "commands.jsonl"):
        pass


def test_read_log_round_trips(tmp_path):
    path = tmp_path / "commands.jsonl"
    messages = [
        Inbound("metersim/cmd/m1", b'{"id":"a","command":"ping"}', None, None, MS + 5, 0),
        Inbound("metersim/cmd/m2", b"\x80\x81 not utf-8", "reply/here", b"\xde\xad\xbe\xef", MS + 900_000, 1),
        Inbound("a/DCU/m3", '{"id":"é","command":"read"}'.encode(), "r", b"", MS + 900_001, 2),
    ]
    with CommandLog(path) as log:
        for message in messages:
            write_one(log, message)
    back = read_log(path)
    assert [(m.topic, m.payload, m.response_topic, m.correlation, m.received_ms, m.n) for m in back] == [
        ("metersim/cmd/m1", b'{"id":"a","command":"ping"}', None, None, MS + 5, 0),
        ("metersim/cmd/m2", b"\x80\x81 not utf-8", "reply/here", b"\xde\xad\xbe\xef", MS + 900_000, 1),
        ("a/DCU/m3", '{"id":"é","command":"read"}'.encode(), "r", None, MS + 900_001, 2),  # empty correlation: none
    ]


def test_read_log_sorts_by_arrival_and_skips_blank_lines(tmp_path):
    path = tmp_path / "commands.jsonl"
    rows = [
        {"n": 2, "received_ms": 30, "topic": "t/c", "payload": "c"},
        {"n": 0, "received_ms": 10, "topic": "t/a", "payload": "a"},
        {"n": 1, "received_ms": 20, "topic": "t/b", "payload_b64": base64.b64encode(b"\xff").decode()},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n\n   \n" + json.dumps(rows[2]) + "\n")
    back = read_log(path)
    assert [(m.n, m.topic, m.payload, m.received_ms) for m in back] == [
        (0, "t/a", b"a", 10),
        (1, "t/b", b"\xff", 20),
        (2, "t/c", b"c", 30),
    ]
    assert all(m.response_topic is None and m.correlation is None for m in back)


def test_an_empty_log_is_no_commands(tmp_path):
    path = tmp_path / "commands.jsonl"
    path.write_bytes(b"")
    assert read_log(path) == []


GOOD = json.dumps({"n": 0, "received_ms": 1, "topic": "t", "payload": "x"})


@pytest.mark.parametrize(
    ("bad", "kind"),
    [
        ("{not json", "JSONDecodeError"),
        (json.dumps({"n": 1, "received_ms": 1, "payload": "x"}), "KeyError"),  # no topic
        (json.dumps({"n": 1, "topic": "t", "payload": "x"}), "KeyError"),  # no received_ms
        (json.dumps({"n": 1, "received_ms": 1, "topic": "t"}), "KeyError"),  # no payload at all
        (json.dumps({"n": 1, "received_ms": "soon", "topic": "t", "payload": "x"}), "ValueError"),
        (json.dumps({"n": 1, "received_ms": 1, "topic": "t", "payload_b64": "abc"}), "Error"),  # bad padding
        (json.dumps({"n": 1, "received_ms": 1, "topic": "t", "payload": 5}), "AttributeError"),
        (json.dumps([1, 2]), "TypeError"),
        ("7", "TypeError"),
    ],
)
def test_read_log_broken_line_is_a_one_line_config_error(tmp_path, bad, kind):
    path = tmp_path / "commands.jsonl"
    path.write_text(GOOD + "\n\n" + bad + "\n")  # the broken line is line 3 (blank lines count)
    with pytest.raises(ConfigError) as info:
        read_log(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:3: not a command log line (")
    assert kind in message


def test_read_log_missing_file(tmp_path):
    path = tmp_path / "nope.jsonl"
    with pytest.raises(ConfigError) as info:
        read_log(path)
    assert str(info.value) == f"cannot read the command log {path}: No such file or directory"
