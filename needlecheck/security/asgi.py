"""Request limits for the front desk (an ASGI app): a body cap (413) and a request budget
per client address (429 with Retry-After). uvicorn has neither.

The client address (which the sign-in lockout counts too) is worked out here, with the
Rasa server's rule (`ratelimit.client_address`): X-Forwarded-For and X-Forwarded-Proto
are believed only from a proxy configured in NEEDLECHECK_TRUSTED_PROXIES. uvicorn's own
proxy handling is off: it trusts 127.0.0.1 by default, so any local program could
choose its address."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from needlecheck.security.ratelimit import (
    RateLimiter,
    address_rate,
    client_address,
    trusted_proxies,
)
from needlecheck.text import max_body_bytes

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
# Polled by the load balancer and the supervisor; the static files are public anyway.
UNCOUNTED_PREFIXES = ("/healthz", "/static/")


async def _refuse(send: Send, status: int, detail: str, headers: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    def __init__(self, app: Any, environ: Mapping[str, str] | None = None) -> None:
        self.app = app
        self.max_body = max_body_bytes(environ)
        self.limiter = RateLimiter(address_rate(environ))
        self.proxies = trusted_proxies(environ)

    def believe_proxy(self, scope: Scope) -> None:
        """Set the scope's client and scheme from a trusted proxy's headers. In place: the
        security-headers middleware around this one reads the same scope (HSTS)."""
        peer, port = scope.get("client") or ("unknown", 0)
        if peer not in self.proxies:
            return
        raw = scope.get("headers") or []
        lines = [value.decode("latin-1") for name, value in raw if name == b"x-forwarded-for"]
        scope["client"] = (client_address(peer, lines, self.proxies), port)
        protos = [
            value.decode("latin-1").strip() for name, value in raw if name == b"x-forwarded-proto"
        ]
        if protos and protos[-1] in ("http", "https"):
            scope["scheme"] = protos[-1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.believe_proxy(scope)
        path = scope.get("path", "")
        if not path.startswith(UNCOUNTED_PREFIXES):
            client = (scope.get("client") or ("unknown", 0))[0]
            allowed, wait = self.limiter.allow(client)
            if not allowed:
                retry = str(max(1, round(wait))).encode()
                await _refuse(
                    send, 429, "too many requests; try again shortly", [(b"retry-after", retry)]
                )
                return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _refuse(send, 413, f"the request body is over {self.max_body} bytes")
            return
        if declared is None and scope.get("method") in ("POST", "PUT", "PATCH"):
            # A chunked body: read it whole here (up to the cap), then hand it on.
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                size += len(message.get("body", b""))
                if size > self.max_body:
                    await _refuse(send, 413, f"the request body is over {self.max_body} bytes")
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body = b"".join(chunks)
            delivered = False

            async def replay() -> dict[str, Any]:
                nonlocal delivered
                if delivered:
                    return await receive()
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)
