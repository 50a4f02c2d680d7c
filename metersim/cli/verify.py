"""``metersim verify``: subscribe to a scenario's MQTT topics, regenerate what should arrive, reconcile.

The verifier subscribes first (a persistent QoS 1 session, so nothing published after that is lost to
it, even across a broker restart with persistence), then runs the scenario again in-process into
memory (deterministic: the same seed gives byte-identical payloads), then collects messages until
every expected copy has arrived, or no new message has come for ``--timeout-s``, or ``--max-wait-s``
has passed. The rules of the comparison are in :mod:`metersim.verify.reconcile`.

Exit codes: 0 nothing missing, corrupted or unexpected (duplicates, reordering and lateness are
reported, not failed: QoS 1 is at-least-once); 8 something missing, corrupted or unexpected; 2 invalid
scenario or options; 3 broker unreachable; 5 the report cannot be written; 130 Ctrl-C (the summary of
what had arrived is printed and written first).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from metersim.cli.common import add_scenarios, error, load, scenario_name
from metersim.cli.writable import check_writable
from metersim.config import MqttOutput, Scenario
from metersim.errors import EXIT_INTERRUPTED, ConfigError, not_writable

#: exit code of a verification that found readings missing, corrupted or unexpected
EXIT_UNRECONCILED = 8
#: how long [s] to keep listening after every expected copy has arrived (late duplicates, strays)
SETTLE_S = 1.0
_STEP_S = 0.1

EPILOG = """\
examples:
  metersim verify configs/quickstart.yaml --broker mqtt://127.0.0.1:1883 -r out/verify.json
      start it, then `metersim run configs/quickstart.yaml` (same scenario, same --set) elsewhere

exit codes: 0 nothing missing, corrupted or unexpected; 8 something was; 2 invalid scenario or option;
3 broker unreachable; 5 report not writable; 130 interrupted (prints what had arrived).
"""


def add_parser(sub: Any) -> None:
    verify = sub.add_parser(
        "verify",
        help="check that a broker delivers exactly what a scenario publishes",
        description="Subscribe to a scenario's MQTT topics (persistent QoS 1 session), regenerate the readings "
        "it publishes, and report what is missing, duplicated, out of order, late, corrupted or unexpected. "
        "Start it before (or while) the run publishes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_scenarios(verify)
    verify.add_argument(
        "--broker", metavar="URL", help="mqtt://[user[:password]@]host[:port]; default: the first mqtt output's url"
    )
    verify.add_argument("-r", "--report", metavar="PATH", help="write the verification report as JSON")
    verify.add_argument(
        "--timeout-s",
        type=float,
        default=60.0,
        metavar="N",
        help="stop after no new message for this long [s] (default 60)",
    )
    verify.add_argument(
        "--max-wait-s",
        type=float,
        default=None,
        metavar="N",
        help="stop after this long in all [s] (default: a paced run's wall duration "
        "plus --timeout-s plus 60, else 3600)",
    )
    verify.add_argument(
        "--late-tolerance-s",
        type=float,
        default=5.0,
        metavar="N",
        help="a reading arriving this long [s] after its sent_at is late; judged only for a "
        "run at speed 1 that starts now (default 5)",
    )
    verify.add_argument(
        "--client-id",
        metavar="ID",
        help="MQTT client id of the persistent session (default: metersim-verify-<scenario name>)",
    )
    verify.add_argument(
        "--replay-commands",
        metavar="LOG",
        help="the run answered commands: regenerate its readings with its command log (commands.jsonl)",
    )
    verify.add_argument("-q", "--quiet", action="store_true", help="print only warnings, errors and the summary")


def client_id_for(name: str) -> str:
    """The session's default client id: fixed per scenario name, so a restarted verify resumes it."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "scenario"
    return f"metersim-verify-{slug}"[:64]


def _config_error(console: Console, message: str) -> int:
    error(console, message)
    return ConfigError.exit_code


def main(args: argparse.Namespace, console: Console) -> int:
    scenario = load(args, console)
    if scenario is None:
        return ConfigError.exit_code
    outputs = [o for o in scenario.outputs if isinstance(o, MqttOutput)]
    if not outputs:
        return _config_error(console, "verify: the scenario has no `type: mqtt` output to verify")
    for option in ("timeout_s", "late_tolerance_s", "max_wait_s"):
        value = getattr(args, option)
        if value is not None and not value > 0:
            return _config_error(console, f"--{option.replace('_', '-')}: must be > 0, not {value:g}")
    try:
        broker = MqttOutput.model_validate({"type": "mqtt", "url": args.broker or outputs[0].url})
    except ValidationError as exc:
        return _config_error(console, f"--broker: {exc.errors()[0]['msg']}")
    if broker.embedded:
        return _config_error(console, "--broker: verify needs a broker URL (mqtt://host:port), not `embedded`")
    if args.report:
        check_writable([("report", args.report)])
    from metersim.verify.subscriber import Subscriber, topic_filter

    name = scenario_name(args)
    filters = sorted({topic_filter(t) for o in outputs for t in (o.topic, o.events_topic)})
    client_id = args.client_id or client_id_for(name)
    scheme = "mqtts" if broker.uses_tls else "mqtt"
    subscriber = Subscriber(
        broker.host,
        broker.port,
        client_id,
        filters,
        username=broker.url_username,
        password=broker.url_password,
        tls=broker.tls,
        use_tls=broker.uses_tls,
        connect_timeout_s=broker.connect_timeout_s,
    )
    subscriber.start()  # raises BrokerUnreachableError: exit 3
    began = time.time()
    try:
        resumed = ", resumed" if subscriber.session_present else ""
        where = f"{scheme}://{subscriber.address}"
        line = f"subscribed to {', '.join(filters)} on {where} as {client_id} (QoS 1, persistent session{resumed})"
        _say(args, console, f"metersim: verify: {line}")
        return _verify(args, console, scenario, name, outputs, subscriber, began)
    finally:
        subscriber.stop()


def _say(args: argparse.Namespace, console: Console, line: str) -> None:
    if not args.quiet:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _verify(
    args: argparse.Namespace,
    console: Console,
    scenario: Scenario,
    name: str,
    outputs: list[MqttOutput],
    subscriber: Any,
    began: float,
) -> int:
    from metersim.timebase import iso_utc
    from metersim.verify.expected import regenerate
    from metersim.verify.reconcile import Arrival, reconcile

    arrivals: list[Arrival] = []
    interrupted = False
    status = "complete"
    try:
        expected = regenerate(scenario, name, outputs, args.replay_commands)
    except KeyboardInterrupt:
        expected = None
    if expected is None or not expected.completed:
        error(console, "interrupted while regenerating the expected readings")
        return EXIT_INTERRUPTED
    readings = expected.readings
    dropped = sum(1 for r in readings.values() if r.dropped)
    line = (
        f"expecting {expected.copies:,} reading messages ({len(readings):,} readings, {dropped:,} dropped on "
        f"purpose) and {expected.events:,} events, {iso_utc(expected.start_s)} to {iso_utc(expected.end_s)}"
    )
    _say(args, console, f"metersim: verify: {line}")
    needed: Counter[tuple[str, int]] = Counter({k: r.copies for k, r in readings.items() if r.copies})
    outstanding = sum(needed.values())
    sim = scenario.simulation
    paced = sim.speed != "max"
    max_wait_s = args.max_wait_s
    if max_wait_s is None:
        max_wait_s = sim.duration_s / float(sim.speed) + args.timeout_s + 60 if paced else 3600.0
    now = time.monotonic()
    last_new, deadline, settle_until = now, now + max_wait_s, None
    try:
        while True:
            batch = subscriber.drain()
            now = time.monotonic()
            if batch:
                last_new = now
                arrivals += batch
                for arrival in batch:
                    key = _key(arrival.payload)
                    if key is not None and needed.get(key, 0) > 0:
                        needed[key] -= 1
                        outstanding -= 1
            if outstanding <= 0 and settle_until is None:
                settle_until = now + SETTLE_S
            if settle_until is not None and now >= settle_until:
                break
            if settle_until is None and now - last_new >= args.timeout_s:
                status = "idle"
                break
            if now >= deadline:
                status = "max_wait"
                break
            time.sleep(_STEP_S)
    except KeyboardInterrupt:
        interrupted, status = True, "interrupted"
        arrivals += subscriber.drain()
    live = paced and float(sim.speed) == 1.0 and sim.starts_now
    result = reconcile(readings, arrivals, args.late_tolerance_s if live else None, judge_from_s=began)
    console.print(_table(name, status, result, expected.events))
    for problem in subscriber.errors:
        error(console, f"mqtt: {problem}")
    if args.report:
        report = {
            "scenario": name,
            "status": status,
            "broker": f"{subscriber.host}:{subscriber.port}",
            "client_id": subscriber.client_id,
            "filters": subscriber.filters,
            "window": {"start": iso_utc(expected.start_s), "end": iso_utc(expected.end_s)},
            "expected_events": expected.events,
            "late_rule": (
                f"first copy received more than {args.late_tolerance_s:g} s after sent_at"
                if live
                else "not checked: only a run at speed 1 that starts now has sent_at on the wall clock"
            ),
            "session": {
                "connects": subscriber.connects,
                "disconnects": subscriber.disconnects,
                "errors": subscriber.errors,
            },
            **result.to_json(),
        }
        path = Path(args.report)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise not_writable("report", path, exc) from None
    if interrupted:
        return EXIT_INTERRUPTED
    return 0 if result.ok else EXIT_UNRECONCILED


def _key(payload: bytes) -> tuple[str, int] | None:
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict):
        return None
    meter_id, seq = message.get("meter_id"), message.get("seq")
    return (meter_id, seq) if isinstance(meter_id, str) and isinstance(seq, int) else None


def _table(name: str, status: str, result: Any, expected_events: int) -> Table:
    from metersim.verify.reconcile import ERRORS, KINDS

    table = Table(title=f"metersim verify: {name} ({status}, {'ok' if result.ok else 'NOT OK'})", show_header=True)
    table.add_column("readings")
    table.add_column("count", justify="right")
    table.add_column("as injected", justify="right")
    injected = {"duplicated": "duplicated", "out_of_order": "out_of_order", "late": "late", "missing": "dropped"}
    table.add_row("expected", f"{result.expected:,}", "")
    table.add_row("received", f"{result.received:,}", "")
    for kind in KINDS:
        label = kind.replace("_", " ") + (" (error)" if kind in ERRORS else "")
        count = "-" if kind == "late" and not result.late_checked else f"{result.counts[kind]:,}"
        as_injected = f"{result.injected[injected[kind]]:,}" if kind in injected else ""
        table.add_row(label, count, "-" if count == "-" else as_injected)
    table.caption = f"{result.events:,} of {expected_events:,} events received (not reconciled)"
    return table
