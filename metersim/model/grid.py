"""Grid-side meters: the energy delivered to each transformer and feeder, from its meters' true flows.

A grid-side meter measures the energy delivered from upstream::

    transformer = sum(meter import - meter export) + unmetered + losses_t
    feeder      = sum(transformer deliveries)                  + losses_f

Unmetered consumption ("kunda" hooking) is ``unmetered_pct`` of the transformer's metered consumption.
Technical losses grow with the square of the load: ``losses = pct/100 · net² / reference``, where the
reference is the expected mean net load of that transformer or feeder, so at mean load the losses are
``pct`` percent of the load. Energies are integer thousandths of a kWh (Wh).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metersim._array import Array


@dataclass(frozen=True)
class GridLosses:
    """Losses and unmetered load, in percent."""

    transformer_losses_pct: float  # technical losses at mean load [% of load]
    feeder_losses_pct: float  # [% of load]
    unmetered_pct: float  # unmetered consumption [% of metered]


@dataclass
class GridStep:
    """Grid-side energy for one interval [Wh], published transformers then published feeders."""

    delivered_milli: Array
    losses_milli: Array
    unmetered_milli: Array


class GridBalance:
    """Computes what each grid-side meter measures.

    Parameters
    ----------
    meter_transformer
        Transformer index of each meter that is stepped [-].
    transformer_feeder
        Feeder index of each transformer [-].
    meters_per_transformer
        Meters on each transformer in the whole group (the reference load counts them all).
    mean_meter_milli
        Expected mean consumption of one meter per interval [Wh].
    losses
        Loss and unmetered percentages.
    publish_transformers, publish_feeders
        Which transformers and feeders have a grid-side meter [bool].
    """

    def __init__(
        self,
        meter_transformer: Array,
        transformer_feeder: Array,
        meters_per_transformer: Array,
        mean_meter_milli: float,
        losses: GridLosses,
        publish_transformers: Array,
        publish_feeders: Array,
    ) -> None:
        self.meter_transformer, self.transformer_feeder = meter_transformer, transformer_feeder
        self.losses = losses
        self.n_transformers, self.n_feeders = len(transformer_feeder), len(publish_feeders)
        self.publish_t, self.publish_f = publish_transformers, publish_feeders
        with_unmetered = 1 + losses.unmetered_pct / 100
        self.reference_t = np.maximum(meters_per_transformer * mean_meter_milli * with_unmetered, 1.0)
        meters_per_feeder = np.bincount(transformer_feeder, weights=meters_per_transformer, minlength=self.n_feeders)
        self.reference_f = np.maximum(meters_per_feeder * mean_meter_milli * with_unmetered, 1.0)

    @property
    def count(self) -> int:
        """Grid-side meters that publish."""
        return int(self.publish_t.sum() + self.publish_f.sum())

    def step(self, load_milli: Array, import_milli: Array, export_milli: Array | None) -> GridStep:
        """Energy delivered to each published transformer and feeder [Wh], from the meters' flows [Wh]."""
        losses, by_meter = self.losses, self.meter_transformer
        net = import_milli if export_milli is None else import_milli - export_milli
        metered_t = _sum_by(by_meter, net, self.n_transformers)
        unmetered_t = np.rint(_sum_by(by_meter, load_milli, self.n_transformers) * (losses.unmetered_pct / 100)).astype(
            np.int64
        )
        flow_t = metered_t + unmetered_t
        losses_t = _losses(flow_t, self.reference_t, losses.transformer_losses_pct)
        delivered_t = flow_t + losses_t
        flow_f = _sum_by(self.transformer_feeder, delivered_t, self.n_feeders)
        losses_f = _losses(flow_f, self.reference_f, losses.feeder_losses_pct)
        unmetered_f = _sum_by(self.transformer_feeder, unmetered_t, self.n_feeders)
        t, f = self.publish_t, self.publish_f
        return GridStep(
            np.concatenate([delivered_t[t], (flow_f + losses_f)[f]]),
            np.concatenate([losses_t[t], losses_f[f]]),
            np.concatenate([unmetered_t[t], unmetered_f[f]]),
        )


def _sum_by(index: Array, values: Array, size: int) -> Array:
    """Integer sums of ``values`` grouped by ``index`` (exact below 2**53 thousandths)."""
    sums: Array = np.rint(np.bincount(index, weights=values, minlength=size)).astype(np.int64)
    return sums


def _losses(flow_milli: Array, reference_milli: Array, pct: float) -> Array:
    losses: Array = np.rint(pct / 100 * flow_milli.astype(float) ** 2 / reference_milli).astype(np.int64)
    return losses
