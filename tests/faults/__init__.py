"""Tests of metersim.faults."""
