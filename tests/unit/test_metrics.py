"""The metrics endpoint as Prometheus and a load balancer see it: real HTTP on loopback
(served by ``watcher.http.Listener``, aiohttp in the test's event loop)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from watcher.http import Listener
from watcher.metrics import Metrics, parse_listen

Scenario = Callable[[Metrics, httpx.AsyncClient], Awaitable[None]]


def served(metrics: Metrics, scenario: Scenario) -> None:
    """Run the scenario against ``metrics`` served on a free loopback port, then close it."""

    async def main() -> None:
        listener = Listener(metrics)
        await listener.serve("127.0.0.1", 0)
        try:
            address = listener.address
            assert address is not None
            base = f"http://{address[0]}:{address[1]}"
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                await scenario(metrics, client)
        finally:
            await listener.close()

    asyncio.run(main())


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by name and labels, parsed the way Prometheus parses a scrape."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_endpoint_reports_what_the_daemon_recorded() -> None:
    metrics = Metrics()
    metrics.fetched("aljazeera", "ok", 0.3)
    metrics.fetched("aljazeera", "ok", 0.7)
    metrics.fetched("aljazeera", "not_modified", 0.05)
    metrics.fetched("bbc", "error", 12.0)
    metrics.new_stories("aljazeera", 4)
    metrics.matched("hama-rebels")
    metrics.delivered("phone", ok=True)
    metrics.delivered("phone", ok=False)
    metrics.delivered("mail", ok=True)
    metrics.set_outbox(pending=3, failed=1)
    metrics.set_failing(1)

    async def scenario(_: Metrics, client: httpx.AsyncClient) -> None:
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        got = samples(response.text)
        assert got[("watcher_fetches_total", (("feed", "aljazeera"), ("outcome", "ok")))] == 2
        assert (
            got[("watcher_fetches_total", (("feed", "aljazeera"), ("outcome", "not_modified")))]
            == 1
        )
        assert got[("watcher_fetches_total", (("feed", "bbc"), ("outcome", "error")))] == 1
        assert got[("watcher_stories_total", (("feed", "aljazeera"),))] == 4
        assert got[("watcher_matches_total", (("rule", "hama-rebels"),))] == 1
        assert got[("watcher_deliveries_total", (("channel", "phone"), ("outcome", "sent")))] == 1
        assert got[("watcher_deliveries_total", (("channel", "phone"), ("outcome", "failed")))] == 1
        assert got[("watcher_deliveries_total", (("channel", "mail"), ("outcome", "sent")))] == 1
        assert got[("watcher_deliveries_pending", ())] == 3
        assert got[("watcher_deliveries_failed", ())] == 1
        assert got[("watcher_feeds_failing", ())] == 1
        duration = "watcher_fetch_duration_seconds"
        assert got[(f"{duration}_count", (("feed", "aljazeera"),))] == 3
        assert got[(f"{duration}_sum", (("feed", "aljazeera"),))] == pytest.approx(1.05)
        assert got[(f"{duration}_bucket", (("feed", "aljazeera"), ("le", "0.5")))] == 2
        assert got[(f"{duration}_bucket", (("feed", "bbc"), ("le", "10.0")))] == 0
        assert got[(f"{duration}_bucket", (("feed", "bbc"), ("le", "30.0")))] == 1

    served(metrics, scenario)


def test_declared_series_exist_at_zero_before_anything_happens() -> None:
    metrics = Metrics()
    metrics.declare(feeds=["wire"], rules=["hama-rebels"], channels=["phone"])
    got = samples(metrics.exposition().decode())
    for outcome in ("ok", "not_modified", "error"):
        assert got[("watcher_fetches_total", (("feed", "wire"), ("outcome", outcome)))] == 0
    assert got[("watcher_stories_total", (("feed", "wire"),))] == 0
    assert got[("watcher_matches_total", (("rule", "hama-rebels"),))] == 0
    assert got[("watcher_deliveries_total", (("channel", "phone"), ("outcome", "failed")))] == 0


def test_two_instances_do_not_collide() -> None:
    """A reload builds a fresh Metrics while the old one still exists."""
    first, second = Metrics(), Metrics()
    first.matched("a")
    assert ("watcher_matches_total", (("rule", "a"),)) not in samples(second.exposition().decode())
    assert samples(first.exposition().decode())[("watcher_matches_total", (("rule", "a"),))] == 1


def test_an_unknown_fetch_outcome_is_a_bug_caught_at_once() -> None:
    with pytest.raises(ValueError, match="timeout"):
        Metrics().fetched("wire", "timeout", 1.0)  # type: ignore[arg-type]


def test_health_by_default_is_ok_with_the_counts_that_matter() -> None:
    metrics = Metrics()
    metrics.set_outbox(pending=2, failed=0)
    metrics.set_failing(1)

    async def scenario(_: Metrics, client: httpx.AsyncClient) -> None:
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "status": "ok",
            "feeds_failing": 1,
            "deliveries_pending": 2,
            "deliveries_failed": 0,
        }

    served(metrics, scenario)


def test_health_follows_the_hook_ok_is_200_degraded_is_503() -> None:
    state: dict[str, Any] = {"status": "ok", "feeds_ok": 12}
    metrics = Metrics(health=lambda: state)

    async def scenario(_: Metrics, client: httpx.AsyncClient) -> None:
        first = await client.get("/health")
        assert (first.status_code, first.json()) == (200, {"status": "ok", "feeds_ok": 12})
        state.update(status="degraded", feeds_ok=0, reason="database locked")
        second = await client.get("/health")
        assert second.status_code == 503
        assert second.json() == {"status": "degraded", "feeds_ok": 0, "reason": "database locked"}

    served(metrics, scenario)


def test_health_hook_may_be_async_and_may_be_replaced_later() -> None:
    metrics = Metrics()

    async def check() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"status": "degraded", "scheduler": "stopped"}

    metrics.health = check

    async def scenario(_: Metrics, client: httpx.AsyncClient) -> None:
        response = await client.get("/health")
        assert (response.status_code, response.json()["scheduler"]) == (503, "stopped")

    served(metrics, scenario)


def test_a_failing_health_hook_reports_degraded_not_a_crash() -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("database is locked")

    metrics = Metrics(health=broken)

    async def scenario(_: Metrics, client: httpx.AsyncClient) -> None:
        response = await client.get("/health")
        assert response.status_code == 503
        assert response.json() == {"status": "degraded", "error": "database is locked"}
        assert (await client.get("/metrics")).status_code == 200  # still serving

    served(metrics, scenario)


def test_other_paths_and_methods_are_refused() -> None:
    async def scenario(_: Metrics, client: httpx.AsyncClient) -> None:
        assert (await client.get("/")).status_code == 404
        assert (await client.get("/metrics/../secrets")).status_code == 404
        refused = await client.post("/metrics", content=b"x")
        assert refused.status_code == 405
        assert refused.headers["allow"] == "GET, HEAD"
        head = await client.head("/metrics")
        assert head.status_code == 200 and head.content == b""
        assert (await client.get("/metrics?name[]=x")).status_code == 200

    served(Metrics(), scenario)


def test_close_stops_listening_and_ends_a_scrape_left_hanging() -> None:
    async def main() -> None:
        listener = Listener(Metrics())
        await listener.serve("127.0.0.1", 0)
        address = listener.address
        assert address is not None
        # A client that connects and never finishes its request must not hold up shutdown.
        _, idle = await asyncio.open_connection(*address)
        idle.write(b"GET /metrics HTTP/1.1\r\n")
        await idle.drain()
        await asyncio.sleep(0.05)
        await asyncio.wait_for(listener.close(), timeout=2)
        assert listener.address is None
        idle.close()
        with pytest.raises(OSError):
            await asyncio.open_connection(*address)
        await listener.close()  # twice is harmless

    asyncio.run(main())


def test_serving_on_a_taken_port_fails_at_start_up() -> None:
    async def main() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            listener = Listener(Metrics())
            with pytest.raises(OSError):
                await listener.serve("127.0.0.1", taken.getsockname()[1])
            assert listener.address is None
            await listener.close()

    asyncio.run(main())


def test_an_oversized_request_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    """aiohttp's parser refuses a header field or request line over 8190 bytes with 400
    (the hand-written server said 431); the log gets one line, no traceback, and nothing
    of the request (its first line may carry a feed token)."""

    async def scenario(_: Metrics, client: httpx.AsyncClient) -> None:
        response = await client.get("/metrics", headers={"X-Padding": "a" * 20_000})
        assert response.status_code == 400
        long_line = await client.get("/alerts.atom", params={"token": "s3cret" * 2000})
        assert long_line.status_code == 400
        assert (await client.get("/metrics")).status_code == 200  # still serving

    with caplog.at_level("INFO"):
        served(Metrics(), scenario)
    refused = [r for r in caplog.records if "refused a request" in r.getMessage()]
    assert len(refused) == 2 and all(r.exc_info is None for r in refused)
    ours = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert not any("s3cret" in r.getMessage() or r.exc_info for r in ours)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:9108", ("127.0.0.1", 9108)),
        ("[::1]:9108", ("::1", 9108)),
        (":9108", ("127.0.0.1", 9108)),
        ("0.0.0.0:9108", ("0.0.0.0", 9108)),
        ("[::]:9108", ("::", 9108)),
        ("localhost:9108", ("localhost", 9108)),
        (" 127.0.0.1:9108 ", ("127.0.0.1", 9108)),
    ],
)
def test_parse_listen_accepts_the_forms_in_the_docs(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("127.0.0.1", "has no port"),
        ("9108", "as :9108 \\(loopback\\) or 0.0.0.0:9108"),
        ("::1:9108", "in brackets"),
        ("[::1]9108", "is not \\[IPv6\\]:port"),
        ("[nope]:9108", "not an IPv6 address"),
        ("127.0.0.1:http", "not in 1-65535"),
        ("127.0.0.1:0", "not in 1-65535"),
        ("127.0.0.1:70000", "not in 1-65535"),
        ("127.0.0.1:", "not in 1-65535"),
        ("bad host:9108", "not a host name"),
    ],
)
def test_parse_listen_explains_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_listen(value)
