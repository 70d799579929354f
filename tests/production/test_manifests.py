"""deploy/kubernetes/ checked by kubernetes-validate against Kubernetes 1.28's schemas,
and kept in step with the local production profile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
VALIDATE = Path(sys.executable).with_name("kubernetes-validate")


def validate(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VALIDATE), "--strict", *map(str, paths)], capture_output=True, text=True, check=False
    )


def resources() -> list[dict]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_every_manifest_passes_strict_validation() -> None:
    assert MANIFESTS
    done = validate(*MANIFESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("passed") == len(resources())


def test_the_validator_catches_a_mistake(tmp_path) -> None:
    broken = tmp_path / "broken.yaml"
    text = (ROOT / "deploy" / "kubernetes" / "actions.yaml").read_text()
    broken.write_text(text.replace("replicas: 2", "replica: 2", 1))
    assert validate(broken).returncode != 0


def test_the_cluster_uses_the_same_stores_and_channels_as_run_prod() -> None:
    config = next(r for r in resources() if r["kind"] == "ConfigMap")
    cluster = yaml.safe_load(config["data"]["endpoints.yml"])
    local = yaml.safe_load((ROOT / "endpoints.prod.yml").read_text())
    for store in ("tracker_store", "lock_store", "event_broker"):
        assert cluster[store]["type"] == local[store]["type"]
    assert cluster["action_endpoint"]["headers"] == local["action_endpoint"]["headers"]
    channels = set(yaml.safe_load(config["data"]["credentials.yml"]))
    assert channels <= set(yaml.safe_load((ROOT / "credentials.yml").read_text()))


def test_two_of_each_server_with_the_readiness_check_haproxy_uses() -> None:
    deployments = {r["metadata"]["name"]: r for r in resources() if r["kind"] == "Deployment"}
    assert deployments["needlecheck-rasa"]["spec"]["replicas"] == 2
    assert deployments["needlecheck-actions"]["spec"]["replicas"] == 2
    (rasa,) = deployments["needlecheck-rasa"]["spec"]["template"]["spec"]["containers"]
    assert rasa["readinessProbe"]["httpGet"]["path"] == "/webhooks/health/ready"
    haproxy = (ROOT / "deploy" / "haproxy" / "haproxy.cfg").read_text()
    assert "option httpchk GET /webhooks/health/ready" in haproxy
