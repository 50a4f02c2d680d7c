"""Sinks: where readings go. See :mod:`metersim.sinks.base` for the protocol."""
