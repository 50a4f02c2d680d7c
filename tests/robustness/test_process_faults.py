"""Process faults: SIGINT and SIGTERM in the middle of a real ``metersim run``.

A stop signal ends the run after flushing: exit 130 (SIGINT) or 143 (SIGTERM), the summary on
standard error, the report with ``"status": "interrupted"``, no traceback. With the broker up, every
reading accepted before the signal is delivered (none is counted as an error). With the broker away
(the proxy refuses every connection while the broker keeps running for the independent subscriber)
the run stops within the grace period (``GRACE_S``, 3 s) and counts what it could not deliver in
``errors``; the subscriber has at least everything the report counts as acknowledged.

``tests/integration/test_run_stop.py`` covers the same signals with a frozen broker (SIGSTOP).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.robustness.brokers import Lab, Run, check_result, fleet_scenario, new_prefix, wait_until

pytestmark = pytest.mark.integration

METERS, PER_METER = 100, 192
#: a stop signal ends a run whose outputs are blocked after the grace period (3 s), plus start-up slack
STOP_WITHIN_S = {"up": 3.0, "away": 3.0 + 2.5}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with Lab(tmp_path) as made:
        yield made


@pytest.mark.parametrize("broker_state", ["up", "away"])
@pytest.mark.parametrize(("signum", "qos"), [(signal.SIGINT, 1), (signal.SIGTERM, 2)], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_mid_run_flushes_counts_and_reports(
    lab: Lab, tmp_path: Path, broker_state: str, signum: int, qos: int
) -> None:
    broker = lab.broker(stock_limits=True)
    proxy = lab.proxy(broker.port)
    prefix = new_prefix()
    sub = lab.subscriber(broker, prefix)
    output = {
        "type": "mqtt",
        "url": proxy.url,
        "qos": qos,
        "max_rate_msg_s": 2_000,  # ~10 s of readings: the signal comes mid-run
        "buffer_messages": 1_000,
        "reconnect_max_s": 0.5,
    }
    scenario = fleet_scenario(tmp_path, prefix, meters=METERS, duration="2d", outputs=[output])
    started = Run(scenario)
    try:
        wait_until(lambda: len(sub.received()) >= 2_000, 30, "the first readings")
        if broker_state == "away":
            proxy.refuse()
            time.sleep(1.0)  # the run reconnects in vain; its buffer fills and it blocks
        signalled = time.monotonic()
        started.signal(signum)
        result = started.wait(30)
    finally:
        started.kill()
    stopped_in = time.monotonic() - signalled
    assert stopped_in < STOP_WITHIN_S[broker_state], f"stopped {stopped_in:.1f} s after the signal"
    check_result(result, 128 + signum, status="interrupted")
    assert "(interrupted)" in result.stderr, result.stderr  # the summary
    assert result.errors() == []
    out = result.output
    assert 2_000 <= out["accepted"] < METERS * PER_METER, out
    sub.wait_quiet()
    received = sub.received()
    assert all(seq < PER_METER for _, seq in received)
    if broker_state == "up":
        assert out["errors"] == 0 and out["acknowledged"] == out["accepted"], out
        assert len(received) == out["accepted"], (len(received), out)
    else:
        assert out["errors"] > 0, out  # what the unreachable broker never acknowledged is counted
        assert out["acknowledged"] <= len(received) <= out["accepted"], (len(received), out)
