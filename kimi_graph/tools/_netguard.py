"""Address policy for `fetch_url`: which IP addresses a fetch may connect to.

A URL fetched on behalf of a model must not reach the machine it runs on or its
network (cloud metadata at ``169.254.169.254``, admin panels on ``10.x``, services
bound to ``127.0.0.1``). Every resolved address is classified here *before* any
connection is made; the caller then connects to the very address it checked, so a
second DNS answer cannot swap it (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

__all__ = ["AddressPolicy", "classify_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def classify_address(address: str | IPAddress) -> str | None:
    """Say why an IP address is not a public internet address.

    IPv6 addresses that embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``,
    NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by the embedded address.

    Args:
        address: An IP literal such as ``"10.0.0.1"`` or ``"::1"`` (an IPv6 zone
            such as ``"%eth0"`` is allowed), or an `ipaddress` object.

    Returns:
        A short reason such as ``"loopback"`` or ``"private"`` when the address
        must be refused, or `None` when it is a globally routable address.

    Raises:
        ValueError: If ``address`` is not an IP literal.
    """
    addr = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(addr)
        if embedded is not None:
            inner = classify_address(embedded)
            return f"{inner} (IPv4 inside IPv6)" if inner else None
    reason: str | None = None
    if addr.is_unspecified:
        reason = "unspecified"
    elif addr.is_loopback:
        reason = "loopback"
    elif addr.is_link_local:
        reason = "link-local"
    elif addr.is_multicast:
        reason = "multicast"
    elif isinstance(addr, ipaddress.IPv4Address) and addr in _CGNAT:
        reason = "shared (CGNAT 100.64.0.0/10)"
    elif isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local:
        reason = "site-local"
    elif addr.is_private:
        reason = "private"
    elif addr.is_reserved:
        reason = "reserved"
    elif not addr.is_global:
        reason = "non-global"
    return reason


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which hosts and addresses a fetch may connect to.

    Attributes:
        allow_private: Permit every address, including loopback and private ones.
        allowed_hosts: Exceptions to the policy: host names (matched exactly,
            case-insensitively) and IP addresses or networks in CIDR form
            (``"127.0.0.1"``, ``"10.0.0.0/8"``), matched against resolved addresses.
    """

    allow_private: bool = False
    allowed_hosts: tuple[str, ...] = ()
    _names: frozenset[str] = field(init=False, repr=False, compare=False)
    _networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        names: set[str] = set()
        networks = []
        for entry in self.allowed_hosts:
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.add(_normalize_host(entry))
        object.__setattr__(self, "_names", frozenset(names))
        object.__setattr__(self, "_networks", tuple(networks))

    def refusal(self, host: str, address: str) -> str | None:
        """Say why connecting to ``address`` (resolved from ``host``) is refused.

        Args:
            host: The host name from the URL, as written.
            address: One IP address ``host`` resolved to.

        Returns:
            A reason such as ``"127.0.0.1 is a loopback address"``, or `None` when
            the connection is permitted.
        """
        if self.allow_private or _normalize_host(host) in self._names:
            return None
        ip = ipaddress.ip_address(address)
        if any(ip.version == net.version and ip in net for net in self._networks):
            return None
        reason = classify_address(ip)
        if reason is None:
            return None
        article = "an" if reason[0] in "aeiouIU" else "a"
        return f"{address} is {article} {reason} address"


def _normalize_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()
