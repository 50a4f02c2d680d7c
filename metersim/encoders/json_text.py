"""JSON text made a column at a time: the primitives of the per-batch payload v1 renderer.

Payload v1 used to be one dict per reading, dumped by orjson: ~1 µs a reading, most of it building the
dict. Here a batch is rendered as *pieces*: constant byte strings that every row shares (field names,
the schema, units, often the time stamps) and columns of byte strings, one per row (ids, numbers).
:class:`Rows` lays the pieces out row by row and joins them once, so the per-reading cost is a few list
slots and one copy of the bytes; numbers are formatted by orjson a whole array at a time.

The text is exactly what ``orjson.dumps`` writes for the same values as Python objects (the old path):
orjson formats a float64 array element with the same shortest round-trip writer as a Python float,
and an integer array element as a Python int (``tests/encoders/test_json_text.py`` checks it against
the dict path). Nothing here can contain a raw newline: every string goes through orjson, which
escapes control characters, so a JSON Lines block splits back into its payloads at ``\\n``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import orjson

from metersim._array import Array

_NUMPY = orjson.OPT_SERIALIZE_NUMPY
#: rows joined into one block [-]: a block of ~250 kB stays in the cache and in malloc's heap, where one
#: of tens of MB (a whole 100k-meter interval) is mapped fresh and page-faulted in, ~5x slower to join
ROWS_PER_BLOCK = 1024


def numbers(values: Array) -> list[bytes]:
    """The JSON text of each element of a 1-d array, as ``orjson.dumps(values.tolist()[k])`` writes it.

    Floats of any width go as float64 (``tolist`` widens them the same way), integers as int64
    (uint64 as is), booleans as ``true``/``false``; anything else element by element.
    """
    if not len(values):
        return []
    kind = values.dtype.kind
    if kind == "f":
        array = np.ascontiguousarray(values, dtype=np.float64)
    elif kind == "i" or (kind == "u" and values.dtype.itemsize < 8):
        array = np.ascontiguousarray(values, dtype=np.int64)
    elif kind in "ub":
        array = np.ascontiguousarray(values)
    else:
        dumps = orjson.dumps
        return [dumps(v) for v in values.tolist()]
    # One call formats the whole array ("[a,b,c]"); numbers hold no comma, so a split cuts them apart.
    return orjson.dumps(array, option=_NUMPY)[1:-1].split(b",")


def thousandths(milli: Array) -> list[bytes]:
    """Integer thousandths (of a kWh, an m3) as the JSON number of the float ``milli / 1000``."""
    return numbers(milli / 1000)


def lookup(codes: Array, texts: Sequence[bytes]) -> bytes | list[bytes]:
    """``texts[code]`` for each code: one constant when every row has the same code, else a column."""
    if not len(codes):
        return []
    first = int(codes[0])
    if (codes == first).all():
        return texts[first]
    table = np.empty(len(texts), dtype=object)
    table[:] = list(texts)
    out: list[bytes] = table[codes].tolist()
    return out


def key(name: str) -> bytes:
    """``"name":`` as JSON text, ready to precede a value."""
    return orjson.dumps(name) + b":"


class Rows:
    """The payloads of ``count`` rows, laid out from pieces in payload order.

    :meth:`text` adds a piece every row shares; :meth:`column` one with a value per row. Neighbouring
    constants merge, so a plain reading is a handful of slots. :meth:`blocks` joins the rows into a few
    JSON Lines blocks (each payload followed by ``\\n``): one allocation per block.
    """

    __slots__ = ("_pieces", "count")

    def __init__(self, count: int) -> None:
        self.count = count
        self._pieces: list[bytes | list[bytes]] = []

    def text(self, piece: bytes) -> None:
        """A piece every row shares."""
        pieces = self._pieces
        if pieces and isinstance(pieces[-1], bytes):
            pieces[-1] += piece
        else:
            pieces.append(piece)

    def column(self, values: bytes | list[bytes]) -> None:
        """A piece per row (``len(values) == count``), or a constant given as bytes."""
        if isinstance(values, bytes):
            self.text(values)
        elif len(values) != self.count:
            raise ValueError(f"a column of {len(values)} values for {self.count} rows")
        else:
            self._pieces.append(values)

    def blocks(self, rows_per_block: int = ROWS_PER_BLOCK) -> list[bytes]:
        """Every row's payload followed by a newline, in blocks of at most ``rows_per_block`` rows."""
        count = self.count
        pieces = list(self._pieces)
        if pieces and isinstance(pieces[-1], bytes):
            pieces[-1] += b"\n"
        else:
            pieces.append(b"\n")
        lead = b""
        if len(pieces) > 1 and isinstance(pieces[0], bytes):
            # A row's first piece follows the row before's last: one slot for both ("}\n{...").
            lead, pieces = pieces[0], pieces[1:]
        last = pieces[-1]
        if lead and isinstance(last, bytes):
            pieces[-1] = last + lead
        width, join = len(pieces), b"".join
        out = []
        for start in range(0, count, rows_per_block):
            size = min(rows_per_block, count - start)
            slots: list[bytes] = [b""] * (size * width + 1)
            slots[0] = lead
            for k, piece in enumerate(pieces, start=1):
                # Extended-slice assignment copies references in C: no Python-level loop over the rows.
                slots[k::width] = [piece] * size if isinstance(piece, bytes) else piece[start : start + size]
            if lead and isinstance(last, bytes):
                slots[-1] = last  # the block's last row has no row after it
            out.append(join(slots))
        return out


class Payloads(list[bytes]):
    """One payload per message, and ``blocks``: the same payloads as JSON Lines (each followed by a
    newline), in a few blocks, so that a file or stdout writes them without joining them again."""

    __slots__ = ("blocks",)

    def __init__(self, blocks: list[bytes]) -> None:
        super().__init__()
        for block in blocks:
            self += split_lines(block)
        self.blocks = blocks


def split_lines(block: bytes) -> list[bytes]:
    """The payloads of a JSON Lines block (every line ends in ``\\n``), without their newlines."""
    payloads = block.split(b"\n")
    payloads.pop()  # what follows the last newline: nothing
    return payloads
