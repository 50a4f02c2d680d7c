"""The Job's exact command, run here for every index: the union of the shards is the single run.

No cluster, so the kubelet's part is done by hand, and only that (:func:`pod_command`):

- the image's ENTRYPOINT (``metersim``) is this checkout's ``metersim``, followed by the Job's args;
- the env comes from the Job and the Secret manifest, and ``$(VAR)`` is expanded as Kubernetes does;
  the one value replaced is ``MQTT_URL``: a private Mosquitto on loopback that accepts only the
  Secret's username and password (so the credentials are shown to reach the broker);
- each volume mount is a temp folder (the ConfigMap's keys written into it as files), and the process
  runs in the one the container's ``workingDir`` maps to; every shard shares one results folder, as
  the pods share the PersistentVolumeClaim;
- ``JOB_COMPLETION_INDEX`` is K, for each K of the Job, all at once, as with parallelism = completions.

The fleet is shrunk (:data:`SHRINK`, appended to the args) to 6 chunks of meters for the 6 shards, an
hour long, so that the test takes seconds instead of the Job's ~22 minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metersim.streams import CHUNK
from tests.deploy.manifests import by_kind, container, container_env, entrypoint, expand, mounts, secret_values
from tests.integration.conftest import IN_CI, LOOPBACK, MOSQUITTO_PASSWD, PrivateMosquitto

pq = pytest.importorskip("pyarrow.parquet")

JOB = by_kind("Job")
CONFIGMAP = by_kind("ConfigMap")
SECRET = by_kind("Secret")
N = int(JOB["spec"]["completions"])
#: 2 chunks of homes and 4 of gas meters: 6 equal pieces, so that each of the 6 shards has work (gas,
#: with one reading an hour, keeps the test short; the homes give clock drift, faults and jitter)
SHRINK = ["-s", f"fleet.0.count={2 * CHUNK}", "-s", f"fleet.1.count={4 * CHUNK}", "--duration", "1h"]
#: the bound of one metersim process here [s]
RUN_TIMEOUT_S = 180


def need(binary: str | None, name: str) -> str:
    if binary is None:
        if IN_CI:
            pytest.fail(f"CI=true: {name} is required")
        pytest.skip(f"no {name}")
    return binary


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateMosquitto]:
    """A Mosquitto that takes only the Secret's credentials."""
    values = secret_values(SECRET)
    credentials = [values["MQTT_USERNAME"], values["MQTT_PASSWORD"]]
    passwords = tmp_path / "passwords"
    subprocess.run(
        [need(MOSQUITTO_PASSWD, "mosquitto_passwd"), "-c", "-b", str(passwords), *credentials],
        check=True,
        capture_output=True,
        timeout=30,
    )
    passwords.chmod(0o600)
    config = f"password_file {passwords}\n"
    mosquitto = PrivateMosquitto(tmp_path / "broker", allow_anonymous=False, extra_config=config)
    with mosquitto:
        yield mosquitto


class Subscriber:
    """``mosquitto_sub`` (an independent client) with the Secret's credentials, writing to a file."""

    def __init__(self, broker: PrivateMosquitto, path: Path) -> None:
        values = secret_values(SECRET)
        self.credentials = ["-h", LOOPBACK, "-p", str(broker.port), "-u", values["MQTT_USERNAME"]]
        self.credentials += ["-P", values["MQTT_PASSWORD"]]
        self.path = path
        self.marker = f"metersim/_ready-{uuid.uuid4().hex[:8]}"
        self._out = open(path, "w")  # noqa: SIM115 - closed in stop()
        binary = need(shutil.which("mosquitto_sub"), "mosquitto_sub")
        self._process = subprocess.Popen(
            [binary, *self.credentials, "-q", "1", "-v", "-t", "metersim/#"],
            stdout=self._out,
            stderr=subprocess.DEVNULL,
        )
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 10.0) -> None:
        """Publish probes until one comes back: then the subscription is in place."""
        publish = [need(shutil.which("mosquitto_pub"), "mosquitto_pub"), *self.credentials, "-q", "1"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            subprocess.run([*publish, "-t", self.marker, "-m", "probe"], check=True, timeout=10)
            time.sleep(0.2)
            if self.marker in self.path.read_text():
                return
        raise TimeoutError("mosquitto_sub did not receive its probe")

    def lines(self) -> list[str]:
        text = self.path.read_text()
        return [line for line in text[: text.rfind("\n") + 1].splitlines() if not line.startswith(self.marker)]

    def wait_for(self, n: int, timeout_s: float = 60.0) -> list[str]:
        """The lines once ``n`` have come and no more follow for a moment (bounded by ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(self.lines()) < n:
            time.sleep(0.2)
        time.sleep(0.5)  # a duplicate or an unexpected message would arrive now
        return self.lines()

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        self._out.close()


def pod_command(broker_url: str, root: Path) -> tuple[list[str], dict[str, str], Path]:
    """What the kubelet would run for the Job's container, here: argv, the env, the working folder."""
    pod = container(JOB)
    env = container_env(JOB, SECRET)
    env["MQTT_URL"] = broker_url  # the one substitution of a value: loopback, not the Secret's broker
    folders: dict[str, Path] = {}
    for mount in mounts(JOB):
        folder = folders[mount.path] = root / mount.name
        folder.mkdir(parents=True)
        if "configMap" in mount.volume:
            assert mount.volume["configMap"]["name"] == CONFIGMAP["metadata"]["name"]
            for key, text in CONFIGMAP["data"].items():
                (folder / key).write_text(text)

    def local(arg: str) -> str:
        for path, folder in folders.items():
            if arg == path or arg.startswith(path + "/"):
                return str(folder) + arg[len(path) :]
        return arg

    # the image's ENTRYPOINT, as installed here (this checkout's console script, beside this Python)
    program, *options = entrypoint()
    executable = Path(sys.executable).with_name(program)
    assert executable.exists(), executable
    args = [local(expand(arg, env)) for arg in pod["args"]]
    return [str(executable), *options, *args, *SHRINK], env, folders[pod["workingDir"]]


def process_env(extra: dict[str, str]) -> dict[str, str]:
    """This environment without anything the Job sets, plus the Job's variables."""
    env = {k: v for k, v in os.environ.items() if k != "JOB_COMPLETION_INDEX" and not k.startswith("MQTT_")}
    return {**env, **extra}


def ledger_rows(paths: list[Path]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the Parquet ledgers, per meter, sorted (by their text: rows may hold nulls)."""
    per_meter: dict[str, list[tuple[Any, ...]]] = {}
    for path in paths:
        table = pq.read_table(path)
        for row in zip(*(table.column(name).to_pylist() for name in table.column_names)):
            per_meter.setdefault(row[table.column_names.index("meter_id")], []).append(row)
    return {meter: sorted(rows, key=repr) for meter, rows in per_meter.items()}


def label_rows(paths: list[Path]) -> Counter[tuple[Any, ...]]:
    rows: Counter[tuple[Any, ...]] = Counter()
    for path in paths:
        table = pq.read_table(path)
        rows.update(zip(*(table.column(name).to_pylist() for name in table.column_names)))
    return rows


def report(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert data["status"] == "completed", data
    return data  # type: ignore[no-any-return]


def test_the_index_comes_from_kubernetes_and_a_bad_one_fails_the_job(tmp_path: Path) -> None:
    # refused before anything connects: the broker is never reached (a closed loopback port)
    argv, env, workdir = pod_command(f"mqtt://{LOOPBACK}:9", tmp_path)
    fail_job = {
        c
        for r in JOB["spec"]["podFailurePolicy"]["rules"]
        if r["action"] == "FailJob"
        for c in r["onExitCodes"]["values"]
    }
    # unset (a pod spec that lost it), and out of range (a Job of more completions than --shards)
    for index in (None, str(N)):
        extra = env if index is None else {**env, "JOB_COMPLETION_INDEX": index}
        done = subprocess.run(
            argv, env=process_env(extra), cwd=workdir, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
        )
        assert done.returncode == 2, (index, done.stderr)
        assert done.stderr.startswith("metersim: error:") and done.stderr.count("\n") == 1, done.stderr
        assert done.returncode in fail_job  # a Job without a usable index fails at once, not N x retries
    assert list(workdir.iterdir()) == []  # nothing ran, nothing was written


@pytest.mark.slow
@pytest.mark.integration
def test_every_index_of_the_job_together_reproduces_the_single_run(broker: PrivateMosquitto, tmp_path: Path) -> None:
    argv, env, results = pod_command(broker.url, tmp_path / "pods")
    assert argv[argv.index("--shards") + 1] == str(N)

    # every index at once, into one results folder and one broker, as the Job's pods
    sub = Subscriber(broker, tmp_path / "sharded.txt")
    try:
        pods = [
            subprocess.Popen(
                argv,
                env=process_env({**env, "JOB_COMPLETION_INDEX": str(k)}),
                cwd=results,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in range(N)
        ]
        for k, pod in enumerate(pods):
            _, stderr = pod.communicate(timeout=RUN_TIMEOUT_S)
            assert pod.returncode == 0, (k, stderr)
        reports = [report(results / f"report.shard-{k}-of-{N}.json") for k in range(N)]
        sharded = sub.wait_for(sum(r["messages_acknowledged"] for r in reports))
    finally:
        sub.stop()

    # the same command without --shards N: one run of the whole scenario
    at = argv.index("--shards")
    single_argv = argv[:at] + argv[at + 2 :]
    single_dir = tmp_path / "single"
    single_dir.mkdir()
    sub = Subscriber(broker, tmp_path / "single.txt")
    try:
        done = subprocess.run(
            single_argv, env=process_env(env), cwd=single_dir, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
        )
        assert done.returncode == 0, done.stderr
        whole = report(single_dir / "report.json")
        single = sub.wait_for(whole["messages_acknowledged"])
    finally:
        sub.stop()

    # what the broker delivered: the same messages, each once
    assert whole["readings_generated"] == 2 * CHUNK * 4 + 4 * CHUNK  # 4 quarter-hours, 1 gas hour
    assert len(single) == whole["messages_acknowledged"] >= whole["readings_generated"]
    assert sorted(sharded) == sorted(single)
    assert all(r["readings_generated"] > 0 for r in reports)  # every pod did a share
    assert sum(r["readings_generated"] for r in reports) == whole["readings_generated"]

    # the ground truth: the shards' ledgers together are the single run's, row for row, per meter
    assert sorted(p.name for p in results.iterdir()) == sorted(
        f"{stem}.shard-{k}-of-{N}.{ext}"
        for k in range(N)
        for stem, ext in (("truth", "parquet"), ("labels", "parquet"), ("report", "json"))
    )
    shards = ledger_rows([results / f"truth.shard-{k}-of-{N}.parquet" for k in range(N)])
    assert shards == ledger_rows([single_dir / "truth.parquet"])
    assert len(shards) == 6 * CHUNK
    assert label_rows([results / f"labels.shard-{k}-of-{N}.parquet" for k in range(N)]) == label_rows(
        [single_dir / "labels.parquet"]
    )

    # each pod connected with its own client id, with the Secret's username
    log = broker.log_path.read_text()
    for k in range(N):
        assert f" as metersim-national-shard{k} " in log
