"""The public API: what ``import metersim`` offers, and that the registries agree with the config."""

from __future__ import annotations

from typing import get_args

import pytest

import metersim
from metersim.config.wire import Format
from metersim.encoders import ENCODERS


def test_all_is_sorted_and_every_name_resolves():
    assert metersim.__all__ == sorted(metersim.__all__)
    assert set(metersim.__all__) == {
        "BrokerUnreachableError",
        "ConfigError",
        "DeliveryError",
        "MetersimError",
        "MissingDependencyError",
        "OutputNotWritableError",
        "Scenario",
        "Simulation",
        "TlsError",
        "__version__",
        "load_scenario",
    }
    for name in metersim.__all__:
        assert getattr(metersim, name) is not None


def test_the_facade_runs_a_scenario_and_raises_metersim_errors():
    from tests.conftest import make_scenario, scenario_dict

    report = metersim.Simulation(make_scenario(duration="1h")).run()
    assert report.status == "completed" and report.readings_generated == 20 * 4 + 10
    data = scenario_dict(duration="1h")
    data["outputs"] = [{"type": "file", "path": "/dev/null/readings.jsonl"}]
    simulation = metersim.Simulation(make_scenario(data))
    with pytest.raises(metersim.OutputNotWritableError, match="cannot write"):
        simulation.run()
    assert simulation.report.status == "failed" and "cannot write" in (simulation.report.error_message or "")


def test_every_config_format_has_an_encoder():
    assert set(get_args(Format)) == set(ENCODERS)
