"""``metersim send``: send one head-end command to meters of a scenario and print their answers.

The scenario gives the broker and the command topic: its first ``type: mqtt`` output with
``commands:``. The meters' topics are rendered exactly as the run renders them (the scenario's
groups are built as ``metersim run`` builds them, so every topic field, concentrators included, is
right). Each answer is printed to standard output as one JSON line (``schemas/response-v1.json``)
as it arrives; then one summary line goes to standard error.

Over MQTT 5 (``protocol: "5"``) every command carries a Response Topic private to this sender and
Correlation Data; over 3.1.1 the answers are read on each command topic + ``/response``.

Exit codes: 0 every meter answered ``ok``; 8 some answered otherwise (error, timeout, rejected) or
not at all within ``--timeout``; 2 invalid scenario, no output with ``commands:``, an unknown meter
or group, or invalid ``--args``; 3 broker unreachable (or it refused the connection); 4 TLS files.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import time
import uuid
from typing import Any

from rich.console import Console

from metersim.cli.common import add_scenarios, error, load
from metersim.commands.messages import Request, parse
from metersim.commands.topics import CommandTopics, response_topic
from metersim.config.commands import COMMANDS
from metersim.config.outputs import MqttOutput
from metersim.errors import BrokerUnreachableError, ConfigError

#: at most this many meters per send
MAX_METERS = 100_000
#: at most this long a wait for any answer [s]
MAX_TIMEOUT_S = 3600.0
#: exit code when some meter did not answer ``ok`` (or not at all)
EXIT_NOT_ALL_OK = 8

EPILOG = """\
examples:
  metersim send cmd.yaml --meter PK-0001 read
  metersim send cmd.yaml --group homes ping --timeout 5
  metersim send cmd.yaml --meter PK-0001 --meter PK-0002 load_limit --args '{"kw": 3.5}'
  metersim send cmd.yaml --meter PK-0001 set_tariff --args '{"tariff": "tou-late"}' --url mqtt://10.0.0.5

Each answer is one JSON line on standard output; a summary goes to standard error.
exit codes: 0 all answered ok, 8 some not ok or missing after --timeout, 2 invalid scenario,
no `commands:` output, unknown meter/group or bad --args, 3 broker unreachable, 4 TLS files.
"""


def add_parser(sub: Any) -> None:
    send = sub.add_parser(
        "send",
        help="send a command to meters of a running scenario",
        description="Send one command to meters (those of --meter, or a whole --group) and print their answers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_scenarios(send)  # its --url points the scenario's mqtt outputs elsewhere
    target = send.add_mutually_exclusive_group(required=True)
    target.add_argument("--meter", action="append", metavar="ID", help="a meter id (repeatable)")
    target.add_argument("--group", metavar="NAME", help="every meter of this fleet group")
    send.add_argument("cmd", choices=COMMANDS, metavar="COMMAND", help=f"one of {', '.join(COMMANDS)}")
    send.add_argument("--args", dest="cmd_args", metavar="JSON", help="the arguments, e.g. '{\"kw\": 3.5}'")
    send.add_argument("--timeout", type=float, default=10.0, metavar="S", help="wait at most S seconds (default 10)")
    send.add_argument("--id", dest="cmd_id", metavar="ID", help="the command id (default: a random one)")
    send.add_argument("--qos", type=int, choices=(0, 1, 2), help="QoS (default: commands.qos, else the output's)")


def main(args: argparse.Namespace, console: Console) -> int:
    scenario = load(args, console)
    if scenario is None:
        return ConfigError.exit_code
    try:
        output = _output(scenario)
        request = _request(args)
        if not 0 < args.timeout <= MAX_TIMEOUT_S:
            raise ConfigError(f"--timeout must be in (0, {MAX_TIMEOUT_S:g}] seconds")
        targets = _targets(scenario, output, args)
    except ConfigError as exc:
        for problem in exc.problems:
            error(console, problem)
        return ConfigError.exit_code
    payload = json.dumps({"id": request.id, "command": request.command, "args": request.args}).encode()
    qos = args.qos if args.qos is not None else _default_qos(output)
    return _send(output, targets, payload, request.id, qos, args.timeout, console)


def _output(scenario: Any) -> MqttOutput:
    """The first mqtt output with ``commands:``."""
    found = [o for o in scenario.outputs if isinstance(o, MqttOutput) and o.commands is not None]
    if not found:
        raise ConfigError("send: the scenario has no `type: mqtt` output with `commands:`")
    output = found[0]
    if output.embedded:
        raise ConfigError(
            'send: the output\'s url is "embedded" (a broker inside the run); give the broker with --url mqtt://HOST:PORT'
        )
    return output


def _request(args: argparse.Namespace) -> Request:
    """The command, checked as a meter checks it."""
    try:
        cmd_args = json.loads(args.cmd_args) if args.cmd_args is not None else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--args: not JSON ({exc.msg})") from None
    command_id = args.cmd_id if args.cmd_id is not None else f"send-{uuid.uuid4().hex[:16]}"
    body = json.dumps({"id": command_id, "command": args.cmd, "args": cmd_args}).encode()
    parsed = parse(body, 1 << 20)
    if not isinstance(parsed, Request):
        where = "--id" if parsed.id is None else "--args"
        raise ConfigError(f"{where}: {parsed.reason}")
    return parsed


def _default_qos(output: MqttOutput) -> int:
    assert output.commands is not None
    return output.commands.qos if output.commands.qos is not None else output.qos


def _targets(scenario: Any, output: MqttOutput, args: argparse.Namespace) -> list[tuple[str, str]]:
    """(meter id, command topic) of each meter addressed, in fleet order for --group, else as given."""
    groups = {g.name: g for g in scenario.fleet}
    if args.group is not None and args.group not in groups:
        raise ConfigError(f"--group: no fleet group {args.group!r} (groups: {', '.join(groups)})")
    if args.group is not None and groups[args.group].count > MAX_METERS:
        raise ConfigError(f"--group: {groups[args.group].count} meters; send reaches at most {MAX_METERS:,} at once")
    wanted = list(dict.fromkeys(args.meter or []))
    if len(wanted) > MAX_METERS:
        raise ConfigError(f"--meter: {len(wanted)} meters; send reaches at most {MAX_METERS:,} at once")
    # Built as the run builds them, so that every topic field (places, concentrators) is the run's own.
    from metersim.encoders.topics import TopicCache
    from metersim.simulation import build_groups
    from metersim.windows import resolve_window

    assert output.commands is not None
    template = output.commands.topic
    cache = TopicCache()
    simulators = build_groups(scenario, resolve_window(scenario)[0])
    if args.group is not None:
        meters = next(s.meter_set for s in simulators if s.group.name == args.group)
        return [(f["meter_id"], template.format(**f)) for f in cache.fields(meters)]
    found: dict[str, str] = {}
    pending = set(wanted)
    for simulator in simulators:
        if not pending:
            break
        meters = simulator.meter_set
        for row, meter_id in enumerate(meters.ids):
            if meter_id in pending:
                found[meter_id] = template.format(**cache.fields(meters)[row])
                pending.discard(meter_id)
    if pending:
        missing = [m for m in wanted if m in pending]
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise ConfigError(f"--meter: no meter {shown} in the scenario's fleet")
    return [(m, found[m]) for m in wanted]


def _send(
    output: MqttOutput,
    targets: list[tuple[str, str]],
    payload: bytes,
    command_id: str,
    qos: int,
    timeout_s: float,
    console: Console,
) -> int:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from metersim.sinks.mqtt.client import new_client

    v5 = output.protocol == "5"
    client_id = f"metersim-send-{uuid.uuid4().hex[:12]}"
    client = new_client(output, client_id)
    inbox: queue.Queue[tuple[str, bytes, bytes | None] | tuple[str, int]] = queue.Queue()
    reply_to = f"metersim/send/{client_id}/response"
    assert output.commands is not None
    filter_ = reply_to if v5 else response_topic(CommandTopics(output.commands.topic).filter)

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        inbox.put(("connack", int(getattr(reason, "value", reason))))

    def on_subscribe(_c: Any, _u: Any, _mid: Any, reasons: Any, _p: Any = None) -> None:
        codes = [int(getattr(r, "value", r)) for r in reasons]
        inbox.put(("suback", max(codes) if codes else 0))

    def on_message(_c: Any, _u: Any, message: Any) -> None:
        correlation = getattr(message.properties, "CorrelationData", None) if v5 else None
        inbox.put((message.topic, bytes(message.payload), correlation))

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    where = f"{output.host}:{output.port}"
    deadline = time.monotonic() + min(output.connect_timeout_s, timeout_s + 5)
    try:
        client.connect(output.host, output.port, keepalive=int(output.keepalive_s))
    except (OSError, ValueError) as exc:
        raise BrokerUnreachableError(f"send: cannot reach the broker at {where}: {_why(exc)}") from None
    client.loop_start()
    try:
        _await(inbox, "connack", deadline, f"send: no answer from the broker at {where}", where)
        client.subscribe(filter_, qos=qos)
        _await(inbox, "suback", deadline, f"send: the broker at {where} did not confirm the subscription", where)
        expected: dict[str, str] = {}  # response topic (3.1.1) or correlation (5) -> meter id
        start = time.monotonic()
        for n, (meter_id, topic) in enumerate(targets):
            if v5:
                key = f"{n}".encode()
                props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                props.ResponseTopic, props.CorrelationData = reply_to, key
                expected[key.decode()] = meter_id
                client.publish(topic, payload, qos=qos, properties=props)
            else:
                expected[response_topic(topic)] = meter_id
                client.publish(topic, payload, qos=qos)
        counts = _collect(inbox, expected, command_id, v5, start + timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
    answered = sum(counts.values())
    by_status = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
    missing = len(targets) - answered
    tail = f"; {missing} missing after {timeout_s:g} s" if missing else ""
    console.print(
        f"send: answered {answered} of {len(targets)}" + (f" ({by_status})" if by_status else "") + tail,
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return 0 if counts.get("ok", 0) == len(targets) else EXIT_NOT_ALL_OK


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _await(inbox: queue.Queue[Any], kind: str, deadline: float, late: str, where: str) -> None:
    """Wait for the broker's CONNACK or SUBACK; a refusal or no answer by ``deadline`` is unreachable."""
    while True:
        left = deadline - time.monotonic()
        try:
            item = inbox.get(timeout=max(left, 0.0)) if left > 0 else inbox.get_nowait()
        except queue.Empty:
            raise BrokerUnreachableError(late) from None
        if item[0] != kind:
            continue
        if item[1] >= 0x80 or (kind == "connack" and item[1] != 0):
            what = "refused the connection" if kind == "connack" else "refused the subscription"
            raise BrokerUnreachableError(f"send: the broker at {where} {what} (reason code {item[1]})")
        return


def _collect(
    inbox: queue.Queue[Any], expected: dict[str, str], command_id: str, v5: bool, deadline: float
) -> dict[str, int]:
    """Print each expected answer as it arrives, until all are in or ``deadline``; the count by status."""
    counts: dict[str, int] = {}
    while expected:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            item = inbox.get(timeout=left)
        except queue.Empty:
            break
        if len(item) != 3:
            continue
        topic, body, correlation = item
        try:
            answer = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(answer, dict) or answer.get("id") != command_id:
            continue  # someone else's
        key = (correlation or b"").decode(errors="replace") if v5 else topic
        if key not in expected:
            continue
        del expected[key]
        status = str(answer.get("status"))
        counts[status] = counts.get(status, 0) + 1
        sys.stdout.write(body.decode() + "\n")  # as the meter sent it: one JSON line
        sys.stdout.flush()
    return counts
