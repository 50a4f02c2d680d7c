"""Bills files: one row per bill and period, as CSV or Parquet (see :mod:`metersim.ledger.bills`).

Columns, with their Parquet types (CSV holds the same values as text):

=================  =================  ===================================================================
column             Parquet type       meaning
=================  =================  ===================================================================
meter_id           string             the meter
period             string             the billing period, a local calendar month ``YYYY-MM``
currency           string             the tariff's currency: the unit of every money column
days               float64 [day]      charged days: local calendar days (see README.md, "Expected bills"); CSV: the
                                      exact decimal ``Bill.days``, Parquet: the nearest double
seconds            int64 [s]          simulated seconds in the period (a bill made by ``compute_bill``
                                      without ``seconds``: days x 86400)
unit               string             ``kWh`` or ``m3``: the unit of every ``units_`` column
units_<band>       float64 [unit]     true import in the band; CSV: exactly three decimals
                                      (``120.500``), Parquet: the double nearest to that decimal
export_<band>      float64 [unit]     true export in the band (only tariffs with ``net_metering`` or
                                      ``export_price``), three decimals like ``units_``
credit_<band>      float64 [unit]     net metering: credit carried to the next period, three decimals
energy_charge      decimal128(38, 2)  the sum of the energy (or slab block) lines [currency]
standing_charge    decimal128(38, 2)  days x standing charge per day, rounded [currency]
subtotal           decimal128(38, 2)  the sum of the lines [currency]
tax_<name>         decimal128(38, 2)  each tax [currency]
export_credit      decimal128(38, 2)  ``export_price`` tariffs: the credit for export (<= 0) [currency]
total              decimal128(38, 2)  subtotal + taxes + export credit [currency]
basis              string             ``true``: from the true consumption (what the customer owes);
                                      ``registered``: from what the meter recorded, written only for a
                                      meter and period where the two differ (theft, meter faults)
=================  =================  ===================================================================

The ``export_``, ``credit_`` and ``export_credit`` columns are written only when a bill in the file
has them. Money is exact: CSV writes it with two decimals (``3.05``), Parquet as decimal128(38, 2). A band or tax
that a bill does not have (bills of different tariffs in one file) is empty in the CSV and null in
Parquet; every other column is never null.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from metersim.errors import not_writable
from metersim.ledger.bills import Bill
from metersim.ledger.truth import require_pyarrow
from metersim.timebase import SECONDS_PER_DAY

_TEXT = ("meter_id", "period", "currency", "unit", "basis")


def _columns(bills: list[Bill]) -> tuple[list[str], list[str], list[str], list[str], bool]:
    bands: dict[str, None] = {}
    taxes: dict[str, None] = {}
    exports: dict[str, None] = {}
    credits: dict[str, None] = {}
    for bill in bills:
        bands.update(dict.fromkeys(bill.band_units))
        taxes.update(dict.fromkeys(t.description for t in bill.taxes))
        exports.update(dict.fromkeys(bill.band_export))
        credits.update(dict.fromkeys(bill.credit_units))
    return list(bands), list(taxes), list(exports), list(credits), any(bill.credits for bill in bills)


def _seconds(days: Decimal) -> int:
    """Whole seconds of ``days`` (for bills that do not know their simulated seconds)."""
    return round(Fraction(days) * SECONDS_PER_DAY)


def _rows(bills: list[Bill]) -> tuple[list[str], list[dict[str, Any]]]:
    bands, taxes, exports, credits, export_credit = _columns(bills)
    header = [
        "meter_id", "period", "currency", "days", "seconds", "unit", *(f"units_{b}" for b in bands),
        *(f"export_{b}" for b in exports), *(f"credit_{b}" for b in credits),
        "energy_charge", "standing_charge", "subtotal", *(f"tax_{t}" for t in taxes),
        *(["export_credit"] if export_credit else []), "total", "basis",
    ]  # fmt: skip
    rows = []
    for bill in bills:
        row: dict[str, Any] = {
            "meter_id": bill.meter_id,
            "period": bill.period,
            "currency": bill.currency,
            "days": bill.days,
            "seconds": _seconds(bill.days) if bill.seconds is None else bill.seconds,
            "unit": bill.unit,
            "energy_charge": bill.energy_charge,
            "standing_charge": bill.standing_charge,
            "subtotal": bill.subtotal,
            "total": bill.total,
            "basis": bill.basis,
        }
        row.update({f"units_{b}": u for b, u in bill.band_units.items()})
        row.update({f"tax_{t.description}": t.amount for t in bill.taxes})
        row.update({f"export_{b}": u for b, u in bill.band_export.items()})
        row.update({f"credit_{b}": u for b, u in bill.credit_units.items()})
        if export_credit:
            row["export_credit"] = bill.export_credit
        rows.append(row)
    return header, rows


def write_bills(bills: list[Bill], path: str | Path) -> None:
    """Write one row per bill to ``path``: Parquet if it ends in ``.parquet``, else CSV.

    The columns and their types are in the module docstring. A band or tax that a bill does not have
    (bills of different tariffs in one file) is left empty (null in Parquet).

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


def parquet_schema(header: list[str]) -> Any:
    """The Arrow schema of a Parquet bills file with these columns (needs pyarrow)."""
    import pyarrow as pa

    fields = []
    for column in header:
        if column in _TEXT:
            fields.append(pa.field(column, pa.string(), nullable=False))
        elif column == "days":
            fields.append(pa.field(column, pa.float64(), nullable=False))
        elif column == "seconds":
            fields.append(pa.field(column, pa.int64(), nullable=False))
        elif column == "export_credit":
            fields.append(pa.field(column, pa.decimal128(38, 2), nullable=False))
        elif column.startswith(("units_", "export_", "credit_")):
            fields.append(pa.field(column, pa.float64()))
        else:  # money
            fields.append(pa.field(column, pa.decimal128(38, 2), nullable=column.startswith("tax_")))
    return pa.schema(fields)


def _write_parquet(header: list[str], rows: list[dict[str, Any]], path: str | Path) -> None:
    require_pyarrow("writing bills as Parquet")
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema(header)
    arrays = []
    for field in schema:
        values = [row.get(field.name) for row in rows]
        if pa.types.is_floating(field.type):
            values = [None if v is None else float(v) for v in values]  # the double nearest to the decimal
        arrays.append(pa.array(values, field.type))
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), str(path))
