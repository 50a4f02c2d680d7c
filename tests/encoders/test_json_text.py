"""The per-batch JSON renderer (``metersim/encoders/json_text.py`` and ``JsonEncoder``) writes exactly
the bytes of the dict-per-reading path it replaced.

The oracle is that path, frozen here as it was (commit 44a3eea, ``metersim/encoders/json.py``): one dict
per reading, dumped by orjson. It shares no code with the package's renderer. It is checked against
the batches of every shipped scenario that has features to show (grid-side meters, time-of-use and
export bands, PV, instantaneous values of one and three phases, gas converters on some meters only,
batteries, hardware, concentrators, meter replacements, faults, late uploads), and numbers against
hand-worked decimals and, property-based, against orjson writing Python numbers.
"""

import io
from collections import Counter
from decimal import Decimal
from functools import lru_cache
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from metersim.config import load_scenario
from metersim.encoders.batch import BatchEncoder
from metersim.encoders.json import JsonEncoder
from metersim.encoders.json_text import ROWS_PER_BLOCK, Payloads, Rows, lookup, numbers, split_lines, thousandths
from metersim.engine.core import Observer
from metersim.records import QUALITY_NAMES, Instantaneous, ReadingBatch, RegisterValues
from metersim.sinks.base import Outbox
from metersim.sinks.file import FileSink
from metersim.sinks.stdout import StdoutSink
from metersim.timebase import iso_local
from tests.conftest import ROOT, run_to_memory

# --- the oracle: payload v1 as the dict path wrote it ------------------------------------------------------

SCHEMA_ID = "metersim/reading/v1"
IMPORT_OBIS, EXPORT_OBIS = "1-0:1.8.0", "1-0:2.8.0"
GAS_OBIS, GAS_CONVERTED_OBIS = "7-0:3.0.0", "7-0:3.2.0"
PHASE_OBIS = (("1-0:32.7.0", "1-0:31.7.0"), ("1-0:52.7.0", "1-0:51.7.0"), ("1-0:72.7.0", "1-0:71.7.0"))
POWER_FACTOR_OBIS, FREQUENCY_OBIS, NEUTRAL_OBIS = "1-0:13.7.0", "1-0:14.7.0", "1-0:91.7.0"


def _units(milli: Any) -> list[float]:
    """Thousandths to units (kWh, m3), as Python floats."""
    out: list[float] = (milli / 1000).tolist()
    return out


@lru_cache(maxsize=4096)
def _iso(epoch_s: int, tz: str) -> str:
    return iso_local(epoch_s, tz)  # every slot of an interval shares its end time


def iso_column(epoch_s: Any, tz: str) -> list[str]:
    """ISO 8601 local time of each instant [epoch s], formatting each distinct instant once."""
    n = len(epoch_s)
    if n == 0:
        return []
    first = int(epoch_s[0])
    if (epoch_s == first).all():
        return [_iso(first, tz)] * n
    distinct, inverse = np.unique(epoch_s, return_inverse=True)
    texts = [_iso(int(t), tz) for t in distinct.tolist()]
    return [texts[i] for i in inverse.tolist()]


def _names(codes: Any, names: tuple[str, ...]) -> list[str]:
    """``names[code]`` for each code."""
    if len(codes) and (codes == codes[0]).all():
        return [names[int(codes[0])]] * len(codes)
    return [names[c] for c in codes.tolist()]


def register_columns(registers: RegisterValues, commodity: str) -> list[tuple[str, list[float] | list[int]]]:
    """``(OBIS code, values)`` of every register all rows have, in payload order."""
    columns: list[tuple[str, list[float] | list[int]]] = [
        (GAS_OBIS if commodity == "gas" else IMPORT_OBIS, _units(registers.total))
    ]
    if registers.bands is not None:
        columns += [(f"1-0:1.8.{k + 1}", _units(row)) for k, row in enumerate(registers.bands)]
    if registers.export_total is not None:
        columns.append((EXPORT_OBIS, _units(registers.export_total)))
        if registers.export_bands is not None:
            columns += [(f"1-0:2.8.{k + 1}", _units(row)) for k, row in enumerate(registers.export_bands)]
    if registers.failures is not None and registers.long_failures is not None:
        columns += [("0-0:96.7.21", registers.failures.tolist()), ("0-0:96.7.9", registers.long_failures.tolist())]
    return columns


def instantaneous_values(values: Instantaneous) -> list[dict[str, float]]:
    """Per-phase voltage and current (and a single-phase meter's neutral current), power factor and
    frequency, keyed by OBIS code, per row."""
    phases = values.volts.shape[1]
    volts, amps = values.volts.tolist(), values.amps.tolist()
    neutral = values.neutral_amps.tolist() if values.neutral_amps is not None else None
    out = []
    for row, (pf, hz) in enumerate(zip(values.power_factor.tolist(), values.frequency_hz.tolist())):
        reading = {}
        for k in range(phases):
            volt_obis, amp_obis = PHASE_OBIS[k]
            reading[volt_obis] = volts[row][k]
            reading[amp_obis] = amps[row][k]
        if neutral is not None:
            reading[NEUTRAL_OBIS] = neutral[row]
        reading[POWER_FACTOR_OBIS] = pf
        reading[FREQUENCY_OBIS] = hz
        out.append(reading)
    return out


def _extras(batch: ReadingBatch) -> list[tuple[str, list[Any]]]:
    """The optional per-reading fields, in payload order."""
    meters, at = batch.meters, batch.meters_at.tolist()
    extras: list[tuple[str, list[Any]]] = []
    if batch.instantaneous is not None:
        extras.append(("instantaneous", instantaneous_values(batch.instantaneous)))
    if batch.battery_pct is not None:
        extras.append(("battery_pct", batch.battery_pct.tolist()))
    # Grid-side meters carry the band too (they have no band registers): the payload agrees with the ledger.
    if meters.band_names is not None:
        names = meters.band_names
        extras.append(("band", _names(batch.band, names)))
    if meters.devices is not None:
        devices = meters.devices
        extras.append(("device", [devices[p] for p in at]))
    if meters.places is not None:
        places = meters.places
        extras.append(("topology", [places[p] for p in at]))
    if meters.concentrators is not None:
        concentrators = meters.concentrators
        extras.append(("concentrator", [concentrators[p] for p in at]))
    if meters.hardware:
        hardware = dict(meters.hardware)
        extras.append(("hardware", [hardware] * len(at)))
    if batch.serial is not None:
        extras.append(("serial", [f"SN{s:08d}" for s in batch.serial.tolist()]))
    return extras


def dict_payloads(batch: ReadingBatch) -> list[bytes]:
    """Payload v1 of every row of ``batch``, a dict per reading dumped by orjson."""
    meters = batch.meters
    ids, unit, commodity, tz = meters.ids, meters.unit, meters.commodity, meters.timezone
    values = _units(batch.import_milli)
    registers = register_columns(batch.registers, commodity)
    converted = batch.registers.converted
    partial = []
    if converted is not None and batch.registers.converted_mask is not None:
        partial.append((GAS_CONVERTED_OBIS, _units(converted), batch.registers.converted_mask.tolist()))
    exports = _units(batch.export_milli) if batch.export_milli is not None else None
    powers = np.round(batch.import_milli * (3.6 / batch.interval_s), 3).tolist() if commodity == "electricity" else None
    extras = _extras(batch)
    names = [obis for obis, _ in registers]
    if len(registers) == 1:
        register_rows = [{names[0]: v} for v in registers[0][1]]
    else:
        register_rows = [dict(zip(names, row)) for row in zip(*(column for _, column in registers))]
    columns = zip(
        [ids[p] for p in batch.meters_at.tolist()],
        register_rows,
        iso_column(batch.end_s, tz),
        batch.seq.tolist(),
        _names(batch.quality, QUALITY_NAMES),
        iso_column(batch.sent_s, tz),
    )
    interval_s, dumps = batch.interval_s, orjson.dumps
    out = []
    for j, (meter_id, regs, ts, seq, quality, sent_at) in enumerate(columns):
        for obis, column, has in partial:
            if has[j]:
                regs[obis] = column[j]
        reading: dict[str, Any] = {
            "meter_id": meter_id,
            "schema": SCHEMA_ID,
            "commodity": commodity,
            "ts": ts,
            "interval_s": interval_s,
            "seq": seq,
            "registers": regs,
            "interval": {"value": values[j], "unit": unit},
        }
        if exports is not None:
            reading["export"] = {"value": exports[j], "unit": unit}
        if powers is not None:
            reading["power"] = {"value": powers[j], "unit": "kW"}
        for name, column in extras:
            reading[name] = column[j]
        reading["quality"] = quality
        reading["sent_at"] = sent_at
        out.append(dumps(reading))
    return out


# --- numbers: one orjson call per column writes what orjson writes for each Python number -------------------


def _milli_text(milli: int) -> str:
    """Thousandths as a decimal with trailing zeros stripped but one kept ("2.5", "0.0"): worked out with
    integers, no float involved."""
    whole, frac = divmod(abs(milli), 1000)
    return f"{'-' if milli < 0 else ''}{whole}.{f'{frac:03d}'.rstrip('0') or '0'}"


@pytest.mark.parametrize(
    ("milli", "text"),
    [(0, "0.0"), (1, "0.001"), (10, "0.01"), (1000, "1.0"), (4730, "4.73"), (2256214, "2256.214"),
     (-1, "-0.001"), (-1500, "-1.5"), (10**15 - 1, "999999999999.999")],
)  # fmt: skip
def test_thousandths_are_the_decimal_with_trailing_zeros_stripped(milli, text):
    assert _milli_text(milli) == text
    assert thousandths(np.array([milli], dtype=np.int64)) == [text.encode()]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-(10**15) + 1, 10**15 - 1), min_size=1, max_size=50))
def test_thousandths_below_a_quadrillion_are_exact_decimals(values):
    """Up to 15 significant digits a double holds the decimal exactly, so the text is the decimal."""
    assert thousandths(np.array(values, dtype=np.int64)) == [_milli_text(v).encode() for v in values]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=50))
def test_thousandths_anywhere_in_int64_are_what_orjson_writes_for_the_float(values):
    """Past 15 digits the float x/1000 has lost digits (and may print "1e+16"): the dict path's text."""
    milli = np.array(values, dtype=np.int64)
    assert thousandths(milli) == [orjson.dumps(v) for v in (milli / 1000).tolist()]


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(
        st.sampled_from([np.float64, np.float32, np.int64, np.int32, np.int8, np.uint8, np.uint64, np.bool_]),
        st.integers(1, 40),
    )
)
def test_a_column_is_written_as_orjson_writes_each_of_its_python_values(values):
    assert numbers(values) == [orjson.dumps(v) for v in values.tolist()]
    assert [Decimal(t.decode()) for t in numbers(values) if values.dtype.kind in "iu"] == [
        Decimal(v) for v in values.tolist() if values.dtype.kind in "iu"
    ]


def test_a_column_that_is_not_contiguous_is_written_too():
    grid = np.arange(12, dtype=np.float64).reshape(3, 4) / 8
    assert numbers(grid[:, 1]) == [b"0.125", b"0.625", b"1.125"]
    assert numbers(np.array([], dtype=np.float64)) == []


def test_lookup_is_one_constant_when_every_row_shares_its_code():
    names = [b'"valid"', b'"late"']
    assert lookup(np.array([1, 1, 1], np.int8), names) == b'"late"'
    assert lookup(np.array([0, 1, 0], np.int8), names) == [b'"valid"', b'"late"', b'"valid"']


# --- rows: pieces laid out row by row -------------------------------------------------------------------


def test_rows_lay_out_constants_and_columns_row_by_row_in_blocks():
    rows = Rows(3)
    rows.text(b'{"a":')
    rows.column([b"1", b"22", b"333"])
    rows.text(b',"b":')
    rows.column(b"true")  # a constant given as a column
    rows.text(b"}")
    assert rows.blocks(2) == [b'{"a":1,"b":true}\n{"a":22,"b":true}\n', b'{"a":333,"b":true}\n']
    assert rows.blocks() == [b'{"a":1,"b":true}\n{"a":22,"b":true}\n{"a":333,"b":true}\n']


def test_rows_that_start_with_a_column_and_a_single_row():
    rows = Rows(2)
    rows.column([b"x", b"y"])
    rows.column([b"1", b"2"])
    assert rows.blocks() == [b"x1\ny2\n"]
    one = Rows(1)
    one.text(b"{}")
    assert one.blocks() == [b"{}\n"]
    assert Rows(0).blocks() == []
    with pytest.raises(ValueError, match="2 values for 3 rows"):
        Rows(3).column([b"a", b"b"])


def test_payloads_are_the_lines_of_their_blocks():
    payloads = Payloads([b"a\nbb\n", b"ccc\n"])
    assert payloads == [b"a", b"bb", b"ccc"]
    assert payloads.blocks == [b"a\nbb\n", b"ccc\n"]
    assert split_lines(b"") == [] and Payloads([]) == []


# --- whole batches: the renderer against the oracle ------------------------------------------------------

#: shipped scenarios, shrunk: (file, overrides)
SCENARIOS = [
    ("bad-day.yaml", ["fleet.0.count=100", "simulation.duration=6h"]),
    ("lahore-feeder.yaml", ["fleet.0.count=60", "fleet.1.count=10", "simulation.duration=2h"]),
    ("tashkent-gas.yaml", ["fleet.0.count=30", "fleet.1.count=10", "simulation.duration=3h"]),
    ("amsterdam-dsmr.yaml", ["fleet.0.count=20", "fleet.1.count=20", "simulation.duration=2h"]),
]


class _Keep(Observer):
    def __init__(self) -> None:
        self.batches: list[ReadingBatch] = []

    def observe(self, observation):
        self.batches += observation.published.batches()


@pytest.fixture(scope="module")
def batches() -> list[ReadingBatch]:
    """Every published batch of the scenarios, each also cut as the engine emits it (by the instant its
    rows leave; a few such cuts per batch), a few intervals joined as a concentrator uploads them, and
    rows in a shuffled order."""
    out: list[ReadingBatch] = []
    rng = np.random.default_rng(5)
    for name, overrides in SCENARIOS:
        keep = _Keep()
        run_to_memory(load_scenario(ROOT / "configs" / name, [*overrides, "truth=null"]), observers=[keep])
        by_set: dict[int, list[ReadingBatch]] = {}
        for batch in keep.batches:
            out.append(batch)
            by_set.setdefault(id(batch.meters), []).append(batch)
            instants = np.unique(batch.sent_s)
            for t in instants[:: max(1, len(instants) // 4)]:  # a few of its emissions: enough to see their shapes
                out.append(batch.take(np.flatnonzero(batch.sent_s == t)))
            out.append(batch.take(rng.permutation(len(batch))))
            if batch.meters.band_names is not None:  # every band in one batch (runs this short see one)
                codes = np.arange(len(batch)) % len(batch.meters.band_names)
                out.append(batch.replace(band=codes.astype(batch.band.dtype)))
        for same in by_set.values():
            same = [b for b in same if b.interval_s == same[0].interval_s]
            out.append(ReadingBatch.join(same[:3]))
    return out


def _features(batch: ReadingBatch) -> set[str]:
    r, m = batch.registers, batch.meters
    found = {
        "bands": r.bands is not None,
        "export bands": r.export_bands is not None,
        "failures": r.failures is not None,
        "converter on some": r.converted_mask is not None and 0 < r.converted_mask.sum() < len(batch),
        "export": batch.export_milli is not None,
        "one phase + neutral": batch.instantaneous is not None and batch.instantaneous.neutral_amps is not None,
        "three phases": batch.instantaneous is not None and batch.instantaneous.volts.shape[1] == 3,
        "battery": batch.battery_pct is not None,
        "band names": m.band_names is not None and len(set(batch.band.tolist())) > 1,
        "grid side": m.devices is not None,
        "topology": m.places is not None,
        "concentrator": m.concentrators is not None,
        "hardware": bool(m.hardware),
        "serial": batch.serial is not None,
        "quality not all valid": len(set(batch.quality.tolist())) > 1,
        "ts varies": len(set(batch.end_s.tolist())) > 1,
        "sent_at varies": len(set(batch.sent_s.tolist())) > 1,
        "seq varies": len(set(batch.seq.tolist())) > 1,
    }
    return {name for name, present in found.items() if present}


def test_the_batches_show_every_feature_of_payload_v1(batches):
    seen = Counter(f for b in batches for f in _features(b))
    missing = {"bands", "export", "three phases", "one phase + neutral", "battery", "converter on some",
               "band names", "grid side", "topology", "concentrator", "hardware", "serial", "failures",
               "quality not all valid", "ts varies", "sent_at varies", "seq varies"} - set(seen)  # fmt: skip
    assert not missing


def test_every_payload_is_byte_identical_to_the_dict_path(batches):
    encoder = JsonEncoder()
    for batch in batches:
        expected = dict_payloads(batch)
        assert encoder.encode(batch) == expected
        assert b"".join(encoder.lines(batch)) == b"".join(p + b"\n" for p in expected)


def test_the_batch_format_carries_the_same_readings(batches):
    encoder = BatchEncoder(size=7)
    batch = max((b for b in batches if b.meters.concentrators is None), key=len)  # one upload: rows in order
    readings = dict_payloads(batch)
    joined = b",".join(readings)
    assert b",".join(m[m.index(b'"readings":[') + 12 : -2] for m in encoder.encode(batch)) == joined


def test_numbers_at_the_edges_of_their_ranges_are_written_as_the_dict_path_writes_them(batches):
    """Registers at 0, negative, and near the int64 limit, where the float x/1000 loses digits;
    instantaneous values that orjson writes with an exponent; and float32 columns."""
    batch = next(b for b in batches if b.instantaneous is not None and b.meters.devices is None)
    n = len(batch)
    edges = np.array([0, 1, -1, 999, -1000, 10**15 - 1, 2**53 + 1, 2**63 - 1, -(2**63)], dtype=np.int64)
    milli = np.resize(edges, n)
    volts = np.resize(np.array([1e-7, 1e16, 123456789.123456789, -0.0, 5e-324, 230.1]), batch.instantaneous.volts.size)
    odd = batch.replace(
        import_milli=milli,
        registers=RegisterValues(total=milli[::-1].copy()),
        instantaneous=Instantaneous(
            volts=volts.reshape(batch.instantaneous.volts.shape),
            amps=batch.instantaneous.amps.astype(np.float32),
            power_factor=batch.instantaneous.power_factor,
            frequency_hz=batch.instantaneous.frequency_hz,
            neutral_amps=batch.instantaneous.neutral_amps,
        ),
        seq=batch.seq.astype(np.int32),
        serial=np.arange(n, dtype=np.int64) * 7919,
    )
    assert JsonEncoder().encode(odd) == dict_payloads(odd)


def test_an_empty_batch_has_no_payloads(batches):
    empty = batches[0].take(np.array([], dtype=np.int64))
    assert JsonEncoder().encode(empty) == [] == dict_payloads(empty)
    assert JsonEncoder().lines(empty) == []


# --- files and stdout write the blocks as the encoder joined them ---------------------------------------


def test_a_file_holds_the_blocks_of_json_payloads_and_the_lines_of_other_payloads(tmp_path, batches):
    big = max(batches, key=len)
    batch = ReadingBatch.join([big] * (ROWS_PER_BLOCK // len(big) + 2))
    assert len(batch) > ROWS_PER_BLOCK
    payloads = JsonEncoder().encode(batch)
    assert len(payloads.blocks) == -(-len(batch) // ROWS_PER_BLOCK)  # type: ignore[attr-defined]
    path = tmp_path / "out.jsonl"
    with FileSink(path) as sink:
        sink.send(Outbox.of([], payloads))
        sink.send(Outbox.of([], [b"x", b"y"]))  # a format without blocks
        sink.send(Outbox.of([], Payloads([b"z\n"])))
    assert path.read_bytes() == b"".join(p + b"\n" for p in [*dict_payloads(batch), b"x", b"y", b"z"])
    assert (sink.stats.accepted, sink.stats.acknowledged) == (len(batch) + 3, len(batch) + 3)


def test_stdout_writes_the_blocks_in_order():
    stream = io.BytesIO()
    sink = StdoutSink(stream)
    sink.send(Outbox.of([], Payloads([b"a\nb\n", b"c\n"])))
    sink.send(Outbox.of([], [b"d"]))
    assert stream.getvalue() == b"a\nb\nc\nd\n"
    assert sink.stats.acknowledged == 4
