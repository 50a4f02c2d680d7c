"""Grid-side meters worked out by hand from the formulas of metersim/model/grid.py:

transformer = sum(import - export) + unmetered + losses_t
feeder      = sum(transformer deliveries) + losses_f
unmetered   = unmetered_pct / 100 * sum(load) per transformer
losses      = pct / 100 * flow**2 / reference,  reference = meters * mean meter load * (1 + unmetered_pct / 100)
"""

from __future__ import annotations

import numpy as np

from metersim.model.grid import GridBalance, GridLosses


def ints(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


# Five meters: 0-2 on transformer 0, 3-4 on transformer 1; both transformers on feeder 0.
METER_TRANSFORMER = ints(0, 0, 0, 1, 1)
TRANSFORMER_FEEDER = ints(0, 0)
METERS_PER_TRANSFORMER = ints(3, 2)
LOSSES = GridLosses(transformer_losses_pct=2.5, feeder_losses_pct=6.0, unmetered_pct=10.0)
LOAD = ints(100, 200, 300, 50, 150)
IMPORT = ints(100, 200, 300, 0, 150)
EXPORT = ints(0, 0, 0, 40, 0)  # meter 3 has PV: it used 50 Wh, generated 90 Wh, fed 40 Wh back


def balance(publish_t=(True, True), publish_f=(True,), losses=LOSSES, mean_meter_milli=100.0) -> GridBalance:
    return GridBalance(
        METER_TRANSFORMER,
        TRANSFORMER_FEEDER,
        METERS_PER_TRANSFORMER,
        mean_meter_milli,
        losses,
        np.array(publish_t),
        np.array(publish_f),
    )


def test_two_transformers_and_a_feeder_worked_by_hand():
    step = balance().step(LOAD, IMPORT, EXPORT)
    # transformer 0: metered 100 + 200 + 300 = 600; unmetered 10 % of load 600 = 60; flow 660
    #   reference 3 meters * 100 Wh * 1.1 = 330; losses 0.025 * 660**2 / 330 = 33; delivered 693
    # transformer 1: metered (0 - 40) + 150 = 110; unmetered 10 % of load 200 = 20; flow 130
    #   reference 2 * 100 * 1.1 = 220; losses 0.025 * 130**2 / 220 = 1.92 -> 2; delivered 132
    # feeder: flow 693 + 132 = 825; reference 5 * 100 * 1.1 = 550; losses 0.06 * 825**2 / 550 = 74.25 -> 74
    #   delivered 899; unmetered 60 + 20 = 80
    assert step.delivered_milli.tolist() == [693, 132, 899]
    assert step.losses_milli.tolist() == [33, 2, 74]
    assert step.unmetered_milli.tolist() == [60, 20, 80]


def test_only_published_transformers_and_feeders_are_returned_transformers_first():
    only_t1 = balance(publish_t=(False, True), publish_f=(True,))
    assert only_t1.count == 2
    step = only_t1.step(LOAD, IMPORT, EXPORT)
    # the feeder still carries both transformers, metered or not
    assert step.delivered_milli.tolist() == [132, 899]
    assert step.losses_milli.tolist() == [2, 74]
    none_f = balance(publish_t=(True, True), publish_f=(False,))
    assert none_f.count == 2
    assert none_f.step(LOAD, IMPORT, EXPORT).delivered_milli.tolist() == [693, 132]


def test_at_mean_load_the_losses_are_pct_percent_of_the_load():
    losses = GridLosses(transformer_losses_pct=2.5, feeder_losses_pct=6.0, unmetered_pct=0.0)
    grid = balance(losses=losses, mean_meter_milli=400.0)
    # every meter at exactly its mean load: transformer 0 carries 1200 Wh, transformer 1 800 Wh
    load = ints(400, 400, 400, 400, 400)
    step = grid.step(load, load, None)
    # the feeder carries 1230 + 820 = 2050 Wh against a reference of 2000: 0.06 * 2050**2 / 2000 = 126.1
    assert step.losses_milli.tolist() == [30, 20, 126]
    assert step.losses_milli[0] == 0.025 * 1200 and step.losses_milli[1] == 0.025 * 800
    assert step.unmetered_milli.tolist() == [0, 0, 0]
    assert step.delivered_milli.tolist() == [1230, 820, 2050 + 126]


def test_without_export_the_net_is_the_import_and_losses_grow_with_the_square_of_the_load():
    losses = GridLosses(transformer_losses_pct=5.0, feeder_losses_pct=0.0, unmetered_pct=0.0)
    grid = balance(losses=losses, mean_meter_milli=1000.0)  # references: 3000 and 2000 Wh
    single = grid.step(ints(1000, 1000, 1000, 0, 0), ints(1000, 1000, 1000, 0, 0), None)
    double = grid.step(ints(2000, 2000, 2000, 0, 0), ints(2000, 2000, 2000, 0, 0), None)
    assert single.losses_milli[0] == 150  # 5 % of 3000
    assert double.losses_milli[0] == 600  # twice the load, four times the losses
    assert single.losses_milli[1] == 0 and single.delivered_milli[1] == 0
    # no feeder losses: the feeder delivers exactly what its transformers do
    assert double.delivered_milli[2] == double.delivered_milli[0] + double.delivered_milli[1]


def test_a_transformer_that_feeds_back_delivers_a_negative_net_and_still_has_losses():
    losses = GridLosses(transformer_losses_pct=2.5, feeder_losses_pct=0.0, unmetered_pct=0.0)
    grid = balance(losses=losses)
    load = ints(0, 0, 0, 10, 10)
    imports = ints(0, 0, 0, 0, 0)
    exports = ints(0, 0, 0, 330, 0)  # transformer 1: net -330 Wh; reference 2 * 100 = 200
    step = grid.step(load, imports, exports)
    # losses 0.025 * 330**2 / 200 = 13.6 -> 14, always positive: the grid delivers -330 + 14
    assert step.losses_milli[1] == 14
    assert step.delivered_milli[1] == -316
    assert step.delivered_milli[0] == 0


def test_the_reference_counts_every_meter_of_the_group_not_only_those_stepped():
    # a shard that steps only transformer 0's meters, in a group where it has 3 of 5 meters
    grid = GridBalance(
        ints(0, 0, 0),
        TRANSFORMER_FEEDER,
        METERS_PER_TRANSFORMER,
        100.0,
        LOSSES,
        np.array([True, False]),
        np.array([False]),
    )
    step = grid.step(LOAD[:3], IMPORT[:3], EXPORT[:3])
    assert step.delivered_milli.tolist() == [693]
