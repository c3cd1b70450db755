"""The target guard: a webhook URL must not reach the operator's internal network.

A URL is checked when an endpoint is created or updated, and again at every delivery after
DNS resolution; the delivery then connects to the address that was checked (the ``Host``
header and TLS SNI keep the name), so a name that re-resolves to a private address between
the check and the connection (DNS rebinding) cannot slip through.
``Settings.webhooks_allow_private_targets`` lifts the rule (tests deliver to loopback).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


class TargetRefused(ValueError):
    """The URL is malformed, unresolvable, or resolves to an address tenants may not reach."""


@dataclass(frozen=True)
class Target:
    """A checked URL: the URL to connect to (host replaced by the checked address), the
    original host name for ``Host``/SNI."""

    connect_url: str
    host: str
    host_header: str


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a well-formed http(s) URL; :class:`TargetRefused` otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"Invalid URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"Invalid URL {url!r}: use an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise TargetRefused("Invalid URL: credentials in the URL are not allowed")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve_target(url: str, allow_private: bool) -> Target:
    """Resolve ``url`` and check every address it resolves to (blocking: call off the loop)."""
    scheme, host, port = check_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"The webhook URL's host {host!r} does not resolve: {exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"The webhook URL's host {host!r} does not resolve")
    if not allow_private:
        for address in addresses:
            if not _is_public(address):
                raise TargetRefused(
                    f"The webhook URL's host {host!r} resolves to {address}, a loopback, link-local or private "
                    "address; webhook targets must be public (the operator can allow private targets with "
                    "OPENFT_WEBHOOKS_ALLOW_PRIVATE_TARGETS=true)")
    parts = urlsplit(url)
    address = addresses[0]
    netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return Target(connect_url=parts._replace(netloc=netloc).geturl(), host=host, host_header=host_header)
