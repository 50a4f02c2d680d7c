"""The BDEW standard load profiles as references, and which one stands for a metersim profile.

The tables are the VDEW/BDEW "Repräsentative VDEW-Lastprofile" (VDEW 1999, maintained by BDEW): for
each profile (H0 households, G0 commercial, L0 agriculture), season (winter 1 Nov-20 Mar, summer
15 May-14 Sep, transition otherwise) and day type (workday, Saturday, Sunday/holiday), the average
power [W] in each 15-minute slot from 00:00 local time for an annual consumption of 1,000 kWh. The
package ships them at ``metersim/data/bdew/profiles.csv`` (header ``profile,season,day,slot,watts``),
taken from demandlib's ``selp_series.csv`` (oemof demandlib 0.2.2); see the SOURCE note beside it.

H0 is meant to be multiplied by BDEW's dynamisation polynomial of the day of the year (:func:`h0_dynamisation`,
BDEW/VDEW "Anwendung der repräsentativen VDEW-Lastprofile", 2000); the shapes inside a cell are the
static table's.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from metersim._array import Array
from metersim.errors import ConfigError

SEASONS = ("winter", "summer", "transition")  # indexed by the season codes of :func:`bdew_seasons`
DAYS = ("workday", "saturday", "sunday")  # as metersim.calendar's WEEKDAY, SATURDAY, SUNDAY_HOLIDAY
SLOTS = 96  # 15-minute slots of a day

#: where the package's copy of the tables lives
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "bdew" / "profiles.csv"

#: the nearest BDEW reference of each metersim electricity profile, and why it is the nearest
_NEAREST = {
    "household": ("h0", "nearest reference for households (H0 is a German household mix)"),
    "commercial": ("g0", "nearest reference for shops and offices (G0, commercial in general)"),
    "agricultural": ("l0", "nearest reference for farms (L0, agriculture in general; tube wells differ)"),
}


@dataclass(frozen=True)
class BdewTables:
    """``watts[(profile, season, day)]``: 96 slots of average power [W] for 1,000 kWh/a."""

    watts: dict[tuple[str, str, str], Array]
    path: str

    def profiles(self) -> list[str]:
        return sorted({p for p, _, _ in self.watts})

    def cell(self, profile: str, season: str, day: str) -> Array:
        return self.watts[(profile, season, day)]

    def grid(self, profile: str) -> Array:
        """The profile as an array (season, day, slot) [W], in the order of :data:`SEASONS` and :data:`DAYS`."""
        return np.array([[self.watts[(profile, s, d)] for d in DAYS] for s in SEASONS])


def load_bdew(path: str | Path | None = None) -> BdewTables:
    """Read the tables (default: :data:`DEFAULT_PATH`). Raises ConfigError if missing or incomplete."""
    where = Path(path) if path is not None else DEFAULT_PATH
    try:
        with where.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise ConfigError(f"the BDEW reference tables are missing: {where}") from None
    values: dict[tuple[str, str, str], Array] = {}
    filled: dict[tuple[str, str, str], Array] = {}
    for row in rows:
        key = (row["profile"].strip().lower(), row["season"].strip(), row["day"].strip())
        if key[1] not in SEASONS or key[2] not in DAYS:
            raise ConfigError(f"{where}: unknown season or day {key[1]!r}/{key[2]!r}")
        if key not in values:
            values[key], filled[key] = np.zeros(SLOTS), np.zeros(SLOTS, dtype=bool)
        slot = int(row["slot"])
        values[key][slot], filled[key][slot] = float(row["watts"]), True
    for key, done in filled.items():
        if not done.all():
            raise ConfigError(f"{where}: {'/'.join(key)} lacks slots {np.flatnonzero(~done).tolist()}")
    for profile in {p for p, _, _ in values}:
        missing = [f"{s}/{d}" for s in SEASONS for d in DAYS if (profile, s, d) not in values]
        if missing:
            raise ConfigError(f"{where}: profile {profile} lacks {', '.join(missing)}")
    return BdewTables(values, str(where))


def reference_for(profile: str) -> tuple[str, str]:
    """(BDEW profile code, why) for a metersim electricity profile: ``bdew-g0`` is G0 itself; the South
    Asian profiles get the nearest BDEW one."""
    if profile.startswith("bdew-"):
        code = profile.removeprefix("bdew-")
        return code, f"the profile is BDEW {code.upper()} itself"
    return _NEAREST.get(profile, ("h0", f"no BDEW profile is near {profile!r}; H0 shown for comparison"))


def bdew_seasons(months: Array, days_of_month: Array) -> Array:
    """BDEW season code per day (0 winter 1 Nov-20 Mar, 1 summer 15 May-14 Sep, 2 transition otherwise)."""
    m, d = np.asarray(months), np.asarray(days_of_month)
    md = m * 100 + d  # month-day as MMDD
    winter = (md >= 1101) | (md <= 320)
    summer = (md >= 515) & (md <= 914)
    return np.where(winter, 0, np.where(summer, 1, 2)).astype(np.int64)


def h0_dynamisation(day_of_year: Array) -> Array:
    """BDEW's H0 dynamisation factor for day of the year ``t`` (1 = 1 January) [-]:
    -3.92e-10 t^4 + 3.2e-7 t^3 - 7.02e-5 t^2 + 2.1e-3 t + 1.24 (BDEW/VDEW 2000)."""
    t = np.asarray(day_of_year, dtype=float)
    return -3.92e-10 * t**4 + 3.2e-7 * t**3 - 7.02e-5 * t**2 + 2.1e-3 * t + 1.24


def at_interval(watts: Array, interval_s: int) -> Array:
    """A 96-slot curve at a coarser interval (the mean power of each interval's 15-minute slots) [W].

    Raises ValueError unless ``interval_s`` is a multiple of 900 s that divides a day."""
    if interval_s % 900 or 86400 % interval_s:
        raise ValueError(f"cannot compare {interval_s} s intervals with 15-minute BDEW slots")
    k = interval_s // 900
    out: Array = np.asarray(watts, dtype=float).reshape(-1, k).mean(axis=1)
    return out
