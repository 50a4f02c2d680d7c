"""`--quiet` prints nothing but errors; a reader that closes standard output ends the run quietly, exit 0."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.table import Table

from metersim.cli.common import QuietConsole, error
from tests.cli.test_cli import assert_user_error, file_scenario, metersim, write
from tests.conftest import ROOT, scenario_dict


def stdout_scenario(tmp_path: Path) -> Path:
    data = scenario_dict(duration="1d")
    data["fleet"][0]["count"] = 2000  # 192,000 lines, far more than a pipe buffers
    data["outputs"] = [{"type": "stdout"}]
    return write(tmp_path, data)


@pytest.mark.parametrize("quiet", [False, True])
def test_a_closed_pipe_ends_the_run_quietly_with_exit_0(tmp_path, quiet):
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "metersim", "run", str(stdout_scenario(tmp_path)), "-r", str(report)]
    process = subprocess.Popen(
        command + (["-q"] if quiet else []),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None and process.stderr is not None
    lines = [process.stdout.readline() for _ in range(3)]  # what `| head -n 3` reads
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, stderr
    # No error line, no summary, no "Exception ignored ... BrokenPipeError": only the start line that a
    # run without a terminal logs.
    assert _beyond_the_start_line(stderr) == []
    assert all(json.loads(line)["schema"] == "metersim/reading/v1" for line in lines)
    data = json.loads(report.read_text())  # the report still says what happened
    assert 3 <= data["readings_published"] < 2000 * 96


def test_the_shell_pipe_to_head_exits_0(tmp_path):
    scenario = stdout_scenario(tmp_path)
    script = f'"{sys.executable}" -m metersim run "{scenario}" | head -n 3; exit "${{PIPESTATUS[0]}}"'
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert result.returncode == 0, result.stderr
    assert _beyond_the_start_line(result.stderr) == []
    assert len(result.stdout.splitlines()) == 3


def test_stdout_closed_before_any_output_also_ends_quietly(tmp_path):
    for args in (["schema"], ["init", "--example", "lahore-feeder", "-"], ["run", str(stdout_scenario(tmp_path))]):
        read, written = os.pipe()
        os.close(read)
        try:
            result = subprocess.run(
                [sys.executable, "-m", "metersim", *args],
                stdout=written,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                timeout=60,
            )
        finally:
            os.close(written)
        assert (result.returncode, _beyond_the_start_line(result.stderr)) == (0, []), args


def test_a_full_disk_on_stdout_is_still_an_error(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    with open("/dev/full", "wb") as full:
        result = subprocess.run(
            [sys.executable, "-m", "metersim", "run", str(stdout_scenario(tmp_path)), "-q"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=60,
        )
    assert_user_error(result, 5, "cannot write to stdout: No space left on device")


def test_quiet_prints_nothing_for_a_successful_run(tmp_path):
    data = file_scenario(tmp_path, duration="1h")
    data["outputs"].append({"type": "mqtt", "url": "embedded"})  # whose address is an info line
    data["truth"] = {"path": str(tmp_path / "truth.csv")}
    scenario = write(tmp_path, data)
    loud = metersim("run", str(scenario))
    assert loud.returncode == 0, loud.stderr
    assert "embedded MQTT broker listening on mqtt://127.0.0.1:" in loud.stderr
    quiet = metersim("run", str(scenario), "--quiet", "-r", str(tmp_path / "report.json"))
    assert (quiet.returncode, quiet.stderr, quiet.stdout) == (0, "", "")
    assert json.loads((tmp_path / "report.json").read_text())["status"] == "completed"


def test_quiet_still_prints_errors(tmp_path):
    data = scenario_dict()
    data["outputs"] = [{"type": "mqtt", "url": "mqtt://127.0.0.1:1", "connect_timeout_s": 5}]
    result = metersim("run", str(write(tmp_path, data)), "-q")
    assert_user_error(result, 3, "metersim: error: ")
    assert len(result.stderr.splitlines()) == 1
    assert_user_error(metersim("run", str(write(tmp_path, {"fleet": []})), "-q"), 2, ": simulation: ")


def test_quiet_still_prints_warnings(tmp_path):
    data = scenario_dict()
    data["outputs"] = [
        {"type": "mqtt", "url": "mqtts://127.0.0.1:1", "tls": {"insecure": True}, "connect_timeout_s": 5}
    ]
    result = metersim("run", str(write(tmp_path, data)), "-q")
    assert_user_error(result, 3, "metersim: error: cannot reach MQTT broker")
    assert result.stderr.splitlines()[0] == (
        "mqtt: warning: tls.insecure is set: the certificate of 127.0.0.1:1 is not verified"
    )
    assert len(result.stderr.splitlines()) == 2


def test_the_quiet_console_keeps_warnings_and_errors_only():
    out = io.StringIO()
    console = QuietConsole(file=out, width=200)
    console.print("metersim: 30 meters, 1d, into discard")  # the start line: information
    console.print("embedded MQTT broker listening on mqtt://127.0.0.1:1884")
    console.print("mqtt: reconnected to 127.0.0.1:1883 after 2.0 s")
    console.print(Table("output", "accepted"))  # the summary
    console.print("mqtt: warning: tls.insecure is set", markup=False)
    console.print("ledger: error: half a line", markup=False)
    error(console, "cannot write x: No space left on device")
    assert out.getvalue().splitlines() == [
        "mqtt: warning: tls.insecure is set",
        "ledger: error: half a line",
        "metersim: error: cannot write x: No space left on device",
    ]


def _beyond_the_start_line(stderr: str) -> list[str]:
    """What stderr holds besides the one line a run without a terminal logs at start."""
    return [line for line in stderr.splitlines() if not (line.startswith("metersim: ") and " meters, " in line)]
