"""Disk faults: a file output whose disk fills up in the middle of a real ``metersim run``.

The file lives on a 256 KiB tmpfs (mounted for the test, so it needs root and the right to mount;
skipped otherwise). The run must fail with exit 5 and one error line; the file must hold complete
JSON lines only (a line cut by the full disk is removed again); and the report must count exactly:
``acknowledged`` is the number of lines in the file, ``errors`` the rest of what the output accepted.
An MQTT output beside it is unaffected and reconciles too.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.robustness.brokers import Lab, check_result, fleet_scenario, new_prefix, run

pytestmark = pytest.mark.integration

SIZE = "256k"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A directory on a 256 KiB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with Lab(tmp_path) as made:
        yield made


def test_a_full_disk_mid_run_is_one_error_exit_5_complete_lines_and_counted(
    small_disk: Path, tmp_path: Path, lab: Lab
) -> None:
    broker = lab.broker()
    prefix = new_prefix()
    path = small_disk / "readings.jsonl"
    outputs = [
        {"type": "file", "path": str(path)},
        {"type": "mqtt", "url": broker.url, "qos": 1, "max_rate_msg_s": None},
    ]
    # 200 meters x 96 readings x ~250 bytes: about 5 MB, twenty times the disk
    scenario = fleet_scenario(tmp_path, prefix, meters=200, outputs=outputs)
    result = run(scenario, "-q")
    check_result(result, 5, status="failed")
    assert result.stderr.splitlines() == [f"metersim: error: cannot write {path}: No space left on device"]
    data = path.read_bytes()
    assert data and data.endswith(b"\n")
    lines = data.splitlines()
    assert all(json.loads(line)["meter_id"].startswith(prefix) for line in lines)  # complete lines only
    assert result.report is not None
    file_out, mqtt_out = result.report["outputs"]
    assert file_out["output"] == f"file {path}" and file_out["in_flight"] in (None, 0)
    assert file_out["acknowledged"] == len(lines), (file_out, len(lines))
    assert file_out["errors"] == file_out["accepted"] - len(lines) > 0, file_out
    # The engine counts an emission in readings_published once every output took it, so the one the
    # disk failed in (one interval of the 200 meters) is in the file's accepted and errors only.
    assert 0 <= file_out["accepted"] - result.report["readings_published"] <= 200
    assert mqtt_out["errors"] == 0 and mqtt_out["acknowledged"] == mqtt_out["accepted"], mqtt_out
