"""Which addresses reach a server bound to a host: what `csms serve` prints for stations.

A server bound to 0.0.0.0 (or ::) listens on every interface, but "ws://0.0.0.0:9000" is no
address a station can use, and "ws://127.0.0.1:9000" only works on this machine. `reachable_hosts`
(pure, table-tested) turns the bound host and the machine's interface addresses into the hosts to
print; `interface_addresses` reads those addresses with the standard library only.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import sys

WILDCARDS = ("", "0.0.0.0", "::")
LOOPBACK = "127.0.0.1"


def reachable_hosts(bound_host: str, interfaces: list[str]) -> list[str]:
    """The hosts to print for a server bound to `bound_host`: LAN addresses first, then loopback.

    A specific bound host is the only answer. For a wildcard, every non-loopback, non-link-local
    interface address (IPv6 ones only when bound to ::), then 127.0.0.1 ("this machine only").
    """
    if bound_host not in WILDCARDS:
        return [bound_host]
    hosts: list[str] = []
    for text in interfaces:
        try:
            address = ipaddress.ip_address(text.split("%")[0])
        except ValueError:
            continue
        if address.is_loopback or address.is_link_local or address.is_unspecified:
            continue
        if address.version == 6 and bound_host != "::":
            continue
        if str(address) not in hosts:
            hosts.append(str(address))
    return [*hosts, LOOPBACK]


def url_host(host: str) -> str:
    """`host` as written in a URL (IPv6 literals in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def interface_addresses() -> list[str]:
    """The IPv4 (and global IPv6) addresses of this machine's interfaces.

    On Linux asked from the kernel (`SIOCGIFADDR` per interface, /proc/net/if_inet6), which
    works offline; elsewhere, or when that finds nothing, the addresses of the host name.
    """
    found: list[str] = []
    if sys.platform.startswith("linux"):
        found.extend(_linux_ipv4())
        found.extend(_linux_ipv6())
    if not found:
        with contextlib.suppress(OSError):
            infos = socket.getaddrinfo(socket.gethostname(), None, proto=socket.IPPROTO_TCP)
            found.extend(str(info[4][0]) for info in infos)
    return found


_SIOCGIFADDR = 0x8915


def _linux_ipv4() -> list[str]:
    import fcntl

    addresses = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, request)
            except OSError:  # an interface without an IPv4 address
                continue
            addresses.append(socket.inet_ntoa(answer[20:24]))
    return addresses


def _linux_ipv6() -> list[str]:
    """Global IPv6 addresses from /proc/net/if_inet6 (hex address, index, prefix, scope, …)."""
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    addresses = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 4 and fields[3] == "00":  # scope global
            addresses.append(str(ipaddress.IPv6Address(bytes.fromhex(fields[0]))))
    return addresses
