"""The kustomize base in deploy/k8s renders, every manifest is valid against the Kubernetes API
schemas (kubernetes-validate, offline, strict: an unknown field fails), the references between
them hold (ConfigMap, Secret keys, Service selectors and target ports, the PDB), and the pods'
settings — the ConfigMap's TOML plus the Deployment's variables — load as a cluster whose ports,
probes, user and stop time agree with the code, the Dockerfile and the systemd unit."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from csms.settings import Settings, SettingsError, load_settings
from tests.deploy.manifests import (
    DEPLOY,
    kustomize_build,
    one,
    setting_variables,
    systemd_stop_timeout_s,
)

BASE = DEPLOY / "k8s"
OLDEST_KUBERNETES = "1.30.0"  # the oldest release the base is meant for (and its schemas ship)


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    return kustomize_build(BASE)


def pod_spec(resources: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(resources, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(resources: list[dict[str, Any]]) -> dict[str, Any]:
    containers = pod_spec(resources)["containers"]
    assert len(containers) == 1
    found: dict[str, Any] = containers[0]
    return found


def secret_values(resources: list[dict[str, Any]], name: str) -> dict[str, str]:
    secret = next(r for r in resources if r["kind"] == "Secret" and r["metadata"]["name"] == name)
    assert "data" not in secret, "keep the Secret's values readable in stringData"
    values: dict[str, str] = secret["stringData"]
    return values


def pod_environment(resources: list[dict[str, Any]], pod_name: str) -> dict[str, str]:
    """The container's variables as the kubelet sets them for a pod named `pod_name`."""
    env = {}
    for item in container(resources)["env"]:
        source = item.get("valueFrom")
        if source is None:
            env[item["name"]] = item["value"]
        elif "fieldRef" in source:
            assert source["fieldRef"]["fieldPath"] == "metadata.name", item
            env[item["name"]] = pod_name
        else:
            ref = source["secretKeyRef"]
            env[item["name"]] = secret_values(resources, ref["name"])[ref["key"]]
    return env


def pod_settings(resources: list[dict[str, Any]], pod_name: str, **secrets: str) -> Settings:
    """Load the settings a pod starts with: the ConfigMap file at CSMS_CONFIG, then variables
    (`secrets` stand for the operator's values of the Secret's keys)."""
    env = pod_environment(resources, pod_name)
    for item in container(resources)["env"]:
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        if ref and ref["key"] in secrets:
            env[item["name"]] = secrets[ref["key"]]
    mounts = {m["mountPath"]: m["name"] for m in container(resources)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(resources)["volumes"]}
    config = Path(env.pop("CSMS_CONFIG"))
    volume = volumes[mounts[str(config.parent)]]
    config_map = next(
        r
        for r in resources
        if r["kind"] == "ConfigMap" and r["metadata"]["name"] == volume["configMap"]["name"]
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / config.name
        path.write_text(config_map["data"][config.name])
        return load_settings(path, env=env)


def test_every_resource_is_valid_against_the_kubernetes_schemas(
    resources: list[dict[str, Any]],
) -> None:
    kinds = {r["kind"] for r in resources}
    assert kinds == {"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"}
    for version in (OLDEST_KUBERNETES, kubernetes_validate.utils.latest_version()):
        for resource in resources:
            kubernetes_validate.validate(resource, version, strict=True)


def test_the_schema_check_catches_a_misspelt_field(resources: list[dict[str, Any]]) -> None:
    deployment = one(resources, "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError, match="replica"):
        kubernetes_validate.validate(broken, OLDEST_KUBERNETES, strict=True)


def test_the_images_entry_renames_the_container_image(resources: list[dict[str, Any]]) -> None:
    assert container(resources)["image"] == "registry.example.org/csms:latest"


def test_references_between_the_resources_hold(resources: list[dict[str, Any]]) -> None:
    deployment = one(resources, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    port_names = {p["name"] for p in container(resources)["ports"]}
    services = [r for r in resources if r["kind"] == "Service"]
    assert {s["metadata"]["name"] for s in services} == {"csms-ocpp", "csms-api"}
    for service in services:
        assert service["spec"]["selector"].items() <= labels.items(), service["metadata"]["name"]
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, service["metadata"]["name"]
    budget = one(resources, "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    names = {(r["kind"], r["metadata"]["name"]) for r in resources}
    for volume in pod_spec(resources)["volumes"]:
        if "configMap" in volume:
            assert ("ConfigMap", volume["configMap"]["name"]) in names
    for item in container(resources)["env"]:
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            assert ref["key"] in secret_values(resources, ref["name"]), item["name"]


def test_two_or_more_replicas_and_one_disruption_at_a_time(
    resources: list[dict[str, Any]],
) -> None:
    deployment = one(resources, "Deployment")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    budget = one(resources, "PodDisruptionBudget")["spec"]
    replicas = deployment["spec"]["replicas"]
    allowed = (
        budget["maxUnavailable"]
        if "maxUnavailable" in budget
        else replicas - budget["minAvailable"]
    )
    assert 1 <= allowed < replicas


def test_every_variable_is_a_setting_the_loader_reads(resources: list[dict[str, Any]]) -> None:
    names = {item["name"] for item in container(resources)["env"]}
    assert names - setting_variables() == set()


def test_the_pods_form_one_cluster_with_the_container_ports(
    resources: list[dict[str, Any]],
) -> None:
    token = {"api-token": "k" * 48}
    first = pod_settings(resources, "csms-7d9f-abcde", **token)
    second = pod_settings(resources, "csms-7d9f-fghij", **token)
    assert first.cluster.enabled and first.database_url.startswith("postgresql://")
    assert first.node_id != second.node_id  # the pod names
    ports = {p["name"]: p["containerPort"] for p in container(resources)["ports"]}
    assert ports == {"ocpp": first.ocpp_port, "api": first.api_port}
    assert first.ocpp_host == first.api_host == "0.0.0.0"  # reachable from the Services


def test_as_shipped_the_secret_lets_nothing_start(resources: list[dict[str, Any]]) -> None:
    with pytest.raises(SettingsError, match="api_token"):
        pod_settings(resources, "csms-7d9f-abcde")


def test_probes_are_the_health_and_readiness_endpoints(resources: list[dict[str, Any]]) -> None:
    spec = container(resources)
    assert spec["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "api"}
    assert spec["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "api"}
    assert spec["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "api"}
    # /readyz waits up to 2 s for the database (csms.api.probes): the probe waits longer.
    assert spec["readinessProbe"]["timeoutSeconds"] > 2


def test_the_pod_runs_as_the_image_user_without_privileges(
    resources: list[dict[str, Any]],
) -> None:
    user = re.search(r"^USER (\d+)$", (DEPLOY / "Dockerfile").read_text(), re.M)
    assert user
    pod = pod_spec(resources)["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == int(user[1])
    own = container(resources)["securityContext"]
    assert own["allowPrivilegeEscalation"] is False and own["readOnlyRootFilesystem"] is True
    assert own["capabilities"]["drop"] == ["ALL"]


def test_the_grace_period_covers_the_pre_stop_pause_and_the_shutdown(
    resources: list[dict[str, Any]],
) -> None:
    pre_stop = container(resources)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = pod_spec(resources)["terminationGracePeriodSeconds"]
    assert grace == int(pre_stop[1]) + systemd_stop_timeout_s()
