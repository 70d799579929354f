from __future__ import annotations

import pytest

from needlecheck.security.ratelimit import (
    Rate,
    RateLimiter,
    address_rate,
    client_address,
    forwarded_for,
    sender_rate,
    trusted_proxies,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refuses_until_it_refills() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(3, 60), clock)
    assert [limiter.allow("ana")[0] for _ in range(3)] == [True, True, True]
    allowed, wait = limiter.allow("ana")
    assert not allowed and wait == pytest.approx(20.0)
    # Another key has its own budget.
    assert limiter.allow("ben")[0]
    clock.now += 20
    assert limiter.allow("ana")[0]
    assert not limiter.allow("ana")[0]


def test_a_zero_rate_is_no_limit() -> None:
    limiter = RateLimiter(Rate(0, 60))
    assert all(limiter.allow("x")[0] for _ in range(1000))


def test_idle_buckets_are_forgotten_when_there_are_too_many(monkeypatch) -> None:
    monkeypatch.setattr("needlecheck.security.ratelimit.MAX_BUCKETS", 2)
    clock = Clock()
    limiter = RateLimiter(Rate(1, 10), clock)
    limiter.allow("a")
    limiter.allow("b")
    clock.now += 10
    limiter.allow("c")
    assert set(limiter._buckets) == {"c"}


@pytest.mark.parametrize("raw", ["30", "30/0", "x/60", "-1/60", "30/sixty"])
def test_a_malformed_rate_names_the_variable(raw: str) -> None:
    with pytest.raises(ValueError, match="NEEDLECHECK_SENDER_RATE"):
        sender_rate({"NEEDLECHECK_SENDER_RATE": raw})


def test_defaults() -> None:
    assert sender_rate({}) == Rate(30, 60)
    assert address_rate({}) == Rate(600, 60)
    # No proxy is trusted unless one is configured: loopback is any local program.
    assert trusted_proxies({}) == frozenset()
    assert trusted_proxies({"NEEDLECHECK_TRUSTED_PROXIES": ""}) == frozenset()
    assert trusted_proxies({"NEEDLECHECK_TRUSTED_PROXIES": "127.0.0.1, ::1"}) == frozenset(
        {"127.0.0.1", "::1"}
    )
    with pytest.raises(ValueError, match="not an IP address"):
        trusted_proxies({"NEEDLECHECK_TRUSTED_PROXIES": "proxy.local"})


def test_the_client_address_is_believed_only_from_a_trusted_proxy() -> None:
    proxies = frozenset({"127.0.0.1"})
    assert client_address("203.0.113.5", "198.51.100.1", proxies) == "203.0.113.5"
    assert client_address("127.0.0.1", None, proxies) == "127.0.0.1"
    assert client_address("127.0.0.1", "198.51.100.1", proxies) == "198.51.100.1"
    # A client can put anything first; the proxy appends the address it saw.
    assert client_address("127.0.0.1", "1.2.3.4, 198.51.100.1", proxies) == "198.51.100.1"
    assert client_address("127.0.0.1", "198.51.100.1, 127.0.0.1", proxies) == "198.51.100.1"
    assert client_address("127.0.0.1", "garbage", proxies) == "127.0.0.1"


def test_without_a_configured_proxy_a_local_client_cannot_choose_its_address() -> None:
    proxies = trusted_proxies({})
    assert client_address("127.0.0.1", "203.0.113.5", proxies) == "127.0.0.1"
    assert client_address("::1", ["203.0.113.5"], proxies) == "::1"


def test_the_rightmost_untrusted_address_across_every_header_line() -> None:
    proxies = frozenset({"127.0.0.1"})
    # HAProxy's `option forwardfor` appends a line of its own after the client's.
    assert client_address("127.0.0.1", ["198.51.100.1", "203.0.113.5"], proxies) == "203.0.113.5"
    assert (
        client_address("127.0.0.1", ["1.2.3.4, 198.51.100.1", "203.0.113.5, 127.0.0.1"], proxies)
        == "203.0.113.5"
    )


def test_every_forwarded_line_is_read_from_each_kind_of_headers() -> None:
    from sanic.compat import Header
    from starlette.datastructures import Headers

    lines = [("x-forwarded-for", "198.51.100.1"), ("X-Forwarded-For", "203.0.113.5")]
    assert forwarded_for(Header(lines)) == ["198.51.100.1", "203.0.113.5"]
    raw = [(name.lower().encode(), value.encode()) for name, value in lines]
    assert forwarded_for(Headers(raw=raw)) == ["198.51.100.1", "203.0.113.5"]
    assert forwarded_for({"x-forwarded-for": "198.51.100.1"}) == ["198.51.100.1"]
    assert forwarded_for({}) == []
