"""Progress without a terminal: a line at start and a line at a bounded period."""

from __future__ import annotations

import io

from rich.console import Console

from metersim import progress
from metersim.simulation import Simulation
from tests.conftest import make_scenario


def test_without_a_terminal_a_run_logs_its_start_and_its_progress(monkeypatch):
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.1)
    out = io.StringIO()
    console = Console(file=out, width=200)
    assert not console.is_terminal
    Simulation(make_scenario(duration="4h", speed=3600 * 4), console=console, progress=True).run()
    lines = out.getvalue().splitlines()
    assert lines[0] == "metersim: 30 meters, 2026-01-01T00:00:00+05:00 .. 2026-01-01T04:00:00+05:00, into discard"
    updates = [line for line in lines[1:] if line.startswith("metersim: at 2026-01-01T")]
    assert len(updates) >= 3  # about 1 s of wall time; progress comes at most every 0.2 s
    assert all("/s now), " in line and " published, " in line and " acknowledged" in line for line in updates)


def test_without_progress_nothing_is_logged():
    out = io.StringIO()
    Simulation(make_scenario(duration="1h"), console=Console(file=out), progress=False).run()
    assert out.getvalue() == ""
