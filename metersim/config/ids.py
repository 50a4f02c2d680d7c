"""Meter ids: valid MQTT topic levels, unique in a group and across the fleet, checked without building them.

For one group an ``id_format`` such as ``{group}-{index:06d}`` or ``PK-{index:08d}`` is usually
``prefix + format(index, spec) + suffix`` (an :class:`IdPattern`). That holds, and the function is
injective in the index, when ``{index}`` appears once, without conversion, with an integer presentation
type (none, ``d n x X o b``) and a fill that cannot be mistaken for a digit (or ``0`` padding on the
left). Then:

- the characters of every id in a range of indices are those of its first and last id: a fill appears
  in the shortest numbers, grouping separators in the longest, a sign or ``0x`` in all of them;
- two such groups cannot share an id when their literal prefixes (or suffixes) differ where both have
  one, or when the longer one goes on with characters that the shorter one's numbers (and its literal
  after them) cannot spell;
- with equal prefix, spec and suffix they share exactly the indices in both ranges;
- with equal prefix and suffix, and specs that write numbers in the same digits (``{index:06d}`` and
  ``{index:08d}``), an id of both is one index written alike by both specs, which depends only on how
  many digits the index has: one index per digit count is tried.

Anything else (``{index:.1e}``, ``{index}`` repeated, ``{index:x}`` beside ``{index:d}``, ...) falls
back to building ids: every id of such a group, and for two groups as many as the smaller holds. A
scenario builds at most :data:`ID_BUDGET` ids so; one that would need more is refused with a problem
that says how to write its ids instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from string import Formatter
from typing import TYPE_CHECKING

from metersim.config.base import Problem

if TYPE_CHECKING:
    from metersim.config.fleet import MeterGroup

FORBIDDEN_IN_TOPIC_LEVEL = re.compile(r"[+#/\x00]")
_SPEC = re.compile(
    r"(?:(?P<fill>.)?(?P<align>[<>=^]))?(?P<sign>[-+ ])?(?P<z>z)?(?P<alt>\#)?(?P<zero>0)?(?P<width>\d+)?"
    r"(?P<grouping>[,_])?(?:\.(?P<precision>\d+))?(?P<type>[bdnoxX])?",
    re.DOTALL,
)
_DIGITS = {"b": "01", "o": "01234567", "x": "0123456789abcdef", "X": "0123456789ABCDEF"}
_BASES = {"b": 2, "o": 8, "x": 16, "X": 16}
_DECIMAL = "0123456789"
_FORMAT_ERRORS = (ValueError, KeyError, IndexError, AttributeError, TypeError)
_CHECK_INDEX = 1_234_567  # a number with every feature a spec can show: several digits, grouping
#: the most ids that the checks of one scenario build one by one (a few seconds at most)
ID_BUDGET = 500_000
_PLAIN_HINT = "write ids as a prefix, one {index:...} and a suffix, e.g. {group}-{index:08d}"


def is_topic_level(meter_id: str) -> bool:
    """Whether ``meter_id`` can be one MQTT topic level: non-empty, without ``+ # /`` or NUL."""
    return bool(meter_id) and FORBIDDEN_IN_TOPIC_LEVEL.search(meter_id) is None


def _field_text(field: str, spec: str | None, conversion: str | None) -> str:
    return "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"


def _template(items: Sequence[tuple[str, str | None, str | None, str | None]]) -> str:
    """The format string of parsed items (the inverse of ``Formatter().parse``)."""
    out = []
    for literal, field, spec, conversion in items:
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is not None:
            out.append(_field_text(field, spec, conversion))
    return "".join(out)


@dataclass(frozen=True)
class IdPattern:
    """An ``id_format`` proven to be ``prefix + format(index, spec) + suffix``, injective in the index."""

    prefix: str
    spec: str
    suffix: str
    digits: str  # the characters the number itself is written in
    base: int

    @classmethod
    def parse(cls, id_format: str, group: str) -> IdPattern | None:
        """The pattern of ``id_format`` for the group named ``group``; None where no proof is cheap."""
        try:
            items = list(Formatter().parse(id_format))
        except ValueError:
            return None
        split = None
        for n, (_, field, spec, conversion) in enumerate(items):
            if field is None:
                continue
            if spec and "{" in spec:
                return None  # a nested field in the spec
            if re.split(r"[.\[]", field, maxsplit=1)[0] == "index":
                if split is not None or field != "index" or conversion:
                    return None
                split = n
        if split is None:
            return None
        spec = items[split][2] or ""
        parts = _SPEC.fullmatch(spec)
        if parts is None or parts["precision"] is not None or parts["z"]:
            return None
        kind = parts["type"] or "d"
        digits = _DIGITS.get(kind, _DECIMAL)
        fill = parts["fill"] if parts["fill"] is not None else ("0" if parts["zero"] else " ")
        align = parts["align"] or ("=" if parts["zero"] else ">")
        if fill in digits and not (fill == "0" and align in "=>"):
            return None  # e.g. {index:1>3} or {index:0<3}: padding that reads as digits
        try:
            before = _template([*items[:split], (items[split][0], None, None, None)])
            prefix = before.format(group=group)
            suffix = _template(items[split + 1 :]).format(group=group)
            pattern = cls(prefix, spec, suffix, digits, _BASES.get(kind, 10))
            if pattern.format(_CHECK_INDEX) != id_format.format(index=_CHECK_INDEX, group=group):
                return None
        except _FORMAT_ERRORS:
            return None
        return pattern

    def format(self, index: int) -> str:
        """The id of ``index``."""
        return f"{self.prefix}{format(index, self.spec)}{self.suffix}"

    def index_of(self, meter_id: str) -> int | None:
        """The index whose id is ``meter_id``, or None if no index has it."""
        head, tail = len(self.prefix), len(meter_id) - len(self.suffix)
        if tail <= head or not meter_id.startswith(self.prefix) or not meter_id.endswith(self.suffix):
            return None
        body = meter_id[head:tail]
        number = "".join(c for c in body if c in self.digits)
        if not number:
            return None
        index = int(number, self.base)
        return index if format(index, self.spec) == body else None

    def alphabet(self, first: int, last: int) -> frozenset[str]:
        """Every character that ``format(index, spec)`` can contain for ``first <= index <= last``."""
        return frozenset(self.digits) | set(format(first, self.spec)) | set(format(last, self.spec))


class IdSpace:
    """The ids of one group, by position ``0 .. count - 1`` (index ``first_index + position``)."""

    def __init__(self, id_format: str, group: str, first_index: int, count: int, pattern: IdPattern | None) -> None:
        self.id_format = id_format
        self.group = group
        self.first_index = first_index
        self.count = count
        self.pattern = pattern

    @classmethod
    def of(cls, group: MeterGroup) -> IdSpace:
        return cls(group.id_format, group.name, group.first_index, group.count, group.id_pattern)

    @property
    def stop_index(self) -> int:
        return self.first_index + self.count

    def id_at(self, position: int) -> str:
        index = self.first_index + position
        if self.pattern is not None:
            return self.pattern.format(index)
        return self.id_format.format(index=index, group=self.group)

    def ids(self, start: int = 0, stop: int | None = None) -> Iterator[str]:
        """The ids at positions ``start .. stop - 1`` (default: all), lazily."""
        indices = range(self.first_index + start, self.first_index + (self.count if stop is None else stop))
        if self.pattern is not None:
            head, spec, tail = self.pattern.prefix, self.pattern.spec, self.pattern.suffix
            return (f"{head}{format(i, spec)}{tail}" for i in indices)
        fmt, name = self.id_format.format, self.group
        return (fmt(index=i, group=name) for i in indices)

    @cached_property
    def _positions(self) -> dict[str, int]:
        """Each id and its first position (fallback groups only)."""
        ids = list(self.ids())
        return dict(zip(reversed(ids), range(len(ids) - 1, -1, -1)))

    def position_of(self, meter_id: str) -> int | None:
        """The first position whose id is ``meter_id``, or None."""
        if self.pattern is None:
            return self._positions.get(meter_id)
        index = self.pattern.index_of(meter_id)
        return index - self.first_index if index is not None and self.first_index <= index < self.stop_index else None

    def first_invalid(self) -> str | None:
        """The first id that is not a valid MQTT topic level, or None."""
        if self.pattern is not None:
            first, last = self.id_at(0), self.id_at(self.count - 1)
            if not is_topic_level(first):
                return first
            if is_topic_level(last):
                return None  # every id's characters are among the first's and the last's
        return next((m for m in self.ids() if not is_topic_level(m)), None)

    def has_duplicates(self) -> bool:
        return self.pattern is None and len(self._positions) != self.count

    def alphabet(self) -> frozenset[str]:
        return self._alphabet

    @cached_property
    def _alphabet(self) -> frozenset[str]:
        assert self.pattern is not None
        return self.pattern.alphabet(self.first_index, self.stop_index - 1)


def _starts_differ(a: str, a_chars: frozenset[str], a_then: str, b: str, b_chars: frozenset[str], b_then: str) -> bool:
    """Whether ``a + body + a_then`` and ``b + body' + b_then`` always differ, where each body is one or
    more characters of ``a_chars`` (``b_chars``), from how the literals ``a`` and ``b`` begin."""
    (short, chars, then), long = ((a, a_chars, a_then), b) if len(a) <= len(b) else ((b, b_chars, b_then), a)
    if not long.startswith(short):
        return True
    # The rest of the longer literal would have to be the shorter id's body (cut short), or its whole
    # body and then the start of what follows it.
    rest = long[len(short) :]
    for j in range(1, len(rest) + 1):
        if rest[j - 1] not in chars:
            return True
        if j == len(rest) or then.startswith(rest[j:]):
            return False
    return False  # equal literals


def _disjoint(x: IdSpace, y: IdSpace) -> bool:
    """Whether two pattern groups provably share no id, from their literal prefixes and suffixes."""
    assert x.pattern is not None and y.pattern is not None
    (xp, xs), (yp, ys) = (x.pattern.prefix, x.pattern.suffix), (y.pattern.prefix, y.pattern.suffix)
    x_chars, y_chars = x.alphabet(), y.alphabet()
    if _starts_differ(xp, x_chars, xs, yp, y_chars, ys):
        return True
    return _starts_differ(xs[::-1], x_chars, xp[::-1], ys[::-1], y_chars, yp[::-1])


def _digit_count(n: int, base: int) -> int:
    count = 1
    while n >= base:
        n //= base
        count += 1
    return count


def _first_written_alike(a: IdPattern, b: IdPattern, lo: int, hi: int) -> int | None:
    """The first index in ``lo .. hi - 1`` that specs ``a`` and ``b`` (same digits) write alike, or None.

    Both write the same digits of an index, with fill, sign, prefix and grouping around them that depend
    only on how many digits it has; so one index per digit count decides for all indices of that count.
    """
    index = lo
    while index < hi:
        if format(index, a.spec) == format(index, b.spec):
            return index
        index = a.base ** _digit_count(index, a.base)  # the first index with one digit more
    return None


def needs_building(prev: IdSpace, cur: IdSpace) -> bool:
    """Whether :func:`first_shared` builds ids (as many as the smaller group holds) to compare the two."""
    a, b = prev.pattern, cur.pattern
    if a is None or b is None:
        return True
    if (a.prefix, a.suffix, a.digits, a.base) == (b.prefix, b.suffix, b.digits, b.base):
        return False
    return not _disjoint(prev, cur)


def first_shared(prev: IdSpace, cur: IdSpace) -> int | None:
    """The first position in ``cur`` whose id ``prev`` has too, or None."""
    a, b = prev.pattern, cur.pattern
    if a is not None and b is not None:
        same_literals = (a.prefix, a.suffix) == (b.prefix, b.suffix)
        if not same_literals and _disjoint(prev, cur):
            return None
        lo, hi = max(prev.first_index, cur.first_index), min(prev.stop_index, cur.stop_index)
        if (a.prefix, a.spec, a.suffix) == (b.prefix, b.spec, b.suffix):
            return lo - cur.first_index if lo < hi else None
        if (a.prefix, a.suffix, a.digits, a.base) == (b.prefix, b.suffix, b.digits, b.base):
            # The same literals and digits: one id of both is one index (its digits) written alike.
            index = _first_written_alike(a, b, lo, hi)
            return None if index is None else index - cur.first_index
    # No cheap proof: build the ids of the smaller group and look each up in the other.
    if prev.count < cur.count:
        return min((p for m in prev.ids() if (p := cur.position_of(m)) is not None), default=None)
    return next((p for p, m in enumerate(cur.ids()) if prev.position_of(m) is not None), None)


def check_meter_ids(fleet: Sequence[MeterGroup]) -> list[Problem]:
    """Ids must be valid as one MQTT topic level, and unique in each group and across the fleet.

    A group with an invalid id is reported once and left out of the uniqueness checks. A clash names
    the first id of the group (in index order) that an earlier group has, and the last such group.
    """
    problems: list[Problem] = []
    earlier: list[tuple[int, IdSpace]] = []
    budget = ID_BUDGET
    for i, group in enumerate(fleet):
        space = IdSpace.of(group)
        loc = ("fleet", i, "id_format")
        if space.pattern is None:
            if space.count > budget:
                problems.append(
                    Problem(
                        loc,
                        f"with this id_format each of its {space.count:,} meter ids would be built to check them, and "
                        f"a scenario builds at most {ID_BUDGET:,} so; {_PLAIN_HINT}",
                    )
                )
                continue
            budget -= space.count
        bad = space.first_invalid()
        if bad is not None:
            problems.append(Problem(loc, f"meter id {bad!r} is not a valid MQTT topic level (no + # / NUL)"))
            continue
        if space.has_duplicates():
            problems.append(Problem(loc, "produces duplicate meter ids"))
        shared: list[tuple[int, int]] = []
        for j, other in earlier:
            if needs_building(other, space):
                cost = min(other.count, space.count)
                if cost > budget:
                    problems.append(
                        Problem(
                            loc,
                            f"cannot tell whether its meter ids differ from those of fleet[{j}] without building "
                            f"{cost:,} of them; give the two groups different literal prefixes, or {_PLAIN_HINT}",
                        )
                    )
                    continue
                budget -= cost
            position = first_shared(other, space)
            if position is not None:
                shared.append((position, j))
        if shared:
            position = min(p for p, _ in shared)
            owner = max(j for p, j in shared if p == position)
            problems.append(Problem(loc, f"meter id {space.id_at(position)!r} is also used by fleet[{owner}]"))
        earlier.append((i, space))
    return problems
