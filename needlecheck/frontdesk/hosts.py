"""The host names the front desk answers to (NEEDLECHECK_FRONTDESK_HOSTS).

Starlette builds absolute URLs from the request's Host header: the redirect that adds or
drops a trailing slash (`/login/` -> `/login`) and the demo page's own address. A request
with `Host: evil.example` got a redirect to http://evil.example/login, which a poisoned
cache or a proxy that passes Host on would hand to staff. Only the configured names are
answered now; any other gets 400 before a route runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from starlette.middleware.trustedhost import TrustedHostMiddleware

# `make run`: the front desk listens on loopback and is opened as localhost or 127.0.0.1.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")
# Polled by probes that address the server by its IP (Kubernetes' httpGet sends the pod's
# address as Host); it answers no URL and nothing that depends on Host.
UNCHECKED_PATHS = ("/healthz",)


def frontdesk_hosts(environ: Mapping[str, str] | None = None) -> list[str]:
    """The configured public host names (no port), or the loopback names."""
    env = os.environ if environ is None else environ
    raw = env.get("NEEDLECHECK_FRONTDESK_HOSTS") or ""
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    for name in names:
        if ":" in name or "/" in name:
            raise ValueError(
                f"NEEDLECHECK_FRONTDESK_HOSTS: {name!r} is not a host name "
                "(give names such as frontdesk.clinic.example, without scheme or port)"
            )
    return names or list(LOOPBACK_HOSTS)


class HostCheck:
    """Starlette's TrustedHostMiddleware, except on the health check."""

    def __init__(self, app: Any, allowed_hosts: list[str]) -> None:
        self.app = app
        # No www. redirect: that would be one more redirect built from Host.
        self.checked = TrustedHostMiddleware(app, allowed_hosts=allowed_hosts, www_redirect=False)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") in UNCHECKED_PATHS:
            await self.app(scope, receive, send)
            return
        await self.checked(scope, receive, send)
