"""``metersim schema``: print the JSON Schema of scenario files."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console

from metersim.config import json_schema


def add_parser(sub: Any) -> None:
    sub.add_parser("schema", help="print the JSON Schema of scenario files")


def main(args: argparse.Namespace, console: Console) -> int:
    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return 0
