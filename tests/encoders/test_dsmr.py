"""dsmr-p1 telegrams, checked by an independent decoder (dsmr_parser, ESMR 5.0 spec, CRC on) against the ledger.

The fleet is configs/amsterdam-dsmr.yaml cut down: dsmr_parser reads timestamps as Europe/Amsterdam, and the
three days hold the spring-forward day (29 March 2026, 02:00 CET -> 03:00 CEST, i.e. 01:00 UTC) and a
weekday (30 March) with both tariffs.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from dsmr_parser import telegram_specifications
from dsmr_parser.exceptions import InvalidChecksumError
from dsmr_parser.parsers import TelegramParser

from metersim.config import load_scenario
from metersim.encoders.dsmr import DsmrP1Encoder
from metersim.engine import Observer
from metersim.records import Instantaneous, Observation, ReadingBatch
from metersim.simulation import Simulation
from tests.conftest import ROOT

ELECTRICITY, GAS = "amsterdam-electricity", "amsterdam-gas"
PAIRS = {ELECTRICITY: GAS}
METERS = 8
SPRING_FORWARD_S = int(datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc).timestamp())  # 02:00 CET = 03:00 CEST
PARSER = TelegramParser(telegram_specifications.V5)  # apply_checksum_validation defaults to True


class Collect(Observer):
    def __init__(self) -> None:
        self.observations: list[Observation] = []

    def observe(self, observation: Observation) -> None:
        self.observations.append(observation)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("dsmr")
    scenario = load_scenario(
        ROOT / "configs" / "amsterdam-dsmr.yaml",
        [
            "simulation.duration=3d",
            f"fleet.0.count={METERS}",
            f"fleet.1.count={METERS}",
            "outputs.0={type: discard}",
            "outputs.1={type: discard}",
            f"truth.path={tmp}/truth.csv",
        ],
    )
    collect = Collect()
    assert Simulation(scenario, observers=[collect]).run().status == "completed"
    with open(tmp / "truth.csv") as f:
        ledger = list(csv.DictReader(f))
    # Emission order: by interval end, a gas reading before the electricity readings of the same instant.
    observations = sorted(collect.observations, key=lambda o: (o.published.end_s, o.group != GAS))
    encoder = DsmrP1Encoder(PAIRS)
    batches: list[ReadingBatch] = []
    telegrams: list[bytes] = []
    for observation in observations:
        batch = observation.published.meters
        payloads = encoder.encode(batch)
        if batch.meters.commodity == "gas":
            assert payloads == [] and encoder.topics(batch, "metersim/{meter_id}") == []
            continue
        assert len(payloads) == len(batch)
        batches.append(batch)
        telegrams += payloads
    parsed = [PARSER.parse(t.decode("ascii")) for t in telegrams]
    rows = [(int(r["interval_end_s"]), r["meter_id"]) for r in ledger]
    return {
        "ledger": {key: r for key, r in zip(rows, ledger)},
        "ledger_rows": ledger,
        "batches": batches,
        "telegrams": telegrams,
        "parsed": parsed,
        "keys": [(int(e), batch.meters.ids[p]) for batch in batches for e, p in zip(batch.end_s, batch.meters_at)],
    }


def test_one_telegram_per_electricity_reading_and_every_crc_checks(run):
    electricity = [r for r in run["ledger_rows"] if r["commodity"] == "electricity"]
    assert len(run["telegrams"]) == len(electricity) == METERS * 3 * 96  # three days of absolute time
    assert sorted(run["keys"]) == sorted((int(r["interval_end_s"]), r["meter_id"]) for r in electricity)
    for telegram in run["telegrams"]:
        TelegramParser.validate_checksum(telegram.decode("ascii"))  # raises on a mismatch


def test_crc_agrees_with_an_independent_crc16_arc():
    def crc16_arc(data: bytes) -> int:  # bit by bit, as DOMAIN.md writes it down
        c = 0
        for x in data:
            c ^= x
            for _ in range(8):
                c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        return c

    assert crc16_arc(b"123456789") == 0xBB3D  # the catalogued check value of CRC-16/ARC


def test_lines_end_in_crlf_and_the_crc_is_four_uppercase_hex_digits(run):
    for telegram in run["telegrams"]:
        assert telegram.count(b"\n") == telegram.count(b"\r\n") >= 20  # no bare LF anywhere
        assert b"\n\r" not in telegram.replace(b"\r\n", b"")
        match = re.fullmatch(rb"(/[^\r\n]*\r\n\r\n.*!)([0-9A-F]{4})\r\n", telegram, re.S)
        assert match is not None
        assert telegram.startswith(b"/MSM5") and b"\r\n\r\n1-3:0.2.8(50)\r\n" in telegram


def test_lf_only_telegram_fails_the_crc(run):
    lf_only = run["telegrams"][0].decode("ascii").replace("\r\n", "\n")
    with pytest.raises(InvalidChecksumError):  # the CRC covers the CR bytes too
        PARSER.parse(lf_only)


def test_a_corrupted_byte_fails_the_crc(run):
    telegram = run["telegrams"][len(run["telegrams"]) // 2]
    at = telegram.index(b"1-0:1.8.1(") + len(b"1-0:1.8.1(") + 5  # a digit of the tariff 1 register
    digit = telegram[at : at + 1]
    corrupted = telegram[:at] + (b"7" if digit != b"7" else b"3") + telegram[at + 1 :]
    with pytest.raises(InvalidChecksumError):
        PARSER.parse(corrupted.decode("ascii"))


def test_registers_equal_the_ledger_and_each_interval_lands_in_its_band(run):
    previous: dict[str, tuple[Decimal, Decimal]] = {}
    exporters = set()
    for key, t in zip(run["keys"], run["parsed"]):
        row = run["ledger"][key]
        t1, t2 = t.ELECTRICITY_USED_TARIFF_1.value, t.ELECTRICITY_USED_TARIFF_2.value
        assert t.ELECTRICITY_USED_TARIFF_1.unit == "kWh"
        assert t1 + t2 == Decimal(row["register_import"])
        e1, e2 = t.ELECTRICITY_DELIVERED_TARIFF_1.value, t.ELECTRICITY_DELIVERED_TARIFF_2.value
        assert e1 + e2 == Decimal(row["register_export"] or "0")
        if e1 + e2 > 0:
            exporters.add(key[1])
        # NL: T1 is the first band ("low"), T2 the second ("normal"); the indicator is the band at the start.
        assert t.ELECTRICITY_ACTIVE_TARIFF.value == {"low": "0001", "normal": "0002"}[row["band"]]
        if key[1] in previous:
            d1, d2 = t1 - previous[key[1]][0], t2 - previous[key[1]][1]
            grew, still = (d1, d2) if row["band"] == "low" else (d2, d1)
            assert (grew, still) == (Decimal(row["import"]), 0)
        previous[key[1]] = (t1, t2)
    assert exporters  # PV roofs export, so the export registers were checked with non-zero values too
    assert {r["band"] for r in run["ledger_rows"] if r["commodity"] == "electricity"} == {"low", "normal"}


def test_power_is_the_interval_average_and_failure_counters_are_zero(run):
    for key, t in zip(run["keys"], run["parsed"]):
        row = run["ledger"][key]
        # 900 s intervals: kW = kWh x 3600 / 900, exact in three decimals
        assert t.CURRENT_ELECTRICITY_USAGE.value == Decimal(row["import"]) * 4
        assert t.CURRENT_ELECTRICITY_DELIVERY.value == Decimal(row["export"] or "0") * 4
        assert t.CURRENT_ELECTRICITY_USAGE.unit == "kW"
        assert t.INSTANTANEOUS_ACTIVE_POWER_L1_POSITIVE.value == Decimal(row["import"]) * 4  # one phase
        assert t.SHORT_POWER_FAILURE_COUNT.value == 0 and t.LONG_POWER_FAILURE_COUNT.value == 0  # no supply model
        assert t.POWER_EVENT_FAILURE_LOG.buffer_length == 0


def test_timestamps_and_ids_equal_the_ledger(run):
    for (end_s, meter_id), t in zip(run["keys"], run["parsed"]):
        assert t.P1_MESSAGE_TIMESTAMP.value == datetime.fromtimestamp(end_s, timezone.utc)
        assert bytes.fromhex(t.EQUIPMENT_IDENTIFIER.value).decode("ascii") == meter_id
        assert t.P1_MESSAGE_HEADER.value == "50"


def test_spring_forward_day_has_the_right_clock_and_flags(run):
    stamps = {}
    for (end_s, meter_id), telegram in zip(run["keys"], run["telegrams"]):
        if meter_id == "NL-E-000001":
            stamps[end_s] = re.search(rb"0-0:1\.0\.0\((\d{12}[SW])\)", telegram).group(1).decode()
    # Hand-worked: 00:45 UTC is 01:45 CET; 01:00 UTC is 03:00 CEST; 02:00 local never exists.
    assert stamps[SPRING_FORWARD_S - 900] == "260329014500W"
    assert stamps[SPRING_FORWARD_S] == "260329030000S"
    assert stamps[SPRING_FORWARD_S + 900] == "260329031500S"
    assert stamps[SPRING_FORWARD_S - 3600] == "260329010000W"
    assert not any(s[6:8] == "02" and s.startswith("260329") for s in stamps.values())
    for end_s, stamp in stamps.items():
        assert stamp[-1] == ("S" if end_s >= SPRING_FORWARD_S else "W")
    assert stamps[min(stamps)] == "260328001500W" and stamps[max(stamps)] == "260331010000S"  # 3 x 24 h on, in CEST


def test_gas_reading_is_the_paired_meters_latest_converted_volume(run):
    gas_rows = [r for r in run["ledger_rows"] if r["commodity"] == "gas"]
    gas_by_meter: dict[str, list[tuple[int, str]]] = {}
    for r in gas_rows:
        gas_by_meter.setdefault(r["meter_id"], []).append((int(r["interval_end_s"]), r["register_converted"]))
    carried = 0
    for (end_s, meter_id), t in zip(run["keys"], run["parsed"]):
        gas_id = meter_id.replace("NL-E-", "NL-G-")  # meter k of one group pairs with meter k of the other
        before = [(s, v) for s, v in gas_by_meter[gas_id] if s <= end_s]
        if not before:  # the first hour: no gas reading yet, so no M-Bus channel
            assert not getattr(t, "MBUS_DEVICES", [])
            continue
        gas_end_s, converted = max(before)
        device = t.get_mbus_device_by_channel(1)
        assert device.MBUS_DEVICE_TYPE.value == 3
        assert bytes.fromhex(device.MBUS_EQUIPMENT_IDENTIFIER.value).decode("ascii") == gas_id
        assert device.MBUS_METER_READING.value == Decimal(converted)
        assert device.MBUS_METER_READING.unit == "m3"
        assert device.MBUS_METER_READING.datetime == datetime.fromtimestamp(gas_end_s, timezone.utc)
        carried += 1
    assert carried == len(run["parsed"]) - 3 * METERS  # all but 00:15, 00:30, 00:45 on the first day


def test_voltage_and_current_equal_the_published_instantaneous_values(run):
    parsed = iter(run["parsed"])
    for batch in run["batches"]:
        assert batch.instantaneous is not None
        for volts, amps in zip(batch.instantaneous.volts[:, 0].tolist(), batch.instantaneous.amps[:, 0].tolist()):
            t = next(parsed)
            assert t.INSTANTANEOUS_VOLTAGE_L1.value == Decimal(f"{volts:.1f}")
            assert t.INSTANTANEOUS_VOLTAGE_L1.unit == "V"
            assert t.INSTANTANEOUS_CURRENT_L1.value == round(amps)
            assert not hasattr(t, "INSTANTANEOUS_VOLTAGE_L2")  # a one-phase fleet


def test_three_phases_carry_l2_and_l3(run):
    batch = run["batches"][40]
    n = len(batch)
    volts = np.array([[229.96, 231.04, 228.5]] * n)
    amps = np.array([[1.4, 12.6, 0.2]] * n)
    three = batch.replace(instantaneous=Instantaneous(volts, amps, np.ones(n), np.full(n, 50.0)))
    t = PARSER.parse(DsmrP1Encoder().encode(three)[0].decode("ascii"))
    assert [t.INSTANTANEOUS_VOLTAGE_L1.value, t.INSTANTANEOUS_VOLTAGE_L2.value, t.INSTANTANEOUS_VOLTAGE_L3.value] == [
        Decimal("230.0"),
        Decimal("231.0"),
        Decimal("228.5"),
    ]
    assert [t.INSTANTANEOUS_CURRENT_L1.value, t.INSTANTANEOUS_CURRENT_L2.value, t.INSTANTANEOUS_CURRENT_L3.value] == [
        1,
        13,
        0,
    ]
    watts = int(batch.import_milli[0]) * 4  # Wh per 15 min -> W
    per_phase = Decimal(round(watts / 3)) / 1000
    for name in ("L1", "L2", "L3"):
        assert getattr(t, f"INSTANTANEOUS_ACTIVE_POWER_{name}_POSITIVE").value == per_phase


def test_topics_are_one_per_telegram_from_the_template(run):
    batch = run["batches"][0]
    topics = DsmrP1Encoder(PAIRS).topics(batch, "p1/{group}/{meter_id}")
    assert topics == [f"p1/amsterdam-electricity/NL-E-{p + 1:06d}" for p in batch.meters_at.tolist()]


def test_without_pairing_there_is_no_gas_channel(run):
    batch = run["batches"][-1]
    telegram = DsmrP1Encoder().encode(batch)[0]
    assert b"0-1:" not in telegram
    assert not getattr(PARSER.parse(telegram.decode("ascii")), "MBUS_DEVICES", [])


def test_more_than_two_bands_are_refused(run):
    batch = run["batches"][0]
    n = len(batch)
    meters = dataclasses.replace(batch.meters, band_names=("low", "mid", "high"))
    registers = dataclasses.replace(batch.registers, bands=np.zeros((3, n), dtype=np.int64))
    with pytest.raises(ValueError, match="3 tariff bands; DSMR P1 has exactly two tariffs"):
        DsmrP1Encoder().encode(batch.replace(meters=meters, registers=registers))


def test_a_register_past_six_digits_is_refused_not_wrapped(run):
    batch = run["batches"][0]
    bands = batch.registers.bands.copy()
    bands[0, 0] = 10**9  # 1,000,000.000 kWh: a register_digits 7 meter
    registers = dataclasses.replace(batch.registers, bands=bands)
    with pytest.raises(ValueError, match=r"1-0:1\.8\.1 of meter NL-E-\d{6} is 1000000\.0, outside"):
        DsmrP1Encoder().encode(batch.replace(registers=registers))


def test_power_saturates_like_a_meter_display_for_injected_faults(run):
    """A negative interval shows 0 kW, a x1000 spike the field's top (99.999 kW): the run goes on."""
    batch = run["batches"][0]
    imp = batch.import_milli.copy()
    imp[0], imp[1] = -50, 10**9
    first, second = (
        PARSER.parse(t.decode("ascii")) for t in DsmrP1Encoder().encode(batch.replace(import_milli=imp))[:2]
    )
    assert first.CURRENT_ELECTRICITY_USAGE.value == Decimal("0.000")
    assert second.CURRENT_ELECTRICITY_USAGE.value == Decimal("99.999")


def test_the_largest_six_digit_register_is_carried_exactly(run):
    batch = run["batches"][0]
    bands = batch.registers.bands.copy()
    bands[0, 0] = 10**9 - 1  # 999999.999 kWh, the last value before the register rolls over
    telegram = DsmrP1Encoder().encode(batch.replace(registers=dataclasses.replace(batch.registers, bands=bands)))[0]
    assert b"1-0:1.8.1(999999.999*kWh)\r\n" in telegram
    assert PARSER.parse(telegram.decode("ascii")).ELECTRICITY_USED_TARIFF_1.value == Decimal("999999.999")


def test_a_gas_reading_newer_than_the_telegram_is_not_carried(run):
    encoder = DsmrP1Encoder(PAIRS)
    early = run["batches"][10]  # 02:45 local on the first day
    late_gas = early.replace(
        meters=dataclasses.replace(early.meters, group=GAS, commodity="gas", band_names=None),
        end_s=early.end_s + 3600,  # captured an hour after the electricity reading
        instantaneous=None,
    )
    assert encoder.encode(late_gas) == []
    telegram = encoder.encode(early)[0]
    assert b"0-1:24.2.1" not in telegram
    later = early.replace(end_s=early.end_s + 3600)
    assert b"0-1:24.2.1" in encoder.encode(later)[0]
