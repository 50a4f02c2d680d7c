"""Cumulative registers: bands, export, converted volume, rollover, and what ``read`` hands out."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from metersim.model.registers import Registers, split_evenly, split_in_proportion


def ints(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_split_evenly_gives_non_negative_parts_that_sum_exactly(parts):
    total = ints(0, 1, 2, 999, 1000, 1001, 4_999_999_999)
    rows = split_evenly(total, parts)
    assert rows.shape == (parts, len(total))
    assert (rows >= 0).all()
    np.testing.assert_array_equal(rows.sum(axis=0), total)
    # as even as integers allow: parts differ by less than ``parts``
    assert (rows.max(axis=0) - rows.min(axis=0) < parts).all()


def test_band_registers_start_from_the_initial_total_and_always_sum_to_it():
    registers = Registers(ints(0, 1001, 123_456), bands=3)
    np.testing.assert_array_equal(registers.read().bands.sum(axis=0), ints(0, 1001, 123_456))
    flows = [(ints(5, 7, 11), 0), (ints(100, 0, 3), 2), (ints(1, 1, 1), 1), (ints(9, 8, 7), 2)]
    for import_milli, band in flows:
        registers.add(import_milli, band=band)
    read = registers.read()
    np.testing.assert_array_equal(read.total, ints(0 + 115, 1001 + 16, 123_456 + 22))
    np.testing.assert_array_equal(read.bands.sum(axis=0), read.total)
    # each band grew by exactly what was added in it
    start = split_evenly(ints(0, 1001, 123_456), 3)
    np.testing.assert_array_equal(read.bands[0] - start[0], ints(5, 7, 11))
    np.testing.assert_array_equal(read.bands[1] - start[1], ints(1, 1, 1))
    np.testing.assert_array_equal(read.bands[2] - start[2], ints(109, 8, 10))


def test_registers_roll_over_at_ten_to_the_digits_units():
    # 3 digits: the display shows 000.000 .. 999.999 kWh, i.e. it wraps at 1,000,000 Wh
    registers = Registers(ints(999_500, 10), bands=2, export=True, digits=3)
    registers.add(ints(700, 700), band=1, export_milli=ints(1_000_250, 0))
    read = registers.read()
    np.testing.assert_array_equal(read.total, ints(1_000_200 - 1_000_000, 710))
    np.testing.assert_array_equal(read.export_total, ints(250, 0))
    np.testing.assert_array_equal(read.export_bands[1], ints(250, 0))
    # bands roll over on their own; their sum still equals the total modulo the wrap
    np.testing.assert_array_equal(read.bands.sum(axis=0) % 1_000_000, read.total)
    assert (read.bands < 1_000_000).all()
    # 6 digits (the default) wraps at 10**6 kWh = 10**9 Wh
    big = Registers(ints(999_999_999))
    big.add(ints(2))
    assert big.read().total.tolist() == [1]


def test_export_registers_exist_only_when_asked_for_and_follow_the_band():
    plain = Registers(ints(0, 0), bands=2)
    assert plain.read().export_total is None and plain.read().export_bands is None
    plain.add(ints(1, 1), export_milli=ints(5, 5))  # ignored without export registers
    assert plain.read().export_total is None

    pv = Registers(ints(10, 20), bands=2, export=True)
    np.testing.assert_array_equal(pv.read().export_total, ints(0, 0))  # export starts at 0
    pv.add(ints(3, 0), band=0, export_milli=ints(0, 40))
    pv.add(ints(0, 0), band=1, export_milli=ints(6, 2))
    read = pv.read()
    np.testing.assert_array_equal(read.total, ints(13, 20))
    np.testing.assert_array_equal(read.export_total, ints(6, 42))
    np.testing.assert_array_equal(read.export_bands, [[0, 40], [6, 2]])

    no_bands = Registers(ints(0), export=True)
    no_bands.add(ints(1), export_milli=ints(2))
    assert no_bands.read().export_bands is None and no_bands.read().export_total.tolist() == [2]


def test_the_converted_register_starts_at_the_initial_volume_and_moves_only_for_converter_meters():
    mask = np.array([True, False, True])
    registers = Registers(ints(1000, 2000, 3000), converted_mask=mask)
    np.testing.assert_array_equal(registers.read().converted, ints(1000, 2000, 3000))
    # a gas step hands 0 converted litres to meters without a converter
    registers.add(ints(100, 200, 300), converted_milli=ints(102, 0, 306))
    registers.add(ints(10, 20, 30), converted_milli=ints(10, 0, 31))
    read = registers.read()
    np.testing.assert_array_equal(read.total, ints(1110, 2220, 3330))
    np.testing.assert_array_equal(read.converted[mask], ints(1112, 3337))
    assert read.converted[1] == 2000  # never moved
    np.testing.assert_array_equal(read.converted_mask, mask)
    # electricity registers have no converted register at all
    electricity = Registers(ints(1))
    electricity.add(ints(1), converted_milli=ints(1))
    assert electricity.read().converted is None and electricity.read().converted_mask is None


def test_the_converted_register_rolls_over_like_the_others():
    registers = Registers(ints(999_990), converted_mask=np.array([True]), digits=3)
    registers.add(ints(5), converted_milli=ints(15))
    assert registers.read().converted.tolist() == [5]
    assert registers.read().total.tolist() == [999_995]


def test_read_returns_copies_that_later_intervals_do_not_change():
    registers = Registers(ints(1, 2), bands=2, export=True, converted_mask=np.array([True, True]))
    first = registers.read()
    kept = {
        name: getattr(first, name).copy() for name in ("total", "bands", "export_total", "export_bands", "converted")
    }
    registers.add(ints(10, 10), band=1, export_milli=ints(3, 3), converted_milli=ints(11, 11))
    for name, values in kept.items():
        np.testing.assert_array_equal(getattr(first, name), values, err_msg=name)
    second = registers.read()
    assert second.total.tolist() == [11, 12]
    # and changing what was read does not reach the registers
    second.total[:] = 0
    second.bands[:] = 0
    assert registers.read().total.tolist() == [11, 12]
    assert registers.read().bands.sum(axis=0).tolist() == [11, 12]


def test_initial_registers_are_not_aliased():
    initial = ints(5, 6)
    registers = Registers(initial)
    registers.add(ints(1, 1))
    assert initial.tolist() == [5, 6]


@pytest.mark.parametrize(
    "shares", [(1.0,), (0.2, 0.8), (1 / 6, 5 / 6), (0.1, 0.3, 0.6), (3.0, 1.0), (0.0, 1.0), (0.25, 0.0, 0.75)]
)
def test_split_in_proportion_gives_integer_parts_near_their_share_that_sum_exactly(shares):
    total = ints(0, 1, 2, 7, 999, 1000, 1001, 123_456_789, 999_999_999_999)
    rows = split_in_proportion(total, shares)
    assert rows.shape == (len(shares), len(total)) and rows.dtype == np.int64
    assert (rows >= 0).all()
    np.testing.assert_array_equal(rows.sum(axis=0), total)
    normalised = np.asarray(shares) / sum(shares)
    # each part within 1 of its exact share
    exact = total[None, :] * normalised[:, None]
    assert (np.abs(rows - exact) < 1 + 1e-3).all()


def test_split_in_proportion_splits_evenly_without_any_weight_and_refuses_bad_shares():
    np.testing.assert_array_equal(split_in_proportion(ints(10, 11), (0.0, 0.0)).sum(axis=0), ints(10, 11))
    assert split_in_proportion(ints(10), (0.0, 0.0)).ravel().tolist() == [5, 5]
    for bad in ((), (-0.1, 1.1), (float("nan"), 1.0)):
        with pytest.raises(ValueError):
            split_in_proportion(ints(10), bad)


def test_band_registers_start_in_proportion_to_the_band_shares():
    registers = Registers(ints(0, 1000, 24_000_001), bands=2, band_shares=(4 / 24, 20 / 24))
    start = registers.read().bands
    np.testing.assert_array_equal(start.sum(axis=0), ints(0, 1000, 24_000_001))
    assert start[0].tolist() == [0, 166, 4_000_000]  # a sixth, to the thousandth
    registers.add(ints(5, 5, 5), band=0)
    np.testing.assert_array_equal(registers.read().bands[0] - start[0], ints(5, 5, 5))
    with pytest.raises(ValueError, match="2 band shares for 3 bands"):
        Registers(ints(1), bands=3, band_shares=(0.5, 0.5))


def test_the_converted_register_is_the_rounded_cumulative_of_unrounded_intervals():
    # 10.3 litres an interval: rounding each interval would publish 10 a time and lose 3 % of the correction
    registers = Registers(ints(1000), converted_mask=np.array([True]))
    exact = 1000.0
    published = [1000]
    for _ in range(50):
        registers.add(ints(10), converted_milli=np.array([10.3]))
        exact += 10.3
        converted = int(registers.read().converted[0])
        assert abs(converted - exact) <= 0.5 + 1e-9  # the exact cumulative, rounded
        published.append(converted)
    assert published[-1] == 1000 + 515
    assert all(b >= a for a, b in itertools.pairwise(published))  # never backwards
    assert abs(registers.state()["converted_carry"][0]) <= 0.5


def test_the_converted_carry_is_part_of_the_state_so_a_resumed_register_continues_exactly():
    mask = np.array([True, False, True])
    steps = np.random.default_rng(1).uniform(0, 40, (30, 3)) * mask

    def run(registers, rows):
        for row in rows:
            registers.add(np.rint(row).astype(np.int64), converted_milli=row)

    whole = Registers(ints(5, 6, 7), converted_mask=mask)
    run(whole, steps)
    first = Registers(ints(5, 6, 7), converted_mask=mask)
    run(first, steps[:13])
    state = first.state()
    assert set(state) == {"total", "converted", "converted_carry"}
    assert state["converted_carry"].dtype == np.float64
    resumed = Registers(ints(0, 0, 0), converted_mask=mask)
    resumed.restore(state)
    run(resumed, steps[13:])
    for name, values in whole.state().items():
        np.testing.assert_array_equal(resumed.state()[name], values, err_msg=name)
