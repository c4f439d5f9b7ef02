"""The deploy files: compose.yaml (parses, every mounted file exists, the configs it mounts are
valid and point at each other), the Kubernetes manifests (valid against the Kubernetes schemas,
probes, non-root, read-only root filesystem, the store on a claim) and the systemd unit."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from shipped_helpers import AMTOOL, PROMTOOL, REPO

COMPOSE = REPO / "compose.yaml"
KUBERNETES = REPO / "deploy" / "kubernetes"
UNIT = REPO / "deploy" / "systemd" / "vpnwatch.service"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
STORE_DIR = "/var/lib/vpnwatch"  # the image's VPNWATCH_STORE__PATH lives here
_DEFAULT = re.compile(r"\$\{[A-Z_]+:-([^}]*)\}")


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _mounts(service: dict) -> list[tuple[str, str]]:
    """(host source with ${VAR:-default} resolved to its default, container path) of bind mounts."""
    out = []
    for volume in service.get("volumes", []):
        source, target = _DEFAULT.sub(r"\1", volume).split(":")[:2]
        out.append((source, target))
    return out


def test_compose_mounts_only_files_that_exist_and_declares_its_volumes():
    compose = _compose()
    assert set(compose["services"]) == {"vpnwatch", "prometheus", "alertmanager", "grafana"}
    named = set(compose["volumes"])
    for name, service in compose["services"].items():
        for source, _target in _mounts(service):
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in named, f"{name} uses volume {source!r} not declared"
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert compose["services"]["vpnwatch"]["build"] == "."
    assert (REPO / "Dockerfile").is_file()


def _mounted(service: str, target: str) -> Path:
    for source, path in _mounts(_compose()["services"][service]):
        if path == target:
            return REPO / source
    raise AssertionError(f"{service} mounts nothing at {target}")


def test_compose_configs_point_at_each_other():
    config = _mounted("prometheus", "/etc/prometheus/prometheus.yml")
    prometheus = yaml.safe_load(config.read_text())
    for rule_file in prometheus["rule_files"]:
        assert _mounted("prometheus", rule_file).is_file()
    [scrape] = [s for s in prometheus["scrape_configs"] if s["job_name"] == "vpnwatch"]
    assert scrape["static_configs"][0]["targets"] == ["vpnwatch:8080"]
    targets = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]

    provisioning = _mounted("grafana", "/etc/grafana/provisioning")
    provider = yaml.safe_load((provisioning / "dashboards" / "vpnwatch.yml").read_text())
    folder = provider["providers"][0]["options"]["path"]
    assert _mounted("grafana", f"{folder}/vpnwatch.json") == REPO / "dashboards" / "vpnwatch.json"
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (make system-deps)")
def test_compose_prometheus_config_passes_promtool(tmp_path: Path):
    """The config as the container sees it: rule files copied to where it names them."""
    config = yaml.safe_load(_mounted("prometheus", "/etc/prometheus/prometheus.yml").read_text())
    local = []
    for n, rule_file in enumerate(config["rule_files"]):
        copy = tmp_path / f"rules-{n}.yml"
        shutil.copyfile(_mounted("prometheus", rule_file), copy)
        local.append(str(copy))
    config["rule_files"] = local
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(AMTOOL is None, reason="amtool not installed (make system-deps)")
def test_compose_alertmanager_config_passes_amtool():
    path = _mounted("alertmanager", "/etc/alertmanager/alertmanager.yml")
    result = subprocess.run(
        [AMTOOL, "check-config", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _manifests() -> dict[str, dict]:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    out = {}
    for name in kustomization["resources"]:
        document = yaml.safe_load((KUBERNETES / name).read_text())
        out[document["kind"]] = document
    return out


def test_kubernetes_manifests_are_valid_against_the_kubernetes_schemas():
    manifests = _manifests()
    assert {"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim"} <= set(manifests)
    listed = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == listed, "every manifest is in the kustomization"
    for document in manifests.values():
        kubernetes_validate.validate(document, "1.30.0", strict=True)  # raises on any error


def test_kubernetes_deployment_probes_runs_non_root_read_only_and_keeps_the_store():
    m = _manifests()
    pod = m["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {v["name"]: v["mountPath"] for v in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes[next(n for n, p in mounts.items() if p == STORE_DIR)]
    claim_name = m["PersistentVolumeClaim"]["metadata"]["name"]
    assert claim["persistentVolumeClaim"]["claimName"] == claim_name
    config = volumes[next(n for n, p in mounts.items() if p == "/etc/vpnwatch")]
    assert config["configMap"]["name"] == m["ConfigMap"]["metadata"]["name"]
    assert "/etc/vpnwatch/vpnwatch.yaml" in container["args"]
    assert m["Deployment"]["spec"]["replicas"] == 1, "one writer for the SQLite store"
    selector = m["Service"]["spec"]["selector"]
    assert selector.items() <= m["Deployment"]["spec"]["template"]["metadata"]["labels"].items()


def test_kubernetes_config_map_holds_a_valid_vpnwatch_config(tmp_path: Path):
    config = tmp_path / "vpnwatch.yaml"
    config.write_text(_manifests()["ConfigMap"]["data"]["vpnwatch.yaml"])
    result = subprocess.run(
        [sys.executable, "-m", "vpnwatch", "check-config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("VPNWATCH_")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_systemd_unit_runs_the_agent_unprivileged():
    text = UNIT.read_text()
    assert "ExecStart=/opt/vpnwatch/bin/vpnwatch run --config /etc/vpnwatch/vpnwatch.yaml" in text
    assert "User=vpnwatch" in text and "NoNewPrivileges=yes" in text
    assert "StateDirectory=vpnwatch" in text


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed")
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path):
    vpnwatch = Path(sys.executable).parent / "vpnwatch"
    unit = tmp_path / "vpnwatch.service"
    unit.write_text(UNIT.read_text().replace("/opt/vpnwatch/bin/vpnwatch", str(vpnwatch)))
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
