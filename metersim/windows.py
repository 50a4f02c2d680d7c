"""The simulated window: where a run starts (a live start on an interval boundary), and what a run that
starts "now" says about its start."""

from __future__ import annotations

import math
import time

from metersim.config import MeterGroup, Scenario
from metersim.engine import Window
from metersim.progress import about
from metersim.timebase import format_duration, iso_local, next_boundary, previous_boundary, utc_offset_s


def reference_group(scenario: Scenario) -> MeterGroup:
    """The group whose local clock places a live start and the progress display: the first with the
    longest interval."""
    longest = max(g.interval_s for g in scenario.fleet)
    return next(g for g in scenario.fleet if g.interval_s == longest)


def live_start(scenario: Scenario, now_s: float) -> int:
    """Where a ``start: now`` run begins [epoch s], for the wall clock at ``now_s`` [epoch s].

    The start is an interval boundary of every group at once: a multiple of the least common multiple of
    the groups' intervals (the longest interval, when they divide each other) on the local clock of
    :func:`reference_group` (local midnight for a day). Without ``backfill`` it is the next one at or after
    now, so nothing before now is simulated; with ``backfill: true`` the last one at or before now; with a
    duration, the last one at or before now minus it.
    """
    sim = scenario.simulation
    step_s = math.lcm(*(g.interval_s for g in scenario.fleet))
    zone = reference_group(scenario).timezone
    if sim.backfill_s is None:
        return next_boundary(math.ceil(now_s), step_s, zone)
    return previous_boundary(math.floor(now_s) - sim.backfill_s, step_s, zone)


def resolve_window(scenario: Scenario, now_s: float | None = None) -> tuple[Window, float]:
    """The simulated window, and how far [s] its start lies behind the wall clock at ``now_s`` (default:
    the current time): positive when a backfill starts in the past, negative while a live start is ahead."""
    sim = scenario.simulation
    if sim.start_s is None:
        now = time.time() if now_s is None else now_s
        start = live_start(scenario, now)
        behind = now - start
    else:
        start, behind = sim.start_s, 0.0
    return Window(start, start + sim.duration_s), behind


def start_notes(scenario: Scenario, window: Window, behind_s: float) -> list[str]:
    """What a run that starts "now" should say about its start: where it lies, what is caught up, and each
    group whose own local clock the start does not fit (one start serves every group)."""
    sim = scenario.simulation
    if not sim.starts_now:
        return []
    reference = reference_group(scenario)
    step = format_duration(math.lcm(*(g.interval_s for g in scenario.fleet)))
    clock = f"{step} boundary of {reference.timezone}"
    start = iso_local(window.start_s, reference.timezone)
    if sim.backfill_s is None:
        notes = [f"live from the next {clock}, {start}"]
    else:
        before = f"{format_duration(sim.backfill_s)} before now" if sim.backfill_s else "now"
        notes = [f"backfill from the last {clock} at or before {before}, {start}"]
    if sim.speed != "max" and behind_s > 0:
        notes[0] += f"; the {format_duration(int(behind_s))} before now is caught up at full speed"
    elif sim.speed != "max" and behind_s < 0:
        notes[0] += f", in {about(-behind_s / float(sim.speed))}"
    for i, group in enumerate(scenario.fleet):
        local = window.start_s + utc_offset_s(group.timezone, window.start_s)
        if local % group.interval_s:
            notes.append(
                f"note: fleet[{i}] {group.name!r} reports on {format_duration(group.interval_s)} boundaries of "
                f"{reference.timezone}, not of its own {group.timezone} (one start serves every group)"
            )
    return notes
