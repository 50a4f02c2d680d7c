"""The reconciliation rules (metersim.verify.reconcile), without a broker; and the regenerated stream."""

from __future__ import annotations

from typing import Any

import orjson

from metersim.verify.expected import ExpectedReading, Key, regenerate
from metersim.verify.reconcile import Arrival, reconcile
from tests.conftest import make_scenario, scenario_dict

T0 = 1_767_200_000.0  # a wall clock [epoch s]


def payload(meter: str, seq: int, register: float = 1.0, sent_at: str = "2026-01-01T00:15:00+00:00") -> bytes:
    body = {"meter_id": meter, "schema": "metersim/reading/v1", "seq": seq, "registers": {"1-0:1.8.0": register}}
    body["sent_at"] = sent_at
    return orjson.dumps(body)


def stream(n: int = 3, meters: tuple[str, ...] = ("A", "B")) -> dict[Key, ExpectedReading]:
    return {(m, s): ExpectedReading(payload(m, s, float(s)), 1, {f"t/{m}"}) for m in meters for s in range(n)}


def arrivals(expected: dict[Key, ExpectedReading], order: list[Key] | None = None, at: float = T0) -> list[Arrival]:
    keys = order if order is not None else [k for k, r in expected.items() for _ in range(r.copies)]
    return [Arrival(f"t/{k[0]}", expected[k].payload, at) for k in keys]


def test_everything_arrives_once_in_order_is_ok() -> None:
    expected = stream()
    result = reconcile(expected, arrivals(expected))
    assert result.ok
    assert result.expected == result.received == result.received_distinct == 6
    assert sum(result.counts.values()) == 0


def test_a_reading_that_never_arrives_is_missing() -> None:
    expected = stream()
    got = [a for a in arrivals(expected) if orjson.loads(a.payload)["seq"] != 1 or b'"B"' in a.payload]
    result = reconcile(expected, got)
    assert not result.ok
    assert result.missing == [("A", 1)]
    assert result.counts["missing"] == 1


def test_a_changed_register_is_corrupted_and_says_which() -> None:
    expected = stream()
    got = arrivals(expected)
    got[2] = Arrival("t/A", payload("A", 2, 99.5), T0)
    result = reconcile(expected, got)
    assert not result.ok
    assert list(result.corrupted) == [("A", 2)]
    assert "registers.1-0:1.8.0: 99.5 != 2.0" in result.corrupted[("A", 2)]
    assert result.counts["missing"] == 0  # it did arrive, only wrong


def test_same_json_in_other_bytes_is_not_corrupted() -> None:
    expected = stream()
    got = arrivals(expected)
    got[0] = Arrival("t/A", orjson.dumps(orjson.loads(got[0].payload), option=orjson.OPT_SORT_KEYS), T0)
    assert reconcile(expected, got).ok


def test_wrong_topic_is_corrupted() -> None:
    expected = stream()
    got = arrivals(expected)
    got[0] = Arrival("t/elsewhere", got[0].payload, T0)
    assert "topic" in reconcile(expected, got).corrupted[("A", 0)]


def test_an_unknown_key_and_a_malformed_payload_are_unexpected() -> None:
    expected = stream()
    got = [*arrivals(expected), Arrival("t/C", payload("C", 0), T0), Arrival("t/A", b"not json", T0)]
    result = reconcile(expected, got)
    assert not result.ok
    assert result.counts["unexpected"] == 2 and result.malformed == 1
    assert ("C", 0) in result.unexpected


def test_a_duplicate_is_reported_but_not_an_error() -> None:
    expected = stream()
    got = arrivals(expected)
    result = reconcile(expected, [*got, got[0]])
    assert result.ok
    assert result.duplicated == [("A", 0)]
    assert result.received == 7 and result.received_distinct == 6


def test_seq_going_back_for_one_meter_is_out_of_order() -> None:
    expected = stream()
    order = [("A", 0), ("B", 0), ("A", 2), ("B", 1), ("A", 1), ("B", 2)]  # B interleaved: not a problem
    result = reconcile(expected, arrivals(expected, order))
    assert result.ok
    assert result.out_of_order == [("A", 1)]


def test_injected_faults_are_not_errors() -> None:
    expected = stream()
    expected[("A", 1)] = ExpectedReading(faults={"comms_drop"})  # never sent
    expected[("A", 0)].copies, expected[("A", 0)].faults = 2, {"comms_duplicate"}
    expected[("B", 0)].faults = {"comms_delay"}
    order = [("A", 0), ("B", 1), ("A", 0), ("B", 0), ("A", 2), ("B", 2)]
    result = reconcile(expected, arrivals(expected, order))
    assert result.ok
    assert sum(result.counts.values()) == 0
    assert result.injected == {"dropped": 1, "duplicated": 1, "out_of_order": 1}


def test_a_dropped_reading_that_arrives_anyway_is_unexpected() -> None:
    expected = stream()
    expected[("A", 1)] = ExpectedReading(faults={"comms_lost"})
    result = reconcile(expected, [Arrival("t/A", payload("A", 1, 1.0), T0)])
    assert ("A", 1) in result.unexpected


def test_an_injected_duplicate_seen_once_is_copies_short_not_missing() -> None:
    expected = stream(1, ("A",))
    expected[("A", 0)].copies, expected[("A", 0)].faults = 2, {"comms_duplicate"}
    result = reconcile(expected, arrivals(expected, [("A", 0)]))
    assert result.ok and result.copies_short == [("A", 0)]


def test_late_is_judged_only_when_asked_and_only_after_judge_from() -> None:
    sent = "2026-01-01T00:00:00+00:00"
    sent_s = 1_767_225_600.0
    expected = {("A", 0): ExpectedReading(payload("A", 0, sent_at=sent), 1, {"t/A"})}
    got = [Arrival("t/A", expected[("A", 0)].payload, sent_s + 30)]
    assert not reconcile(expected, got).late_checked
    assert reconcile(expected, got).counts["late"] == 0
    late = reconcile(expected, got, late_tolerance_s=5)
    assert late.ok and late.late == {("A", 0): 30.0}
    assert reconcile(expected, got, late_tolerance_s=60).counts["late"] == 0
    assert reconcile(expected, got, late_tolerance_s=5, judge_from_s=sent_s + 1).counts["late"] == 0
    expected[("A", 0)].faults = {"comms_backlog"}
    assert reconcile(expected, got, late_tolerance_s=5).injected["late"] == 1


def test_events_are_counted_apart() -> None:
    expected = stream(1, ("A",))
    event = Arrival("t/A/event", orjson.dumps({"schema": "metersim/event/v1", "meter_id": "A"}), T0)
    result = reconcile(expected, [*arrivals(expected), event])
    assert result.ok and result.events == 1 and result.received == 1


def test_report_json_lists_every_kind() -> None:
    expected = stream()
    data = reconcile(expected, arrivals(expected)[1:]).to_json()
    assert data["ok"] is False and data["missing"] == [{"meter_id": "A", "seq": 0}]
    assert set(data["counts"]) == {
        "missing", "unexpected", "corrupted", "duplicated", "out_of_order", "late", "copies_short"
    }  # fmt: skip


# --- the regenerated stream ---------------------------------------------------------------------------


def _faulty(**faults: Any) -> dict[str, Any]:
    data = scenario_dict(duration="1d")
    data["fleet"] = data["fleet"][:1]
    data["fleet"][0]["comms"] = {"faults": faults}
    data["outputs"] = [{"type": "mqtt", "topic": "v/{commodity}/{meter_id}"}]
    return data


def test_regenerate_is_deterministic_and_keys_every_reading() -> None:
    scenario = make_scenario(_faulty())
    first, second = regenerate(scenario), regenerate(scenario)
    assert len(first.readings) == 20 * 96
    assert {k: r.payload for k, r in first.readings.items()} == {k: r.payload for k, r in second.readings.items()}
    assert all(r.copies == 1 and r.topics == {f"v/electricity/{k[0]}"} for k, r in first.readings.items())


def test_regenerate_labels_injected_faults_and_reconciles_with_itself() -> None:
    expected = regenerate(make_scenario(_faulty(drop=0.05, duplicate=0.05, delay=0.05, delay_max_s=3000)))
    readings = expected.readings
    assert len(readings) == 20 * 96  # dropped ones are keyed too, with no copies
    dropped = [r for r in readings.values() if r.dropped]
    assert dropped and all(r.copies == 0 for r in dropped)
    doubled = [r for r in readings.values() if "comms_duplicate" in r.faults]
    assert doubled and all(r.copies == 2 for r in doubled)
    assert any("comms_delay" in r.faults for r in readings.values())
    # What the outputs were handed, in the order they got it, is exactly what was expected.
    delivered = sorted(
        ((k, r) for k, r in readings.items() for _ in range(r.copies)), key=lambda kr: (kr[0][1], kr[0][0])
    )
    got = [Arrival(next(iter(r.topics)), r.payload, T0) for _, r in delivered]
    result = reconcile(readings, got)
    assert result.ok and result.counts["missing"] == result.counts["duplicated"] == 0
    assert result.injected["dropped"] == len(dropped) and result.injected["duplicated"] == len(doubled)
