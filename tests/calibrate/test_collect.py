"""The collector on hand-made observations: which meters it keeps, the PV generation it derives."""

from __future__ import annotations

import numpy as np
import pytest

from metersim.calibrate import GroupSeries, SeriesCollector
from metersim.records import GroupInterval, MeterSet, Observation, ReadingBatch, RegisterValues


def _observation(
    start_s: int, true: list[int], imported: list[int], exported: list[int], rows: list[int]
) -> Observation:
    meters = MeterSet("g", "electricity", "UTC", "", 3, make_ids=lambda: ["a", "b", "c"])
    n = len(rows)
    zeros = np.zeros(n, dtype=np.int64)
    batch = ReadingBatch(
        meters=meters,
        meters_at=np.array(rows, dtype=np.int64),
        interval_s=900,
        seq=zeros,
        end_s=zeros + start_s + 900,
        sent_s=zeros + start_s + 900,
        band=np.zeros(n, dtype=np.int8),
        true_milli=np.array(true, dtype=np.int64),
        import_milli=np.array(imported, dtype=np.int64),
        registers=RegisterValues(total=zeros),
        quality=np.zeros(n, dtype=np.int8),
        published=np.ones(n, dtype=bool),
        export_milli=np.array(exported, dtype=np.int64),
    )
    interval = GroupInterval(start_s, start_s + 900, 0, batch)
    return Observation(true=interval, published=interval)


def test_keeps_the_first_meters_and_derives_generation() -> None:
    wanted = GroupSeries("g", "electricity", "household", 900, "UTC", None, 3, kwp=np.array([4.0, 0.0]))
    collector = SeriesCollector({"g": wanted})
    # rows out of order; meter 2 is beyond the two collected
    collector.observe(_observation(900, [1000, 200, 50], [400, 200, 50], [100, 0, 0], rows=[0, 2, 1]))
    collector.observe(_observation(0, [500, 300, 70], [0, 300, 70], [250, 0, 0], rows=[0, 1, 2]))
    (series,) = collector.series()
    assert series.start_s.tolist() == [0, 900]  # in time order
    # meter 0: 0.5 then 1.0 kWh; meter 1: 0.3 then 0.05 (row 2 of the first observation was meter 1)
    np.testing.assert_allclose(series.load, [[0.5, 0.3], [1.0, 0.05]], rtol=1e-6)
    # generation = true - (import - export): 1000 - 300 = 700 Wh and 500 + 250 = 750 Wh
    assert series.generation_kwh.tolist() == pytest.approx([1.45, 0.0])
    assert np.isnan(series.temperature_c).all()  # no region
