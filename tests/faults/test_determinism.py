"""Every fault kind at once: the same seed gives the same stream, labels and ledger, run after run and
at any speed: flat out, and paced on the wall clock at two speeds (a fixed start is paced from its
first instant; faults are scheduled in simulated time only, never by the wall clock)."""

from __future__ import annotations

from pathlib import Path

import yaml

from metersim.config import load_scenario
from metersim.simulation import Simulation
from tests.conftest import ROOT


def _run(tmp: Path, name: str, speed: str | float) -> tuple[bytes, bytes, bytes]:
    folder = tmp / name
    overrides = [
        "simulation.duration=2h",
        f"simulation.speed={speed}",
        "fleet.0.count=400",
        f"outputs=[{{type: file, path: '{folder / 'stream.jsonl'}'}}]",
        f"truth={{path: '{folder / 'truth.csv'}'}}",
    ]
    Simulation(load_scenario(ROOT / "configs" / "bad-day.yaml", overrides)).run()
    return tuple((folder / f).read_bytes() for f in ("stream.jsonl", "truth.csv", "labels.csv"))  # type: ignore[return-value]


def test_bad_day_is_byte_identical_run_after_run_and_through_the_paced_engine(tmp_path):
    fast = _run(tmp_path, "fast", "max")
    again = _run(tmp_path, "again", "max")
    paced = _run(tmp_path, "paced", 2 * 3600 / 3)  # two simulated hours in three wall seconds
    faster = _run(tmp_path, "faster", 2 * 3600 / 1.5)
    assert fast == again == paced == faster
    assert fast[2].count(b"\n") > 10  # faults were injected
    assert b"metersim/event/v1" in fast[0]


def test_bad_day_config_is_valid_yaml_with_every_section():
    data = yaml.safe_load((ROOT / "configs" / "bad-day.yaml").read_text())
    group = data["fleet"][0]
    assert {"supply", "comms", "concentrator", "faults", "theft"} <= set(group)
