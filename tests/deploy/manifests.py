"""The Kubernetes manifests of deploy/kubernetes/, read the way the API server and the kubelet read them.

Kept apart from the tests so that the static checks and the local run read one and the same Job.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy" / "kubernetes"
#: every manifest: those `kubectl apply -f deploy/kubernetes/` applies, and the Secret's template
MANIFEST_FILES = sorted([*DEPLOY.glob("*.yaml"), *DEPLOY.glob("secret/*.yaml")])

Doc = dict[str, Any]


def load_documents() -> list[tuple[Path, Doc]]:
    """Every YAML document of every manifest file, with its file."""
    docs = []
    for path in MANIFEST_FILES:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path, doc))
    return docs


def by_kind(kind: str) -> Doc:
    """The one manifest of ``kind`` (a second one would make the tests ambiguous: an error)."""
    (doc,) = [doc for _, doc in load_documents() if doc.get("kind") == kind]
    return doc


def container(job: Doc) -> Doc:
    """The Job's one container."""
    (only,) = job["spec"]["template"]["spec"]["containers"]
    return only  # type: ignore[no-any-return]


def secret_values(secret: Doc) -> dict[str, str]:
    """The Secret's keys and values, as the API server stores them: ``data`` is base64, ``stringData``
    plain, and ``stringData`` wins for a key in both."""
    values = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    values.update(secret.get("stringData") or {})
    return values


_REFERENCE = re.compile(r"\$(\$|\(([^)]*)\))")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion of command, args and env values: a defined variable is
    replaced, an undefined one is left as it is, and ``$$`` is a literal ``$``."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) == "$":
            return "$"
        name = match.group(2)
        return env.get(name, match.group(0))

    return _REFERENCE.sub(one, text)


def container_env(job: Doc, secret: Doc) -> dict[str, str]:
    """The variables the kubelet gives the container: literal values (expanded against the earlier
    ones) and Secret keys. Any other source is an error: the Job uses none."""
    values = secret_values(secret)
    env: dict[str, str] = {}
    for var in container(job).get("env", []):
        if "value" in var:
            env[var["name"]] = expand(var["value"], env)
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            assert ref["name"] == secret["metadata"]["name"], f"{var['name']} refers to another Secret: {ref}"
            env[var["name"]] = values[ref["key"]]
    return env


@dataclass(frozen=True)
class Mount:
    """A volume mount of the container and what backs it."""

    name: str
    path: str
    read_only: bool
    volume: Doc


def mounts(job: Doc) -> list[Mount]:
    pod = job["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    return [
        Mount(m["name"], m["mountPath"], bool(m.get("readOnly", False)), volumes[m["name"]])
        for m in container(job).get("volumeMounts", [])
    ]


def dockerfile_instruction(name: str) -> str:
    """The argument of the Dockerfile's last ``name`` instruction (the one in force)."""
    found = re.findall(rf"^{name}\s+(.+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert found, f"the Dockerfile has no {name}"
    return str(found[-1]).strip()


def entrypoint() -> list[str]:
    """The image's ENTRYPOINT, in exec form (the shell form would swallow SIGTERM)."""
    value = json.loads(dockerfile_instruction("ENTRYPOINT"))
    assert isinstance(value, list)
    return [str(v) for v in value]
