"""The ``simulation:`` section: when the run happens, for how long, how fast, from which seed."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from metersim.config.base import Float, Model, StrictInt
from metersim.timebase import parse_duration, parse_instant


class SimulationConfig(Model):
    """When the run happens, how fast, and from which seed."""

    # The fields keep what the user wrote; the typed values beside them are ``start_s`` (epoch
    # seconds, None for "now"), ``backfill_s``, ``end_s`` and ``duration_s``. The schema keeps the section's title.
    model_config = ConfigDict(title="Simulation")

    start: str = Field(
        "now",
        description='ISO 8601 with a UTC offset, or "now": the next interval boundary on the local clock '
        "(the last one at or before now with `backfill`)",
    )
    backfill: bool | str | StrictInt = Field(
        False,
        description="start: now only. false = begin at the next interval boundary; true = at the last boundary "
        "at or before now; a duration (6h, 7d) = at the last boundary at or before now minus it. What lies "
        "before now is caught up at full speed; `duration` counts from the start, backfill included",
    )
    duration: str | StrictInt | None = Field(None, description="e.g. 90s, 15m, 2h, 1d; or give `end`")
    end: str | None = Field(None, description="ISO 8601 with a UTC offset; instead of `duration`")
    seed: StrictInt = Field(0, ge=0, description="root of every random stream")
    speed: Literal["max"] | Annotated[Float, Field(gt=0)] = Field(
        "max", description="max = as fast as the sinks accept; a number = simulated s per wall s"
    )
    state_path: str | None = Field(
        None,
        description="state file (.npz): written while the run goes and on stop; a run that finds it continues "
        "from it (same window, no seq reset). Remove it to start afresh",
    )
    state_every_s: Annotated[Float, Field(gt=0)] = Field(
        5.0, description="longest wall time between two state saves [s]"
    )

    _start_s: int | None = PrivateAttr(None)
    _backfill_s: int | None = PrivateAttr(None)
    _end_s: int | None = PrivateAttr(None)
    _duration_s: int = PrivateAttr(0)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _yaml_timestamp(cls, v: Any) -> Any:
        """An unquoted YAML timestamp arrives as a datetime: keep it as the ISO 8601 text it was."""
        if isinstance(v, dt.datetime):
            if v.tzinfo is None or v.utcoffset() is None:
                raise ValueError(f"timestamp {v.isoformat()} needs a UTC offset, e.g. +05:00 or Z")
            return v.isoformat()
        if isinstance(v, dt.date):
            raise ValueError(f"{v.isoformat()} is a date; give a time and a UTC offset, e.g. {v.isoformat()}T00:00:00Z")
        return v

    @field_validator("speed", mode="wrap")
    @classmethod
    def _speed(cls, v: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(v)
        except ValidationError:
            raise ValueError('must be "max" or a number > 0') from None

    @field_validator("duration", mode="wrap")
    @classmethod
    def _duration_type(cls, v: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if v is not None and (isinstance(v, bool) or not isinstance(v, (str, int))):
            raise ValueError(f"must be a duration such as 90s, 15m, 2h or 1d, or a whole number of seconds; got {v!r}")
        return handler(v)

    @field_validator("backfill", mode="wrap")
    @classmethod
    def _backfill(cls, v: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(v, bool):
            return v
        if isinstance(v, (str, int)):
            try:
                parse_duration(v)
            except ValueError as exc:
                raise ValueError(f"must be true, false or a duration such as 6h or 7d; {exc}") from None
            return handler(v)
        raise ValueError(f"must be true, false or a duration such as 6h or 7d; got {v!r}")

    @field_validator("start")
    @classmethod
    def _start(cls, v: str) -> str:
        if v != "now":
            parse_instant(v)
        return v

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: str | int | None) -> str | int | None:
        if v is not None:
            parse_duration(v)
        return v

    @field_validator("end")
    @classmethod
    def _end(cls, v: str | None) -> str | None:
        if v is not None:
            parse_instant(v)
        return v

    def _derive(self) -> None:
        self._start_s = None if self.start == "now" else parse_instant(self.start)
        self._end_s = None if self.end is None else parse_instant(self.end)
        if isinstance(self.backfill, bool):
            self._backfill_s = 0 if self.backfill else None
        else:
            self._backfill_s = parse_duration(self.backfill)
        if self.duration is not None:
            self._duration_s = parse_duration(self.duration)
        elif self._end_s is not None and self._start_s is not None:
            self._duration_s = self._end_s - self._start_s
        else:
            self._duration_s = 0  # rejected by _one_of_duration_or_end

    @model_validator(mode="after")
    def _one_of_duration_or_end(self) -> Self:
        if (self.duration is None) == (self.end is None):
            raise ValueError("give exactly one of `duration` and `end`")
        if self._end_s is not None:
            if self._start_s is None:
                raise ValueError('`end` needs a fixed `start`, not "now"; use `duration`')
            if self._end_s <= self._start_s:
                raise ValueError("`end` must be after `start`")
        if self._backfill_s is not None and self._start_s is not None:
            raise ValueError("`backfill` needs `start: now`; a fixed `start` already says where the run begins")
        return self

    @property
    def start_s(self) -> int | None:
        """The first simulated second [s since the epoch, UTC]; ``None`` when the run starts "now"."""
        return self._start_s

    @property
    def starts_now(self) -> bool:
        """Whether the run starts at the current time (``start: now``)."""
        return self._start_s is None

    @property
    def backfill_s(self) -> int | None:
        """``start: now`` only: how far [s] before now the run starts (then aligned down to a boundary);
        0 for ``backfill: true`` (the last boundary at or before now), ``None`` for none (the next boundary)."""
        return self._backfill_s

    @property
    def end_s(self) -> int | None:
        """The end given as ``end`` [s since the epoch, UTC]; ``None`` when ``duration`` is given."""
        return self._end_s

    @property
    def duration_s(self) -> int:
        """Length of the run [s], from ``duration`` or from ``end`` - ``start``."""
        return self._duration_s
