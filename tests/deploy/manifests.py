"""Reading the deployment files under deploy/ the way their tools do, for the tests beside it:
compose variable interpolation, HAProxy's frontends and servers, kustomize's resources and
image rewrites, systemd's stop timeout, and which `CSMS_…` variables the settings loader reads."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from csms.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def setting_variables() -> set[str]:
    """The `CSMS_…` variables `load_settings` reads: `CSMS_CONFIG` and one per top-level scalar
    setting (tables such as [cluster] and [[sites]] come from the TOML file only)."""
    defaults = Settings.model_validate({}).model_dump()
    scalars = {name for name, value in defaults.items() if not isinstance(value, dict | list)}
    return {"CSMS_CONFIG"} | {f"CSMS_{name.upper()}" for name in scalars}


def systemd_stop_timeout_s() -> int:
    """`TimeoutStopSec` of deploy/csms.service: how long csms may take to stop."""
    unit = (DEPLOY / "csms.service").read_text()
    found = re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M)
    assert found, "deploy/csms.service has no TimeoutStopSec"
    return int(found[1])


def duration_s(text: str) -> float:
    """A compose duration such as `30s`, `1m30s`."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", text)
    assert parts and text, f"not a duration: {text!r}"
    hours, minutes, seconds = (float(p) if p else 0.0 for p in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}` substitution."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match[1], match[2], match[3]
        value = env.get(name)
        if op and op.endswith("-") and not value:
            return arg
        if op and op.endswith("?") and not value:
            raise KeyError(f"{name}: {arg}")
        return value or ""

    return _VARIABLE.sub(one, text)


def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def csms_nodes(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services of a compose file built from deploy/Dockerfile."""
    return {
        name: service
        for name, service in data["services"].items()
        if (service.get("build") or {}).get("dockerfile") == "deploy/Dockerfile"
    }


# -- HAProxy ---------------------------------------------------------------------------------------

_SECTION = re.compile(r"^(global|defaults|frontend|backend|resolvers|listen)\b\s*(\S*)")
_SERVER = re.compile(r"^(\s*server\s+)(\S+)\s+(\S+):(\d+)(.*)$")


def haproxy_sections(text: str) -> dict[str, list[str]]:
    """`"frontend ocpp"` → its lines (stripped, comments dropped)."""
    sections: dict[str, list[str]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        head = _SECTION.match(line)
        if head:
            current = f"{head[1]} {head[2]}".strip()
            sections[current] = []
        else:
            sections.setdefault(current, []).append(line.strip())
    return sections


def haproxy_defaults(text: str) -> dict[str, str]:
    """The `defaults` section's settings: `"timeout tunnel"` → `"1h"`, `"retries"` → `"3"`,
    `"option redispatch"` → `"1"` (keywords of one or two words, then the value)."""
    found = {}
    for line in haproxy_sections(text)["defaults"]:
        words = line.split()
        two = words[0] in ("timeout", "option", "default-server")
        key = " ".join(words[:2]) if two else words[0]
        found[key] = " ".join(words[2:] if two else words[1:])
    return found


def haproxy_duration_s(text: str) -> float:
    """An HAProxy time such as `500ms`, `5s`, `1m`, `1h` (a bare number is milliseconds)."""
    found = re.fullmatch(r"(\d+)(us|ms|s|m|h|d)?", text)
    assert found, f"not an HAProxy time: {text!r}"
    number, unit = found.groups()
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1e-3}
    return int(number) * scale[unit]


def haproxy_bind_ports(text: str) -> dict[str, int]:
    """Each frontend's bind port."""
    ports = {}
    for name, lines in haproxy_sections(text).items():
        if name.startswith("frontend "):
            binds = [line for line in lines if line.startswith("bind ")]
            assert len(binds) == 1, f"{name}: one bind expected, got {binds}"
            ports[name.removeprefix("frontend ")] = int(binds[0].split()[1].rsplit(":", 1)[1])
    return ports


def haproxy_servers(text: str) -> dict[str, dict[str, tuple[str, int, int | None]]]:
    """backend → server name → (host, port, health-check port or None)."""
    backends: dict[str, dict[str, tuple[str, int, int | None]]] = {}
    for name, lines in haproxy_sections(text).items():
        if not name.startswith("backend "):
            continue
        servers = backends.setdefault(name.removeprefix("backend "), {})
        for line in lines:
            found = _SERVER.match(line)
            if found:
                check = re.search(r"\bport (\d+)", found[5])
                servers[found[2]] = (found[3], int(found[4]), int(check[1]) if check else None)
    return backends


def haproxy_for_local_nodes(
    text: str, binds: dict[str, int], ports: dict[tuple[str, int], int], stats_socket: Path
) -> str:
    """deploy/haproxy.cfg with only its addresses changed: each frontend binds 127.0.0.1 on the
    port in `binds`; server `name` at `host:port` (and its health-check `port`) goes to
    127.0.0.1 on `ports[(name, port)]`; a stats socket is added to `global`."""
    out, section, rewritten = [], ("", ""), 0
    for line in text.splitlines():
        head = _SECTION.match(line)
        if head:
            section = (head[1], head[2])
        server = _SERVER.match(line)
        if server:
            name = server[2]
            check = re.search(r"\bport (\d+)", server[5])
            rest = server[5]
            if check:
                rest = rest.replace(check[0], f"port {ports[(name, int(check[1]))]}")
            line = f"{server[1]}{name} 127.0.0.1:{ports[(name, int(server[4]))]}{rest}"
            rewritten += 1
        elif line.strip().startswith("bind ") and section[0] == "frontend":
            line = re.sub(r"bind \S+", f"bind 127.0.0.1:{binds[section[1]]}", line)
            rewritten += 1
        out.append(line)
        if line.strip() == "global":
            out.append(f"    stats socket {stats_socket} mode 600 level admin")
    servers = sum(len(s) for s in haproxy_servers(text).values())
    assert rewritten == servers + len(binds), "a server or bind line was not rewritten"
    return "\n".join(out) + "\n"


def haproxy_binary() -> str:
    """Debian's haproxy (in /usr/sbin, which a non-root PATH may lack). Skips without it, except
    under CI=true, where .ci/run installs it and its absence is a failure."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    found = shutil.which("haproxy", path=path)
    if found is None:
        message = "haproxy is not installed (apt-get install haproxy)"
        if IN_CI:
            pytest.fail(message + "; .ci/run installs it when CI=true")
        pytest.skip(message)
    return found


# -- Kubernetes ------------------------------------------------------------------------------------

KUSTOMIZE_KEYS = {"apiVersion", "kind", "resources", "images"}


def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    """What `kustomize build` gives for a base using only `resources` and `images` (the keys
    this renderer knows; any other key is a test failure, so the check cannot silently lag)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZE_KEYS
    assert not unknown, f"kustomization keys this test cannot render: {sorted(unknown)}"
    resources: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        path = directory / name
        assert path.is_file(), f"kustomization resource {name} does not exist"
        resources.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    images = {image["name"]: image for image in kustomization.get("images", [])}
    for resource in resources:
        for container in _containers(resource):
            name, _, tag = container["image"].partition(":")
            if name in images:
                image = images[name]
                new_tag = image.get("newTag", tag)
                container["image"] = image.get("newName", name) + (f":{new_tag}" if new_tag else "")
    keys = [(r["kind"], r["metadata"]["name"]) for r in resources]
    assert len(keys) == len(set(keys)), f"a resource appears twice: {keys}"
    return resources


def _containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    pod = resource.get("spec", {}).get("template", {}).get("spec", {})
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def one(resources: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [r for r in resources if r["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]
