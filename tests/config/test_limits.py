"""What bounds a scenario before anything is built: the bytes read, the YAML's depth and size, the
text it may hold, the simulated time it may cover, and the size of its fleet and grids."""

from __future__ import annotations

import io
import time

import pytest
import yaml

from metersim.config import load_scenario, parse_scenario
from metersim.config.load import parse_value, set_field
from metersim.config.scenario import LATEST_S, MAX_METERS
from metersim.config.yaml_guard import (
    MAX_DEPTH,
    MAX_SCENARIO_BYTES,
    MAX_VALUES,
    YamlTooComplex,
    check_yaml_shape,
    decode_scenario,
    load_yaml,
    value_problems,
)
from metersim.errors import ConfigError
from tests.conftest import scenario_dict


def problems(data):
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    return info.value.problems


# --- reading ---------------------------------------------------------------------------------------------


def test_at_most_the_limit_is_read(tmp_path, monkeypatch):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_SCENARIO_BYTES + 1))
    with pytest.raises(ConfigError, match="cannot read: larger than 4 MiB"):
        load_scenario(big)
    monkeypatch.setattr("sys.stdin", io.StringIO("#" * (MAX_SCENARIO_BYTES + 1)))
    with pytest.raises(ConfigError, match="<stdin>: cannot read: larger than"):
        load_scenario("-")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("a: é\n".encode("utf-16"), "the file is UTF-16 text; save it as UTF-8"),
        ("a: é\n".encode("utf-32-be"), "a NUL byte on line 1"),  # no byte order mark
        ("a: é\n".encode("utf-32"), "the file is UTF-32 text"),
        (b"a: 1\nb: caf\xe9\n", "not UTF-8 text: byte 0xe9 on line 2 (invalid continuation byte); save the file as"),
        (b"a: 1\n\n\x00", "not text: a NUL byte on line 3"),
    ],
)
def test_text_that_is_not_utf_8_is_named(data, message):
    with pytest.raises(ConfigError) as info:
        decode_scenario(data)
    assert message in info.value.problems[0]


def test_a_utf_8_byte_order_mark_is_fine():
    assert load_yaml(decode_scenario(b"\xef\xbb\xbfa: 1\n")) == {"a": 1}


# --- YAML ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[" * 20_000 + "]" * 20_000,
        "{a: " * 20_000 + "1" + "}" * 20_000,
        "".join(" " * i + "a:\n" for i in range(MAX_DEPTH + 1)),
        "- " * (MAX_DEPTH + 1) + "x\n",
    ],
)
def test_nesting_is_bounded(text):
    began = time.perf_counter()
    with pytest.raises(YamlTooComplex, match=f"nested more than {MAX_DEPTH} mappings or lists deep"):
        load_yaml(text)
    assert time.perf_counter() - began < 1.0


def test_nesting_up_to_the_limit_is_fine():
    assert load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None


def test_aliases_are_counted_expanded():
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 6)]  # 10**6 + ... values
    with pytest.raises(YamlTooComplex, match=f"holds more than {MAX_VALUES:,} values once its aliases are expanded"):
        check_yaml_shape("\n".join(lines))
    check_yaml_shape("\n".join(lines[:5]))  # 111,110 values: fine
    assert MAX_VALUES == 200_000


def test_an_alias_inside_what_it_names_is_refused():
    with pytest.raises(YamlTooComplex, match=r"line 1: alias \*a is inside the mapping or list it names"):
        load_yaml("x: &a {y: *a}")


def test_aliases_and_merge_keys_work_as_ever():
    text = "base: &b {count: 1, name: x}\ngroup: {<<: *b, count: 2}\nsame: *b\n"
    assert load_yaml(text) == {
        "base": {"count": 1, "name": "x"},
        "group": {"count": 2, "name": "x"},  # a merge key's values may be overridden
        "same": {"count": 1, "name": "x"},
    }


def test_a_key_given_twice_is_an_error():
    with pytest.raises(yaml.YAMLError, match="key 'seed' is given twice") as info:
        load_yaml("simulation:\n  seed: 1\n  duration: 1h\n  seed: 2\n")
    assert "first on line 2" in str(info.value)


@pytest.mark.parametrize(("text", "value"), [("1e3", 1000.0), ("2.5e6", 2.5e6), ("-1E-3", -0.001), ("1.0e+3", 1000.0)])
def test_exponents_are_numbers_as_in_yaml_1_2(text, value):
    assert load_yaml(f"x: {text}") == {"x": value}


def test_set_values_are_guarded_alike():
    with pytest.raises(ConfigError, match="--set x: the value nested more than"):
        parse_value("[" * 100, "--set x")
    assert parse_value("{unclosed", "--set x") == "{unclosed"  # not YAML: the text itself
    assert parse_value("2e3") == 2000.0


def test_a_set_path_is_bounded():
    with pytest.raises(ConfigError, match="the path has 100 parts"):
        set_field({}, ".".join(["a"] * 100), 1)


# --- what no scenario can hold -----------------------------------------------------------------------------


def test_keys_must_be_text_and_text_must_be_unicode():
    data = {"fleet": [{5: "x", "name": "a\ud800b"}], True: 1, "regions": {"\udc00": {}}}
    assert value_problems(data) == [
        "the key true must be text; write it in quotes: 'true'",
        "fleet[0]: the key 5 must be text; write it in quotes: '5'",
        "fleet[0].name: contains the lone surrogate \\ud800, which is not text",
        "regions: the key '\\udc00' contains a lone surrogate, which is not text",
    ]


def test_shared_values_are_walked_once():
    shared = ["x"] * 1000
    data = {"a": [shared] * 1000}  # a million values, a thousand objects
    began = time.perf_counter()
    assert value_problems(data) == []
    assert time.perf_counter() - began < 0.5


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_numbers_are_finite(value):
    data = scenario_dict()
    data["fleet"][0]["annual_kwh"] = value
    assert problems(data) == ["fleet[0].annual_kwh: must be a finite number"]


def test_long_values_are_cut_in_messages():
    data = scenario_dict(seed="x" * 10_000)
    (message,) = problems(data)
    assert message.startswith("simulation.seed: must be a whole number, not 'xxxx")
    assert len(message) < 120


# --- time ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("simulation", "message"),
    [
        ({"start": "1969-12-31T23:59:59Z"}, "simulation.start: must be 1970-01-01T00:00:00Z or later"),
        ({"start": "0001-01-01T00:00:00+14:00"}, "simulation.start: must be 1970-01-01T00:00:00Z or later"),
        (
            {"start": "8999-12-31T00:00:00Z", "duration": "2d"},
            "simulation.duration: the run would end at 9000-01-02T00:00:00Z, after 9000-01-01T00:00:00Z, the latest "
            "end",
        ),
        ({"duration": 10**30}, "simulation.duration: the run would end beyond the year 9999"),
        ({"start": "now", "duration": f"{7000 * 366}d"}, "after 9000-01-01T00:00:00Z"),
    ],
)
def test_a_run_lies_between_1970_and_9000(simulation, message):
    (found,) = problems(scenario_dict(**simulation))
    assert message in found


def test_the_edges_are_fine():
    parse_scenario(scenario_dict(start="1970-01-01T00:00:00Z"))
    parse_scenario(scenario_dict(start="8999-12-31T00:00:00Z", duration="1d"))
    assert LATEST_S == 221_845_392_000


# --- size ------------------------------------------------------------------------------------------------------


def test_the_fleet_and_its_grids_are_bounded():
    data = scenario_dict()
    data["fleet"][0]["count"] = data["fleet"][1]["count"] = MAX_METERS // 2 + 1
    assert problems(data) == ["fleet: has 50,000,002 meters in all, over the limit of 50,000,000"]
    data = scenario_dict()
    data["fleet"][0].update(region="lahore", grid={"substations": 1001, "feeders_per_substation": 1000})
    assert problems(data) == [
        "fleet[0].grid: has 4,004,000 transformers (substations x feeders_per_substation x transformers_per_feeder); "
        "a scenario may have at most 1,000,000 in all"
    ]


def test_the_state_path_has_no_nul():
    assert problems(scenario_dict(state_path="s\0.npz")) == ["simulation.state_path: must not contain a NUL character"]
