"""What an answered command does to its meter, and what it reports back.

:class:`Effects` keeps a :class:`~metersim.commands.controls.MeterControls` per group simulator (the
group step gates its energy through it) and the last two published intervals of each, for on-demand
reads. ``read`` answers with the registers at the instant it is carried out: the registers of the
interval before, plus the share of the interval under way that has elapsed (rounded down), so that
the next interval reading is never below it. Every change takes effect at the meter group's first
interval boundary after the answer (a firmware image at the one after that: it is downloaded first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from metersim.commands.controls import RELAY_NAMES, Change, MeterControls
from metersim.commands.messages import Request, epoch_of
from metersim.config.commands import CommandsConfig
from metersim.encoders.json import EXPORT_OBIS, GAS_CONVERTED_OBIS, GAS_OBIS, IMPORT_OBIS
from metersim.encoders.topics import TopicCache
from metersim.group import GroupSimulator
from metersim.records import Label, Observation, ReadingBatch, RegisterValues
from metersim.tariffs import BandSchedule
from metersim.timebase import iso_local

Meter = tuple[int, int]  # (simulator, row)


class Clock(Protocol):
    def clock_offset_s(self, position: int, at_s: int) -> int: ...


@dataclass(frozen=True)
class Outcome:
    status: str
    error: str | None
    result: dict[str, Any] | None
    effective_s: int | None = None
    after: dict[str, Any] | None = None


@dataclass
class _Latest:
    start_s: int
    end_s: int
    before: RegisterValues  # published registers at ``start_s``
    after: RegisterValues  # published registers at ``end_s``


class Effects:
    """The controls and the latest registers of every simulator's meters.

    ``calendars`` per simulator: the tariff calendars ``set_tariff`` may switch its meters to, by name
    (the group's own first).
    """

    def __init__(
        self,
        config: CommandsConfig,
        simulators: Sequence[GroupSimulator],
        calendars: Sequence[dict[str, BandSchedule]] | None = None,
    ) -> None:
        self.config, self.simulators = config, simulators
        self.controls: list[MeterControls] = []
        for k, simulator in enumerate(simulators):
            hardware = dict(simulator.meter_set.hardware)
            controls = MeterControls(
                simulator.meter_set.count,
                simulator.interval_s,
                firmware=hardware.get("firmware", ""),
                calendars=calendars[k] if calendars is not None else None,
                reconnect_button_s=config.reconnect_button_s,
                limit_action=config.load_limit_action,
                over_limit_s=config.over_limit_s,
            )
            simulator.controls = controls
            self.controls.append(controls)
        self._index = {id(s.meter_set): k for k, s in enumerate(simulators)}
        self._latest: dict[int, _Latest] = {}
        self._topics = TopicCache()
        #: per simulator, what knows its meters' clock offsets (its meter faults' clock drift)
        self.clocks: dict[int, Clock] = {}

    def clock_offset_s(self, meter: Meter, at_s: int) -> int:
        """How far the meter's clock is off at ``at_s`` [s]: its drift since its last sync (0 without drift)."""
        clock = self.clocks.get(meter[0])
        return 0 if clock is None else clock.clock_offset_s(meter[1], at_s)

    def observe(self, observation: Observation) -> None:
        k = self._index.get(id(observation.true.meters.meters))
        if k is None:
            return
        batch = observation.published.meters
        previous = self._latest.get(k)
        before = previous.after if previous is not None else _less(batch.registers, batch)
        self._latest[k] = _Latest(observation.true.start_s, observation.true.end_s, before, batch.registers)

    def topic_field(self, meter: Meter, name: str) -> str:
        return self._topics.fields(self.simulators[meter[0]].meter_set)[meter[1]].get(name, "")

    def offline(self, meter: Meter, at_s: int) -> bool:
        controls = self.controls[meter[0]]
        return bool(controls.offline_from_s[meter[1]] <= at_s < controls.offline_until_s[meter[1]])

    def state(self, meter: Meter) -> dict[str, Any]:
        """The meter's relay, load limit, tariff and firmware as they stand."""
        c, row = self.controls[meter[0]], meter[1]
        limit = float(c.limit_kw[row])
        return {
            "relay": RELAY_NAMES[int(c.relay[row])],
            "load_limit_kw": None if np.isnan(limit) else limit,
            "tariff": c.calendar_names[int(c.calendar[row])] if c.calendar_names else None,
            "firmware": c.versions[int(c.firmware[row])],
        }

    def carry_out(self, request: Request, meter: Meter, at_ms: int) -> Outcome:
        """Do what ``request`` asks of ``meter`` at ``at_ms`` [simulated epoch ms]."""
        simulator, c, row = self.simulators[meter[0]], self.controls[meter[0]], meter[1]
        at_s = at_ms // 1000
        zone = simulator.group.timezone
        boundary = c.next_boundary(at_s)
        state = self.state(meter)
        command, args = request.command, request.args

        def changed(action: str, value: float | int | None, effective_s: int = boundary, **after: Any) -> Outcome:
            c.schedule(Change(effective_s, row, action, value))
            result = {**after, "effective": iso_local(effective_s, zone)}
            return Outcome("ok", None, result, effective_s, {**state, **after})

        if command == "read":
            return Outcome("ok", None, self._read(meter, at_s), None, state)
        if command in ("ping", "status"):
            offset = self.clock_offset_s(meter, at_s)
            result = {"online": True} if command == "ping" else {**state, "clock_offset_s": offset, "online": True}
            return Outcome("ok", None, result, None, state)
        if command == "disconnect":
            return changed("disconnect", None, relay="open")
        if command == "reconnect":
            return changed("reconnect", None, relay="armed" if self.config.reconnect_button_s is not None else "closed")
        if command == "load_limit":
            if simulator.group.commodity != "electricity":
                return Outcome("rejected", "a gas meter has no load limiter", None)
            kw = args["kw"]
            return changed("load_limit", None if kw is None else float(kw), load_limit_kw=kw)
        if command == "set_tariff":
            name = args["tariff"]
            if name not in c.calendar_names:
                known = ", ".join(c.calendar_names) or "none"
                return Outcome("rejected", f"no tariff {name!r} with this meter's bands (known: {known})", None)
            start = max(boundary, _first_boundary_at(epoch_of(args["from"]), c.interval_s) if "from" in args else 0)
            return changed("set_tariff", c.calendar_names.index(name), start, tariff=name)
        if command == "time_sync":
            return changed("time_sync", None, clock_offset_s=self.clock_offset_s(meter, at_s))
        if command == "firmware":
            # activated at the boundary after next: every reading due while the meter restarts then
            # belongs to an interval that is computed after this answer, and so can be held back
            version, activate = args["version"], boundary + c.interval_s
            back = activate + int(self.config.firmware_offline_s)
            c.offline_from_s[row], c.offline_until_s[row] = activate, back
            outcome = changed("firmware", c.version_index(version), activate, firmware=version)
            assert outcome.result is not None
            outcome.result["back"] = iso_local(back, zone)
            return outcome
        raise ValueError(f"unknown command {command!r}")

    def _read(self, meter: Meter, at_s: int) -> dict[str, Any]:
        """The registers at ``at_s``: the interval before plus the elapsed share of the one under way."""
        simulator, row = self.simulators[meter[0]], meter[1]
        zone = simulator.group.timezone
        latest = self._latest.get(meter[0])
        if latest is None:
            return {"time": iso_local(at_s, zone), "registers": {}}
        share = min(max((at_s - latest.start_s) / (latest.end_s - latest.start_s), 0.0), 1.0)
        wrap = simulator.registers.wrap

        def now(before: np.ndarray[Any, Any] | None, after: np.ndarray[Any, Any] | None) -> float | None:
            if before is None or after is None:
                return None
            step = (int(after[row]) - int(before[row])) % wrap
            return float((int(before[row]) + int(step * share)) % wrap) / 1000

        b, a = latest.before, latest.after
        gas = simulator.group.commodity == "gas"
        registers: dict[str, float | None] = {(GAS_OBIS if gas else IMPORT_OBIS): now(b.total, a.total)}
        if b.bands is not None and a.bands is not None:
            for k in range(len(a.bands)):
                registers[f"1-0:1.8.{k + 1}"] = now(b.bands[k], a.bands[k])
        if a.export_total is not None:
            registers[EXPORT_OBIS] = now(b.export_total, a.export_total)
        if a.converted is not None and (a.converted_mask is None or bool(a.converted_mask[row])):
            registers[GAS_CONVERTED_OBIS] = now(b.converted, a.converted)
        unit = simulator.meter_set.unit
        return {
            "time": iso_local(at_s, zone),
            "unit": unit,
            "registers": {k: v for k, v in registers.items() if v is not None},
        }

    def hold(self, batch: ReadingBatch) -> tuple[ReadingBatch, list[Label]]:
        """A transform: readings due while their meter restarts after a firmware update leave when it is back."""
        k = self._index.get(id(batch.meters))
        if k is None or batch.meters.grid_side:
            return batch, []
        c = self.controls[k]
        if not c.offline_until_s.any():
            return batch, []
        rows_at = batch.meters_at
        lo, hi = c.offline_from_s[rows_at], c.offline_until_s[rows_at]
        held = (lo <= batch.sent_s) & (batch.sent_s < hi)
        if not held.any():
            return batch, []
        sent_s = np.where(held, hi, batch.sent_s)
        ids = batch.meters.ids
        end_s = batch.end_s
        labels = [
            Label(ids[int(rows_at[j])], int(end_s[j]), int(end_s[j]), "firmware_restart", float(hi[j] - lo[j]),
                  f"sent when the meter was back from its firmware update at {int(hi[j])}")
            for j in np.flatnonzero(held).tolist()
        ]  # fmt: skip
        return batch.replace(sent_s=sent_s), labels


def _less(registers: RegisterValues, batch: ReadingBatch) -> RegisterValues:
    """The registers before the first interval: those after it, less its published interval values."""
    total = np.maximum(registers.total - batch.import_milli, 0)
    bands = None
    if registers.bands is not None:
        bands = registers.bands.copy()
        rows = np.arange(len(batch))
        bands[batch.band.astype(np.int64), rows] = np.maximum(
            bands[batch.band.astype(np.int64), rows] - batch.import_milli, 0
        )
    export = registers.export_total
    if export is not None and batch.export_milli is not None:
        export = np.maximum(export - batch.export_milli, 0)
    return RegisterValues(total=total, bands=bands, export_total=export, converted=registers.converted)


def _first_boundary_at(epoch_s: int | None, interval_s: int) -> int:
    if epoch_s is None:
        return 0
    return -(-epoch_s // interval_s) * interval_s
