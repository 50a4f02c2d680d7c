"""Shared helpers: small scenarios and a way to run them into memory."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from metersim.config import Scenario, parse_scenario
from metersim.engine import Observer, Transform
from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink

ROOT = Path(__file__).resolve().parent.parent

BASE: dict[str, Any] = {
    "simulation": {"start": "2026-01-01T00:00:00+05:00", "duration": "1d", "seed": 42, "speed": "max"},
    "fleet": [
        {
            "name": "lahore",
            "commodity": "electricity",
            "count": 20,
            "id_format": "PK-LESCO-{index:06d}",
            "timezone": "Asia/Karachi",
            "interval_s": 900,
            "annual_kwh": 2400,
        },
        {
            "name": "tashkent",
            "commodity": "gas",
            "count": 10,
            "id_format": "UZ-GAS-{index:06d}",
            "timezone": "Asia/Tashkent",
            "interval_s": 3600,
            "annual_m3": 900,
            "region": "tashkent",
        },
    ],
    "outputs": [{"type": "discard"}],
}


def scenario_dict(**simulation: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["simulation"].update(simulation)
    return data


def make_scenario(data: dict[str, Any] | None = None, **simulation: Any) -> Scenario:
    return parse_scenario(data if data is not None else scenario_dict(**simulation))


def run_to_memory(
    scenario: Scenario,
    speed: float | None = None,
    observers: Sequence[Observer] = (),
    transforms: Sequence[Transform] = (),
) -> MemorySink:
    """Run the scenario (its own outputs replaced by nothing) into a MemorySink, at ``speed`` (None: max)."""
    update: dict[str, Any] = {"outputs": [{"type": "discard"}], "truth": None}
    data = scenario.model_dump(mode="json", exclude_none=True)
    data.update(update)
    data["simulation"]["speed"] = "max" if speed is None else speed
    sink = MemorySink()
    Simulation(parse_scenario(data), sinks=[sink], observers=observers, transforms=transforms).run()
    return sink


@pytest.fixture
def small_scenario() -> Scenario:
    return make_scenario()
