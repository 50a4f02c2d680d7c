"""Readings a transform sends late or twice go out when the clock reaches them, and only then."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from metersim.records import LATE, Label, ReadingBatch
from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink
from tests.conftest import make_scenario, scenario_dict
from tests.engine.test_pipeline import _ledger

DELAYED, DOUBLED = "PK-LESCO-000002", "PK-LESCO-000003"
DELAY_S = 3 * 900  # three intervals


def late_and_twice(batch: ReadingBatch) -> tuple[ReadingBatch, list[Label]]:
    """One meter's readings leave 45 min late (marked late); another's go out a second time 60 s later."""
    if batch.meters.grid_side or batch.meters.group != "lahore":
        return batch, []
    ids = batch.meters.ids
    late_row, twice_row = ids.index(DELAYED), ids.index(DOUBLED)
    sent_s, quality = batch.sent_s.copy(), batch.quality.copy()
    sent_s[late_row] += DELAY_S
    quality[late_row] = LATE
    resend_s = np.full(len(batch), -1, dtype=np.int64)
    resend_s[twice_row] = batch.sent_s[twice_row] + 60
    return batch.replace(sent_s=sent_s, quality=quality, resend_s=resend_s), []


def _run(tmp: Path, transforms: list) -> tuple[MemorySink, object]:
    data = scenario_dict(duration="1d")
    data["truth"] = {"path": str(tmp / "truth.csv")}
    sink = MemorySink()
    report = Simulation(make_scenario(data), sinks=[sink], transforms=transforms).run()
    return sink, report


def test_late_readings_leave_after_the_readings_of_later_intervals_and_a_copy_follows_the_original(tmp_path):
    sink, report = _run(tmp_path, [late_and_twice])
    readings = sink.readings()
    order = [(r["meter_id"], r["seq"]) for r in readings]
    assert len(order) == report.readings_published + 96  # and the 96 second copies

    late = [k for k in order if k[0] == DELAYED]
    assert sorted(late) == late and len(late) == 96  # each meter's own order is kept
    # reading k of the delayed meter goes out after reading k+2 of a punctual neighbour
    neighbour = "PK-LESCO-000001"
    for seq in range(93):
        assert order.index((DELAYED, seq)) > order.index((neighbour, seq + 2))
    assert all(r["quality"] == "late" for r in readings if r["meter_id"] == DELAYED)

    doubled = [k for k in order if k[0] == DOUBLED]
    assert len(doubled) == 2 * 96 and len(set(doubled)) == 96
    rows = _ledger(tmp_path / "truth.csv")
    assert all(row["published"] == "true" for row in rows)  # every reading, late ones too, went out


def test_without_a_transform_the_stream_is_the_same_as_with_an_identity_transform(tmp_path):
    plain, _ = _run(tmp_path, [])
    same, _ = _run(tmp_path, [lambda batch: (batch, [])])
    assert plain.messages == same.messages
