"""deploy/compose.yaml agrees with the code and with deploy/haproxy.cfg: its csms nodes load as
valid cluster settings from their variables and deploy/cluster.toml, every `CSMS_…` variable is
one the settings loader reads, the ports HAProxy forwards to are the nodes' ports, and a node may
take as long to stop as the systemd unit allows."""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import urlsplit

import pytest

from csms.settings import Settings, SettingsError, load_settings
from tests.deploy.manifests import (
    DEPLOY,
    compose,
    csms_nodes,
    duration_s,
    haproxy_bind_ports,
    haproxy_servers,
    interpolate,
    setting_variables,
    systemd_stop_timeout_s,
)

SECRETS = {"POSTGRES_PASSWORD": "pg-secret-1", "CSMS_API_TOKEN": "t" * 48}


def node_settings(service: dict[str, object], secrets: dict[str, str] = SECRETS) -> Settings:
    """The settings a node of the compose file starts with: its TOML mount, then its variables."""
    env = {k: interpolate(str(v), secrets) for k, v in dict(service["environment"]).items()}
    mounts = {}
    for volume in service["volumes"]:
        source, target, *_ = str(volume).split(":")
        mounts[target] = DEPLOY / PurePosixPath(source)
    config = env.pop("CSMS_CONFIG")
    assert config in mounts, f"CSMS_CONFIG {config} is not a mounted file"
    return load_settings(mounts[config], env=env)


def test_the_services_are_postgres_two_csms_nodes_and_haproxy() -> None:
    data = compose()
    assert set(data["services"]) == {"postgres", "csms-1", "csms-2", "haproxy"}
    assert set(csms_nodes(data)) == {"csms-1", "csms-2"}


def test_every_csms_variable_is_a_setting_the_loader_reads() -> None:
    known = setting_variables()
    for name, service in csms_nodes(compose()).items():
        variables = set(service["environment"])
        assert {v for v in variables if v.startswith("CSMS_")} == variables, name
        assert variables - known == set(), name


def test_the_nodes_form_one_cluster_on_the_compose_postgres() -> None:
    data = compose()
    nodes = {name: node_settings(service) for name, service in csms_nodes(data).items()}
    postgres = data["services"]["postgres"]["environment"]
    for name, settings in nodes.items():
        assert settings.cluster.enabled, name
        url = urlsplit(settings.database_url)
        assert url.scheme == "postgresql" and url.hostname == "postgres", name
        assert url.username == postgres["POSTGRES_USER"], name
        assert url.password == SECRETS["POSTGRES_PASSWORD"], name
        assert url.path == "/" + postgres["POSTGRES_DB"], name
        assert settings.api_token == SECRETS["CSMS_API_TOKEN"], name
        assert settings.node_id == name  # HAProxy's server names and the logs say the same
    assert len({s.database_url for s in nodes.values()}) == 1


def test_the_nodes_refuse_to_start_without_the_secrets() -> None:
    service = csms_nodes(compose())["csms-1"]
    with pytest.raises(KeyError, match="CSMS_API_TOKEN"):
        node_settings(service, {"POSTGRES_PASSWORD": "x"})
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        node_settings(service, {"CSMS_API_TOKEN": "x"})
    # Had compose let an empty token through, csms itself would refuse (its API is not loopback).
    no_token = {**service, "environment": {**service["environment"], "CSMS_API_TOKEN": ""}}
    with pytest.raises(SettingsError, match="api_token"):
        node_settings(no_token)


def test_haproxy_forwards_to_the_nodes_ports_and_publishes_its_own() -> None:
    data = compose()
    cfg = (DEPLOY / "haproxy.cfg").read_text()
    nodes = {name: node_settings(service) for name, service in csms_nodes(data).items()}
    backends = haproxy_servers(cfg)
    assert set(backends) == {"csms_ocpp", "csms_api"}
    for name, settings in nodes.items():
        api = settings.api_port
        assert backends["csms_ocpp"][name] == (name, settings.ocpp_port, api)
        assert backends["csms_api"][name] == (name, api, None)
    assert set(backends["csms_ocpp"]) == set(nodes) == set(backends["csms_api"])
    binds = haproxy_bind_ports(cfg)
    published = {
        int(p.split(":")[0]): int(p.split(":")[1]) for p in data["services"]["haproxy"]["ports"]
    }
    assert published == {binds["ocpp"]: binds["ocpp"], binds["api"]: binds["api"]}
    mounts = data["services"]["haproxy"]["volumes"]
    assert "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in mounts


def test_a_node_may_stop_as_long_as_the_systemd_unit_allows() -> None:
    for name, service in csms_nodes(compose()).items():
        assert duration_s(service["stop_grace_period"]) == systemd_stop_timeout_s(), name


def test_the_interpolation_follows_compose() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert interpolate("x${A}y${B:-d}z${EMPTY:-e}", env) == "x1ydze"
    assert interpolate("${A:?need A}", env) == "1"
    with pytest.raises(KeyError, match="need B"):
        interpolate("${B:?need B}", env)


def test_nodes_and_the_balancer_may_hold_tens_of_thousands_of_sockets() -> None:
    """One socket per station on a node, two on HAProxy: a hard open-files limit of ~1,000 would
    refuse the thousandth station (csms raises its soft limit to the hard one)."""
    data = compose()
    services = {**csms_nodes(data), "haproxy": data["services"]["haproxy"]}
    for name, service in services.items():
        assert int(service["ulimits"]["nofile"]) >= 100_000, name
