"""The pipeline's one-way data flow, checked statically: who may import whom, and module size."""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

import numpy as np

from metersim.records import Instantaneous, ReadingBatch, RegisterValues
from metersim.simulation import build_groups
from metersim.windows import resolve_window
from tests.conftest import ROOT, make_scenario, scenario_dict

PACKAGE = ROOT / "metersim"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _modules(*parts: str) -> list[Path]:
    out: list[Path] = []
    for part in parts:
        target = PACKAGE / part
        out += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return out


def _offenders(modules: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules
        for name in sorted(_imports(path))
        if name.startswith(forbidden)
    ]


def test_the_engine_and_the_group_step_import_no_encoder_and_no_sink():
    assert _offenders(_modules("engine", "group.py", "records.py"), ("metersim.encoders", "metersim.sinks")) == []


def test_models_know_nothing_of_the_config():
    assert _offenders(_modules("model"), ("metersim.config", "metersim.fleet", "metersim.encoders")) == []


def test_sinks_and_encoders_never_reach_back_into_the_fleet_or_the_engine():
    upstream = ("metersim.fleet", "metersim.group", "metersim.engine", "metersim.model", "metersim.simulation")
    assert _offenders(_modules("sinks", "encoders"), upstream) == []


def test_simpy_and_paho_each_stay_in_one_place():
    everything = _modules(".")
    simpy_users = {p for p in everything if any(n.startswith("simpy") for n in _imports(p))}
    paho_users = {p for p in everything if any(n.startswith("paho") for n in _imports(p))}
    assert all(p.is_relative_to(PACKAGE / "engine") for p in simpy_users)
    # publishing, verify's subscriber and `metersim send`: the three MQTT clients
    clients = (PACKAGE / "verify" / "subscriber.py", PACKAGE / "cli" / "send.py")
    assert all(p.is_relative_to(PACKAGE / "sinks" / "mqtt") or p in clients for p in paho_users)


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in _modules(".") if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_the_group_step_makes_numbers_only():
    data = scenario_dict(duration="1h")
    data["tariffs"] = {"flat": {"bands": [{"name": "all"}], "prices": {"all": 1}}}
    data["fleet"][0].update(tariff="flat", pv={"fraction": 0.5}, instantaneous={"phases": 3}, grid={})
    data["fleet"][1].update(converter_fraction=0.5)
    scenario = make_scenario(data)
    window, _ = resolve_window(scenario)
    for simulator in build_groups(scenario, window):
        for batch in simulator.step(0, window.start_s + simulator.interval_s).batches():
            for value in _arrays(batch):
                assert value.dtype.kind in "biuf", value.dtype


def _arrays(record: ReadingBatch | RegisterValues | Instantaneous) -> list[np.ndarray]:
    out = []
    for f in fields(record):
        value = getattr(record, f.name)
        if isinstance(value, np.ndarray):
            out.append(value)
        elif isinstance(value, RegisterValues | Instantaneous):
            out += _arrays(value)
    return out
