"""The fidelity report (``metersim calibrate``): a run's shapes, PV yield, gas seasonality, temperature
sensitivity and diversity, measured against published references (the BDEW tables)."""

from metersim.calibrate.collect import GroupSeries, SeriesCollector
from metersim.calibrate.references import BdewTables, load_bdew, reference_for
from metersim.calibrate.report import group_report
from metersim.calibrate.text import format_report

__all__ = [
    "BdewTables",
    "GroupSeries",
    "SeriesCollector",
    "format_report",
    "group_report",
    "load_bdew",
    "reference_for",
]
