"""There is no Docker engine here, so the compose file is checked statically."""

import re

import yaml

from metersim.config import load_scenario
from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_images_and_ports():
    services = COMPOSE["services"]
    assert set(services) == {"mosquitto", "metersim"}
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:")
    # Published on loopback, on a host port that does not clash with a local broker on 1883.
    assert services["mosquitto"]["ports"] == ["127.0.0.1:${MQTT_HOST_PORT:-18830}:1883"]
    assert services["metersim"]["build"] == "."
    assert "mosquitto" in services["metersim"]["depends_on"]


def test_metersim_gets_an_init_so_that_sigterm_reaches_it():
    service = COMPOSE["services"]["metersim"]
    assert service["init"] is True
    assert service["stop_signal"] == "SIGTERM"


def test_the_build_context_leaves_out_what_the_image_does_not_need():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "tests", "out"} <= ignored


def test_mosquitto_mounts_a_config_that_exists_and_listens_on_1883():
    (mount,) = COMPOSE["services"]["mosquitto"]["volumes"]
    host, container, *_ = mount.split(":")
    assert container == "/mosquitto/config/mosquitto.conf"
    conf = (ROOT / host).read_text()
    assert re.search(r"^listener 1883\b", conf, re.M)
    assert re.search(r"^allow_anonymous true$", conf, re.M)


def test_metersim_runs_the_docker_config_against_the_broker_service():
    command = COMPOSE["services"]["metersim"]["command"]
    assert command == ["run", "configs/docker.yaml"]
    scenario = load_scenario(ROOT / "configs" / "docker.yaml")
    assert [o.url for o in scenario.outputs if o.type == "mqtt"] == ["mqtt://mosquitto:1883"]


def test_dockerfile_installs_the_package_and_ships_the_configs():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.1\d", dockerfile, re.M)
    assert "pip install" in dockerfile
    assert "COPY configs" in dockerfile
    assert 'ENTRYPOINT ["metersim"]' in dockerfile
