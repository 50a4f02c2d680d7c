"""Meter-id checks: the proofs of the fast path, and the same findings as building every id."""

from __future__ import annotations

import random
import re
import time

import pytest

from metersim.config import IdPattern, MeterGroup, check_meter_ids, parse_scenario
from metersim.config.ids import ID_BUDGET, IdSpace, first_shared
from metersim.errors import ConfigError
from tests.conftest import scenario_dict

_FORBIDDEN = re.compile(r"[+#/\x00]")


def reference_check(fleet: list[MeterGroup]) -> list[str]:
    """The check as it was before the fast path: build every id of every group."""
    problems: list[str] = []
    owner: dict[str, int] = {}
    for i, group in enumerate(fleet):
        fmt, name = group.id_format.format, group.name
        ids = [fmt(index=k, group=name) for k in range(group.first_index, group.first_index + group.count)]
        bad = next((m for m in ids if not m or _FORBIDDEN.search(m)), None)
        if bad is not None:
            problems.append(f"fleet[{i}].id_format: meter id {bad!r} is not a valid MQTT topic level (no + # / NUL)")
            continue
        seen = set(ids)
        if len(seen) != len(ids):
            problems.append(f"fleet[{i}].id_format: produces duplicate meter ids")
        clash = next((m for m in ids if m in owner), None) if owner else None
        if clash is not None:
            problems.append(f"fleet[{i}].id_format: meter id {clash!r} is also used by fleet[{owner[clash]}]")
        owner.update(dict.fromkeys(seen, i))
    return problems


def group(name: str = "g", id_format: str = "{group}-{index:06d}", first_index: int = 1, count: int = 10) -> MeterGroup:
    fields = dict(
        name=name, commodity="electricity", count=count, id_format=id_format, first_index=first_index, annual_kwh=1
    )
    try:
        return MeterGroup.model_validate(fields)
    except ValueError:
        # Names with / + # NUL and ids with attribute access ({index.real}) are now rejected by their own
        # fields; the id checks must still be right for them, so build such a group unvalidated.
        return MeterGroup.model_construct(**fields)  # type: ignore[arg-type]


def found(*groups: MeterGroup) -> list[str]:
    return [str(p) for p in check_meter_ids(list(groups))]


def problems(data):
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    return info.value.problems


def test_duplicate_meter_ids_across_groups_are_rejected():
    data = scenario_dict()
    data["fleet"][1]["id_format"] = "PK-LESCO-{index:06d}"
    found = problems(data)
    assert found == ["fleet[1].id_format: meter id 'PK-LESCO-000001' is also used by fleet[0]"]


@pytest.mark.parametrize("fmt", ["a/{index}", "a+{index}", "a#{index}"])
def test_meter_ids_must_be_valid_topic_levels(fmt):
    data = scenario_dict()
    data["fleet"][0]["id_format"] = fmt
    assert any("not a valid MQTT topic level" in p for p in problems(data))


# --- which formats are proven, and that the proofs hold -------------------------------------------

INJECTIVE = [
    "{index}", "{index:06d}", "{index:08d}", "{group}-{index:06d}", "PK-{index:08d}", "{index:x}", "{index:#x}",
    "{index:#06X}", "{index:b}", "{index:#b}", "{index:o}", "{index:#o}", "{index:,}", "{index:_d}", "{index:_x}",
    "{index:+d}", "{index: d}", "{index:/>4}", "{index:#>3}", "{index:*^5}", "{index:<3}", "{index:>3}",
    "{index:n}", "A{index}B", "{group:>4}|{index:03d}|{group}", "{index:0>5}", "{index:0=+6}", "{index:08,d}",
    "{index:x<4x}", "{index:,>8,}", "{index:+>5}", "{{{index}}}",
]  # fmt: skip
FALLBACK = [
    "{index:.1e}", "{index:.0f}", "{index:%}", "{index:g}", "{index:c}", "{index}{index}", "{index!s}", "{index!r:>4}",
    "{index.real}", "{index:1>3}", "{index:0<3}", "{index:0^5}", "{index:a>4x}", "{index:1=4b}", "{{index}}",
    "{index:{group}}",
]  # fmt: skip


@pytest.mark.parametrize("id_format", INJECTIVE)
def test_proven_formats_are_injective_and_invertible(id_format):
    pattern = IdPattern.parse(id_format, "grp")
    assert pattern is not None
    ids = [id_format.format(index=i, group="grp") for i in range(0, 3000)]
    assert [pattern.format(i) for i in range(0, 3000)] == ids
    assert len(set(ids)) == len(ids)
    assert [pattern.index_of(m) for m in ids] == list(range(0, 3000))
    for k in (0, 9, 10, 99, 2999):
        chars = pattern.alphabet(k, 2999)
        assert all(set(format(i, pattern.spec)) <= chars for i in range(k, 3000))


@pytest.mark.parametrize("id_format", FALLBACK)
def test_unproven_formats_fall_back(id_format):
    assert IdPattern.parse(id_format, "grp") is None


def test_index_of_rejects_what_no_index_formats_to():
    pattern = IdPattern.parse("PK-{index:06d}", "g")
    assert pattern is not None
    for text in ("PK-", "PK-00001", "PK-0000001", "PK-00a001", "QK-000001", "PK-000001x", "PK-+00001"):
        assert pattern.index_of(text) is None


# --- the same findings and messages as building every id -------------------------------------------

SHAPES = [*INJECTIVE, *FALLBACK[:-1], "{group}{index}", "{index}{group}", "{index:03}-x", "x-{index}"]


def test_random_fleets_give_exactly_the_reference_findings():
    rng = random.Random(20260101)
    names = ["a", "a1", "ab", "b", "a-", "1", "a-1", "a1-", "1-", "-"]
    for _ in range(2500):
        fleet = [
            group(
                name=rng.choice(names),
                id_format=rng.choice(SHAPES),
                first_index=rng.choice([0, 1, 5, 9, 95, 998]),
                count=rng.choice([1, 2, 10, 120]),
            )
            for _ in range(rng.randint(1, 4))
        ]
        assert found(*fleet) == reference_check(fleet), [(g.name, g.id_format, g.first_index, g.count) for g in fleet]


@pytest.mark.parametrize(("x", "y"), [("lahore", "lahore-north"), ("g1", "g1-2"), ("g1", "g12"), ("a", "b")])
def test_the_default_format_with_distinct_names_is_proven_disjoint(x, y):
    # "lahore-" is a prefix of "lahore-north-", but digits cannot spell "north-"; nor can they spell "2-".
    a, b = IdSpace.of(group(x, count=5_000_000)), IdSpace.of(group(y, count=5_000_000))
    assert a.pattern is not None and b.pattern is not None
    began = time.perf_counter()
    assert first_shared(a, b) is None and first_shared(b, a) is None
    assert time.perf_counter() - began < 0.01


def test_literals_that_numbers_could_spell_are_checked_by_building_ids():
    # "{group}{index}": "g1" + "21" == "g12" + "1"
    fleet = [group("g1", "{group}{index}", count=30), group("g12", "{group}{index}", count=5)]
    assert found(*fleet) == reference_check(fleet) == ["fleet[1].id_format: meter id 'g121' is also used by fleet[0]"]


def test_equal_patterns_clash_exactly_where_index_ranges_overlap():
    first = group("x", "PK-{index:08d}", first_index=1, count=1000)
    assert found(first, group("y", "PK-{index:08d}", first_index=1001, count=1000)) == []
    assert found(first, group("y", "PK-{index:08d}", first_index=500, count=1000)) == [
        "fleet[1].id_format: meter id 'PK-00000500' is also used by fleet[0]"
    ]
    assert found(group("y", "PK-{index:08d}", first_index=0, count=5), first) == [
        "fleet[1].id_format: meter id 'PK-00000001' is also used by fleet[0]"
    ]


def test_a_clash_names_the_last_earlier_group_with_that_id():
    fleet = [group(n, "M{index}", first_index=k, count=10) for n, k in (("a", 1), ("b", 5), ("c", 1))]
    assert (
        found(*fleet)
        == reference_check(fleet)
        == [
            "fleet[1].id_format: meter id 'M5' is also used by fleet[0]",
            "fleet[2].id_format: meter id 'M1' is also used by fleet[0]",
        ]
    )
    fleet[2] = group("c", "M{index}", first_index=7, count=10)
    assert found(*fleet)[-1] == "fleet[2].id_format: meter id 'M7' is also used by fleet[1]"


def test_prefixes_that_are_prefixes_of_each_other_are_checked_by_building_ids():
    # "a" + "11" == "a1" + "1": the fallback finds it.
    fleet = [group("a", "{group}{index}", first_index=1, count=20), group("a1", "{group}{index}", count=5)]
    assert found(*fleet) == ["fleet[1].id_format: meter id 'a11' is also used by fleet[0]"]


def test_different_specs_between_equal_literals_are_checked_by_building_ids():
    fleet = [group("x", "PK-{index:06d}", first_index=999_990, count=20), group("y", "PK-{index:07d}", count=3)]
    assert found(*fleet) == []
    fleet[1] = group("y", "PK-{index:07d}", first_index=1_000_005, count=3)
    assert found(*fleet) == ["fleet[1].id_format: meter id 'PK-1000005' is also used by fleet[0]"]


@pytest.mark.parametrize(
    ("id_format", "first_index", "bad"),
    [
        ("{index:/>4}", 1, "///1"),  # fill
        ("{index:#>3}", 7, "##7"),
        ("{index:+d}", 1, "+1"),  # sign
        ("{index:+>4}", 1000, None),  # the fill never shows: 1000..1009 have four digits
        ("{index:/>5}", 9_995, "/9995"),
        ("a/{index}", 1, "a/1"),  # literal
        ("{group}-{index}", 1, "g/1-1"),  # literal from the group name
        ("{index}\x00", 1, "1\x00"),
    ],
)
def test_forbidden_characters_via_fill_sign_or_literals(id_format, first_index, bad):
    name = "g/1" if "{group}" in id_format else "g"
    fleet = [group(name, id_format, first_index=first_index, count=10)]
    message = f"fleet[0].id_format: meter id {bad!r} is not a valid MQTT topic level (no + # / NUL)"
    expected = [] if bad is None else [message]
    assert found(*fleet) == reference_check(fleet) == expected


def test_fallback_formats_still_find_duplicates_and_bad_ids():
    assert found(group(id_format="{index:1>3}", count=20)) == ["fleet[0].id_format: produces duplicate meter ids"]
    assert found(group(id_format="{{index}}")) == ["fleet[0].id_format: produces duplicate meter ids"]
    assert found(group(id_format="{index:.0e}")) == [
        "fleet[0].id_format: meter id '1e+00' is not a valid MQTT topic level (no + # / NUL)"
    ]


def test_a_group_with_a_bad_id_is_left_out_of_the_clash_check():
    fleet = [group("a", "M/{index}"), group("b", "M/{index}"), group("c", "M{index}"), group("d", "M{index}")]
    assert found(*fleet) == reference_check(fleet)
    assert found(*fleet)[-1] == "fleet[3].id_format: meter id 'M1' is also used by fleet[2]"


# --- meter_ids by range, and scale ---------------------------------------------------------------


def test_meter_ids_of_a_range_of_positions():
    g = group("g", "{group}-{index:04d}", first_index=7, count=10)
    assert g.meter_ids() == [f"g-{i:04d}" for i in range(7, 17)]
    assert g.meter_ids(2, 5) == ["g-0009", "g-0010", "g-0011"]
    assert g.meter_ids(10) == []
    assert g.meter_id(7) == "g-0007"
    slow = group("g", "{index:.0f}x", first_index=7, count=10)
    assert slow.id_pattern is None
    assert slow.meter_ids(8) == ["15x", "16x"]
    for start, stop in ((-1, 3), (3, 2), (0, 11)):
        with pytest.raises(ValueError, match="not within its 10 meters"):
            g.meter_ids(start, stop)


def big_scenario(*groups: tuple[str, str, int, int]) -> dict:
    data = scenario_dict()
    data["fleet"] = [
        {
            "name": name,
            "commodity": "electricity",
            "count": count,
            "id_format": id_format,
            "first_index": first,
            "timezone": "Asia/Karachi",
            "annual_kwh": 2400,
        }
        for name, id_format, first, count in groups
    ]
    return data


@pytest.mark.parametrize(
    "groups",
    [
        [("all", "{group}-{index:06d}", 1, 5_000_000)],
        [(f"g{i}", "{group}-{index:06d}", 1, 1_000_000) for i in range(5)],
        [(f"g{i}", "PK-{index:08d}", 1 + i * 1_000_000, 1_000_000) for i in range(5)],
        [("lahore", "{group}-{index:06d}", 1, 2_500_000), ("lahore-north", "{group}-{index:06d}", 1, 2_500_000)],
        [(f"g{i}", "PK-{index:08d}", 1 + i * 10_000_000, 10_000_000) for i in range(5)],  # the maximum: 50,000,000
    ],
)
def test_millions_of_meters_validate_in_well_under_a_second(groups):
    data = big_scenario(*groups)
    began = time.perf_counter()
    scenario = parse_scenario(data)
    elapsed = time.perf_counter() - began
    assert scenario.meter_count == sum(g[3] for g in groups)
    assert elapsed < 0.5


def test_a_clash_between_millions_of_meters_is_found_quickly():
    data = big_scenario(("a", "PK-{index:08d}", 1, 2_500_000), ("b", "PK-{index:08d}", 2_000_001, 2_500_000))
    began = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    assert info.value.problems == ["fleet[1].id_format: meter id 'PK-02000001' is also used by fleet[0]"]
    assert time.perf_counter() - began < 0.5


# --- equal literals, different specs: one index per digit count decides ------------------------------

SAME_DIGITS = [
    "{index}", "{index:06d}", "{index:08d}", "{index:,}", "{index:_d}", "{index:+d}", "{index: d}", "{index:/>4}",
    "{index:<3}", "{index:>3}", "{index:0>5}", "{index:0=+6}", "{index:08,d}", "{index:,>8,}", "{index:x}",
    "{index:#x}", "{index:_x}", "{index:x<4x}",
]  # fmt: skip


@pytest.mark.parametrize("spec", SAME_DIGITS)
def test_equal_literals_with_other_specs_give_the_reference_clash(spec):
    for other in SAME_DIGITS:
        for first, count in ((1, 1200), (9_990, 30)):
            a = IdSpace.of(group("a", f"M{spec}", first_index=first, count=count))
            b = IdSpace.of(group("b", f"M{other}", first_index=1, count=12_000))
            ids = {m: p for p, m in reversed(list(enumerate(b.ids())))}
            expected = min((ids[m] for m in a.ids() if m in ids), default=None)
            assert first_shared(a, b) == expected, (spec, other, first, count)


def test_groups_that_differ_only_in_padding_are_compared_without_building_ids():
    fleet = [group(f"g{w}", f"M{{index:0{w}d}}", count=5_000_000) for w in range(1, 11)]
    began = time.perf_counter()
    assert found(*fleet)[:2] == [
        "fleet[1].id_format: meter id 'M10' is also used by fleet[0]",
        "fleet[2].id_format: meter id 'M100' is also used by fleet[1]",
    ]
    assert time.perf_counter() - began < 0.5


def test_ids_are_built_one_by_one_only_within_a_budget():
    assert found(group("g", "{index}-{index}", count=ID_BUDGET)) == []
    assert found(group("g", "{index}-{index}", count=ID_BUDGET + 1)) == [
        "fleet[0].id_format: with this id_format each of its 500,001 meter ids would be built to check them, and "
        "a scenario builds at most 500,000 so; write ids as a prefix, one {index:...} and a suffix, e.g. "
        "{group}-{index:08d}"
    ]
    # "{index:x}" and "{index:d}" write different digits: no proof, so the ids of the smaller group are built.
    fleet = [
        group("a", "M{index:x}", count=ID_BUDGET + 1),
        group("b", "M{index}", first_index=10**7, count=ID_BUDGET + 1),
    ]
    assert found(*fleet) == [
        "fleet[1].id_format: cannot tell whether its meter ids differ from those of fleet[0] without building "
        "500,001 of them; give the two groups different literal prefixes, or write ids as a prefix, one "
        "{index:...} and a suffix, e.g. {group}-{index:08d}"
    ]
    fleet[1] = group("b", "M{index}", first_index=10**7, count=1000)
    assert found(*fleet) == []
