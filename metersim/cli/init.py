"""``metersim init``: write a commented starter scenario, or one of the shipped examples."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

from rich.console import Console

from metersim.errors import OutputNotWritableError, not_writable

DEFAULT_PATH = "metersim.yaml"

#: the shipped scenarios: copies of configs/*.yaml (a test keeps them byte-identical)
EXAMPLES = files("metersim") / "examples"

STARTER = """\
# A metersim scenario: which meters, when and how fast they run, and where their readings go.
#   metersim validate metersim.yaml     check it (every problem, with its path)
#   metersim run metersim.yaml          run it
#   metersim run metersim.yaml --duration 1d --seed 7 --set fleet.0.count=500
# Every field: `metersim schema` (a JSON Schema, for editor completion) and the README,
# "Scenario reference". Unknown keys are errors.

# When the simulated run happens, for how long, how fast, and from which seed.
simulation:
  start: "2026-01-01T00:00:00+05:00"  # ISO 8601 with a UTC offset, or "now" for a live run
  duration: 12h                        # 90s, 15m, 12h, 2d, 1w, combinable (1d12h); or `end:` instead
  seed: 42                             # the same scenario and seed give byte-identical readings
  speed: max                           # max = as fast as the outputs accept; a number = simulated s
                                       # per wall s (1 = real time)

# The meters: one or more groups; a group shares commodity, time zone, interval and load model.
fleet:
  - name: households                   # unique; {group} in id_format
    commodity: electricity             # electricity | gas
    count: 80
    id_format: "ELEC-{index:06d}"      # meter ids; {index} counts from first_index (default 1)
    timezone: Asia/Karachi             # IANA zone: local timestamps and the daily load curve; it
                                       # also picks the built-in weather region (lahore)
    interval_s: 900                    # a reading every 15 minutes; must divide 86400
    annual_kwh: 2400                   # mean annual import per meter [kWh]
    profile: household                 # household | commercial | agricultural
    # pv: {fraction: 0.15}             # rooftop PV on 15% of the roofs
  - name: gas
    commodity: gas
    count: 20
    id_format: "GAS-{index:06d}"
    timezone: Asia/Tashkent
    interval_s: 3600                   # hourly
    annual_m3: 900                     # mean annual volume per meter [m3]
    region: tashkent                   # weather region: gas heating follows the temperature

# Where the readings go: one or more outputs, each receives every reading.
outputs:
  - type: mqtt                         # one MQTT message per reading (JSON payload v1)
    url: embedded                      # a broker inside metersim, nothing to install; a real one:
                                       # mqtt://127.0.0.1:1883 (or `--url` on the command line)
    topic: "metersim/{commodity}/{meter_id}/reading"
    qos: 1
  - type: file                         # JSON Lines, one reading per line
    path: out/readings.jsonl
  # - type: stdout                     # JSON Lines on standard output, for pipes

# Optional: tariffs give band registers and expected bills (`metersim bill`); a group names
# its tariff with `tariff: flat`.
# tariffs:
#   flat:
#     commodity: electricity
#     currency: PKR
#     bands: [{name: all}]
#     prices: {all: 40}

# Optional: the ground-truth ledger, what really happened per meter and interval.
# truth:
#   path: out/truth.csv                # or .parquet
#   weather_path: out/weather.csv      # hourly weather per region
"""


def example_names() -> list[str]:
    return sorted(entry.name.removesuffix(".yaml") for entry in EXAMPLES.iterdir() if entry.name.endswith(".yaml"))


def example_bytes(name: str) -> bytes:
    """The shipped scenario ``name``, byte for byte as in configs/."""
    return (EXAMPLES / f"{name}.yaml").read_bytes()


def add_parser(sub: Any) -> None:
    names = example_names()
    init = sub.add_parser(
        "init",
        help="write a commented starter scenario (or a shipped example) to start from",
        description=f"Write a commented starter scenario to PATH (default {DEFAULT_PATH}; - for standard output).",
        epilog="examples:\n"
        "  metersim init && metersim run metersim.yaml\n"
        "  metersim init --example lahore-feeder feeder.yaml\n"
        "  metersim init --list",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    init.add_argument("path", nargs="?", default=DEFAULT_PATH, metavar="PATH", help=f"default: {DEFAULT_PATH}")
    which = init.add_mutually_exclusive_group()
    which.add_argument(
        "--example", choices=names, metavar="NAME", help=f"a shipped scenario instead: {', '.join(names)}"
    )
    which.add_argument("--list", action="store_true", help="list the shipped scenarios and exit")
    init.add_argument("-f", "--force", action="store_true", help="overwrite PATH if it exists")


def main(args: argparse.Namespace, console: Console) -> int:
    if args.list:
        names = example_names()
        width = max(map(len, names))
        for name in names:
            line = f"{name:<{width}}  {_summary(example_bytes(name).decode())}"
            sys.stdout.write(line.rstrip() + "\n")
        return 0
    content = STARTER.encode() if args.example is None else example_bytes(args.example)
    if args.path == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(content)
        return 0
    path = Path(args.path)
    if path.exists() and not args.force:
        raise OutputNotWritableError(f"{path} exists; give --force to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where a folder should be
        raise not_writable("", path, NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))) from None
    except OSError as exc:
        raise not_writable("", path, exc) from None
    try:
        with open(path, "wb" if args.force else "xb") as file:
            file.write(content)
    except FileExistsError:
        raise OutputNotWritableError(f"{path} exists; give --force to overwrite it") from None
    except OSError as exc:
        raise not_writable("", path, exc) from None
    what = "the starter scenario" if args.example is None else f"the {args.example} example"
    console.print(f"wrote {what} to {path}; next: metersim run {path}", markup=False, highlight=False)
    return 0


def _summary(text: str, width: int = 100) -> str:
    """The first sentence of a scenario's opening comment, which says what it is, cut to ``width``."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    sentence = " ".join(lines).split(". ")[0].rstrip(".")
    return sentence if len(sentence) <= width else sentence[: width - 3].rstrip() + "..."
