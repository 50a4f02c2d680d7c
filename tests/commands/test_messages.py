"""Command payload parsing and response bytes (metersim.commands.messages), against hand-written expectations."""

import json
import random
import time

import pytest

from metersim.commands.messages import Refusal, Request, parse, response

LIMIT = 4096
NAMES = "read, disconnect, reconnect, load_limit, set_tariff, time_sync, firmware, ping, status"
KW_RULE = "must be a number of kW in (0, 10000], or null to lift the limit"
TEXT_RULE = "must be printable text of 1 to 64 characters"
ID_RULE = "`id` must be printable text of 1 to 128 characters"


def cmd(**fields):
    return json.dumps(fields).encode()


def refused(payload, max_bytes=LIMIT):
    out = parse(payload, max_bytes)
    assert isinstance(out, Refusal), out
    return out


# --- refusals before an id can be read -------------------------------------------------------------


def test_oversized_is_refused_before_reading():
    payload = b"{" + b" " * 4095 + b"}"  # 4097 bytes; valid JSON otherwise
    assert refused(payload) == Refusal("the command is 4097 bytes, over max_payload_bytes=4096")


def test_exactly_the_limit_is_read():
    body = cmd(id="a", command="ping")
    payload = body[:-1] + b" " * (100 - len(body)) + b"}"
    assert len(payload) == 100
    assert parse(payload, 100) == Request("a", "ping", {})
    assert refused(payload, 99).reason == "the command is 100 bytes, over max_payload_bytes=99"


@pytest.mark.parametrize("payload", [b"", b"{bad", b'{"id": "a",}', b"\xff\xfe", b'{"id": "\xe9"}', b"\x00"])
def test_not_json_or_not_utf8(payload):
    assert refused(payload) == Refusal("the payload is not JSON (UTF-8)")


@pytest.mark.parametrize(
    ("payload", "kind"),
    [(b"[1, 2]", "an array"), (b"3", "a number"), (b"1.5", "a number"), (b"null", "null"), (b'"x"', "text"),
     (b"true", "true/false")],
)  # fmt: skip
def test_top_level_must_be_an_object(payload, kind):
    assert refused(payload) == Refusal(f"a command is a JSON object, not {kind}")


@pytest.mark.parametrize(
    "payload",
    [
        b'{"command": "ping"}',
        cmd(id="", command="ping"),
        cmd(id="x" * 129, command="ping"),
        cmd(id=5, command="ping"),
        cmd(id=None, command="ping"),
        cmd(id=["a"], command="ping"),
        cmd(id="a\nb", command="ping"),
        cmd(id="bell\u0007", command="ping"),
        cmd(id="tab\there", command="ping"),
    ],
)
def test_bad_ids(payload):
    assert refused(payload) == Refusal(ID_RULE)


def test_id_of_128_characters_is_fine():
    assert parse(cmd(id="x" * 128, command="ping"), LIMIT) == Request("x" * 128, "ping", {})
    assert parse(cmd(id="é-ü ok", command="ping"), LIMIT) == Request("é-ü ok", "ping", {})


# --- refusals that carry the id --------------------------------------------------------------------


def test_unknown_top_level_fields_are_sorted():
    out = refused(cmd(id="c1", command="ping", zeta=1, alpha=2))
    assert out == Refusal("unknown field(s) ['alpha', 'zeta']; a command has id, command and args", "c1")


@pytest.mark.parametrize(
    ("command", "shown"),
    [("reboot", "'reboot'"), ("READ", "'READ'"), ("", "''"), (5, "a number"), ("y" * 41, "text")],
)
def test_unknown_command(command, shown):
    assert refused(cmd(id="c2", command=command)) == Refusal(f"unknown command {shown}; one of {NAMES}", "c2")


def test_missing_command():
    out = refused(cmd(id="c3"))
    assert out.id == "c3"
    assert out.reason.startswith("unknown command ")
    assert out.reason.endswith(f"; one of {NAMES}")


@pytest.mark.parametrize(("args", "kind"), [([], "an array"), ("x", "text"), (1, "a number"), (False, "true/false")])
def test_args_must_be_an_object(args, kind):
    assert refused(cmd(id="c4", command="read", args=args)) == Refusal(f"`args` must be an object, not {kind}", "c4")


def test_unknown_args():
    assert refused(cmd(id="c5", command="read", args={"z": 1, "a": 2})) == Refusal(
        "read: unknown argument(s) ['a', 'z']; allowed: none", "c5"
    )
    assert refused(cmd(id="c6", command="set_tariff", args={"tariff": "t", "when": 1})) == Refusal(
        "set_tariff: unknown argument(s) ['when']; allowed: tariff, from", "c6"
    )
    many = {f"k{i}": i for i in range(7)}
    assert refused(cmd(id="c7", command="ping", args=many)).reason == (
        "ping: unknown argument(s) ['k0', 'k1', 'k2', 'k3', 'k4']; allowed: none"
    )


@pytest.mark.parametrize(("command", "name"), [("load_limit", "kw"), ("set_tariff", "tariff"), ("firmware", "version")])
def test_missing_required_arg(command, name):
    assert refused(cmd(id="c8", command=command, args={})) == Refusal(f"{command}: `args.{name}` is required", "c8")
    assert refused(cmd(id="c8", command=command)).reason == f"{command}: `args.{name}` is required"


@pytest.mark.parametrize("kw", [0, -1, 0.0, 10_000.5, 1e9, True, False, "5", [5], {"v": 5}])
def test_bad_kw(kw):
    assert refused(cmd(id="c9", command="load_limit", args={"kw": kw})) == Refusal(
        f"load_limit: `args.kw` {KW_RULE}", "c9"
    )


@pytest.mark.parametrize(
    "moment", ["2026-01-01T00:00:00", "2026-01-01", "yesterday", 1767200400, "2026-13-01T00:00:00+05:00", ""]
)
def test_set_tariff_from_needs_an_iso_time_with_offset(moment):
    out = refused(cmd(id="t1", command="set_tariff", args={"tariff": "tou", "from": moment}))
    assert out == Refusal(
        "set_tariff: `args.from` must be an ISO 8601 time with an offset, e.g. 2026-01-01T00:00:00+05:00", "t1"
    )


@pytest.mark.parametrize("tariff", ["", "x" * 65, 7, None, "a\nb"])
def test_bad_tariff_name(tariff):
    out = refused(cmd(id="t2", command="set_tariff", args={"tariff": tariff}))
    assert out == Refusal(f"set_tariff: `args.tariff` {TEXT_RULE}", "t2")


@pytest.mark.parametrize("version", ["v" * 65, "", 2, "1.0\x7f"])
def test_bad_firmware_version(version):
    out = refused(cmd(id="f1", command="firmware", args={"version": version}))
    assert out == Refusal(f"firmware: `args.version` {TEXT_RULE}", "f1")


# --- well-formed commands --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["read", "disconnect", "reconnect", "time_sync", "ping", "status"])
def test_commands_without_args(command):
    assert parse(cmd(id="ok", command=command), LIMIT) == Request("ok", command, {})
    assert parse(cmd(id="ok", command=command, args={}), LIMIT) == Request("ok", command, {})
    assert parse(cmd(id="ok", command=command, args=None), LIMIT) == Request("ok", command, {})


@pytest.mark.parametrize("kw", [0.001, 1, 2.5, 10_000, 10_000.0, None])
def test_load_limit(kw):
    assert parse(cmd(id="L", command="load_limit", args={"kw": kw}), LIMIT) == Request("L", "load_limit", {"kw": kw})


def test_set_tariff():
    assert parse(cmd(id="T", command="set_tariff", args={"tariff": "tou-late"}), LIMIT) == Request(
        "T", "set_tariff", {"tariff": "tou-late"}
    )
    args = {"tariff": "tou", "from": "2026-01-01T00:00:00+05:00"}
    assert parse(cmd(id="T", command="set_tariff", args=args), LIMIT) == Request("T", "set_tariff", args)
    args = {"tariff": "tou", "from": "2026-06-30T23:15:00Z"}
    assert parse(cmd(id="T", command="set_tariff", args=args), LIMIT) == Request("T", "set_tariff", args)


def test_firmware():
    for version in ["1.2.3", "v" * 64, "build 2026-01 (beta)"]:
        args = {"version": version}
        assert parse(cmd(id="F", command="firmware", args=args), LIMIT) == Request("F", "firmware", args)


def test_bytes_with_whitespace_and_key_order_do_not_matter():
    payload = b' \n{ "args" : {"kw": 3}, "command": "load_limit", "id": "x-1" }\n'
    assert parse(payload, LIMIT) == Request("x-1", "load_limit", {"kw": 3})


# --- never raises ----------------------------------------------------------------------------------

ALPHABET = [None, True, False, 0, -1, 1.5, 1e300, "", "id", "read", "load_limit", "set_tariff", "firmware",
            "kw", "tariff", "version", "from", "args", "command", "\u0000", "\ud7ff",
            "2026-01-01T00:00:00+05:00"]  # fmt: skip


def random_json(rng, depth=0):
    roll = rng.random()
    if depth > 3 or roll < 0.4:
        return rng.choice(ALPHABET)
    if roll < 0.55:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = ["id", "command", "args", "kw", "tariff", "version", "from", "x"]
    out = {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if rng.random() < 0.5:
        out["command"] = rng.choice(["read", "load_limit", "set_tariff", "firmware", "ping", "nope"])
        out["id"] = rng.choice(["a", "", "x" * 200, 3])
    return out


def test_parse_never_raises_on_random_input():
    rng = random.Random(20261201)
    deadline = time.monotonic() + 20
    seen = {Request: 0, Refusal: 0}
    for i in range(2000):
        assert time.monotonic() < deadline
        if i % 2:
            payload = bytes(rng.randrange(256) for _ in range(rng.randint(0, 80)))
            if rng.random() < 0.3:
                payload = b'{"id":"' + payload + b'"}'
        else:
            payload = json.dumps(random_json(rng)).encode()
        max_bytes = rng.choice([64, 4096])
        out = parse(payload, max_bytes)
        assert type(out) in seen
        seen[type(out)] += 1
        if isinstance(out, Refusal):
            assert out.reason and "\n" not in out.reason
            assert out.id is None or isinstance(out.id, str)
        else:
            assert len(payload) <= max_bytes
            assert isinstance(out.args, dict)
    assert seen[Refusal] > 1000  # random input is mostly refused ...
    assert seen[Request] > 0  # ... but the generator does reach well-formed commands


def test_deep_nesting_and_odd_numbers_are_refused_not_raised():
    deep = b"[" * 2000 + b"]" * 2000
    assert parse(deep, 10_000) == Refusal("the payload is not JSON (UTF-8)")
    for number in [b"1e400", b"NaN", b"Infinity"]:  # not finite: not JSON to orjson
        payload = b'{"id": "a", "command": "load_limit", "args": {"kw": ' + number + b"}}"
        assert parse(payload, LIMIT) == Refusal("the payload is not JSON (UTF-8)")
    big = b'{"id": "a", "command": "load_limit", "args": {"kw": 1' + b"0" * 40 + b"}}"  # 1e40 kW
    assert parse(big, LIMIT) == Refusal(f"load_limit: `args.kw` {KW_RULE}", "a")


# --- responses -------------------------------------------------------------------------------------


def test_response_bytes():
    out = response("c1", "PK-0001", "ok", "2026-01-01T00:15:00Z", {"kwh": 1.25, "relay": "closed"}, None)
    assert out == (
        b'{"id":"c1","meter_id":"PK-0001","status":"ok","time":"2026-01-01T00:15:00Z",'
        b'"result":{"kwh":1.25,"relay":"closed"},"error":null}'
    )


def test_response_of_a_refusal():
    out = response(None, None, "error", "2026-01-01T00:00:00.500Z", None, "the payload is not JSON (UTF-8)")
    assert out == (
        b'{"id":null,"meter_id":null,"status":"error","time":"2026-01-01T00:00:00.500Z",'
        b'"result":null,"error":"the payload is not JSON (UTF-8)"}'
    )
    assert list(json.loads(out)) == ["id", "meter_id", "status", "time", "result", "error"]


def test_response_keeps_non_ascii_as_utf8():
    out = response("é", "m", "rejected", "t", None, "busy")
    assert out.startswith('{"id":"é"'.encode())
    assert json.loads(out)["id"] == "é"
