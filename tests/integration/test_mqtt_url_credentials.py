"""Credentials in the URL (``mqtt://user:pass@host``) are used, never printed; env variables win."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from metersim.errors import BrokerUnreachableError
from metersim.sinks.mqtt import MqttSink
from tests.integration.conftest import LOOPBACK, MOSQUITTO_PASSWD, PrivateMosquitto
from tests.integration.test_mqtt_sink import batch, output, prefix

pytestmark = pytest.mark.integration


@pytest.mark.skipif(MOSQUITTO_PASSWD is None, reason="no mosquitto_passwd")
def test_credentials_in_the_url_are_used_and_never_shown(
    private_mosquitto: Callable[..., PrivateMosquitto], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert MOSQUITTO_PASSWD is not None
    passwords = tmp_path / "passwd"
    subprocess.run([MOSQUITTO_PASSWD, "-b", "-c", str(passwords), "meter", "s3cret-Pw"], check=True, timeout=10)
    broker = private_mosquitto(allow_anonymous=False, extra_config=f"password_file {passwords}\n").start()
    lines: list[str] = []
    url = f"mqtt://meter:s3cret-Pw@{LOOPBACK}:{broker.port}"
    with MqttSink(output(url, qos=1), log=lines.append) as sink:
        sink.send(batch(prefix(), 0, 50))
        assert "s3cret-Pw" not in sink.describe() and "s3cret-Pw" not in repr(sink)
    assert sink.stats.acknowledged == 50
    assert output(url).display_url == f"mqtt://meter@{LOOPBACK}:{broker.port}"

    with pytest.raises(BrokerUnreachableError, match="refused the connection") as info:
        MqttSink(output(f"mqtt://meter:wrong-Pw@{LOOPBACK}:{broker.port}"), log=lines.append).open()
    assert "wrong-Pw" not in str(info.value)

    # A named environment variable wins over the URL.
    monkeypatch.setenv("METERSIM_TEST_PASS", "wrong-Pw")
    with pytest.raises(BrokerUnreachableError, match="refused the connection"):
        MqttSink(output(url, password_env="METERSIM_TEST_PASS")).open()
    assert not any("s3cret-Pw" in line or "wrong-Pw" in line for line in lines)
