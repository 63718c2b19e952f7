"""The address classifier and policy, on literal addresses only (nothing is sent)."""

from __future__ import annotations

import pytest

from kimi_graph.tools._netguard import AddressPolicy, classify_address


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared (CGNAT 100.64.0.0/10)"),
        ("0.0.0.0", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("224.0.0.1", "multicast"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback (IPv4 inside IPv6)"),
        ("::ffff:10.0.0.1", "private (IPv4 inside IPv6)"),
        ("::ffff:169.254.169.254", "link-local (IPv4 inside IPv6)"),
        ("64:ff9b::a9fe:a9fe", "link-local (IPv4 inside IPv6)"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::1", "loopback (IPv4 inside IPv6)"),  # 6to4 of 127.0.0.1
    ],
)
def test_non_public_addresses_are_classified(address: str, reason: str) -> None:
    assert classify_address(address) == reason


@pytest.mark.parametrize(
    "address",
    # Special-purpose ranges whose exact label differs between Python versions.
    ["240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1", "2001:db8::1", "100::1"],
)
def test_special_purpose_addresses_are_refused(address: str) -> None:
    assert classify_address(address) is not None


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "2606:4700::1",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert classify_address(address) is None


def test_classifier_rejects_non_ip() -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        classify_address("example.com")


def test_policy_default_refuses_private_and_names_the_reason() -> None:
    policy = AddressPolicy()
    assert policy.refusal("example.com", "93.184.216.34") is None
    assert policy.refusal("127.0.0.1", "127.0.0.1") == "127.0.0.1 is a loopback address"
    assert policy.refusal("x", "169.254.169.254") == "169.254.169.254 is a link-local address"
    assert policy.refusal("x", "::1") == "::1 is a loopback address"


def test_policy_allow_private_permits_everything() -> None:
    policy = AddressPolicy(allow_private=True)
    for address in ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1"]:
        assert policy.refusal("anything", address) is None


def test_policy_allowed_hosts_by_name_ip_and_network() -> None:
    policy = AddressPolicy(allowed_hosts=("Intranet.Example.", "127.0.0.1", "10.1.0.0/16", "[::1]"))
    assert policy.refusal("intranet.example", "10.9.9.9") is None  # name match, any address
    assert policy.refusal("localhost", "127.0.0.1") is None  # address match
    assert policy.refusal("db", "10.1.2.3") is None  # network match
    assert policy.refusal("v6", "::1") is None
    assert policy.refusal("db", "10.2.0.1") == "10.2.0.1 is a private address"
    assert policy.refusal("other.example", "127.0.0.2") == "127.0.0.2 is a loopback address"
