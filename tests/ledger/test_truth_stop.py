"""A run stopped mid-interval: the ledger marks as published exactly the readings that went out."""

from __future__ import annotations

import csv
import threading

from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink
from tests.conftest import make_scenario, scenario_dict


def test_the_ledger_of_a_stopped_run_marks_only_what_was_sent(tmp_path):
    data = scenario_dict(duration="2h", speed=3600 / 2)  # 15 simulated minutes per 0.25 s
    data["fleet"][0]["jitter_s"] = 600  # the lahore meters report over ten minutes after each interval end
    data["truth"] = {"path": str(tmp_path / "truth.csv")}
    sink = MemorySink()
    simulation = Simulation(make_scenario(data), sinks=[sink])
    threading.Timer(0.6, simulation.stop).start()
    report = simulation.run()
    assert report.status == "interrupted"
    with open(tmp_path / "truth.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    published = {(r["meter_id"], int(r["seq"])) for r in rows if r["published"] == "true"}
    sent = {(r["meter_id"], r["seq"]) for r in sink.readings()}
    assert published == sent
    assert len(rows) > len(published)  # the stop fell inside an interval: some of its rows were never sent
    assert report.readings_published == report.readings_generated == len(sent)  # due = sent: no faults
