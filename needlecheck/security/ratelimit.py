"""Rate limits per sender and per client address: token buckets kept in memory.

Each process keeps its own buckets, so with two instances behind the load balancer a
sender gets at most twice the budget: a limit against floods and scripts, not an
accounting of use. Buckets idle for longer than their window are forgotten.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_SENDER_RATE = "30/60"
DEFAULT_ADDRESS_RATE = "600/60"
# No proxy is trusted unless one is configured: on a machine with no proxy, every local
# program (or a page's script via a local tool) could otherwise pick its own address.
DEFAULT_TRUSTED_PROXIES = ""
# Past this many buckets, idle ones are dropped before a new one is made.
MAX_BUCKETS = 100_000


@dataclass(frozen=True)
class Rate:
    """`count` requests per `seconds`, in bursts of up to `count`; count 0 means no limit."""

    count: int
    seconds: int

    @classmethod
    def parse(cls, name: str, raw: str) -> Rate:
        count, _, seconds = raw.partition("/")
        if not (count.strip().isdigit() and seconds.strip().isdigit() and int(seconds) > 0):
            raise ValueError(
                f"{name}={raw!r} is not a rate: write COUNT/SECONDS, e.g. 30/60 "
                "(0/60 turns the limit off)"
            )
        return cls(int(count), int(seconds))

    @property
    def unlimited(self) -> bool:
        return self.count == 0


def sender_rate(environ: Mapping[str, str] | None = None) -> Rate:
    env = os.environ if environ is None else environ
    name = "NEEDLECHECK_SENDER_RATE"
    return Rate.parse(name, env.get(name) or DEFAULT_SENDER_RATE)


def address_rate(environ: Mapping[str, str] | None = None) -> Rate:
    env = os.environ if environ is None else environ
    name = "NEEDLECHECK_ADDRESS_RATE"
    return Rate.parse(name, env.get(name) or DEFAULT_ADDRESS_RATE)


def trusted_proxies(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The proxies whose X-Forwarded-For is believed: only those configured in
    NEEDLECHECK_TRUSTED_PROXIES (production sets HAProxy's address for the instances)."""
    env = os.environ if environ is None else environ
    raw = env.get("NEEDLECHECK_TRUSTED_PROXIES") or DEFAULT_TRUSTED_PROXIES
    proxies = set()
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            proxies.add(str(ipaddress.ip_address(item)))
        except ValueError:
            raise ValueError(
                f"NEEDLECHECK_TRUSTED_PROXIES: {item!r} is not an IP address"
            ) from None
    return frozenset(proxies)


def forwarded_for(headers: Any) -> list[str]:
    """Every X-Forwarded-For line of a request, in order. Sanic's and multidict's `get`
    give only the first line, which is the client's own (HAProxy appends a line of its
    own after it), so all of them are read."""
    if hasattr(headers, "getall"):  # Sanic, multidict, aiohttp
        return [str(line) for line in headers.getall("x-forwarded-for", [])]
    if hasattr(headers, "getlist"):  # Starlette
        return [str(line) for line in headers.getlist("x-forwarded-for")]
    line = headers.get("x-forwarded-for")
    return [] if line is None else [str(line)]


def client_address(
    peer: str | None, forwarded: str | Iterable[str] | None, proxies: frozenset[str]
) -> str:
    """The client's address: the peer, or, behind a trusted proxy, the rightmost address
    in X-Forwarded-For (all its lines, joined) that is not itself a trusted proxy.
    Everything left of that the client can forge."""
    address = peer or "unknown"
    if address not in proxies or not forwarded:
        return address
    lines = [forwarded] if isinstance(forwarded, str) else list(forwarded)
    hops = [part.strip() for line in lines for part in line.split(",")]
    for hop in reversed(hops):
        try:
            hop = str(ipaddress.ip_address(hop))
        except ValueError:
            break
        address = hop
        if hop not in proxies:
            break
    return address


class RateLimiter:
    """Token buckets by key: `allow(key)` takes one token, or says how long to wait."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> tuple[bool, float]:
        """(allowed, seconds until a token is free)."""
        if self.rate.unlimited:
            return True, 0.0
        now = self._clock()
        per_second = self.rate.count / self.rate.seconds
        tokens, then = self._buckets.get(key, (float(self.rate.count), now))
        tokens = min(float(self.rate.count), tokens + (now - then) * per_second)
        if tokens >= 1.0:
            if key not in self._buckets and len(self._buckets) >= MAX_BUCKETS:
                self._forget_idle(now)
            self._buckets[key] = (tokens - 1.0, now)
            return True, 0.0
        self._buckets[key] = (tokens, now)
        return False, (1.0 - tokens) / per_second

    def _forget_idle(self, now: float) -> None:
        # A bucket idle for a whole window is full again: forgetting it changes nothing.
        idle = [k for k, (_, then) in self._buckets.items() if now - then >= self.rate.seconds]
        for key in idle:
            del self._buckets[key]
