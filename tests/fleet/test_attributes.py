"""Per-meter static attributes: any range of chunks equals the whole group sliced, and each attribute
has the distribution its config asks for."""

from __future__ import annotations

import numpy as np
import pytest

from metersim.config import MeterGroup
from metersim.fleet import build_attributes
from metersim.streams import CHUNK, MeterRange

COUNT = 2 * CHUNK + 300
ARRAYS = ("scale", "initial_milli", "offset_s", "shift_slots", "pv_kwp", "has_swh", "has_converter", "battery_pct")


def electricity(**extra) -> MeterGroup:
    fields = {
        "name": "homes",
        "commodity": "electricity",
        "count": COUNT,
        "timezone": "Asia/Karachi",
        "region": "lahore",
        "interval_s": 900,
        "annual_kwh": 3000,
        "pv": {"fraction": 0.3, "kwp_mean": 5, "kwp_sd": 2},
        "solar_water_heater": {"fraction": 0.2},
        "jitter_s": 120,
        "phase_shift_s": 1800,
        "initial_register_max": 800,
        "scale_sigma": 0.4,
        "id_format": "PK-{index:07d}",
    }
    return MeterGroup.model_validate(fields | extra)


def gas(**extra) -> MeterGroup:
    fields = {
        "name": "flats",
        "commodity": "gas",
        "count": COUNT,
        "timezone": "Asia/Tashkent",
        "interval_s": 3600,
        "annual_m3": 900,
        "converter_fraction": 0.25,
    }
    return MeterGroup.model_validate(fields | extra)


@pytest.mark.parametrize("make", [electricity, gas])
@pytest.mark.parametrize("meters", [MeterRange(0, CHUNK), MeterRange(CHUNK, COUNT), MeterRange(2 * CHUNK, COUNT)])
def test_a_range_equals_the_whole_group_sliced(make, meters):
    group = make()
    whole = build_attributes(group, 5)
    part = build_attributes(group, 5, meters)
    assert part.meters == meters and part.count == meters.count
    for name in ARRAYS:
        values = getattr(whole, name)
        if len(values) == 0:  # electricity meters have no battery
            assert len(getattr(part, name)) == 0
            continue
        np.testing.assert_array_equal(getattr(part, name), values[meters.start : meters.stop], err_msg=name)
    assert part.meter_ids() == whole.meter_ids()[meters.start : meters.stop]


def test_ids_follow_the_id_format_from_first_index():
    attributes = build_attributes(electricity(first_index=10), 5, MeterRange(CHUNK, 2 * CHUNK))
    ids = attributes.meter_ids()
    assert ids[0] == f"PK-{CHUNK + 10:07d}" and ids[-1] == f"PK-{2 * CHUNK + 9:07d}"
    assert len(set(ids)) == CHUNK


def test_electricity_attributes_have_the_configured_distributions():
    a = build_attributes(electricity(), 5)
    # lognormal annual scale with mean 1 and sigma 0.4
    assert a.scale.mean() == pytest.approx(1.0, abs=0.02)
    assert np.log(a.scale).std() == pytest.approx(0.4, rel=0.05)
    # initial registers uniform in [0, 800 kWh), in whole Wh
    assert a.initial_milli.dtype == np.int64
    assert a.initial_milli.min() >= 0 and a.initial_milli.max() < 800_000
    assert a.initial_milli.mean() == pytest.approx(400_000, rel=0.03)
    # report offsets in [0, jitter_s), phase shifts within +-1800 s = +-2 intervals of 900 s
    assert a.offset_s.min() >= 0 and a.offset_s.max() < 120
    assert set(np.unique(a.shift_slots).tolist()) == {-2, -1, 0, 1, 2}
    # PV on about 30 % of meters, at least 0.5 kWp each, mean near 5 kWp
    has_pv = a.pv_kwp > 0
    assert has_pv.mean() == pytest.approx(0.3, abs=0.03)
    assert a.pv_kwp[has_pv].min() >= 0.5
    assert a.pv_kwp[has_pv].mean() == pytest.approx(5.0, rel=0.05)
    assert a.has_swh.mean() == pytest.approx(0.2, abs=0.03)
    # gas-only attributes are empty or off
    assert not a.has_converter.any() and len(a.battery_pct) == 0
    assert a.topology is None


def test_gas_attributes_have_converters_and_batteries():
    a = build_attributes(gas(), 5)
    assert a.has_converter.mean() == pytest.approx(0.25, abs=0.03)
    assert a.battery_pct.min() >= 60 and a.battery_pct.max() <= 100
    assert a.battery_pct.mean() == pytest.approx(80, abs=1)
    assert not a.pv_kwp.any()
    none = build_attributes(gas(converter_fraction=0.0), 5)
    assert not none.has_converter.any()
    every = build_attributes(gas(converter_fraction=1.0), 5)
    assert every.has_converter.all()


def test_without_jitter_or_phase_shift_every_meter_reports_on_time_on_the_same_curve():
    a = build_attributes(electricity(jitter_s=0, phase_shift_s=0), 5)
    assert not a.offset_s.any() and not a.shift_slots.any()


def test_seeds_change_the_attributes():
    group = electricity()
    assert not np.array_equal(build_attributes(group, 5).scale, build_attributes(group, 6).scale)
    np.testing.assert_array_equal(build_attributes(group, 5).scale, build_attributes(group, 5).scale)
