"""What commands set on a range of meters: relay, load limit, tariff calendar, clock and firmware.

The command handler schedules a :class:`Change` when a meter carries out a command; the group step
calls :meth:`MeterControls.gate` at each interval's start, which applies the changes due by then
and gates that interval's energy. A change is due at an interval boundary, so that an interval is
computed once, at its start, from the controls in force (an interval already under way when a
command lands runs to its end as it was). Everything here is numbers over the meters' rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from metersim._array import Array
from metersim.records import EVENT_CODES
from metersim.tariffs import BandSchedule

#: :attr:`MeterControls.relay` values
CLOSED, OPEN, ARMED = 0, 1, 2
RELAY_NAMES = ("closed", "open", "armed")


@dataclass(frozen=True)
class Change:
    """One meter's change, due at ``effective_s`` (an interval boundary) [epoch s].

    ``action`` is one of ``disconnect``, ``reconnect``, ``press`` (the customer's button after an armed
    reconnect), ``load_limit`` (``value``: kW, or None to lift it), ``set_tariff`` (``value``: the
    tariff calendar's index), ``time_sync``, ``firmware`` (``value``: the version's index).
    """

    effective_s: int
    row: int
    action: str
    value: float | int | None = None


@dataclass
class Gated:
    """One interval's flows after the controls, and the meter events they caused."""

    true_milli: Array
    import_milli: Array
    export_milli: Array | None
    band: Array | int  # per meter where a meter follows another calendar, else the group's
    events: list[tuple[Array, Array, Array]] = field(default_factory=list)  # (rows, time_s, code)
    on: Array | None = None  # which meters had supply [bool]; None: all


class MeterControls:
    """The command-set state of ``count`` meters of one group.

    Parameters
    ----------
    count
        Meters in the range.
    interval_s
        The group's interval [s].
    firmware
        The group's firmware version ("" when not given): index 0 of :attr:`versions`.
    calendars
        Tariff band calendars a ``set_tariff`` may switch to, by name; index 0 is the group's own.
    reconnect_button_s
        None: ``reconnect`` closes the relay; else it arms it and the customer presses the button
        this long after [s].
    limit_action, over_limit_s
        Load above a limit trips the relay after ``over_limit_s`` [s] of the interval, or is curtailed.
    """

    def __init__(
        self,
        count: int,
        interval_s: int,
        *,
        firmware: str = "",
        calendars: dict[str, BandSchedule] | None = None,
        reconnect_button_s: float | None = None,
        limit_action: str = "trip",
        over_limit_s: float = 60.0,
    ) -> None:
        self.count, self.interval_s = count, interval_s
        self.relay = np.zeros(count, dtype=np.int8)
        self.limit_kw = np.full(count, np.nan)
        self.calendar = np.zeros(count, dtype=np.int16)
        self.calendar_names = list(calendars or {})
        self.calendars = list((calendars or {}).values())
        self.versions = [firmware]
        self.firmware = np.zeros(count, dtype=np.int16)
        self.synced_s = np.full(count, -1, dtype=np.int64)  # last time_sync [epoch s]; -1: never
        self.offline_from_s = np.zeros(count, dtype=np.int64)  # a firmware restart starts [epoch s]
        self.offline_until_s = np.zeros(count, dtype=np.int64)  # and ends [epoch s]
        self.reconnect_button_s, self.limit_action, self.over_limit_s = reconnect_button_s, limit_action, over_limit_s
        self.pending: list[Change] = []
        #: which meters had their relay open for the whole of the last gated interval; None: none
        self.disconnected: Array | None = None

    def next_boundary(self, instant_s: float) -> int:
        """The first interval boundary strictly after ``instant_s`` [epoch s]."""
        return (int(instant_s) // self.interval_s + 1) * self.interval_s

    def schedule(self, change: Change) -> None:
        self.pending.append(change)

    def version_index(self, version: str) -> int:
        if version not in self.versions:
            self.versions.append(version)
        return self.versions.index(version)

    def gate(
        self, start_s: int, band: int, true_milli: Array, import_milli: Array, export_milli: Array | None
    ) -> Gated:
        """Apply the changes due by ``start_s``, then this interval's relay, limits and calendars."""
        events = self._apply_due(start_s)
        self.disconnected = None
        if not (self.relay != CLOSED).any() and np.isnan(self.limit_kw).all() and not self.calendar.any():
            return Gated(true_milli, import_milli, export_milli, band, events)
        tripped = self._limit(import_milli)
        if tripped is not None:
            rows, kept = tripped
            true_milli, import_milli = true_milli.copy(), import_milli.copy()
            true_milli[rows] = np.minimum(true_milli[rows], kept)
            import_milli[rows] = kept
            if self.limit_action == "trip":
                self.relay[rows] = OPEN
                at = np.full(len(rows), start_s + int(min(self.over_limit_s, self.interval_s)), np.int64)
                events.append((rows, at, np.full(len(rows), EVENT_CODES["local_disconnection"], np.int16)))
        off = self.relay != CLOSED
        if tripped is not None and self.limit_action == "trip":
            off[tripped[0]] = False  # it ran until the trip, inside this interval
        on = None
        self.disconnected = off if off.any() else None
        if off.any():
            on = ~off
            true_milli, import_milli = true_milli * on, import_milli * on
            export_milli = export_milli * on if export_milli is not None else None  # the inverter is off the grid too
        return Gated(true_milli, import_milli, export_milli, self._bands(start_s, band), events, on)

    def _limit(self, import_milli: Array) -> tuple[Array, Array] | None:
        """The rows over their limit in this interval and the energy each still gets [thousandths]."""
        limited = ~np.isnan(self.limit_kw)
        if not limited.any():
            return None
        cap = np.where(limited, self.limit_kw, 0.0) * 1000.0 * self.interval_s / 3600.0  # kW -> Wh per interval
        over = np.flatnonzero(limited & (self.relay == CLOSED) & (import_milli > cap))
        if not len(over):
            return None
        if self.limit_action == "curtail":
            return over, np.floor(cap[over]).astype(np.int64)
        ran = min(self.over_limit_s, self.interval_s) / self.interval_s  # demand over the limit until the trip
        return over, np.rint(import_milli[over] * ran).astype(np.int64)

    def _bands(self, start_s: int, band: int) -> Array | int:
        if not self.calendar.any():
            return band
        bands = np.full(self.count, band, dtype=np.int8)
        for index in np.unique(self.calendar[self.calendar > 0]).tolist():
            bands[self.calendar == index] = self.calendars[index].band_at(start_s)
        return bands

    def _apply_due(self, start_s: int) -> list[tuple[Array, Array, Array]]:
        """Carry out the changes due by ``start_s``, in the order they were scheduled; their events."""
        if not self.pending:
            return []
        rows, times, codes = [], [], []
        # (a change may schedule another that is due at once: a button pressed at the boundary itself)
        while due := [c for c in self.pending if c.effective_s <= start_s]:
            self.pending = [c for c in self.pending if c.effective_s > start_s]
            for change in due:
                code = self._carry_out(change)
                if code is not None:
                    rows.append(change.row)
                    times.append(change.effective_s)
                    codes.append(EVENT_CODES[code])
        if not rows:
            return []
        return [(np.array(rows, np.int64), np.array(times, np.int64), np.array(codes, np.int16))]

    def _carry_out(self, change: Change) -> str | None:
        """Apply one change; the name of the meter event it logs (None for none)."""
        row, action, value = change.row, change.action, change.value
        if action == "disconnect":
            if self.relay[row] == OPEN:
                return None
            self.relay[row] = OPEN
            return "remote_disconnection"
        if action == "reconnect":
            if self.relay[row] == CLOSED:
                return None
            if self.reconnect_button_s is None:
                self.relay[row] = CLOSED
                return "remote_connection"
            self.relay[row] = ARMED
            pressed = math.ceil((change.effective_s + self.reconnect_button_s) / self.interval_s) * self.interval_s
            self.pending.append(Change(pressed, row, "press"))
            return "ready_for_reconnection"
        if action == "press":
            if self.relay[row] != ARMED:
                return None
            self.relay[row] = CLOSED
            return "manual_connection"
        if action == "load_limit":
            self.limit_kw[row] = np.nan if value is None else float(value)
            return "configuration_changed"
        if action == "set_tariff":
            self.calendar[row] = int(value or 0)
            return "configuration_changed"
        if action == "time_sync":
            self.synced_s[row] = change.effective_s
            return "clock_adjusted"
        if action == "firmware":
            self.firmware[row] = int(value or 0)
            return "firmware_activated"
        raise ValueError(f"unknown change {action!r}")

    def state(self) -> dict[str, Array]:
        """What a resumed run needs (changes still pending are not kept)."""
        return {
            "relay": self.relay.copy(),
            "limit_kw": self.limit_kw.copy(),
            "calendar": self.calendar.copy(),
            "synced_s": self.synced_s.copy(),
        }

    def restore(self, arrays: dict[str, Array]) -> None:
        for name, values in arrays.items():
            getattr(self, name)[...] = values
