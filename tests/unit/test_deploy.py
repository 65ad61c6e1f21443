"""The deployment for several machines (deploy/): each file against the validator that
runs without Docker or a cluster. See deploy/README.md, "What is checked here"."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from bot.core.settings import ROOT, Settings
from bot.stack import processes

DEPLOY = ROOT / "deploy"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")


def test_the_compose_file_follows_the_compose_specification():
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_checker_refuses_a_broken_file(tmp_path):
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        "services:\n  rasa:\n    image: tandem-rasa\n    restart: sometimes-maybe\n    ports: 5005\n"
    )
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(broken)], capture_output=True
    )
    assert result.returncode != 0


def kubernetes_objects() -> list[dict]:
    objects = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return objects


def test_every_kubernetes_object_is_valid_for_kubernetes_1_30():
    objects = kubernetes_objects()
    kinds = {obj["kind"] for obj in objects}
    assert {"Deployment", "StatefulSet", "Service", "Ingress", "ConfigMap"} <= kinds
    for obj in objects:
        kubernetes_validate.validate(obj, "1.30", strict=True)


def test_the_kubernetes_checker_refuses_a_misspelt_field():
    deployment = next(obj for obj in kubernetes_objects() if obj["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30", strict=True)


def test_the_rasa_deployment_gets_every_secret_rasa_reads():
    rasa = next(
        obj
        for obj in kubernetes_objects()
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "rasa"
    )
    env = {item["name"] for item in rasa["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {"TANDEM_REDIS_PASSWORD", "TANDEM_ACTIONS_TOKEN", "TANDEM_RASA_TOKEN", "TANDEM_SESSION_KEY_FILE",
            "TANDEM_REST_TOKEN_FILE"} <= env  # fmt: skip


@pytest.mark.skipif(
    not shutil.which("haproxy", path="/usr/sbin:/usr/bin"), reason="make setup installs haproxy"
)
def test_both_haproxy_configurations_are_valid(tmp_path):
    haproxy = processes.haproxy_binary()
    written = processes.haproxy_config(replace(Settings(home=tmp_path), rasa_replicas=3))
    compose_config = tmp_path / "compose-haproxy.cfg"  # its error page is mounted elsewhere in the container
    compose_config.write_text(
        (DEPLOY / "haproxy.cfg")
        .read_text()
        .replace("/usr/local/etc/haproxy/503.http", str(DEPLOY / "haproxy-503.http"))
    )
    for config in (written, compose_config):
        result = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", ["Dockerfile.rasa", "Dockerfile.app"])
def test_every_file_a_dockerfile_copies_exists(dockerfile):
    copies = [
        line.split()[1:-1]
        for line in (DEPLOY / dockerfile).read_text().splitlines()
        if line.startswith("COPY ")
    ]
    assert copies
    for sources in copies:
        for source in sources:
            if source == "models/":
                continue  # made by `tandem train` before the build (deploy/README.md)
            assert (ROOT / source).exists(), f"{dockerfile} copies {source}, which is not in the repository"
