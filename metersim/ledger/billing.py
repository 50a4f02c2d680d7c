"""The bills observer: accumulates each tariffed group's *true* import (and export) during a run.

Bills read the true values (what the group step computed), never the published stream: a fault or
a theft that changes what a meter publishes does not change what its customer really owes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from metersim.config import Scenario
from metersim.engine import Observer
from metersim.ledger.bills import Bill, BillAccumulator
from metersim.parameters import country_of
from metersim.records import Observation
from metersim.tariffs import BandSchedule


class BillObserver(Observer):
    """Accumulates each tariffed group's import per billing period and band, and its export for
    tariffs with ``net_metering`` or an ``export_price`` (the true batch's ``export_milli``).

    ``basis="true"`` (the default) bills the true import; ``"registered"`` what the meters recorded
    (the published batch: theft and meter faults included), the bill a head-end would compute.
    """

    def __init__(self, scenario: Scenario, basis: str = "true") -> None:
        if basis not in ("true", "registered"):
            raise ValueError(f"basis must be 'true' or 'registered', got {basis!r}")
        self.scenario, self.basis = scenario, basis
        self.accumulators: dict[str, BillAccumulator] = {}
        self._groups = {g.name: g for g in scenario.fleet}

    def observe(self, observation: Observation) -> None:
        true = observation.true
        batch = true.meters if self.basis == "true" else observation.published.meters
        group = self._groups[batch.meters.group]
        if group.tariff is None:
            return
        accumulator = self.accumulators.get(group.name)
        if accumulator is None:
            tariff = self.scenario.tariffs[group.tariff]
            climate = self.scenario.all_regions.get(group.region) if group.region else None
            schedule = BandSchedule.compile(tariff, group.timezone, country_of(group, climate))
            accumulator = BillAccumulator(tariff, schedule, batch.meters.ids, group.timezone)
            self.accumulators[group.name] = accumulator
        interval_s = batch.interval_s
        if true.disconnected is not None and not accumulator.tariff.standing_charge_while_disconnected:
            accumulator.disconnect(true.start_s, interval_s, true.disconnected)
        exported = batch.export_milli if accumulator.exports else None
        bands = np.unique(batch.band)
        if len(bands) == 1:
            accumulator.add(true.start_s, interval_s, int(bands[0]), batch.import_milli, exported)
            return
        for k, band in enumerate(bands.tolist()):  # meters on different bands: count the seconds once
            on_band = batch.band == band
            consumption = np.where(on_band, batch.import_milli, 0)
            export = None if exported is None else np.where(on_band, exported, 0)
            accumulator.add(true.start_s, interval_s if k == 0 else 0, band, consumption, export)

    def bills(self) -> list[Bill]:
        out = [bill for accumulator in self.accumulators.values() for bill in accumulator.bills()]
        return out if self.basis == "true" else [replace(bill, basis=self.basis) for bill in out]


def bills_with_registered(true: list[Bill], registered: list[Bill]) -> list[Bill]:
    """The true bills, each followed by its "as registered" bill where that differs in consumption."""
    recorded = {(b.meter_id, b.period): b for b in registered}
    out = []
    for bill in true:
        out.append(bill)
        other = recorded.get((bill.meter_id, bill.period))
        if other is not None and other.band_units != bill.band_units:
            out.append(other)
    return out
