"""The network guard on its own: which addresses are whose, who may reach them, and a
backend that connects only to what was checked.  No socket is opened: names resolve
through a fake resolver, and the backend under the guard is a recording fake."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterable

import httpcore
import pytest

from watcher.netguard import (
    Admission,
    Guard,
    GuardedBackend,
    Policy,
    Range,
    Refused,
    Unresolved,
    admitted,
    classify,
    describe,
)


class FakeResolver:
    """Names to fixed addresses; any other name does not resolve (as NXDOMAIN)."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.asked: list[str] = []

    async def resolve(self, host: str) -> list[str]:
        self.asked.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.names[host])


# ---------------------------------------------------------------- the classification table


@pytest.mark.parametrize(
    ("address", "kind", "block"),
    [
        ("127.0.0.1", "loopback", "loopback"),
        ("127.0.0.2", "loopback", "loopback"),
        ("127.255.255.254", "loopback", "loopback"),
        ("::1", "loopback", "loopback"),  # the same range as 127.0.0.0/8
        ("10.0.0.5", "private", "10.0.0.0/8"),
        ("10.255.0.1", "private", "10.0.0.0/8"),
        ("172.16.3.4", "private", "172.16.0.0/12"),
        ("172.31.255.255", "private", "172.16.0.0/12"),
        ("192.168.1.1", "private", "192.168.0.0/16"),
        ("169.254.169.254", "cloud metadata", "169.254.169.254/32"),
        ("169.254.1.1", "link-local", "169.254.0.0/16"),
        ("fe80::1", "link-local", "fe80::/10"),
        ("fe80::1%eth0", "link-local", "fe80::/10"),
        ("fc00::1", "unique-local", "fc00::/7"),
        ("fd12:3456::1", "unique-local", "fc00::/7"),
        ("fd00:ec2::254", "cloud metadata", "fd00:ec2::254/128"),
        ("100.64.0.1", "shared (carrier-grade NAT)", "100.64.0.0/10"),
        ("100.127.255.255", "shared (carrier-grade NAT)", "100.64.0.0/10"),
        ("224.0.0.1", "multicast", "224.0.0.0/4"),
        ("239.255.255.250", "multicast", "224.0.0.0/4"),
        ("ff02::1", "multicast", "ff00::/8"),
        ("0.0.0.0", "unspecified", "0.0.0.0/8"),
        ("::", "unspecified", "::/128"),
        ("240.0.0.1", "reserved", "240.0.0.0/4"),
        ("255.255.255.255", "reserved", "240.0.0.0/4"),
        ("192.0.2.1", "reserved", "192.0.2.0/24"),
        ("198.18.0.1", "reserved", "198.18.0.0/15"),
        ("2001:db8::1", "reserved", "2001:db8::/32"),
        ("fec0::1", "site-local", "fec0::/10"),
        # IPv6 forms that reach an IPv4 address are judged as that address.
        ("::ffff:10.0.0.5", "private", "10.0.0.0/8"),
        ("::ffff:127.0.0.1", "loopback", "loopback"),
        ("::ffff:169.254.169.254", "cloud metadata", "169.254.169.254/32"),
        ("64:ff9b::a00:5", "private", "10.0.0.0/8"),  # NAT64 of 10.0.0.5
        ("2002:a00:5::1", "private", "10.0.0.0/8"),  # 6to4 of 10.0.0.5
        ("::10.0.0.5", "reserved", "::/8"),  # deprecated IPv4-compatible
    ],
)
def test_non_public_addresses_are_classified(address: str, kind: str, block: str) -> None:
    assert classify(address) == Range(kind, block)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "93.184.216.34",
        "172.32.0.1",  # just past 172.16.0.0/12
        "100.128.0.1",  # just past 100.64.0.0/10
        "169.255.0.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    ],
)
def test_public_addresses_are_not(address: str) -> None:
    assert classify(address) is None


def test_descriptions_name_the_address_and_its_kind() -> None:
    assert describe("10.0.0.5") == "10.0.0.5, a private address"
    assert describe("::1") == "::1, a loopback address"
    assert describe("fc00::1") == "fc00::1, a unique-local address"
    assert describe("8.8.8.8") == "8.8.8.8, a public address"


def test_a_policy_permits_public_addresses_and_its_own_blocks_only() -> None:
    policy = Policy(blocks=frozenset({"10.0.0.0/8"}))
    assert policy.permits(None)
    assert policy.permits(classify("10.200.0.1"))
    assert not policy.permits(classify("192.168.0.1"))
    assert not policy.permits(classify("127.0.0.1"))
    assert Policy(allow_all=True).permits(classify("169.254.169.254"))


# ---------------------------------------------------------------- admission

NAMES = {
    "public.test": ["93.184.216.34"],
    "intranet.test": ["10.0.0.5"],
    "wiki.intranet.test": ["10.9.9.9"],
    "home.test": ["192.168.1.10"],
    "evil.test": ["127.0.0.2"],
    "localhost": ["::1", "127.0.0.1"],
    "split.test": ["10.0.0.7", "93.184.216.35"],
    "metadata.test": ["169.254.169.254"],
}


def admit(host: str, origin: str, resolver: FakeResolver | None = None, **kw: bool) -> Admission:
    guard = Guard(resolver or FakeResolver(NAMES))
    return asyncio.run(guard.admit(host, origin_host=origin, **kw))


def refusal(host: str, origin: str, **kw: bool) -> str:
    with pytest.raises(Refused) as caught:
        admit(host, origin, **kw)
    return str(caught.value)


def test_a_public_host_is_admitted_without_looking_up_the_feed_host() -> None:
    resolver = FakeResolver(NAMES)
    assert admit("public.test", "intranet.test", resolver) == Admission(
        "public.test", ("93.184.216.34",), None
    )
    assert resolver.asked == ["public.test"]


def test_links_from_a_public_feed_may_not_reach_private_loopback_or_metadata_addresses() -> None:
    assert refusal("intranet.test", "public.test") == "intranet.test is 10.0.0.5, a private address"
    assert refusal("evil.test", "public.test") == "evil.test is 127.0.0.2, a loopback address"
    assert "cloud metadata" in refusal("metadata.test", "public.test")
    assert refusal("169.254.169.254", "public.test") == (
        "169.254.169.254, a cloud metadata address"
    )
    assert "loopback" in refusal("::1", "public.test")
    assert "private" in refusal("::ffff:10.0.0.5", "public.test")


def test_a_feed_on_an_intranet_may_link_within_its_own_range_only() -> None:
    assert admit("wiki.intranet.test", "intranet.test").addresses == ("10.9.9.9",)
    assert admit("10.1.2.3", "intranet.test").block == "10.0.0.0/8"
    assert "192.168.1.10" in refusal("home.test", "intranet.test")
    assert "loopback" in refusal("evil.test", "intranet.test")
    assert "cloud metadata" in refusal("metadata.test", "intranet.test")


def test_a_feed_on_loopback_may_link_to_loopback() -> None:
    assert admit("evil.test", "127.0.0.1").addresses == ("127.0.0.2",)
    assert admit("127.0.0.3", "127.0.0.1").block == "loopback"
    assert admit("localhost", "127.0.0.1").addresses == ("::1", "127.0.0.1")
    assert "private" in refusal("intranet.test", "127.0.0.1")


def test_the_configured_url_and_allow_private_reach_anything() -> None:
    assert admit("intranet.test", "intranet.test", trusted=True).addresses == ("10.0.0.5",)
    assert admit("metadata.test", "public.test", allow_private=True).block == ("169.254.169.254/32")


def test_only_the_permitted_addresses_of_a_host_are_admitted() -> None:
    assert admit("split.test", "public.test") == Admission("split.test", ("93.184.216.35",), None)
    # Addresses of one range only, so that pooled connections never mix ranges.
    assert admit("split.test", "public.test", trusted=True) == Admission(
        "split.test", ("10.0.0.7",), "10.0.0.0/8"
    )


def test_a_feed_host_that_does_not_resolve_anchors_nothing() -> None:
    assert "private" in refusal("intranet.test", "nowhere.test")


def test_an_unknown_host_is_unresolved_unless_a_proxy_resolves_it() -> None:
    with pytest.raises(Unresolved):
        admit("nowhere.test", "public.test")
    assert admit("nowhere.test", "public.test", proxied=True) == Admission("nowhere.test", (), None)
    # Through a proxy, what watcher can resolve itself is still checked.
    assert "private" in refusal("intranet.test", "public.test", proxied=True)
    assert admit("public.test", "public.test", proxied=True).addresses == ()


def test_a_name_is_resolved_once_for_many_requests() -> None:
    resolver = FakeResolver(NAMES)
    guard = Guard(resolver)

    async def main() -> None:
        for _ in range(5):
            await guard.admit("public.test", origin_host="public.test")

    asyncio.run(main())
    assert resolver.asked == ["public.test"]


# ---------------------------------------------------------------- the connect


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Records what it is asked to connect to; "connects" only to the addresses given."""

    def __init__(self, reachable: Iterable[str] = (), hanging: Iterable[str] = ()) -> None:
        self.reachable = set(reachable)
        self.hanging = set(hanging)  # never answer (a black-holed route)
        self.asked: list[tuple[str, int]] = []
        self.cancelled: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.asked.append((host, port))
        if host in self.hanging:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.cancelled.append(host)
                raise
        if host not in self.reachable:
            raise httpcore.ConnectError(f"unreachable: {host}")
        return httpcore.AsyncMockStream([])

    async def sleep(self, seconds: float) -> None:
        pass


def connect(backend: GuardedBackend, host: str, admission: Admission | None) -> object:
    async def main() -> object:
        with admitted(admission):
            return await backend.connect_tcp(host, 443)

    return asyncio.run(main())


def test_the_backend_connects_to_the_checked_address_not_the_name() -> None:
    inner = RecordingBackend(reachable={"93.184.216.34"})
    backend = GuardedBackend(inner)
    stream = connect(backend, "public.test", Admission("public.test", ("93.184.216.34",), None))
    assert isinstance(stream, httpcore.AsyncMockStream)
    assert inner.asked == [("93.184.216.34", 443)]


def test_the_backend_tries_the_next_checked_address_when_one_fails() -> None:
    inner = RecordingBackend(reachable={"127.0.0.1"})
    backend = GuardedBackend(inner)
    connect(backend, "localhost", Admission("localhost", ("::1", "127.0.0.1"), "loopback"))
    assert inner.asked == [("::1", 443), ("127.0.0.1", 443)]


@pytest.mark.parametrize(
    "admission",
    [
        None,  # nothing was checked
        Admission("public.test", ("93.184.216.34",), None),  # another host was
        Admission("intranet.test", (), None),  # sent through a proxy: no address
    ],
)
def test_the_backend_connects_nowhere_unchecked(admission: Admission | None) -> None:
    inner = RecordingBackend(reachable={"10.0.0.5", "93.184.216.34"})
    with pytest.raises(httpcore.ConnectError, match="not checked"):
        connect(GuardedBackend(inner), "intranet.test", admission)
    assert inner.asked == []


def test_a_black_holed_address_does_not_hold_up_the_next_one() -> None:
    """Happy Eyeballs, as anyio did when it connected to the name itself."""
    inner = RecordingBackend(reachable={"127.0.0.1"}, hanging={"::1"})
    backend = GuardedBackend(inner)
    started = time.monotonic()
    connect(backend, "localhost", Admission("localhost", ("::1", "127.0.0.1"), "loopback"))
    assert time.monotonic() - started < 2
    assert inner.asked == [("::1", 443), ("127.0.0.1", 443)]
    assert inner.cancelled == ["::1"]  # the loser is not left running


def test_every_address_failing_fails_the_connect() -> None:
    inner = RecordingBackend()
    with pytest.raises(httpcore.ConnectError, match="unreachable"):
        connect(GuardedBackend(inner), "h.test", Admission("h.test", ("10.0.0.1", "10.0.0.2"), "x"))
    assert inner.asked == [("10.0.0.1", 443), ("10.0.0.2", 443)]


def test_addresses_are_tried_alternating_families() -> None:
    inner = RecordingBackend()
    addresses = ("2001:db8::1", "2001:db8::2", "192.0.2.1", "192.0.2.2", "192.0.2.3")
    with pytest.raises(httpcore.ConnectError):
        connect(GuardedBackend(inner), "h.test", Admission("h.test", addresses, "x"))
    assert [host for host, _ in inner.asked] == [
        "2001:db8::1",
        "192.0.2.1",
        "2001:db8::2",
        "192.0.2.2",
        "192.0.2.3",
    ]
