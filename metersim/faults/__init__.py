"""Faults: transforms that change what is published and say so in labels for the ground truth."""

from metersim.faults.comms import CommsFaults, CommsParams, LinkOutage, Probabilities, RestoredAt, comms_params

__all__ = ["CommsFaults", "CommsParams", "LinkOutage", "Probabilities", "RestoredAt", "comms_params"]
