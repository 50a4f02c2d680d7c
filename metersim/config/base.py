"""What every config module shares: the strict frozen base model and the structured :class:`Problem`.

A model may keep *typed* values beside the fields a user writes (epoch seconds beside an ISO 8601
string, minutes after midnight beside ``"HH:MM"``). They are computed once, in :meth:`Model._derive`,
after the fields are validated, and again by :meth:`Model.model_copy` when fields are replaced, so
they always describe the fields they sit beside.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AllowInfNan, BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from typing_extensions import Self

#: the pydantic error type of a problem found by a cross-check (see :func:`raise_problems`)
PROBLEM_ERROR_TYPE = "metersim_problem"

#: the message for ``true``/``false`` where a number is expected
NOT_A_BOOL = "must be a number, not true/false"


def _not_bool(value: Any) -> Any:
    """Reject ``true``/``false`` where a number is expected (Python's bool is an int)."""
    if isinstance(value, bool):
        raise ValueError(NOT_A_BOOL)
    return value


#: an integer that must be written as one: ``true`` and ``1000.0`` are errors
StrictInt = Annotated[int, Strict()]
#: a finite number: an integer or a float, but not ``true``/``false`` (nor text such as ``"1.5"``), nor
#: ``.inf`` or ``.nan``
Float = Annotated[float, Strict(), AllowInfNan(False)]
NotBool = BeforeValidator(_not_bool)
Seconds = Annotated[StrictInt, Field(ge=1)]
Loc = tuple[str | int, ...]

#: characters that cannot appear in one MQTT topic level (``/`` separates levels)
TOPIC_UNSAFE = ("/", "+", "#", "\x00")


def topic_unsafe(text: str) -> list[str]:
    """The characters of :data:`TOPIC_UNSAFE` in ``text``, shown as a user would write them."""
    return [("NUL" if c == "\x00" else c) for c in TOPIC_UNSAFE if c in text]


def no_nul(value: str | None) -> str | None:
    """A path (or other text handed to the OS) must not contain NUL."""
    if value is not None and "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


_FORMAT_FIELD = re.compile(r"\{(\w+)")


def format_fields(template: str) -> set[str]:
    """The names of the ``{fields}`` used by a topic or id template."""
    return set(_FORMAT_FIELD.findall(template))


class Model(BaseModel):
    """Strict (unknown keys are errors) and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def model_post_init(self, context: Any, /) -> None:
        self._derive()

    def _derive(self) -> None:
        """Compute the typed values kept beside the fields; the fields are already valid."""

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """As pydantic's (no validation), but typed values follow the replaced fields."""
        copied = super().model_copy(update=update, deep=deep)
        if update:
            copied._derive()
        return copied


def dotted(loc: Iterable[str | int]) -> str:
    """``("fleet", 2, "interval_s")`` -> ``"fleet[2].interval_s"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario, at a location such as ``("fleet", 2, "interval_s")``."""

    loc: Loc
    message: str

    @property
    def path(self) -> str:
        """The dotted path of :attr:`loc`, e.g. ``fleet[2].interval_s``."""
        return dotted(self.loc)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.loc else self.message


def raise_problems(title: str, problems: list[Problem]) -> None:
    """Raise ``problems`` (if any) from a model validator, one pydantic error each at its own location.

    pydantic merges a ValidationError raised inside a validator into the outer one, prefixing the
    locations, so each problem reaches :func:`metersim.config.load.format_validation_error` as an
    error of its own, with no text to split apart.
    """
    if not problems:
        return
    details = [
        InitErrorDetails(
            type=PydanticCustomError(PROBLEM_ERROR_TYPE, "{message}", {"message": p.message}), loc=p.loc, input=None
        )
        for p in problems
    ]
    raise ValidationError.from_exception_data(title, details)
