"""The adversarial catalogue, part 1: bad scenarios, each through ``metersim validate`` and ``metersim run``.

Every case: the documented exit code (2 for an invalid scenario, 5 for a file that cannot be written,
0 where the scenario is fine), no traceback, a message of a few lines that names the problem, and
``validate`` and ``run`` agreeing (see :mod:`tests.robustness.cli_cases`). Cases run in-process; those
marked ``child`` also run as the real command in a child process, at least one per category.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest
import yaml

from metersim.config.scenario import MAX_METERS, MAX_TRANSFORMERS
from metersim.config.yaml_guard import MAX_DEPTH, MAX_SCENARIO_BYTES, MAX_VALUES
from tests.robustness.cli_cases import (
    BASE,
    CONFIG,
    NOT_WRITABLE,
    OK,
    SKIP,
    Case,
    assert_clear,
    base_yaml,
    check,
    measured_child,
    metersim_child,
    metersim_in_process,
    variant,
)

MQTT = {"type": "mqtt", "url": "embedded"}
GROUP = BASE["fleet"][0]
REGION = {"latitude_deg": 30, "longitude_deg": 70, "temp_mean_c": 20, "temp_amplitude_c": 5, "timezone": "UTC"}
TARIFF = {"commodity": "electricity", "currency": "PKR", "bands": [{"name": "all"}], "prices": {"all": 1}}
HAS_DEV_FULL = Path("/dev/full").exists()
#: a "\\ud800" escape in a file: libyaml refuses it as YAML, PyYAML's own loader reads it and the scenario
#: check refuses the text
SURROGATE_ESCAPE = ("invalid YAML: line", "contains the lone surrogate")


def mqtt(**fields: object) -> tuple[str, object]:
    return ("outputs", [{**MQTT, **fields}])


def group(**fields: object) -> dict:
    return {**GROUP, **fields}


def laughs(levels: int = 9, attach: str = "") -> str:
    """The billion laughs: each level nine aliases of the one before; 9**levels values in all."""
    lines = ['lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, levels):
        lines.append(f"lol{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]")
    return base_yaml("\n".join(lines) + "\n" + attach)


def flow_laughs(levels: int = 9) -> str:
    """The billion laughs as one flow list, for a ``--set`` value."""
    items = ["&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    items += [f"&l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return "[" + ", ".join(items) + "]"


def deep_list(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_mapping(depth: int) -> str:
    return "{a: " * depth + "1" + "}" * depth


def unreadable(folder: Path) -> Path:
    path = folder / "secret.yaml"
    path.write_text(base_yaml())
    path.chmod(0)
    return path


def a_directory(folder: Path) -> Path:
    (folder / "scenario.yaml").mkdir()
    return folder / "scenario.yaml"


def missing(folder: Path) -> Path:
    return folder / "missing.yaml"


def not_a_folder(folder: Path) -> dict:
    (folder / "plain").write_text("")
    return variant(("outputs", [{"type": "file", "path": str(folder / "plain" / "readings.jsonl")}]))


def writes_into(make):  # a scenario made in the case's folder
    def scenario(folder: Path) -> Path:
        path = folder / "scenario.yaml"
        path.write_text(yaml.safe_dump(make(folder), sort_keys=False))
        return path

    return scenario


is_root = hasattr(os, "geteuid") and os.geteuid() == 0

# --- the catalogue ---------------------------------------------------------------------------------------

TYPES = [
    Case("types/section-is-a-number", variant(("simulation", 5)), text="simulation: must be a mapping"),
    Case("types/seed-text", variant(("simulation.seed", "x")), text="simulation.seed: must be a whole number, not 'x'"),
    Case("types/seed-bool", variant(("simulation.seed", True)), text="must be a number, not true/false"),
    Case("types/speed-text", variant(("simulation.speed", "fast")), text='must be "max" or a number > 0'),
    Case("types/duration-list", variant(("simulation.duration", [1])), text="simulation.duration: must be a duration"),
    Case("types/fleet-mapping", variant(("fleet", {})), text="fleet: must be a list"),
    Case("types/group-text", variant(("fleet", ["x"])), text="fleet[0]: must be a mapping"),
    Case(
        "types/count-true",
        variant(("fleet.0.count", True)),
        text="fleet[0].count: must be a number, not true/false",
        child=True,
    ),
    Case("types/count-float", variant(("fleet.0.count", 1000.0)), text="fleet[0].count: must be a whole number"),
    Case("types/count-text", variant(("fleet.0.count", "5")), text="must be a whole number, not '5'"),
    Case("types/annual-text", variant(("fleet.0.annual_kwh", "lots")), text="must be a number, not 'lots'"),
    Case("types/annual-bool", variant(("fleet.0.annual_kwh", True)), text="must be a number, not true/false"),
    Case("types/pv-number", variant(("fleet.0.pv", 5)), text="fleet[0].pv: must be a mapping"),
    Case("types/pv-fraction-bool", variant(("fleet.0.pv", {"fraction": True})), text="fleet[0].pv.fraction"),
    Case("types/grid-float", variant(("fleet.0.grid", {"substations": 2.0})), text="must be a whole number"),
    Case("types/factors-short", variant(("fleet.0.monthly_factors", [1, 2])), text="needs at least 12 items, got 2"),
    Case("types/commodity", variant(("fleet.0.commodity", "water")), text="must be 'electricity' or 'gas'"),
    Case("types/output-kind", variant(("outputs", [{"type": "kafka"}])), text="unknown type 'kafka'"),
    Case("types/qos-bool", variant(mqtt(qos=True)), text="outputs[0].qos: must be a number, not true/false"),
    Case("types/retain-text", variant(mqtt(retain="maybe")), text="must be true or false, not 'maybe'"),
    Case("types/bands-text", variant(("tariffs", {"t": {**TARIFF, "bands": "x"}})), text="tariffs.t.bands"),
    Case(
        "types/latitude-text",
        variant(("regions", {"x": {**REGION, "latitude_deg": "north"}})),
        text="regions.x.latitude_deg: must be a number, not 'north'",
    ),
    Case("types/truth-number", variant(("truth", 5)), text="truth: must be a mapping"),
    Case("types/truth-format", variant(("truth", {"path": "t.csv", "format": "xlsx"})), text="'csv' or 'parquet'"),
    Case("types/zone", variant(("fleet.0.timezone", "Mars/Olympus")), text="unknown IANA time zone"),
    Case("types/zone-path", variant(("fleet.0.timezone", "../../etc/passwd")), text="unknown IANA time zone"),
    Case("types/key-number", variant(("fleet", [{**GROUP, 5: "x"}])), text="fleet[0]: the key 5 must be text"),
    Case(
        "types/key-date",
        base_yaml("2026-01-01: x\n"),
        text="the key 2026-01-01 must be text; write it in quotes: '2026-01-01'",
    ),
]

RANGES = [
    Case("range/count-0", variant(("fleet.0.count", 0)), text="fleet[0].count: must be at least 1"),
    Case("range/count-negative", variant(("fleet.0.count", -5)), text="must be at least 1"),
    Case("range/interval-7", variant(("fleet.0.interval_s", 7)), text="must divide 86400"),
    Case("range/interval-0", variant(("fleet.0.interval_s", 0)), text="must be at least 1"),
    Case("range/jitter", variant(("fleet.0.jitter_s", 900)), text="must be less than `interval_s`"),
    Case("range/digits", variant(("fleet.0.register_digits", 10)), text="must be at most 9"),
    Case("range/pv-fraction", variant(("fleet.0.pv", {"fraction": 1.5})), text="must be at most 1"),
    Case("range/annual-inf", variant(("fleet.0.annual_kwh", float("inf"))), text="must be a finite number"),
    Case("range/annual-nan", variant(("fleet.0.annual_kwh", float("nan"))), text="must be a finite number"),
    Case(
        "range/annual-1e300",
        BASE,
        ("--set", "fleet.0.annual_kwh=1e300"),  # YAML 1.2 spelling: a number, not the text '1e300'
        text="fleet[0].annual_kwh: must be at most 1000000000",
    ),
    Case("range/spikes", variant(("fleet.0.spikes_per_day", 1e300)), text="must be at most 1440"),
    Case("range/initial-register", variant(("fleet.0.initial_register_max", 1e300)), text="must be at most"),
    Case(
        "range/temperature",
        variant(("regions", {"x": {**REGION, "temp_mean_c": 1000}})),
        text="regions.x.temp_mean_c: must be at most 100",
    ),
    Case(
        "range/connect-timeout",  # was: OverflowError from socket.settimeout, a traceback at run
        variant(mqtt(connect_timeout_s=1e300)),
        text="outputs[0].connect_timeout_s: must be at most 31536000",
        child=True,
    ),
    Case("range/give-up", variant(mqtt(give_up_s=1e300)), text="must be at most 31536000"),
    Case("range/embedded-port", variant(mqtt(embedded_port=70000)), text="must be at most 65535"),
    Case("range/inflight", variant(mqtt(max_inflight=0)), text="must be at least 1"),
    Case("range/seed", variant(("simulation.seed", -1)), text="must be at least 0"),
    Case("range/speed-0", variant(("simulation.speed", 0)), text='must be "max" or a number > 0'),
    Case("range/duration-0", variant(("simulation.duration", "0s")), text="duration must be positive"),
    Case("range/duration-negative", variant(("simulation.duration", "-5s")), text="not a duration"),
    Case(
        "range/tax",
        variant(("tariffs", {"t": {**TARIFF, "taxes": [{"name": "GST", "percent": 150}]}})),
        text="tariffs.t.taxes[0].percent: must be at most 100",
    ),
]

UNKNOWN_KEYS = [
    Case(
        "keys/simulation",
        variant(("simulation.duraton", "1h")),
        text="simulation.duraton: unknown key; did you mean 'duration'?",
        child=True,
    ),
    Case("keys/group", variant(("fleet.0.cout", 5)), text="fleet[0].cout: unknown key; did you mean 'count'?"),
    Case("keys/output", variant(mqtt(topc="x")), text="outputs[0].topc: unknown key; did you mean 'topic'?"),
    Case("keys/top", variant(("fleets", [])), text="fleets: unknown key; did you mean 'fleet'?"),
    Case("keys/pv", variant(("fleet.0.pv", {"fraction": 0.1, "fracton": 1})), text="did you mean 'fraction'?"),
    Case("keys/truth", variant(("truth", {"path": "t.csv", "weather": "w.csv"})), text="did you mean 'weather_path'?"),
    Case(
        "keys/region",
        variant(("regions", {"x": {**REGION, "lattitude_deg": 1}})),
        text="did you mean 'latitude_deg'?",
    ),
    Case("keys/tariff", variant(("tariffs", {"t": {**TARIFF, "band": []}})), text="did you mean 'bands'?"),
    Case("keys/region-name", variant(("fleet.0.region", "lahor")), text="'lahor'; did you mean 'lahore'?"),
    Case("keys/profile", variant(("fleet.0.profile", "housheold")), text="did you mean 'household'?"),
    Case("keys/tariff-name", variant(("fleet.0.tariff", "nepra")), text="unknown tariff 'nepra'"),
    Case("keys/output-type", variant(("outputs", [{"type": "mqqt"}])), text="did you mean 'mqtt'?"),
]

YAML = [
    Case("yaml/billion-laughs", laughs(), text="a YAML alias bomb?", child=True),
    Case("yaml/laughs-in-a-field", laughs(8, "simulation: {duration: *l7}\n"), text="a YAML alias bomb?"),
    Case("yaml/recursive-alias", base_yaml("loop: &loop [1, *loop]\n"), text="alias *loop is inside"),
    Case("yaml/20000-deep-lists", base_yaml(f"deep: {deep_list(20_000)}\n"), text=f"nested more than {MAX_DEPTH}"),
    Case(
        "yaml/20000-deep-mappings",
        base_yaml(f"deep: {deep_mapping(20_000)}\n"),
        text=f"nested more than {MAX_DEPTH}",
        child=True,
    ),
    Case(
        "yaml/2000-deep-blocks",
        base_yaml("".join(" " * i + "a:\n" for i in range(2_000))),
        text=f"nested more than {MAX_DEPTH}",
    ),
    Case(
        "yaml/20000-deep-set-value",
        BASE,
        ("--set", f"simulation.seed={deep_list(20_000)}"),
        text=f"--set simulation.seed: the value nested more than {MAX_DEPTH}",
        child=True,
    ),
    Case(
        "yaml/20000-deep-set-path",
        BASE,
        ("--set", "simulation." + ".".join(["a"] * 20_000) + "=1"),
        text="the path has 20001 parts",
    ),
    Case(
        "yaml/laughs-in-set",
        BASE,
        ("--set", f"simulation.seed={flow_laughs()}"),
        text=f"--set simulation.seed: the value holds more than {MAX_VALUES:,} values",
    ),
    Case(
        "yaml/100-kB-value",
        BASE,
        ("--set", "simulation.seed=" + "x" * 100_000),
        text="simulation.seed: must be a whole number, not 'xxxxxxxx",  # and cut short
    ),
    Case("yaml/duplicate-key", base_yaml("simulation: {seed: 2}\n"), text="key 'simulation' is given twice"),
    Case("yaml/syntax", base_yaml("fleet: [1, 2\n"), text="invalid YAML: line"),
    Case("yaml/python-tag", base_yaml("x: !!python/object/apply:os.system [echo hi]\n"), text="invalid YAML"),
    Case("yaml/two-documents", base_yaml("---\nsimulation: {}\n"), text="invalid YAML"),
    Case("yaml/undefined-alias", base_yaml("x: *nowhere\n"), text="invalid YAML"),
    Case(
        "yaml/aliases-and-merge-keys-still-work",
        "defaults: &d {commodity: electricity, timezone: Asia/Karachi, annual_kwh: 2.4e3}\n"
        + base_yaml().replace("fleet:\n", "fleet:\n- {<<: *d, name: more, count: 1, id_format: 'M-{index}'}\n"),
        validate=CONFIG,  # `defaults` is not a key of a scenario; all else is fine
        text="defaults: unknown key",
    ),
    Case("yaml/yaml-1.2-floats", BASE, ("--set", "fleet.0.annual_kwh=2.4e3"), validate=OK),
    Case(
        "yaml/lone-surrogate-id",  # was: valid, then a traceback when a JSON payload was encoded
        variant(("fleet.0.id_format", "\ud800{index}"), ("outputs", [{"type": "stdout"}])),
        text=("fleet[0].id_format: contains the lone surrogate \\ud800", "found invalid Unicode character escape"),
        child=True,
    ),
    Case("yaml/lone-surrogate-name", variant(("fleet.0.name", "a\udc80")), text=SURROGATE_ESCAPE),
    Case(
        "yaml/lone-surrogate-key",
        variant(("regions", {"\udc00": REGION})),
        text=("regions: the key", "invalid Unicode character escape"),
    ),
    Case(
        "yaml/lone-surrogate-in-set",
        BASE,
        ("--set", "fleet.0.name=\udcff"),  # what a shell argument that is not UTF-8 becomes
        text="fleet[0].name: contains the lone surrogate \\udcff",
    ),
]

FILES = [
    Case("file/binary", bytes(range(256)) * 8, text="cannot read: not text: a NUL byte on line 1", child=True),
    Case(
        "file/latin-1",
        base_yaml().replace("homes", "caf\u00e9").encode("latin-1"),
        text="not UTF-8 text: byte 0xe9 on line",
    ),
    Case("file/utf-16", base_yaml().encode("utf-16"), text="the file is UTF-16 text; save it as UTF-8"),
    Case("file/utf-16-no-bom", base_yaml().encode("utf-16-le"), text="a NUL byte on line 1"),
    Case("file/utf-32", base_yaml().encode("utf-32"), text="the file is UTF-32 text"),
    Case("file/utf-8-bom", b"\xef\xbb\xbf" + base_yaml().encode(), validate=OK),
    Case("file/dev-zero", "/dev/zero", text=f"larger than {MAX_SCENARIO_BYTES // 2**20} MiB"),
    Case("file/too-large", "#" + " " * MAX_SCENARIO_BYTES + "\n" + base_yaml(), text="cannot read: larger than"),
    Case("file/empty", "", text="the scenario must be a YAML mapping", child=True),
    Case("file/comments-only", "# nothing here\n", text="the scenario must be a YAML mapping"),
    Case("file/list", "- simulation\n- fleet\n", text="the scenario must be a YAML mapping"),
    Case("file/scalar", "hello\n", text="the scenario must be a YAML mapping"),
    Case("file/missing", missing, text="cannot read: No such file or directory"),
    Case("file/directory", a_directory, text="cannot read: Is a directory"),
    Case("file/io-error", "/proc/self/mem", text="cannot read: Input/output error"),
    Case(
        "file/unreadable",
        unreadable,
        text="cannot read: Permission denied",
        marks=(pytest.mark.skipif(is_root, reason="root reads any file"),),
    ),
]

TIME = [
    Case(
        "time/year-1",
        variant(("simulation.start", "0001-01-01T00:00:00Z")),
        text="simulation.start: must be 1970-01-01T00:00:00Z or later",
    ),
    Case("time/before-1970", variant(("simulation.start", "1969-12-31T23:00:00Z")), text="or later"),
    Case(
        "time/year-9999",  # was: valid, then "year 10000 is out of range", a traceback at run
        variant(("simulation.start", "9999-12-31T23:00:00Z")),
        text="simulation.duration: the run would end beyond the year 9999, after 9000-01-01T00:00:00Z",
        child=True,
    ),
    Case(
        "time/year-10000",
        variant(("simulation.end", "10000-01-01T00:00:00Z"), drop=["simulation.duration"]),
        text="simulation.end: not an ISO 8601 timestamp",
    ),
    Case(
        "time/end-9999",
        variant(("simulation.end", "9999-12-31T23:59:59Z"), drop=["simulation.duration"]),
        text="simulation.end: the run would end at 9999-12-31T23:59:59Z",
    ),
    Case("time/100-million-days", variant(("simulation.duration", "100000000d")), text="after 9000-01-01"),
    Case("time/10^24-seconds", variant(("simulation.duration", 10**24)), text="beyond the year 9999"),
    Case("time/huge-weeks", variant(("simulation.duration", "99999999999999999999w")), text="beyond the year 9999"),
    Case(
        "time/now-for-8000-years",
        variant(("simulation.start", "now"), ("simulation.duration", f"{8000 * 366}d")),
        text="after 9000-01-01T00:00:00Z",
    ),
    Case(
        "time/backfill-before-1970",
        variant(("simulation.start", "now"), ("simulation.backfill", f"{100 * 366}d")),
        text="simulation.backfill: reaches back before 1970-01-01T00:00:00Z",
    ),
    Case("time/no-offset", variant(("simulation.start", "2026-01-01T00:00:00")), text="needs a UTC offset"),
    Case("time/a-date", variant(("simulation.start", dt.date(2026, 1, 1))), text="is a date"),
    Case("time/february-30", variant(("simulation.start", "2026-02-30T00:00:00Z")), text="not an ISO 8601 timestamp"),
    Case("time/fractional-second", variant(("simulation.start", "2026-01-01T00:00:00.5Z")), text="whole seconds"),
    Case("time/1970-is-fine", variant(("simulation.start", "1970-01-01T00:00:00Z")), validate=OK),
    Case(
        "time/8999-is-fine",
        variant(("simulation.start", "8999-12-31T00:00:00Z")),
        validate=OK,
        child=True,  # in-process, the UTC-offset tables already span 2026 and grow to 8999: 7 s
    ),
]

SIZES = [
    Case("size/50-million-meters", variant(("fleet.0.count", MAX_METERS)), validate=OK, run=SKIP),
    Case("size/count-over-limit", variant(("fleet.0.count", MAX_METERS + 1)), text="must be at most 50000000"),
    Case("size/count-10^30", variant(("fleet.0.count", 10**30)), text="fleet[0].count: must be at most"),
    Case(
        "size/fleet-over-limit",
        variant(("fleet", [group(count=30_000_000), group(name="more", id_format="M-{index}", count=30_000_000)])),
        text="fleet: has 60,000,000 meters in all, over the limit of 50,000,000",
    ),
    Case(
        "size/grid-10^14-transformers",
        variant(("fleet.0.grid", {"substations": 100_000_000, "feeders_per_substation": 1_000_000})),
        text=f"a scenario may have at most {MAX_TRANSFORMERS:,} in all",
        child=True,
    ),
    Case(
        "size/grids-over-limit-together",
        variant(
            (
                "fleet",
                [
                    group(grid={"substations": 10, "feeders_per_substation": 100, "transformers_per_feeder": 600}),
                    group(name="more", id_format="M{index}", grid={"substations": 500, "transformers_per_feeder": 500}),
                ],
            )
        ),
        text="has 500,000 transformers (substations x feeders_per_substation x transformers_per_feeder) after those",
    ),
    Case(
        "size/grid-at-limit",
        variant(("fleet.0.grid", {"substations": 10, "feeders_per_substation": 100, "transformers_per_feeder": 1000})),
        validate=OK,
        run=SKIP,  # runs, in ~5 s and ~800 MB: too much for a test
    ),
    Case(
        "size/1001-groups",
        variant(("fleet", [group(name=f"g{i}", id_format="{group}-{index}") for i in range(1001)])),
        text="fleet: takes at most 1000 items, got 1001",
    ),
    Case(
        "size/ids-built-one-by-one",
        variant(("fleet.0.id_format", "{index}-{index}"), ("fleet.0.count", 1_000_000)),
        text="a scenario builds at most 500,000 so",
    ),
]

IDS = [
    Case("ids/attribute", variant(("fleet.0.id_format", "{index.real}")), text="attribute or index access"),
    Case("ids/item", variant(("fleet.0.id_format", "{index[0]}")), text="attribute or index access", child=True),
    Case("ids/huge-padding", variant(("fleet.0.id_format", "{index:0999999}")), text="padding or precision over 200"),
    Case("ids/nested-spec", variant(("fleet.0.id_format", "{index:>{group}}")), text="nested fields"),
    Case("ids/positional", variant(("fleet.0.id_format", "M{}")), text="positional fields"),
    Case("ids/positional-0", variant(("fleet.0.id_format", "M{0}")), text="positional fields"),
    Case("ids/unbalanced-open", variant(("fleet.0.id_format", "M{index")), text="is not a valid template"),
    Case("ids/unbalanced-close", variant(("fleet.0.id_format", "M{index}}")), text="is not a valid template"),
    Case("ids/bad-spec", variant(("fleet.0.id_format", "{index:q}")), text="`id_format` cannot be formatted"),
    Case("ids/no-index", variant(("fleet.0.id_format", "PK-")), text="must contain {index}"),
    Case("ids/unknown-field", variant(("fleet.0.id_format", "{serial}{index}")), text="unknown field(s) ['serial']"),
    Case("ids/slash", variant(("fleet.0.id_format", "a/{index}")), text="is not a valid MQTT topic level"),
    Case("ids/plus", variant(("fleet.0.id_format", "a+{index}")), text="is not a valid MQTT topic level"),
    Case("ids/hash", variant(("fleet.0.id_format", "a#{index}")), text="is not a valid MQTT topic level"),
    Case("ids/nul", variant(("fleet.0.id_format", "a\0{index}")), text="is not a valid MQTT topic level"),
    Case("ids/name-slash", variant(("fleet.0.name", "a/b")), text="fleet[0].name: must not contain /"),
    Case("ids/name-plus", variant(("fleet.0.name", "a+b")), text="fleet[0].name: must not contain +"),
    Case("ids/name-hash", variant(("fleet.0.name", "a#b")), text="fleet[0].name: must not contain #"),
    Case("ids/name-nul", variant(("fleet.0.name", "a\0b")), text="fleet[0].name: must not contain NUL"),
    Case(
        "ids/region-slash",
        variant(("regions", {"a/b": REGION}), ("fleet.0.region", "a/b"), mqtt(topic="m/{region}/{meter_id}")),
        text="fleet[0].region: must not contain /: outputs[0].topic uses {region}",
    ),
    Case(
        "ids/shared-across-groups",
        variant(("fleet", [group(), group(name="more", first_index=2)])),
        text="fleet[1].id_format: meter id 'PK-000002' is also used by fleet[0]",
    ),
]

TOPICS = [
    Case("topic/empty", variant(mqtt(topic="")), text="outputs[0].topic: must not be empty"),
    Case("topic/unbalanced-open", variant(mqtt(topic="a/{meter_id")), text="is not a valid template"),
    Case("topic/unbalanced-close", variant(mqtt(topic="a/}{meter_id}")), text="is not a valid template"),
    Case("topic/positional", variant(mqtt(topic="a/{}")), text="positional fields"),
    Case("topic/positional-0", variant(mqtt(topic="a/{0}")), text="positional fields"),
    Case("topic/bad-spec", variant(mqtt(topic="{meter_id:q}")), text="has a bad format spec"),
    Case(
        "topic/2-GB-padding",  # was: a 2 GB string made while validating
        variant(mqtt(topic="{meter_id:>2000000000}")),
        text="pads or cuts to more than MQTT's limit of 65535 bytes",
        child=True,
    ),
    Case("topic/conversion", variant(mqtt(topic="{meter_id!r}")), text="conversions are not allowed"),
    Case("topic/attribute", variant(mqtt(topic="{meter_id.upper}")), text="attribute or index access"),
    Case("topic/item", variant(mqtt(topic="{meter_id[0]}")), text="attribute or index access"),
    Case("topic/plus", variant(mqtt(topic="a/+/{meter_id}")), text="cannot contain + or # wildcards"),
    Case("topic/hash", variant(mqtt(topic="a/#")), text="cannot contain + or # wildcards"),
    Case("topic/nul", variant(mqtt(topic="a\0/{meter_id}")), text="must not contain a NUL character"),
    Case("topic/surrogate", variant(mqtt(topic="\udc00/{meter_id}")), text=SURROGATE_ESCAPE),
    Case(
        "topic/surrogate-in-set",
        BASE,
        ("--set", "outputs=[{type: mqtt, url: embedded, topic: \udcff}]"),
        text="outputs: contains the lone surrogate \\udcff",  # not YAML (a surrogate), so all of it is the text
    ),
    Case("topic/70000-bytes", variant(mqtt(topic="x" * 70_000)), text="is longer than MQTT's limit of 65535 bytes"),
    Case(
        "topic/long-ids",
        variant(("fleet.0.name", "g" * 70_000), ("fleet.0.id_format", "{group}-{index}"), mqtt()),
        text="over MQTT's limit of 65535 bytes",
    ),
    Case("topic/unknown-field", variant(mqtt(topic="{nope}")), text="unknown field(s) ['nope']"),
    Case("topic/grid-without-grid", variant(mqtt(topic="{transformer}/{meter_id}")), text="uses grid fields"),
]

MQTT_LIMITS = [
    Case("mqtt/keepalive-65536", variant(mqtt(keepalive_s=65_536)), text="keepalive_s: must be at most 65535"),
    Case("mqtt/keepalive-0", variant(mqtt(keepalive_s=0)), text="keepalive_s: must be at least 1"),
    Case("mqtt/client-id-65536", variant(mqtt(client_id="x" * 65_536)), text="longer than MQTT's limit"),
    Case("mqtt/client-id-utf-8", variant(mqtt(client_id="\u00e9" * 32_768)), text="65535 bytes (UTF-8)"),
    Case("mqtt/client-id-nul", variant(mqtt(client_id="a\0")), text="client_id: must not contain a NUL"),
    Case(
        "mqtt/client-id-twice",
        variant(("outputs", [{**MQTT, "embedded_port": 1884, "client_id": "a"}] * 2)),
        text="is also the client_id of outputs[0]",
    ),
    Case("mqtt/port", variant(mqtt(url="mqtt://127.0.0.1:99999")), text="Port out of range"),
    Case("mqtt/scheme", variant(mqtt(url="http://x")), text="expected mqtt://host[:port]"),
    Case("mqtt/url-space", variant(mqtt(url="mqtt://h st")), text="must not contain spaces or control characters"),
    Case("mqtt/url-nul", variant(mqtt(url="mqtt://h\0st")), text="must not contain spaces or control characters"),
    Case(
        "mqtt/env-nul",  # was: valid, then "embedded null byte" from os.environ, a traceback at run
        variant(mqtt(username_env="USER\0")),
        text="username_env: must be the name of an environment variable",
        child=True,
    ),
    Case("mqtt/env-equals", variant(mqtt(password_env="A=B")), text="password_env: must be the name"),
    Case("mqtt/qos-3", variant(mqtt(qos=3)), text="qos: must be 0, 1 or 2"),
    Case("mqtt/inflight", variant(mqtt(max_inflight=70_000)), text="must be at most 65000"),
]

PATHS = [
    Case("path/file-nul", variant(("outputs", [{"type": "file", "path": "a\0b"}])), text="must not contain a NUL"),
    Case("path/truth-nul", variant(("truth", {"path": "a\0b"})), text="truth.path: must not contain a NUL"),
    Case(
        "path/weather-nul",
        variant(("truth", {"path": "t.csv", "weather_path": "w\0"})),
        text="truth.weather_path: must not contain",
    ),
    Case(
        "path/state-nul",  # was: valid
        variant(("simulation.state_path", "s\0.npz")),
        text="simulation.state_path: must not contain a NUL",
    ),
    Case(
        "path/tls-nul",
        variant(mqtt(url="mqtts://127.0.0.1", tls={"ca_file": "ca\0"})),
        text="tls.ca_file: must not contain a NUL",
    ),
    Case(
        "path/truth-dev-full",
        variant(("truth", {"path": "/dev/full"})),
        validate=OK,
        run=NOT_WRITABLE,
        text="cannot write ground truth /dev/full: No space left on device",
        marks=(pytest.mark.skipif(not HAS_DEV_FULL, reason="needs /dev/full"),),
    ),
    Case(
        "path/weather-dev-full",  # was: OSError from the weather log's close, a traceback
        writes_into(lambda folder: variant(("truth", {"path": str(folder / "t.csv"), "weather_path": "/dev/full"}))),
        validate=OK,
        run=NOT_WRITABLE,
        text="No space left on device",
        child=True,
        marks=(pytest.mark.skipif(not HAS_DEV_FULL, reason="needs /dev/full"),),
    ),
    Case(
        "path/output-dev-full",
        variant(("outputs", [{"type": "file", "path": "/dev/full"}])),
        validate=OK,
        run=NOT_WRITABLE,
        text="cannot write /dev/full: No space left on device",
        marks=(pytest.mark.skipif(not HAS_DEV_FULL, reason="needs /dev/full"),),
    ),
    Case(
        "path/output-under-a-file",
        writes_into(not_a_folder),
        validate=OK,
        run=NOT_WRITABLE,
        text="Not a directory",
    ),
    Case(
        "path/output-is-a-folder",
        writes_into(lambda folder: variant(("outputs", [{"type": "file", "path": str(folder)}]))),
        validate=OK,
        run=NOT_WRITABLE,
        text="Is a directory",
    ),
]

CASES = [*TYPES, *RANGES, *UNKNOWN_KEYS, *YAML, *FILES, *TIME, *SIZES, *IDS, *TOPICS, *MQTT_LIMITS, *PATHS]


IN_CHILD_ONLY = {"time/8999-is-fine"}


@pytest.mark.parametrize("case", [c.param() for c in CASES if c.id not in IN_CHILD_ONLY])
def test_validate_and_run_refuse_clearly_and_agree(case, tmp_path):
    check(case, tmp_path)


@pytest.mark.parametrize("case", [c.param() for c in CASES if c.child])
def test_the_real_command_does_the_same(case, tmp_path):
    check(case, tmp_path, metersim_child)


def test_every_category_has_a_case_for_the_real_command():
    categories = {c.id.split("/")[0] for c in CASES}
    assert categories == {c.id.split("/")[0] for c in CASES if c.child}


def test_the_catalogue_has_unique_ids():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


# --- bounded: time and memory ------------------------------------------------------------------------------


def write(tmp_path: Path, text: str | bytes) -> str:
    path = tmp_path / "scenario.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def test_validating_the_largest_fleet_is_fast_and_small(tmp_path):
    largest = variant(
        ("fleet", [group(name=f"g{i}", id_format="{group}-{index:08d}", count=MAX_METERS // 5) for i in range(5)]),
        mqtt(topic="m/{group}/{meter_id}"),
    )
    result, elapsed, peak_mb = measured_child(["validate", write(tmp_path, yaml.safe_dump(largest))])
    assert_clear(result, OK, "50,000,000 meters in 5 group(s)")
    assert elapsed < 2.0, elapsed  # the checks build no per-meter data
    assert peak_mb < 200, peak_mb  # an interpreter with metersim imported is ~60 MB


def test_dev_zero_is_read_no_further_than_the_limit():
    result, elapsed, peak_mb = measured_child(["validate", "/dev/zero"], timeout=30)
    assert_clear(result, CONFIG, "larger than")
    assert elapsed < 5.0, elapsed
    assert peak_mb < 200, peak_mb


def test_a_yaml_bomb_is_refused_before_it_is_built(tmp_path):
    result, elapsed, peak_mb = measured_child(["validate", write(tmp_path, laughs(10))], timeout=30)
    assert_clear(result, CONFIG, "a YAML alias bomb?")
    assert elapsed < 2.0, elapsed
    assert peak_mb < 200, peak_mb


def test_the_largest_yaml_allowed_loads_in_seconds(tmp_path):
    values = ", ".join(["1"] * (MAX_VALUES - 1_000))
    result, elapsed, peak_mb = measured_child(["validate", write(tmp_path, base_yaml(f"x: [{values}]\n"))])
    assert_clear(result, CONFIG, "x: unknown key")
    assert elapsed < 6.0, elapsed
    assert peak_mb < 250, peak_mb
    over = ", ".join(["1"] * (MAX_VALUES + 1))
    result, elapsed, peak_mb = measured_child(["validate", write(tmp_path, base_yaml(f"x: [{over}]\n"))])
    assert_clear(result, CONFIG, f"holds more than {MAX_VALUES:,} values")
    assert elapsed < 2.0, elapsed


def test_groups_that_differ_only_in_padding_are_compared_quickly():
    # Was 41 s for ten groups of 100,000: every id of the smaller group was built and looked up. Widths of
    # 6 and more never write an index below 100,000 alike; widths 1 and 2 share M10 and up.
    data = variant(("fleet", [group(name=f"g{w}", id_format=f"M{{index:0{w}d}}", count=99_999) for w in range(6, 26)]))
    began = time.perf_counter()
    result = metersim_in_process(["validate", "-"], stdin=yaml.safe_dump(data).encode())
    assert time.perf_counter() - began < 3.0
    assert_clear(result, OK, "1,999,980 meters in 20 group(s)")
    data["fleet"][:2] = [group(name=f"g{w}", id_format=f"M{{index:0{w}d}}", count=99_999) for w in (1, 2)]
    result = metersim_in_process(["validate", "-"], stdin=yaml.safe_dump(data).encode())
    assert_clear(result, CONFIG, "fleet[1].id_format: meter id 'M10' is also used by fleet[0]")


def test_a_fleet_of_the_most_groups_validates_in_seconds():
    data = variant(("fleet", [group(name=f"g{i}", id_format="{group}-{index:06d}", count=1000) for i in range(1000)]))
    began = time.perf_counter()
    result = metersim_in_process(["validate", "-"], stdin=yaml.safe_dump(data).encode())
    assert_clear(result, OK, "1,000,000 meters in 1000 group(s)")
    assert time.perf_counter() - began < 10.0


@pytest.mark.skipif(not HAS_DEV_FULL, reason="needs /dev/full")
def test_a_full_disk_under_the_weather_log_names_the_file(tmp_path):
    data = variant(("truth", {"path": str(tmp_path / "t.csv"), "weather_path": "/dev/full"}))
    result = metersim_in_process(["run", write(tmp_path, yaml.safe_dump(data)), "-q"])
    assert_clear(result, NOT_WRITABLE, "cannot write weather /dev/full: No space left on device")
