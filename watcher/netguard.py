"""Keeping untrusted links out of the user's own network.

A feed is written by someone else: its article links, its listing page's
links, its redirects, the feed a page advertises and a sitemap index's
children may name any host, including ``localhost``, the router, an intranet
wiki or a cloud metadata service.  Every URL a feed or a fetched page supplies
is therefore checked on the address it would actually reach: a loopback,
private, link-local, unique-local, shared (CGNAT), multicast, reserved or
unspecified address is refused, unless

* the URL is the exact one the user configured (the user wrote it), or
* the configured feed's own host is in that same network (a feed on an
  intranet may link within it: both loopback, both in 10.0.0.0/8, ...), or
* the feed, or the whole config, says ``fetch.allow_private: true``.

No DNS-rebinding gap: a host is resolved once (``Guard.admit``), its addresses
checked, and the connection is made to those checked addresses only
(``GuardedBackend``, the httpcore network backend of the fetcher's pools, which
gets them through a context variable set around the request).  A request whose
addresses were not checked cannot connect at all.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Seconds a name's addresses are reused (by the checks; what is checked is what is
# connected to, so reusing them opens no gap): one poll's articles on one site
# cost one look-up, not one each.
RESOLVE_TTL = 10.0
# Seconds an address has to connect before the next one is tried alongside
# (Happy Eyeballs, RFC 8305), as anyio does when it connects to a name.
HAPPY_EYEBALLS_DELAY = 0.25


class Resolver(Protocol):
    """Names to addresses: ``resolve("example.org") -> ["93.184.215.14", "2606:..."]``.

    Raises ``OSError`` (e.g. ``socket.gaierror``) for a name that does not resolve.
    """

    async def resolve(self, host: str) -> list[str]: ...


class SystemResolver:
    """The system's resolver (``getaddrinfo``: /etc/hosts, DNS, ...), off the event loop."""

    async def resolve(self, host: str) -> list[str]:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        found = (
            str(sockaddr[0])
            for family, _, _, _, sockaddr in infos
            if family in (socket.AF_INET, socket.AF_INET6)
        )
        return list(dict.fromkeys(found))  # once each, in the resolver's order


def default_resolver() -> Resolver:
    """The resolver a ``Fetcher`` uses unless given one (tests replace this)."""
    return SystemResolver()


# ---------------------------------------------------------------- classification


@dataclass(frozen=True, slots=True)
class Range:
    """A non-public address range: ``kind`` in words, ``block`` for "the same range"."""

    kind: str
    block: str


_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# First match wins: the metadata address before link-local, which contains it.
_TABLE: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str, str | None], ...] = (
    (_V4("0.0.0.0/8"), "unspecified", None),  # "this network"; 0.0.0.0 reaches the host itself
    (_V4("10.0.0.0/8"), "private", None),
    (_V4("100.64.0.0/10"), "shared (carrier-grade NAT)", None),
    (_V4("127.0.0.0/8"), "loopback", "loopback"),
    (_V4("169.254.169.254/32"), "cloud metadata", None),
    (_V4("169.254.0.0/16"), "link-local", None),
    (_V4("172.16.0.0/12"), "private", None),
    (_V4("192.0.0.0/24"), "reserved", None),  # IETF protocol assignments
    (_V4("192.0.2.0/24"), "reserved", None),  # documentation
    (_V4("192.168.0.0/16"), "private", None),
    (_V4("198.18.0.0/15"), "reserved", None),  # benchmarking
    (_V4("198.51.100.0/24"), "reserved", None),  # documentation
    (_V4("203.0.113.0/24"), "reserved", None),  # documentation
    (_V4("224.0.0.0/4"), "multicast", None),
    (_V4("240.0.0.0/4"), "reserved", None),  # and 255.255.255.255, broadcast
    (_V6("::/128"), "unspecified", None),
    (_V6("::1/128"), "loopback", "loopback"),  # the same range as 127.0.0.0/8
    (_V6("::/8"), "reserved", None),  # after ::ffff:0:0/96, read as IPv4 (below)
    (_V6("64:ff9b:1::/48"), "private", None),  # local-use NAT64
    (_V6("100::/64"), "reserved", None),  # discard-only
    (_V6("2001:db8::/32"), "reserved", None),  # documentation
    (_V6("fd00:ec2::254/128"), "cloud metadata", None),
    (_V6("fc00::/7"), "unique-local", None),
    (_V6("fe80::/10"), "link-local", None),
    (_V6("fec0::/10"), "site-local", None),
    (_V6("ff00::/8"), "multicast", None),
)

# IPv6 prefixes that carry an IPv4 address the packets end up at.
_NAT64 = _V6("64:ff9b::/96")


def parse_ip(text: str) -> IPAddress | None:
    """The address ``text`` is, if it is one (``[::1]`` and ``fe80::1%eth0`` too)."""
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def classify(address: IPAddress | str) -> Range | None:
    """The non-public range ``address`` is in; None for a public address."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return classify(embedded)  # reaches that IPv4 address: judged as it
        ip = ipaddress.IPv6Address(int(ip))  # without a %scope: the table ignores it
    for network, kind, block in _TABLE:
        if ip.version == network.version and ip in network:
            return Range(kind, block or str(network))
    # What the table does not name, the standard library's registry may still know.
    if ip.is_loopback:
        return Range("loopback", "loopback")
    if ip.is_link_local:
        return Range("link-local", "link-local")
    if ip.is_multicast:
        return Range("multicast", "multicast")
    if ip.is_unspecified:
        return Range("unspecified", "unspecified")
    if not ip.is_global:
        return Range("reserved", "reserved")
    return None


def describe(address: IPAddress | str) -> str:
    """``10.0.0.5, a private address``; ``8.8.8.8, a public address``."""
    found = classify(address)
    kind = "public" if found is None else found.kind
    article = "an" if kind[0] in "aeio" or kind == "unspecified" else "a"  # a unique-local
    return f"{address}, {article} {kind} address"


# ---------------------------------------------------------------- policy


@dataclass(frozen=True, slots=True)
class Policy:
    """What one request may reach: public addresses always; ``blocks`` (the configured
    feed host's ranges) too; everything when ``allow_all``."""

    allow_all: bool = False
    blocks: frozenset[str] = frozenset()

    def permits(self, found: Range | None) -> bool:
        return found is None or self.allow_all or found.block in self.blocks


class Refused(Exception):
    """A host that resolves only to addresses its request may not reach; ``str()`` says
    where it leads: ``intranet.test is 10.0.0.5, a private address``."""


class Unresolved(Exception):
    """A host the resolver does not know (its ``OSError`` is the cause)."""


@dataclass(frozen=True, slots=True)
class Admission:
    """Addresses of ``host`` checked for one request: the only ones it may connect to.

    All in one range (``block``, None: public), so that connections pooled for it
    are only ever reused by requests that may reach that range.  ``addresses`` is
    empty for a request sent through a proxy, which connects to the proxy only.
    """

    host: str
    addresses: tuple[str, ...]
    block: str | None


class Guard:
    """Resolves hosts (each once per ``RESOLVE_TTL``) and admits or refuses requests."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self._cache: dict[str, tuple[float, tuple[IPAddress, ...]]] = {}

    async def addresses(self, host: str) -> tuple[IPAddress, ...]:
        """The addresses of ``host``: itself for an address; ``Unresolved`` if none."""
        literal = parse_ip(host)
        if literal is not None:
            return (literal,)
        key = host.lower().rstrip(".")
        now = asyncio.get_running_loop().time()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < RESOLVE_TTL:
            return cached[1]
        try:
            found = tuple(ip for text in await self.resolver.resolve(key) if (ip := parse_ip(text)))
        except (OSError, UnicodeError) as exc:
            raise Unresolved(host) from exc
        if not found:
            raise Unresolved(host)
        if len(self._cache) > 4096:  # a bound, not an eviction policy: it rarely fills
            self._cache.clear()
        self._cache[key] = (now, found)
        return found

    async def policy(self, origin_host: str, *, trusted: bool, allow_private: bool) -> Policy:
        """The policy of a request made for a feed configured on ``origin_host``."""
        if trusted or allow_private:
            return Policy(allow_all=True)
        if not origin_host:
            return Policy()
        try:
            anchors = await self.addresses(origin_host)
        except Unresolved:
            return Policy()  # public addresses only
        return Policy(blocks=frozenset(r.block for ip in anchors if (r := classify(ip))))

    async def admit(
        self,
        host: str,
        *,
        origin_host: str,
        trusted: bool = False,
        allow_private: bool = False,
        proxied: bool = False,
    ) -> Admission:
        """The addresses a request to ``host`` may connect to; ``Refused`` if none.

        ``trusted``: the URL is the one the user configured.  ``origin_host``: the
        configured URL's host, whose ranges links may stay within.  ``proxied``:
        the request goes through the user's proxy, which resolves the name itself;
        watcher still refuses a name that it resolves to a refused address.
        """
        try:
            found = await self.addresses(host)
        except Unresolved:
            if proxied:
                return Admission(host, (), None)
            raise
        ranges = [(ip, classify(ip)) for ip in found]
        if all(r is None for _, r in ranges):
            policy = Policy()  # all public: nothing else to know
        else:
            policy = await self.policy(origin_host, trusted=trusted, allow_private=allow_private)
        allowed = [(ip, r) for ip, r in ranges if policy.permits(r)]
        if not allowed:
            raise Refused(_refusal(host, found))
        block = allowed[0][1].block if allowed[0][1] is not None else None
        chosen = tuple(str(ip) for ip, r in allowed if (r.block if r else None) == block)
        return Admission(host, () if proxied else chosen, block)


def _refusal(host: str, found: Iterable[IPAddress]) -> str:
    first = next(iter(found))
    if parse_ip(host) is not None:
        return describe(host.strip("[]"))  # as written in the URL
    return f"{host} is {describe(first)}"


# ---------------------------------------------------------------- the connect


_admitted: ContextVar[Admission | None] = ContextVar("watcher_admitted", default=None)


@contextmanager
def admitted(admission: Admission | None) -> Iterator[None]:
    """Let the request sent inside this block connect to ``admission``'s addresses."""
    token = _admitted.set(admission)
    try:
        yield
    finally:
        _admitted.reset(token)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to the addresses admitted for the
    request being sent (``admitted``); anything else fails before a socket is opened.

    TLS is unchanged: httpcore passes the URL's host name to ``start_tls`` as
    ``server_hostname``, so SNI and the certificate check use the name, not the
    address connected to.
    """

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        admission = _admitted.get()
        if admission is None or admission.host != host or not admission.addresses:
            raise httpcore.ConnectError(f"refused: {host} was not checked before connecting")

        def attempt(address: str) -> Awaitable[httpcore.AsyncNetworkStream]:
            return self._inner.connect_tcp(
                address,
                port,
                timeout=timeout,
                local_address=local_address,
                socket_options=socket_options,
            )

        addresses = _interleaved(admission.addresses)
        if len(addresses) == 1:
            return await attempt(addresses[0])
        return await _race(addresses, attempt)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("refused: watcher fetches over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _interleaved(addresses: tuple[str, ...]) -> list[str]:
    """IPv6 and IPv4 addresses alternating, the resolver's first family first (RFC 8305)."""
    first = [a for a in addresses if (":" in a) == (":" in addresses[0])]
    other = [a for a in addresses if (":" in a) != (":" in addresses[0])]
    mixed = [a for pair in zip(first, other, strict=False) for a in pair]
    return mixed + first[len(mixed) // 2 :] + other[len(mixed) // 2 :]


async def _race(
    addresses: list[str],
    attempt: Callable[[str], Awaitable[httpcore.AsyncNetworkStream]],
) -> httpcore.AsyncNetworkStream:
    """The first connection made, trying each next address when the others have failed
    or not connected within ``HAPPY_EYEBALLS_DELAY``; the losers are cancelled or closed."""

    async def run(address: str) -> httpcore.AsyncNetworkStream:
        return await attempt(address)

    running: set[asyncio.Task[httpcore.AsyncNetworkStream]] = set()
    error: BaseException | None = None
    try:
        for index, address in enumerate(addresses):
            running.add(asyncio.create_task(run(address)))
            more = index + 1 < len(addresses)
            while running:
                done, running = await asyncio.wait(
                    running,
                    timeout=HAPPY_EYEBALLS_DELAY if more else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not done:
                    break  # slow: the next address starts alongside
                streams = [task.result() for task in done if task.exception() is None]
                if streams:
                    for extra in streams[1:]:
                        await extra.aclose()
                    return streams[0]
                error = next(e for task in done if (e := task.exception()) is not None)
                if more:
                    break  # failed: the next address starts now
        assert error is not None
        raise error
    finally:
        for task in running:
            task.cancel()
        for outcome in await asyncio.gather(*running, return_exceptions=True):
            if isinstance(outcome, httpcore.AsyncNetworkStream):
                await outcome.aclose()  # connected as it was being cancelled
