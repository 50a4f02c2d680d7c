"""The scenario file: pydantic models, loading, ``--set`` overrides and error paths.

Everything is validated once, at load; afterwards the rest of metersim trusts the types. Units are in
the field names (``interval_s``, ``annual_kwh``). Every problem is reported at once, each with its
dotted path, e.g. ``fleet[2].interval_s: must divide 86400``.

One concept per module: :mod:`~metersim.config.simulation`, :mod:`~metersim.config.climate`,
:mod:`~metersim.config.tariffs`, :mod:`~metersim.config.fleet`, :mod:`~metersim.config.outputs`,
:mod:`~metersim.config.truth`, :mod:`~metersim.config.scenario` (with its cross-checks),
:mod:`~metersim.config.ids` (meter-id checks), :mod:`~metersim.config.load` and
:mod:`~metersim.config.yaml_guard` (the bounds on a scenario's text, checked before anything is built).
"""

from metersim.config.base import Problem
from metersim.config.climate import DEFAULT_REGIONS, Climate
from metersim.config.fleet import (
    REGION_BY_TIMEZONE,
    GridConfig,
    HardwareConfig,
    InstantaneousConfig,
    MeterGroup,
    SolarWaterHeaterConfig,
)
from metersim.config.ids import FORBIDDEN_IN_TOPIC_LEVEL, IdPattern, check_meter_ids
from metersim.config.load import apply_override, format_validation_error, json_schema, load_scenario, parse_scenario
from metersim.config.outputs import (
    GRID_FIELDS,
    DiscardOutput,
    FileOutput,
    MqttOutput,
    Output,
    ParquetOutput,
    StdoutOutput,
    TlsConfig,
)
from metersim.config.pv import PvConfig
from metersim.config.scenario import Scenario
from metersim.config.simulation import SimulationConfig
from metersim.config.tariffs import Band, BandWindow, DayType, SlabBlock, SlabSchedule, Tariff, Tax, clock_minutes
from metersim.config.topics import TOPIC_FIELDS
from metersim.config.truth import TruthConfig

__all__ = [
    "DEFAULT_REGIONS",
    "FORBIDDEN_IN_TOPIC_LEVEL",
    "GRID_FIELDS",
    "REGION_BY_TIMEZONE",
    "TOPIC_FIELDS",
    "Band",
    "BandWindow",
    "Climate",
    "DayType",
    "DiscardOutput",
    "FileOutput",
    "GridConfig",
    "HardwareConfig",
    "IdPattern",
    "InstantaneousConfig",
    "MeterGroup",
    "MqttOutput",
    "Output",
    "ParquetOutput",
    "Problem",
    "PvConfig",
    "Scenario",
    "SimulationConfig",
    "SlabBlock",
    "SlabSchedule",
    "SolarWaterHeaterConfig",
    "StdoutOutput",
    "Tariff",
    "Tax",
    "TlsConfig",
    "TruthConfig",
    "apply_override",
    "check_meter_ids",
    "clock_minutes",
    "format_validation_error",
    "json_schema",
    "load_scenario",
    "parse_scenario",
]
