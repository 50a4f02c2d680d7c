"""The Kubernetes manifests, checked statically: there is no cluster here.

They must parse, deserialize into the official client's models without losing a field, and agree with
one another (N, the Secret's keys, the mounts), with the Dockerfile and with metersim itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from metersim.config import parse_scenario
from metersim.signals import GRACE_S
from tests.conftest import ROOT
from tests.deploy.manifests import (
    MANIFEST_FILES,
    by_kind,
    container,
    container_env,
    dockerfile_instruction,
    entrypoint,
    load_documents,
    mounts,
    secret_values,
)

JOB = by_kind("Job")
CONFIGMAP = by_kind("ConfigMap")
SECRET = by_kind("Secret")
PVC = by_kind("PersistentVolumeClaim")
POD = JOB["spec"]["template"]["spec"]
CONTAINER = container(JOB)
ARGS: list[str] = CONTAINER["args"]


def scenario_text() -> str:
    (text,) = CONFIGMAP["data"].values()
    return str(text)


def scenario_data() -> dict[str, Any]:
    data = yaml.safe_load(scenario_text())
    assert isinstance(data, dict)
    return data


def arg_after(flag: str) -> str:
    assert ARGS.count(flag) == 1, f"{flag} must be given once in {ARGS}"
    return ARGS[ARGS.index(flag) + 1]


# --- they parse, and the client's models take every field ----------------------------------------


@dataclass
class _Response:
    """What ApiClient.deserialize reads from an HTTP response: its body."""

    data: str


def test_every_manifest_file_parses_into_named_kubernetes_objects() -> None:
    assert {p.name for p in MANIFEST_FILES} == {
        "job.yaml",
        "scenario-configmap.yaml",
        "results-pvc.yaml",
        "broker-secret.yaml",
    }
    docs = load_documents()
    assert len(docs) == len(MANIFEST_FILES)  # one object a file
    for path, doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(doc), path
        assert doc["metadata"]["name"], path
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "metersim", path


@pytest.mark.parametrize(("path", "doc"), load_documents(), ids=lambda v: v.name if isinstance(v, Path) else "")
def test_each_manifest_round_trips_through_the_kubernetes_client_models(path: Path, doc: dict[str, Any]) -> None:
    # deserialize() drops unknown fields silently, so serializing back must give the manifest again:
    # a misspelt or misplaced field (`completionsMode`, `backoffLimitPerIndex` under the pod) fails here.
    kubernetes = pytest.importorskip("kubernetes")
    model = "V1" + doc["kind"]
    with kubernetes.client.ApiClient() as api:
        obj = api.deserialize(_Response(json.dumps(doc)), model)
        assert type(obj).__name__ == model
        assert api.sanitize_for_serialization(obj) == doc


# --- the Job: an Indexed Job whose index reaches the command line ----------------------------------


def test_the_job_is_indexed_with_one_pod_per_shard() -> None:
    spec = JOB["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"]
    assert int(arg_after("--shards")) == spec["completions"] >= 2
    # --shards takes K from Kubernetes' JOB_COMPLETION_INDEX: a fixed --shard K/N would run one shard N times
    assert "--shard" not in ARGS
    names = [v["name"] for v in CONTAINER.get("env", [])]
    assert "JOB_COMPLETION_INDEX" not in names
    assert "envFrom" not in CONTAINER  # nothing can smuggle it in either


def test_the_container_runs_the_images_metersim_entrypoint() -> None:
    assert entrypoint() == ["metersim"]
    assert "command" not in CONTAINER  # a command would replace the ENTRYPOINT
    assert ARGS[:2] == ["run", "/etc/metersim/scenario.yaml"]
    assert CONTAINER["image"].split("/")[-1].split(":")[0] == "metersim"


def test_the_pod_runs_as_the_images_user() -> None:
    uid, gid = dockerfile_instruction("USER").split(":")
    context = POD["securityContext"]
    assert context["runAsNonRoot"] is True
    assert (str(context["runAsUser"]), str(context["runAsGroup"]), str(context["fsGroup"])) == (uid, gid, gid)
    assert CONTAINER["securityContext"]["readOnlyRootFilesystem"] is True


def test_failures_no_retry_can_fix_fail_the_job_and_a_retry_is_per_index() -> None:
    spec = JOB["spec"]
    assert POD["restartPolicy"] == "Never"  # podFailurePolicy requires it
    assert spec["backoffLimitPerIndex"] >= 1
    assert spec["maxFailedIndexes"] == 0  # a shard missing is not the scenario: the Job fails
    fail_job = {
        code
        for rule in spec["podFailurePolicy"]["rules"]
        if rule["action"] == "FailJob"
        for code in rule["onExitCodes"]["values"]
    }
    # README's exit codes: 2 invalid scenario, 4 TLS, 5 cannot write, 7 missing package; while 1 (other),
    # 3 (broker unreachable at start) and 6 (not delivered) may pass with the broker's mood: retried.
    assert fail_job == {2, 4, 5, 7}
    readme = (ROOT / "README.md").read_text()
    for code in fail_job:
        assert f"\n| {code} | " in readme


def test_the_grace_period_covers_metersims_sigterm_flush() -> None:
    grace = POD["terminationGracePeriodSeconds"]
    # GRACE_S for the outputs to deliver, then the ledger's close and the report: a few seconds more
    assert GRACE_S + 5 <= grace <= 60
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["metersim"]["stop_grace_period"] == f"{grace}s"


def test_resources_are_requested_and_memory_is_bounded() -> None:
    resources = CONTAINER["resources"]
    assert float(resources["requests"]["cpu"]) == 1.0  # one thread does the work (job.yaml, sizing)
    assert "cpu" not in resources.get("limits", {})
    assert resources["limits"]["memory"] == resources["requests"]["memory"]
    assert JOB["spec"]["activeDeadlineSeconds"] > 0


# --- the pieces refer to one another ---------------------------------------------------------------


def test_every_secret_reference_resolves_to_a_key_of_the_secret() -> None:
    refs = [v["valueFrom"]["secretKeyRef"] for v in CONTAINER["env"] if "valueFrom" in v]
    assert refs
    for ref in refs:
        assert ref["name"] == SECRET["metadata"]["name"]
        assert ref["key"] in secret_values(SECRET)
    assert set(container_env(JOB, SECRET)) == {"MQTT_URL", "MQTT_USERNAME", "MQTT_PASSWORD"}


def test_the_broker_url_comes_from_the_secret_through_the_command_line() -> None:
    assert arg_after("--url") == "$(MQTT_URL)"
    url = secret_values(SECRET)["MQTT_URL"]
    assert url.startswith(("mqtt://", "mqtts://"))
    assert "@" not in url  # credentials belong in MQTT_USERNAME / MQTT_PASSWORD, not on the command line


def test_the_scenario_is_mounted_from_the_configmap_at_the_path_the_args_give() -> None:
    (key,) = CONFIGMAP["data"]
    (scenario,) = [m for m in mounts(JOB) if "configMap" in m.volume]
    assert scenario.volume["configMap"]["name"] == CONFIGMAP["metadata"]["name"]
    assert scenario.read_only
    assert ARGS[1] == str(PurePosixPath(scenario.path) / key)


def test_relative_paths_land_on_the_results_volume() -> None:
    (results,) = [m for m in mounts(JOB) if "persistentVolumeClaim" in m.volume]
    assert results.volume["persistentVolumeClaim"]["claimName"] == PVC["metadata"]["name"]
    assert not results.read_only
    assert CONTAINER["workingDir"] == results.path
    assert "ReadWriteMany" in PVC["spec"]["accessModes"]  # every pod mounts it at once, from any node


# --- the scenario in the ConfigMap ------------------------------------------------------------------


def test_the_scenario_validates_with_metersim(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(scenario_text())
    done = subprocess.run(
        [sys.executable, "-m", "metersim", "validate", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1,000,000 meters" in done.stdout + done.stderr


def test_the_scenario_suits_a_sharded_job() -> None:
    data = scenario_data()
    # every pod must simulate the same window: `now` would differ from pod to pod
    assert data["simulation"]["start"] != "now"
    assert data["simulation"]["speed"] == "max"
    scenario = parse_scenario(data)
    env = {v["name"] for v in CONTAINER["env"]}
    (mqtt,) = [o for o in scenario.outputs if o.type == "mqtt"]
    assert {mqtt.username_env, mqtt.password_env} <= env
    assert mqtt.qos == 1
    assert mqtt.client_id  # fixed, so that each shard's id (with -shard<K>) is known to the broker's ACL
    assert scenario.truth is not None
    written = [scenario.truth.path, scenario.truth.resolved_labels_path, arg_after("--report")]
    assert all(not PurePosixPath(p).is_absolute() for p in written), written


def test_the_image_can_write_what_the_scenario_asks_for() -> None:
    scenario = parse_scenario(scenario_data())
    assert scenario.truth is not None and scenario.truth.resolved_format == "parquet"
    installs = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("RUN pip install")]
    assert len(installs) == 1 and "'.[parquet]'" in installs[0], installs
