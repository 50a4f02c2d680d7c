"""The fleet: static per-meter attributes by range of chunks, meter ids and places, grid topology."""

from metersim.fleet.attributes import MeterAttributes, build_attributes
from metersim.fleet.grid import Topology, build_topology

__all__ = ["MeterAttributes", "Topology", "build_attributes", "build_topology"]
