"""MeterControls.gate and friends, checked against hand-computed arrays."""

import numpy as np
import pytest

from metersim.commands.controls import ARMED, CLOSED, OPEN, Change, MeterControls

I = 900  # interval [s]  # noqa: E741
T0 = 1_767_207_600  # 2026-01-01T00:00:00+05:00, a multiple of 900


def flows(*values):
    return np.array(values, dtype=np.int64)


def gate(controls, start, imp, true=None, exp=None, band=0):
    true = imp if true is None else true
    return controls.gate(start, band, flows(*true), flows(*imp), None if exp is None else flows(*exp))


def events_of(gated):
    """[(row, time, code)] over every event batch, in order."""
    return [(int(r), int(t), int(c)) for rows, times, codes in gated.events for r, t, c in zip(rows, times, codes)]


def test_next_boundary_is_strictly_after():
    controls = MeterControls(2, I)
    assert controls.next_boundary(T0) == T0 + I  # exactly on a boundary goes to the next
    assert controls.next_boundary(T0 + 0.5) == T0 + I
    assert controls.next_boundary(T0 + 899.999) == T0 + I
    assert controls.next_boundary(T0 + 900) == T0 + 1800
    assert controls.next_boundary(T0 - 1) == T0
    assert MeterControls(1, 60).next_boundary(119) == 120


def test_nothing_set_passes_the_arrays_through():
    controls = MeterControls(3, I)
    true, imp, exp = flows(5, 6, 7), flows(4, 6, 7), flows(1, 0, 0)
    gated = controls.gate(T0, 1, true, imp, exp)
    assert gated.true_milli is true and gated.import_milli is imp and gated.export_milli is exp
    assert (gated.band, gated.events, gated.on) == (1, [], None)


def test_disconnect_zeroes_from_the_effective_boundary_not_before():
    controls = MeterControls(3, I)
    controls.schedule(Change(T0 + I, 1, "disconnect"))
    before = gate(controls, T0, [100, 200, 300], exp=[5, 6, 7])
    assert before.import_milli.tolist() == [100, 200, 300]
    assert before.export_milli.tolist() == [5, 6, 7]
    assert before.events == [] and controls.relay.tolist() == [CLOSED, CLOSED, CLOSED]
    at = gate(controls, T0 + I, [100, 200, 300], true=[110, 220, 330], exp=[5, 6, 7])
    assert at.import_milli.tolist() == [100, 0, 300]
    assert at.true_milli.tolist() == [110, 0, 330]
    assert at.export_milli.tolist() == [5, 0, 7]  # the inverter is off the grid too
    assert at.on.tolist() == [True, False, True]
    assert events_of(at) == [(1, T0 + I, 62)]
    assert controls.relay.tolist() == [CLOSED, OPEN, CLOSED]
    later = gate(controls, T0 + 2 * I, [1, 2, 3])
    assert later.import_milli.tolist() == [1, 0, 3] and later.events == []


def test_a_change_due_late_is_applied_with_its_own_time():
    controls = MeterControls(2, I)
    controls.schedule(Change(T0 + I, 0, "disconnect"))
    gated = gate(controls, T0 + 3 * I, [9, 9])
    assert gated.import_milli.tolist() == [0, 9]
    assert events_of(gated) == [(0, T0 + I, 62)]
    assert controls.pending == []


def test_disconnecting_an_open_meter_logs_nothing():
    controls = MeterControls(1, I)
    controls.schedule(Change(T0, 0, "disconnect"))
    assert events_of(gate(controls, T0, [5])) == [(0, T0, 62)]
    controls.schedule(Change(T0 + I, 0, "disconnect"))
    again = gate(controls, T0 + I, [5])
    assert again.events == [] and again.import_milli.tolist() == [0]


def test_reconnect_at_once():
    controls = MeterControls(2, I)
    controls.schedule(Change(T0, 0, "disconnect"))
    controls.schedule(Change(T0 + 2 * I, 0, "reconnect"))
    assert gate(controls, T0, [10, 20]).import_milli.tolist() == [0, 20]
    assert gate(controls, T0 + I, [10, 20]).import_milli.tolist() == [0, 20]
    back = gate(controls, T0 + 2 * I, [10, 20])
    assert back.import_milli.tolist() == [10, 20]
    assert events_of(back) == [(0, T0 + 2 * I, 63)]
    assert controls.relay.tolist() == [CLOSED, CLOSED]


def test_reconnecting_a_closed_meter_logs_nothing():
    controls = MeterControls(1, I, reconnect_button_s=100)
    controls.schedule(Change(T0, 0, "reconnect"))
    gated = gate(controls, T0, [10])
    assert gated.events == [] and controls.relay.tolist() == [CLOSED] and controls.pending == []


@pytest.mark.parametrize(("button_s", "pressed_after"), [(100, I), (899, I), (900, I), (901, 2 * I), (2000, 3 * I)])
def test_reconnect_with_the_button(button_s, pressed_after):
    """Armed at the effective boundary; closed at the first boundary >= effective + button_s."""
    controls = MeterControls(2, I, reconnect_button_s=button_s)
    controls.schedule(Change(T0, 1, "disconnect"))
    gate(controls, T0, [1, 1])
    effective = T0 + I
    controls.schedule(Change(effective, 1, "reconnect"))
    armed = gate(controls, effective, [7, 8])
    assert events_of(armed) == [(1, effective, 59)]
    assert armed.import_milli.tolist() == [7, 0]
    assert controls.relay.tolist() == [CLOSED, ARMED]
    pressed = effective + pressed_after
    for start in range(effective + I, pressed, I):
        still = gate(controls, start, [7, 8])
        assert still.import_milli.tolist() == [7, 0] and still.events == []
    closed = gate(controls, pressed, [7, 8])
    assert events_of(closed) == [(1, pressed, 61)]
    assert closed.import_milli.tolist() == [7, 8]
    assert controls.relay.tolist() == [CLOSED, CLOSED]


def test_a_press_after_a_disconnect_does_nothing():
    controls = MeterControls(1, I, reconnect_button_s=1000)
    controls.relay[0] = OPEN
    controls.schedule(Change(T0, 0, "reconnect"))
    gate(controls, T0, [1])
    controls.schedule(Change(T0 + I, 0, "disconnect"))  # the head-end opens it again before the press
    assert events_of(gate(controls, T0 + I, [1])) == [(0, T0 + I, 62)]
    assert events_of(gate(controls, T0 + 2 * I, [1])) == []  # the press at T0 + 1800 finds it open
    assert controls.relay.tolist() == [OPEN]


def limited(kw, count=3, **options):
    controls = MeterControls(count, I, **options)
    for row in range(count):
        controls.schedule(Change(T0, row, "load_limit", kw))
    return controls


def test_load_limit_trip():
    # 2 kW over 900 s: 2 * 1000 * 900 / 3600 = 500 Wh; rows 1 and 2 import more.
    controls = limited(2.0, over_limit_s=60)
    gated = gate(controls, T0, [400, 600, 1000], true=[400, 30, 1200], exp=[3, 4, 5])
    # kept = rint(import * 60 / 900): 600 -> 40, 1000 -> 66.67 -> 67; true is cut to no more than that
    assert gated.import_milli.tolist() == [400, 40, 67]
    assert gated.true_milli.tolist() == [400, 30, 67]
    assert gated.export_milli.tolist() == [3, 4, 5]  # it ran until the trip
    assert events_of(gated) == [(0, T0, 47), (1, T0, 47), (2, T0, 47), (1, T0 + 60, 64), (2, T0 + 60, 64)]
    assert controls.relay.tolist() == [CLOSED, OPEN, OPEN]
    after = gate(controls, T0 + I, [400, 600, 1000], exp=[3, 4, 5])
    assert after.import_milli.tolist() == [400, 0, 0]
    assert after.export_milli.tolist() == [3, 0, 0]
    assert after.events == []


def test_load_limit_exactly_at_the_cap_does_not_trip():
    controls = limited(2.0, count=1)
    gated = gate(controls, T0, [500])
    assert gated.import_milli.tolist() == [500]
    assert controls.relay.tolist() == [CLOSED]
    assert events_of(gated) == [(0, T0, 47)]


def test_trip_keeps_round_half_to_even():
    # over_limit_s = 450 of 900: half the import; 300.5 -> 300, 301.5 -> 302
    controls = limited(1.0, count=2, over_limit_s=450)  # cap 250
    assert gate(controls, T0, [601, 603]).import_milli.tolist() == [300, 302]
    assert events_of(gate(controls, T0, [0, 0])) == []  # the trip is logged once


def test_over_limit_longer_than_the_interval_keeps_it_all():
    controls = limited(1.0, count=1, over_limit_s=1200)
    gated = gate(controls, T0, [800])
    assert gated.import_milli.tolist() == [800]
    assert events_of(gated)[-1] == (0, T0 + I, 64)
    assert controls.relay.tolist() == [OPEN]


def test_curtail_caps_and_keeps_the_relay_closed():
    # 1.5 kW -> 375 Wh; 0.7 kW -> 175; 0.001 kW -> 0.25 -> floor 0
    controls = MeterControls(4, I, limit_action="curtail")
    for row, kw in enumerate([1.5, 0.7, 0.001]):
        controls.schedule(Change(T0, row, "load_limit", kw))
    gated = gate(controls, T0, [500, 100, 9, 5000], true=[600, 100, 9, 5000])
    assert gated.import_milli.tolist() == [375, 100, 0, 5000]
    assert gated.true_milli.tolist() == [375, 100, 0, 5000]
    assert [code for _, _, code in events_of(gated)] == [47, 47, 47]  # no trip
    assert controls.relay.tolist() == [CLOSED] * 4
    assert gated.on is None


def test_curtail_floors_a_fractional_cap():
    controls = MeterControls(1, 60, limit_action="curtail")  # 0.7 kW over 60 s: 11.67 Wh -> 11
    controls.schedule(Change(0, 0, "load_limit", 0.7))
    assert controls.gate(0, 0, flows(50), flows(50), None).import_milli.tolist() == [11]


def test_lifting_the_limit():
    controls = limited(1.0, count=1, limit_action="curtail")
    assert gate(controls, T0, [900]).import_milli.tolist() == [250]
    controls.schedule(Change(T0 + I, 0, "load_limit", None))
    lifted = gate(controls, T0 + I, [900])
    assert lifted.import_milli.tolist() == [900]
    assert events_of(lifted) == [(0, T0 + I, 47)]
    assert np.isnan(controls.limit_kw).all()


class Stub:
    """A calendar whose band is a fixed function of the interval start."""

    def __init__(self, offset):
        self.offset = offset

    def band_at(self, epoch_s):
        return (epoch_s // I + self.offset) % 3


def test_set_tariff_gives_per_meter_bands():
    controls = MeterControls(3, I, calendars={"own": Stub(0), "late": Stub(1), "other": Stub(2)})
    assert controls.calendar_names == ["own", "late", "other"]
    controls.schedule(Change(T0 + I, 1, "set_tariff", 1))
    controls.schedule(Change(T0 + I, 2, "set_tariff", 2))
    assert gate(controls, T0, [1, 1, 1], band=1).band == 1
    # T0 // 900 = 1963564, so at T0 + 900: (1963565 + 1) % 3 = 0, (1963565 + 2) % 3 = 1
    gated = gate(controls, T0 + I, [1, 2, 3], band=4)
    assert gated.band.tolist() == [4, 0, 1]
    assert gated.band.dtype == np.int8
    assert gated.import_milli.tolist() == [1, 2, 3]
    assert events_of(gated) == [(1, T0 + I, 47), (2, T0 + I, 47)]
    assert gate(controls, T0 + 2 * I, [1, 2, 3], band=4).band.tolist() == [4, 1, 2]
    controls.schedule(Change(T0 + 3 * I, 1, "set_tariff", 0))
    controls.schedule(Change(T0 + 3 * I, 2, "set_tariff", None))
    assert gate(controls, T0 + 3 * I, [1, 2, 3], band=4).band == 4  # back on the group's calendar


def test_time_sync_and_firmware():
    controls = MeterControls(2, I, firmware="1.0")
    assert controls.version_index("1.0") == 0
    assert controls.version_index("2.0") == 1 and controls.version_index("2.0") == 1
    assert controls.versions == ["1.0", "2.0"]
    controls.schedule(Change(T0, 0, "time_sync"))
    controls.schedule(Change(T0, 1, "firmware", 1))
    gated = gate(controls, T0, [3, 4])
    assert events_of(gated) == [(0, T0, 5), (1, T0, 18)]
    assert gated.import_milli.tolist() == [3, 4]
    assert controls.synced_s.tolist() == [T0, -1]
    assert controls.firmware.tolist() == [0, 1]


def test_events_come_in_schedule_order_with_dtypes():
    controls = MeterControls(4, I)
    controls.schedule(Change(T0, 3, "load_limit", 5.0))
    controls.schedule(Change(T0, 0, "disconnect"))
    controls.schedule(Change(T0 + I, 2, "disconnect"))  # not due yet
    gated = gate(controls, T0, [1, 1, 1, 1])
    assert len(gated.events) == 1
    rows, times, codes = gated.events[0]
    assert rows.tolist() == [3, 0] and times.tolist() == [T0, T0] and codes.tolist() == [47, 62]
    assert (rows.dtype, times.dtype, codes.dtype) == (np.int64, np.int64, np.int16)
    assert controls.pending == [Change(T0 + I, 2, "disconnect")]


def test_unknown_change_is_an_error():
    controls = MeterControls(1, I)
    controls.schedule(Change(T0, 0, "explode"))
    with pytest.raises(ValueError, match="unknown change 'explode'"):
        gate(controls, T0, [1])


def test_state_and_restore_round_trip():
    controls = MeterControls(3, I, calendars={"own": Stub(0), "late": Stub(1)})
    controls.schedule(Change(T0, 0, "disconnect"))
    controls.schedule(Change(T0, 1, "load_limit", 2.5))
    controls.schedule(Change(T0, 2, "set_tariff", 1))
    controls.schedule(Change(T0, 2, "time_sync"))
    gate(controls, T0, [1, 1, 1])
    state = controls.state()
    assert set(state) == {"relay", "limit_kw", "calendar", "synced_s"}
    assert state["relay"].tolist() == [OPEN, CLOSED, CLOSED]
    assert np.isnan(state["limit_kw"][[0, 2]]).all() and state["limit_kw"][1] == 2.5
    assert state["calendar"].tolist() == [0, 0, 1]
    assert state["synced_s"].tolist() == [-1, -1, T0]
    controls.relay[0] = CLOSED
    assert state["relay"].tolist() == [OPEN, CLOSED, CLOSED]  # a copy, not a view
    controls.relay[0] = OPEN

    resumed = MeterControls(3, I, calendars={"own": Stub(0), "late": Stub(1)})
    resumed.restore(state)
    assert resumed.relay.tolist() == [OPEN, CLOSED, CLOSED]
    assert resumed.relay.dtype == np.int8 and resumed.calendar.dtype == np.int16
    assert np.array_equal(resumed.limit_kw, controls.limit_kw, equal_nan=True)
    assert resumed.synced_s.tolist() == [-1, -1, T0]
    # 2.5 kW -> 625 Wh; trip keeps rint(1000 * 60 / 900) = 67
    for c in (controls, resumed):
        gated = gate(c, T0 + I, [10, 1000, 20], band=2)
        assert gated.import_milli.tolist() == [0, 67, 20]
        assert gated.band.tolist() == [2, 2, (T0 // I + 1 + 1) % 3]
        assert events_of(gated) == [(1, T0 + I + 60, 64)]


def test_reconnect_button_of_zero_closes_at_the_effective_boundary():
    # first boundary >= T0 + 0 is T0 itself: the relay closes there, 59 then 61 both at T0
    controls = MeterControls(1, I, reconnect_button_s=0)
    controls.relay[0] = OPEN
    controls.schedule(Change(T0, 0, "reconnect"))
    gated = gate(controls, T0, [5])
    assert events_of(gated) == [(0, T0, 59), (0, T0, 61)]
    assert gated.import_milli.tolist() == [5]


def test_fractional_reconnect_button_rounds_up_to_a_boundary():
    # T0 + 900 + 900.5 = T0 + 1800.5: the first boundary at or after it is T0 + 2700
    controls = MeterControls(1, I, reconnect_button_s=900.5)
    controls.relay[0] = OPEN
    controls.schedule(Change(T0 + I, 0, "reconnect"))
    gate(controls, T0 + I, [5])
    assert controls.pending == [Change(T0 + 3 * I, 0, "press")]
