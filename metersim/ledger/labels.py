"""The labels file: every fault the run injected, one row per label, beside the ledger.

A label says that something made the published stream differ from the truth (a dropped, late or
doubled reading, a backlog, a supply interruption), for which meter and over which span. Columns,
with their Parquet types (CSV holds the same values as text; ``docs/labels.md`` lists the kinds):

=========  ======================  ===================================================================
column     Parquet type            meaning
=========  ======================  ===================================================================
meter_id   string                  the meter (grid-side meters: the transformer or feeder id)
group      string                  the fleet group
kind       string                  what happened, e.g. ``comms_drop``, ``supply_interruption``
start      timestamp[ms, tz=UTC]   first affected interval end; CSV: ISO 8601 in the meter's local
                                   offset (as the ledger's ``interval_end``), Parquet: the same instant
                                   in UTC (whole seconds, stored in ms: Parquet has no unit of seconds)
end        timestamp[ms, tz=UTC]   last affected interval end, likewise (``end == start`` for one reading)
start_s    int64                   ``start`` in epoch seconds [s]
end_s      int64                   ``end`` in epoch seconds [s]
severity   float64                 kind-specific (a fraction, a delay [s], ...); 1.0 where it has none
detail     string                  what was altered, in words ("" for none)
=========  ======================  ===================================================================

Rows are written as the engine steps each group interval, in the order it reports the labels (the
group step's own, then each transform's), so the file is the same for the same scenario and seed.
A run without faults writes a file with the header (or the Parquet schema) and no rows, so that "no
faults" is told apart from "no file". CSV needs nothing beyond the standard library; Parquet (a path
ending in ``.parquet``) needs pyarrow (``pip install 'metersim[parquet]'``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from metersim.encoders.json import iso_column
from metersim.engine import Observer
from metersim.errors import ConfigError, not_writable
from metersim.ledger.truth import require_pyarrow, utc_timestamps
from metersim.records import Label, Observation

COLUMNS = ("meter_id", "group", "kind", "start", "end", "start_s", "end_s", "severity", "detail")
_PARQUET_ROWS = 100_000  # rows buffered per Parquet row group
_WHAT = "labels"


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn an OSError while writing into the one-line OutputNotWritableError."""
    try:
        yield
    except OSError as exc:
        raise not_writable(_WHAT, path, exc) from None


def label_columns(labels: tuple[Label, ...] | list[Label], group: str, timezone: str) -> dict[str, Any]:
    """The rows of ``labels`` (of one group, whose meters keep ``timezone``), by column name."""
    start_s = np.array([label.start_s for label in labels], dtype=np.int64)
    end_s = np.array([label.end_s for label in labels], dtype=np.int64)
    return {
        "meter_id": [label.meter_id for label in labels],
        "group": [group] * len(labels),
        "kind": [label.kind for label in labels],
        "start": iso_column(start_s, timezone),
        "end": iso_column(end_s, timezone),
        "start_s": start_s,
        "end_s": end_s,
        "severity": np.array([label.severity for label in labels], dtype=np.float64),
        "detail": [label.detail for label in labels],
    }


class LabelWriter(Observer):
    """An engine observer that writes every label as CSV, or as Parquet for a path ending in ``.parquet``.

    Labels are written when their interval is observed (CSV rows at once, Parquet in row groups);
    :meth:`close` writes what is buffered and closes the file.
    """

    def __init__(self, path: str | os.PathLike[str], fmt: str | None = None, *, append: bool = False) -> None:
        """``fmt``: ``csv`` or ``parquet`` (default: from the suffix). ``append`` continues an existing
        CSV file (a resumed run) instead of starting a new one."""
        self.path, self.append = Path(path), append
        self.format = fmt if fmt is not None else ("parquet" if self.path.name.endswith(".parquet") else "csv")
        self.rows = 0
        self._file: IO[str] | None = None
        self._csv: Any = None
        self._parquet: Any = None
        self._pending: list[dict[str, Any]] = []
        self._pending_rows = 0
        self._open = False  # between open() and close()

    def __enter__(self) -> LabelWriter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        if self.format == "parquet":
            if self.append:
                raise ConfigError("a run resumed from a state file needs CSV labels (Parquet cannot be appended)")
            require_pyarrow("writing the labels as Parquet")
        elif self.format != "csv":
            raise ValueError(f"labels format must be csv or parquet, not {self.format!r}")
        self._open = True  # from here on, close() releases whatever was opened
        with _writing(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.format == "csv":
                header = not (self.append and self.path.exists() and self.path.stat().st_size > 0)
                mode = "a" if self.append else "w"
                self._file = open(self.path, mode, newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
                self._csv = csv.writer(self._file)
                if header:
                    self._csv.writerow(COLUMNS)
            else:
                self._open_parquet()

    def observe(self, observation: Observation) -> None:
        labels = observation.labels
        if not labels:
            return
        if not self._open:
            raise RuntimeError("LabelWriter.observe() before open()")
        columns = label_columns(labels, observation.group, observation.true.meters.meters.timezone)
        self.rows += len(labels)
        with _writing(self.path):
            if self.format == "csv":
                self._csv.writerows(zip(*(_csv_column(columns[name]) for name in COLUMNS)))
            else:
                self._pending.append(columns)
                self._pending_rows += len(labels)
                if self._pending_rows >= _PARQUET_ROWS:
                    self._write_parquet()

    def flush(self) -> None:
        """Hand the CSV rows written so far to the OS (Parquet rows wait for their row group)."""
        if self._file is not None:
            with _writing(self.path):
                self._file.flush()

    def close(self) -> None:
        """Write what is buffered and close the file. Safe to call twice."""
        if not self._open:
            return
        self._open = False
        with _writing(self.path):
            if self._parquet is not None:
                try:
                    self._write_parquet()
                finally:
                    parquet, self._parquet = self._parquet, None
                    parquet.close()
            if self._file is not None:
                file, self._file = self._file, None
                file.close()

    def _open_parquet(self) -> None:
        import pyarrow.parquet as pq

        # Opened at once: a run without a label (or stopped before one) still leaves the schema.
        self._parquet = pq.ParquetWriter(self.path, parquet_schema())

    def _write_parquet(self) -> None:
        if not self._pending:
            return
        merged = {name: _concat([c[name] for c in self._pending]) for name in COLUMNS}
        self._parquet.write_table(parquet_table(merged))
        self._pending, self._pending_rows = [], 0


def parquet_schema() -> Any:
    """The Arrow schema of a Parquet labels file: the types in the module docstring (needs pyarrow)."""
    import pyarrow as pa

    utc = pa.timestamp("ms", tz="UTC")
    types: dict[str, Any] = {
        "start": utc,
        "end": utc,
        "start_s": pa.int64(),
        "end_s": pa.int64(),
        "severity": pa.float64(),
    }
    return pa.schema([pa.field(name, types.get(name, pa.string()), nullable=False) for name in COLUMNS])


def parquet_table(columns: dict[str, Any]) -> Any:
    """Label columns (as :func:`label_columns` gives them) as an Arrow table of :func:`parquet_schema`.

    ``start`` and ``end`` are taken from ``start_s`` and ``end_s`` (the same instants).
    """
    import pyarrow as pa

    schema = parquet_schema()
    arrays = []
    for field in schema:
        name = field.name
        if name in ("start", "end"):
            arrays.append(utc_timestamps(columns[f"{name}_s"]))
        else:
            arrays.append(pa.array(columns[name], field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _csv_column(values: Any) -> list[Any]:
    # floats as repr (the shortest text that reads back as the same double), ints as ints
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return [v for part in parts for v in part]
