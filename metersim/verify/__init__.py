"""``metersim verify``: regenerate the expected stream of a scenario and reconcile what a broker delivered.

* :mod:`metersim.verify.expected` runs the scenario in-process into memory and keys every reading by
  ``(meter_id, seq)``, with the labels of the faults injected on purpose;
* :mod:`metersim.verify.reconcile` compares that with what arrived (a pure function, no broker);
* :mod:`metersim.verify.subscriber` is the one place here that speaks MQTT (paho).
"""

from metersim.verify.expected import Expected, ExpectedReading, regenerate
from metersim.verify.reconcile import Arrival, Reconciliation, reconcile

__all__ = ["Arrival", "Expected", "ExpectedReading", "Reconciliation", "reconcile", "regenerate"]
