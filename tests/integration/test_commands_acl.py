"""The broker ACL the README documents for commands, on a real Mosquitto with passwords: the simulator
reads commands and writes readings and answers with its own credentials; a head-end user sends commands
and reads the answers; neither can do the other's part."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tests.integration.conftest import IN_CI, MOSQUITTO_PASSWD, split_url

ROOT = Path(__file__).resolve().parents[2]
USERS = {"metersim": "sim-secret", "headend": "he-secret"}


def readme_acl() -> str:
    """The ACL block of README.md's commands section (indented lines after "acl_file`:")."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("`acl_file`:", 1)[1].split("\n\n", 2)[1]
    return "\n".join(line.strip() for line in block.splitlines()) + "\n"


def passwords(path: Path) -> Path:
    if MOSQUITTO_PASSWD is None:
        if IN_CI:
            pytest.fail("CI=true: mosquitto_passwd is required")
        pytest.skip("no mosquitto_passwd")
    for k, (user, password) in enumerate(USERS.items()):
        flags = ["-b", "-c"] if k == 0 else ["-b"]
        subprocess.run([MOSQUITTO_PASSWD, *flags, str(path), user, password], check=True, timeout=30)
    path.chmod(0o600)
    return path


def client(url: str, user: str, name: str, received: list[mqtt.MQTTMessage]) -> mqtt.Client:
    host, port = split_url(url)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{user}-{name}")
    c.username_pw_set(user, USERS[user])
    c.on_message = lambda _c, _u, m: received.append(m)
    c.connect(host, port)
    c.loop_start()
    return c


def test_the_documented_acl_lets_each_side_do_its_part_only(private_mosquitto, tmp_path):
    acl = tmp_path / "acl"
    acl.write_text(readme_acl())
    assert re.search(r"^user metersim$", acl.read_text(), re.M) and "user headend" in acl.read_text()
    pw = passwords(tmp_path / "passwords")
    broker = private_mosquitto(allow_anonymous=False, extra_config=f"password_file {pw}\nacl_file {acl}\n").start()
    scenario = {
        "simulation": {"start": "2026-01-01T00:00:00+05:00", "duration": "1d", "seed": 3, "speed": 600},
        "fleet": [{"name": "homes", "commodity": "electricity", "count": 5, "id_format": "PK-{index:04d}",
                   "timezone": "Asia/Karachi", "interval_s": 900, "annual_kwh": 2400}],
        "outputs": [{"type": "mqtt", "url": broker.url, "qos": 1, "username_env": "SIM_USER",
                     "password_env": "SIM_PASSWORD", "commands": {"latency": {"median_s": 1, "p95_s": 2}}}],
    }  # fmt: skip
    path = tmp_path / "acl.yaml"
    path.write_text(yaml.safe_dump(scenario))
    env = {**os.environ, "SIM_USER": "metersim", "SIM_PASSWORD": USERS["metersim"]}
    answers: list[mqtt.MQTTMessage] = []
    readings: list[mqtt.MQTTMessage] = []
    headend = client(broker.url, "headend", "commands", answers)
    watcher = client(broker.url, "headend", "readings", readings)
    forger = client(broker.url, "headend", "forger", [])
    headend.subscribe("metersim/cmd/+/response", 1)
    watcher.subscribe("metersim/electricity/#", 1)
    run = subprocess.Popen([sys.executable, "-m", "metersim", "run", str(path), "-q"], env=env)
    try:
        deadline = time.monotonic() + 30
        while not readings and time.monotonic() < deadline:  # the run is up and publishing
            time.sleep(0.05)
        assert readings, "no readings reached the head-end"
        command = json.dumps({"id": "acl-1", "command": "read"})
        headend.publish("metersim/cmd/PK-0002", command, qos=1).wait_for_publish(5)
        # a head-end may not answer for a meter: Mosquitto drops that publish (and, on 3.1.1, the connection)
        forger.publish("metersim/cmd/PK-0003/response", b'{"forged": true}', qos=1)
        while not answers and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        run.terminate()
        run.wait(timeout=30)
        for c in (headend, watcher, forger):
            c.loop_stop()
    (answer,) = [json.loads(m.payload) for m in answers]
    assert answers[0].topic == "metersim/cmd/PK-0002/response"
    assert (answer["id"], answer["meter_id"], answer["status"]) == ("acl-1", "PK-0002", "ok")
    assert "1-0:1.8.0" in answer["result"]["registers"]
