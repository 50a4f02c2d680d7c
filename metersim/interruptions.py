"""What a group's supply interruptions do to its meters each interval (see :mod:`metersim.model.supply`).

While a meter has no supply it consumes (and a PV meter exports) nothing: its interval's flows are
scaled by the share of the interval with supply, and raised by the cold-load pickup after supply
returns. Electricity meters count their power failures (``0-0:96.7.21``, long ones ``0-0:96.7.9``)
and log a power-down (last gasp) and a power-up event; every off span is labelled
``supply_interruption`` in the ground truth, from its first to its last affected interval end.
Gas windows only cut the flow: a battery gas meter has no power failure.
"""

from __future__ import annotations

import numpy as np

from metersim._array import Array
from metersim.config import Climate, MeterGroup
from metersim.errors import ConfigError
from metersim.fleet import MeterAttributes
from metersim.model.supply import SupplySchedule, SupplyStep
from metersim.parameters import country_of, supply_params
from metersim.records import EVENT_CODES, EventBatch, Label, MeterSet

_DOWN = EVENT_CODES["power_down"]


class GroupSupply:
    """The supply schedule of a range of one group's meters, applied interval by interval."""

    def __init__(self, attributes: MeterAttributes, *, seed: int, climate: Climate | None, key: int) -> None:
        group: MeterGroup = attributes.group
        assert group.supply is not None
        topology, meters = attributes.topology, attributes.meters
        feeder_ids = topology.feeder_ids if topology is not None else []
        try:
            params = supply_params(group.supply, feeder_ids, seed, group.name)
        except ValueError as exc:
            raise ConfigError(f"fleet group {group.name!r}: supply.{exc}") from None
        if topology is not None:
            meter_transformer = topology.meter_transformer(meters)
            meter_feeder = topology.transformer_feeder[meter_transformer]
            n_feeders, n_transformers = len(topology.feeder_ids), len(topology.transformer_ids)
        else:
            meter_transformer = meter_feeder = np.zeros(meters.count, dtype=np.int64)
            n_feeders = n_transformers = 1
        self.schedule = SupplySchedule(
            params,
            seed=seed,
            timezone=group.timezone,
            meter_feeder=meter_feeder,
            meter_transformer=meter_transformer,
            n_feeders=n_feeders,
            n_transformers=n_transformers,
            group=key,
            country=country_of(group, climate),
        )
        self.interval_s = group.interval_s
        self.electricity = group.commodity == "electricity"
        n = meters.count if self.electricity else 0
        self.failures = np.zeros(n, dtype=np.int64)
        self.long_failures = np.zeros(n, dtype=np.int64)

    def step(self, start_s: int, end_s: int) -> SupplyStep:
        """The interval ``[start_s, end_s)``; counts its power failures."""
        step = self.schedule.step(start_s, end_s)
        if self.electricity:
            self.failures += step.failures
            self.long_failures += step.long_failures
        return step

    def scale(self, step: SupplyStep, load: Array, *, pickup: bool) -> Array:
        """``load`` [thousandths] of the interval with the supply's share (and the pickup) applied."""
        factor = step.on_fraction * step.pickup if pickup else step.on_fraction
        if bool((factor == 1.0).all()):
            return load
        out: Array = np.rint(load * factor).astype(np.int64)
        return out

    def events_and_labels(self, step: SupplyStep, meters: MeterSet) -> tuple[EventBatch | None, tuple[Label, ...]]:
        """The interval's power-down/up events (electricity, with ``last_gasp``) and one label per new off span."""
        if not self.electricity or not len(step.event_rows):
            return None, ()
        down = step.event_code == _DOWN
        labels: tuple[Label, ...] = ()
        if down.any():
            rows, times = step.event_rows[down], step.event_time_s[down]
            ids, interval = meters.ids, self.interval_s
            labels = tuple(
                Label(
                    ids[row],
                    _end_holding(t, interval),
                    _end_holding(max(back, t + 1) - 1, interval),
                    "supply_interruption",
                    (max(back, t) - t) / 3600,
                    f"no supply for {(max(back, t) - t) / 60:g} min from epoch {t} s: nothing consumed",
                )
                for row, t, back in zip(rows.tolist(), times.tolist(), self._restored(rows, times).tolist())
            )
        events = None
        if self.schedule.params.last_gasp:
            events = EventBatch(meters, step.event_rows, step.event_time_s, step.event_code, step.event_time_s)
        return events, labels

    def _restored(self, rows: Array, times: Array) -> Array:
        out = np.full(len(rows), -1, dtype=np.int64)
        for t in np.unique(times).tolist():
            at = times == t
            out[at] = self.schedule.restored_at(rows[at], int(t))
        return out

    def state(self) -> dict[str, Array]:
        return {"failures": self.failures.copy(), "long_failures": self.long_failures.copy()}

    def restore(self, arrays: dict[str, Array]) -> None:
        for name in ("failures", "long_failures"):
            current = getattr(self, name)
            values = arrays.get(name)
            if values is not None:
                if values.shape != current.shape:
                    raise ValueError(f"the state's {name} do not fit these meters")
                current[...] = values


def _end_holding(t_s: int, interval_s: int) -> int:
    """The end [epoch s] of the interval ``[start, end)`` that holds instant ``t_s`` [epoch s]."""
    return (t_s // interval_s + 1) * interval_s
