"""Prometheus metrics: snapshots, their sum over workers, the exposition (read back with prometheus-client's
own parser), the server's port handling, and a paced run on a real broker scraped while it runs and at its end."""

from __future__ import annotations

import json
import queue
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from metersim.config import MqttOutput
from metersim.engine import Lateness
from metersim.metrics import MetricsPortError, MetricsSnapshot, OutputMetrics, serve_metrics, snapshot_of
from metersim.outputs import Output, Outputs
from metersim.simulation import Simulation
from metersim.sinks.base import Outbox
from metersim.sinks.mqtt import ManyMqttSink, MqttSink, State
from tests.cli.test_cli import write
from tests.conftest import ROOT, make_scenario, scenario_dict
from tests.integration.conftest import broker_url, private_mosquitto, subscriber  # noqa: F401  (fixtures)

#: longest wait for anything to happen in these tests [s]
WAIT_S = 20.0

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def scrape(port: int) -> Samples:
    """Every sample of ``/metrics``, by sample name and sorted labels, parsed by prometheus-client's parser."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get(name, {}).get(tuple(sorted(labels.items())))


def lateness_of(values: list[float]) -> Lateness:
    late = Lateness()
    for v in values:
        late.record(v)
    return late


def a_snapshot() -> MetricsSnapshot:
    return MetricsSnapshot(
        generated_by_kind={"electricity": 80, "gas": 10},
        readings_published=88,
        events_published=4,
        encoded={"json": 88, "dsmr": 20},
        outputs=[
            OutputMetrics(
                0, "mqtt", accepted=92, acknowledged=90, errors=1, in_flight=1, connections_up=1, reconnects=2
            ),
            OutputMetrics(1, "file", accepted=92, acknowledged=92),
        ],
        lateness=lateness_of([0.002, 0.002, 0.5, 2000.0]),
    )


# --- snapshots -------------------------------------------------------------------------------------------


def test_a_snapshot_crosses_a_pipe_as_json_unchanged():
    snap = a_snapshot()
    assert MetricsSnapshot.from_dict(json.loads(json.dumps(snap.to_dict()))) == snap


def test_the_snapshots_of_workers_add_up_output_by_output():
    a = a_snapshot()
    b = MetricsSnapshot(
        generated_by_kind={"gas": 5, "grid-side": 2},
        readings_published=7,
        encoded={"json": 7},
        outputs=[
            OutputMetrics(0, "mqtt", accepted=7, acknowledged=3, errors=0, in_flight=4, connections_up=1, reconnects=0),
            OutputMetrics(1, "file", accepted=7, acknowledged=7),
        ],
        lateness=lateness_of([0.1]),
    )
    total = MetricsSnapshot.total([a, b, MetricsSnapshot()])  # a worker that has not started adds nothing
    assert total.generated_by_kind == {"electricity": 80, "gas": 15, "grid-side": 2}
    assert (total.readings_published, total.events_published) == (95, 4)
    assert total.encoded == {"json": 95, "dsmr": 20}
    assert total.outputs == [
        OutputMetrics(0, "mqtt", accepted=99, acknowledged=93, errors=1, in_flight=5, connections_up=2, reconnects=2),
        OutputMetrics(1, "file", accepted=99, acknowledged=99),
    ]
    assert total.lateness is not None and total.lateness.total == 5 and total.lateness.max_s == 2000.0
    assert a.lateness is not None and a.lateness.total == 4  # the parts are left as they were


def test_a_simulation_that_has_not_started_is_all_zeros():
    simulation = Simulation(make_scenario(duration="1h"))
    assert snapshot_of(simulation) == MetricsSnapshot()


# --- the exposition and the server -----------------------------------------------------------------------


def test_the_exposition_has_every_counter_and_a_cumulative_lateness_histogram():
    logged: list[str] = []
    with serve_metrics(0, lambda: [a_snapshot()], log=logged.append) as port:
        samples = scrape(port)
    assert logged == [f"metersim: metrics on http://127.0.0.1:{port}/metrics"]
    assert value(samples, "metersim_readings_generated_total", kind="electricity") == 80
    assert value(samples, "metersim_readings_generated_total", kind="gas") == 10
    assert value(samples, "metersim_readings_published_total") == 88
    assert value(samples, "metersim_events_published_total") == 4
    assert value(samples, "metersim_readings_encoded_total", format="dsmr") == 20
    mqtt, file = {"output": "0", "type": "mqtt"}, {"output": "1", "type": "file"}
    assert value(samples, "metersim_messages_accepted_total", **mqtt) == 92
    assert value(samples, "metersim_messages_acknowledged_total", **mqtt) == 90
    assert value(samples, "metersim_messages_lost_total", **mqtt) == 1
    assert value(samples, "metersim_messages_in_flight", **mqtt) == 1
    assert value(samples, "metersim_mqtt_connections_up", **mqtt) == 1
    assert value(samples, "metersim_mqtt_reconnects_total", **mqtt) == 2
    assert value(samples, "metersim_messages_accepted_total", **file) == 92
    # a file has no flight and no connections: no such series, rather than a misleading 0
    assert value(samples, "metersim_messages_in_flight", **file) is None
    assert value(samples, "metersim_mqtt_connections_up", **file) is None
    # recorded: 2 ms twice, 0.5 s, 2000 s. Edges every fifth bucket, 10 ** (1/4) apart from 10 us:
    # 2 ms lies between 1.778 ms and 3.162 ms, 0.5 s between 0.3162 s and 0.5623 s, 2000 s above 1000 s.
    bucket = samples["metersim_emission_lateness_seconds_bucket"]
    cumulative = {dict(labels)["le"]: n for labels, n in bucket.items()}
    assert cumulative["1e-05"] == 0 and cumulative["0.001778"] == 0
    assert cumulative["0.003162"] == 2 and cumulative["0.3162"] == 2
    assert cumulative["0.5623"] == 3 and cumulative["1000"] == 3
    assert cumulative["+Inf"] == 4
    assert len(cumulative) == 8 * 4 + 1 + 1  # four per decade over 8 decades, both ends, and +Inf
    assert value(samples, "metersim_emission_lateness_seconds_count") == 4
    assert value(samples, "metersim_emission_lateness_seconds_sum") == pytest.approx(2000.504)


def test_a_fast_run_has_no_lateness_histogram_and_the_workers_are_summed_at_each_scrape():
    calls = []

    def source() -> list[MetricsSnapshot]:
        calls.append(1)
        return [MetricsSnapshot(readings_published=len(calls)), MetricsSnapshot(readings_published=10)]

    with serve_metrics(0, source) as port:
        first, second = scrape(port), scrape(port)
    assert value(first, "metersim_readings_published_total") == 11
    assert value(second, "metersim_readings_published_total") == 12  # asked again at every scrape
    assert "metersim_emission_lateness_seconds_bucket" not in first


def test_the_server_stops_with_the_block():
    with serve_metrics(0, lambda: []) as port:
        assert value(scrape(port), "metersim_readings_published_total") == 0
    with pytest.raises(urllib.error.URLError):
        scrape(port)


def test_a_port_in_use_is_a_one_line_error_with_exit_5():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsPortError) as error, serve_metrics(port, lambda: []):
            pytest.fail("the block must not run")
    message = str(error.value)
    assert message == f"cannot serve metrics on 127.0.0.1:{port}: Address already in use"
    assert error.value.exit_code == 5


# --- connections of real MQTT sinks ----------------------------------------------------------------------


def _outputs_only(sink: Any) -> Any:
    """What snapshot_of reads of a Simulation, around one sink (no engine)."""
    return SimpleNamespace(engine=None, outputs=Outputs([Output(sink)]))


def test_a_broker_restart_counts_one_reconnect(private_mosquitto):  # noqa: F811
    broker = private_mosquitto().start()
    output = MqttOutput.model_validate({"type": "mqtt", "url": broker.url, "qos": 1})
    with MqttSink(output) as sink:
        view = _outputs_only(sink)
        assert snapshot_of(view).outputs == [OutputMetrics(0, "mqtt", 0, 0, 0, 0, connections_up=1, reconnects=0)]
        broker.restart()
        deadline = time.monotonic() + WAIT_S
        conn = sink.connection
        assert conn is not None
        while not (conn.losses == 1 and conn.state is State.UP) and time.monotonic() < deadline:
            sink.poll()
            time.sleep(0.05)
        sink.send(Outbox.of(["metrics/after"], [b"1"]))
        sink.flush()
        assert snapshot_of(view).outputs == [OutputMetrics(0, "mqtt", 1, 1, 0, 0, connections_up=1, reconnects=1)]
    assert snapshot_of(view).outputs[0].connections_up == 0  # closed


def test_many_connections_count_each_sender_that_is_up(broker_url):  # noqa: F811
    output = MqttOutput.model_validate(
        {"type": "mqtt", "url": broker_url, "qos": 1, "connections": "per-meter", "max_rate_msg_s": None}
    )
    senders = ["m1", "m2", "m3"]
    topics, payloads = [f"metrics-{uuid.uuid4().hex[:8]}/{s}" for s in senders], [b"1", b"2", b"3"]
    with ManyMqttSink(output) as sink:
        view = _outputs_only(sink)
        sink.send(Outbox(3, lambda: payloads, lambda: topics, senders=lambda: senders))
        sink.flush()
        assert snapshot_of(view).outputs == [OutputMetrics(0, "mqtt", 3, 3, 0, 0, connections_up=3, reconnects=0)]
    assert snapshot_of(view).outputs[0].connections_up == 0


# --- a paced run, scraped ----------------------------------------------------------------------------------

#: 200 electricity meters every 15 min and 100 gas meters every hour, for 3 h
EXPECTED = {"electricity": 200 * 12, "gas": 100 * 3}


def paced_scenario(tmp_path: Path, url: str, prefix: str, speed: int = 3600) -> dict[str, Any]:
    data = scenario_dict(duration="3h", speed=speed)
    data["fleet"][0]["count"], data["fleet"][1]["count"] = 200, 100
    data["outputs"] = [
        {"type": "mqtt", "url": url, "qos": 1, "topic": prefix + "/{meter_id}"},
        {"type": "file", "path": str(tmp_path / "readings.jsonl")},
    ]
    return data


def test_a_paced_run_scraped_while_it_runs_and_at_its_end_matches_its_report(
    broker_url,  # noqa: F811
    subscriber,  # noqa: F811
    tmp_path,
):
    prefix = f"metrics-{uuid.uuid4().hex[:8]}"
    sub = subscriber(f"{prefix}/#")
    simulation = Simulation(make_scenario(paced_scenario(tmp_path, broker_url, prefix)), name="scraped")
    with serve_metrics(0, lambda: [snapshot_of(simulation)]) as port:
        runner = threading.Thread(target=simulation.run, daemon=True)
        runner.start()
        try:
            during: list[Samples] = []
            deadline = time.monotonic() + WAIT_S
            while runner.is_alive() and time.monotonic() < deadline:  # bounded: the run's length, WAIT_S at most
                samples = scrape(port)
                if runner.is_alive():
                    during.append(samples)
                time.sleep(0.2)
            runner.join(WAIT_S)
            assert not runner.is_alive()
            final = scrape(port)  # the run is over, the server not yet stopped
        finally:
            simulation.stop()
            runner.join(WAIT_S)
    mqtt, file = {"output": "0", "type": "mqtt"}, {"output": "1", "type": "file"}
    # mid-run: readings were counted, not yet all of them, and the MQTT connection was up
    partial = [s for s in during if value(s, "metersim_readings_generated_total", kind="electricity")]
    assert partial, "no scrape during the run saw a reading"
    assert any(value(s, "metersim_messages_acknowledged_total", **mqtt) for s in partial)
    assert any(value(s, "metersim_readings_generated_total", kind="electricity") < EXPECTED["electricity"]
               for s in partial)  # fmt: skip
    assert all(value(s, "metersim_mqtt_connections_up", **mqtt) == 1 for s in partial)
    assert any(value(s, "metersim_emission_lateness_seconds_count") for s in partial)
    # at the end: what the scenario makes (worked out by hand), what reached the file and the broker ...
    report = json.loads(simulation.report.to_json())
    assert report["status"] == "completed"
    lines = (tmp_path / "readings.jsonl").read_text().splitlines()
    total = sum(EXPECTED.values())
    assert len(lines) == total
    assert sub.wait_for(total, WAIT_S) and sub.wait_quiet() == total
    for kind, n in EXPECTED.items():
        assert value(final, "metersim_readings_generated_total", kind=kind) == n == report["readings_by_kind"][kind]
    # ... and the final report, counter by counter
    assert value(final, "metersim_readings_published_total") == report["readings_published"] == total
    assert value(final, "metersim_readings_encoded_total", format="json") == report["readings_encoded"]["json"]
    for labels, out in ((mqtt, report["outputs"][0]), (file, report["outputs"][1])):
        assert value(final, "metersim_messages_accepted_total", **labels) == out["accepted"] == total
        assert value(final, "metersim_messages_acknowledged_total", **labels) == out["acknowledged"] == total
        assert value(final, "metersim_messages_lost_total", **labels) == out["errors"] == 0
    assert value(final, "metersim_messages_in_flight", **mqtt) == report["outputs"][0]["in_flight"] == 0
    histogram = report["lateness_histogram"]
    assert value(final, "metersim_emission_lateness_seconds_count") == histogram["total"] > 0
    assert value(final, "metersim_emission_lateness_seconds_sum") == pytest.approx(histogram["sum_s"])


@pytest.mark.slow
def test_metersim_run_metrics_port_serves_while_it_runs(broker_url, tmp_path):  # noqa: F811
    prefix = f"metrics-{uuid.uuid4().hex[:8]}"
    scenario = write(tmp_path, paced_scenario(tmp_path, broker_url, prefix))
    report_path = tmp_path / "report.json"
    command = [sys.executable, "-m", "metersim", "run", str(scenario), "--metrics-port", "0", "-r", str(report_path)]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr or ()], daemon=True)
    reader.start()
    try:
        port, seen = None, []
        deadline = time.monotonic() + WAIT_S
        while port is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(line)
            found = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", line)
            port = int(found.group(1)) if found else None
        assert port is not None, "".join(seen)
        scraped = None
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                samples = scrape(port)
            except (urllib.error.URLError, ConnectionError):
                break  # the run ended between the poll and the scrape
            if value(samples, "metersim_messages_acknowledged_total", output="0", type="mqtt"):
                scraped = samples
            time.sleep(0.2)
        assert proc.wait(WAIT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert scraped is not None, "no scrape during the run saw an acknowledged message"
    report = json.loads(report_path.read_text())
    generated = value(scraped, "metersim_readings_generated_total", kind="electricity")
    assert (
        generated is not None and 0 < generated <= report["readings_by_kind"]["electricity"] == EXPECTED["electricity"]
    )
