"""The numeric records between the stages."""

from __future__ import annotations

import json

from metersim.records import QUALITY_NAMES
from tests.conftest import ROOT


def test_every_quality_code_is_in_the_payload_schema():
    schema = json.loads((ROOT / "schemas" / "reading-v1.json").read_text())
    assert list(QUALITY_NAMES) == schema["properties"]["quality"]["enum"]
