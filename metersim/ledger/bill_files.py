"""Bills files: one row per bill and period, as CSV or Parquet (see :mod:`metersim.ledger.bills`)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

from metersim.errors import not_writable
from metersim.ledger.bills import _WIDE, Bill
from metersim.ledger.truth import require_pyarrow


def _columns(bills: list[Bill]) -> tuple[list[str], list[str]]:
    bands: dict[str, None] = {}
    taxes: dict[str, None] = {}
    for bill in bills:
        bands.update(dict.fromkeys(bill.band_units))
        taxes.update(dict.fromkeys(t.description for t in bill.taxes))
    return list(bands), list(taxes)


def _rows(bills: list[Bill]) -> tuple[list[str], list[dict[str, Any]]]:
    bands, taxes = _columns(bills)
    header = [
        "meter_id", "period", "currency", "days", *(f"units_{b}" for b in bands),
        "energy_charge", "standing_charge", "subtotal", *(f"tax_{t}" for t in taxes), "total",
    ]  # fmt: skip
    rows = []
    for bill in bills:
        row: dict[str, Any] = {
            "meter_id": bill.meter_id,
            "period": bill.period,
            "currency": bill.currency,
            "days": bill.days,
            "energy_charge": bill.energy_charge,
            "standing_charge": bill.standing_charge,
            "subtotal": bill.subtotal,
            "total": bill.total,
        }
        row.update({f"units_{b}": u for b, u in bill.band_units.items()})
        row.update({f"tax_{t.description}": t.amount for t in bill.taxes})
        rows.append(row)
    return header, rows


def write_bills(bills: list[Bill], path: str | Path) -> None:
    """Write one row per bill to ``path``: Parquet if it ends in ``.parquet``, else CSV.

    A band or tax that a bill does not have (bills of different tariffs in one file) is left empty.

    Raises
    ------
    MissingDependencyError
        If Parquet is asked for and pyarrow is not installed.
    OutputNotWritableError
        If the file cannot be written.
    """
    header, rows = _rows(bills)
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)  # like every other output of a run
        if str(path).endswith(".parquet"):
            _write_parquet(header, rows, path)
            return
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in rows:
                writer.writerow(["" if row.get(c) is None else str(row[c]) for c in header])
    except OSError as exc:
        raise not_writable("bills", path, exc) from None


def _write_parquet(header: list[str], rows: list[dict[str, Any]], path: str | Path) -> None:
    require_pyarrow("writing bills as Parquet")
    import pyarrow as pa
    import pyarrow.parquet as pq

    money = pa.decimal128(38, 2)
    arrays = {}
    for column in header:
        values = [row.get(column) for row in rows]
        if column in ("meter_id", "period", "currency"):
            arrays[column] = pa.array(values, pa.string())
        elif column == "days":
            # 28 decimals hold every value of seconds / 86400 that Bill.days can show.
            exponent = Decimal(1).scaleb(-28)
            days = [None if v is None else _WIDE.quantize(v, exponent) for v in values]
            arrays[column] = pa.array(days, pa.decimal128(38, 28))
        elif column.startswith("units_"):
            arrays[column] = pa.array(values, pa.decimal128(38, 3))
        else:
            arrays[column] = pa.array(values, money)
    pq.write_table(pa.table(arrays), str(path))
