"""The Rasa server's guards, installed by `needlecheck.patches` before Rasa runs.

Rasa 3.6 leaves these to whoever deploys it; needlecheck ships them on:

- the HTTP API token (or JWT secret) is read from the environment, never from the
  command line, where every user of the machine can read it in `ps`;
- the server refuses to listen beyond loopback without a token or a JWT secret, and with
  neither set, the HTTP API gets a token generated into var/ (api.token): loopback is
  reachable by every local process and by every web page open in the machine's browser;
- the HTTP API refuses cross-site requests: a foreign Origin, a browser's
  `Sec-Fetch-Site: cross-site`, or a body type a web page may send without asking
  (text/plain, a form);
- in production, the HTTP API cannot replace, unload or train the model;
- request bodies are capped (413), and requests and responses have time limits;
- each client address has a request budget (429 with Retry-After);
- each sender has a message budget, and a message longer than the configured length is
  answered politely without being processed, on every channel;
- a typed "slash" payload (`/inform{"age": 30}`) counts as a button press only when it is
  the payload of a button the assistant has just offered; any other is read as words.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from needlecheck.security.ratelimit import (
    RateLimiter,
    address_rate,
    client_address,
    forwarded_for,
    sender_rate,
    trusted_proxies,
)
from needlecheck.text import max_body_bytes, max_message_length, polite, valid_text

logger = logging.getLogger(__name__)

PRODUCTION = "production"
# Receiving a request; Rasa's own response limit is an hour.
REQUEST_TIMEOUT = 15
RESPONSE_TIMEOUT = 60
# Routes the load balancer and `needlecheck status` poll every second.
UNCOUNTED_PATHS = ("/", "/version", "/status", "/webhooks/health/ready")
# Webhooks that carry many people's messages from one provider's (or the front desk's)
# few addresses, each request signed or carrying a shared secret: a per-address budget
# would throttle a whole clinic's SMS. Their senders still have their own budgets.
SIGNED_WEBHOOKS = tuple(
    f"/webhooks/{name}/webhook"
    for name in ("twilio", "whatsapp", "facebook", "telegram", "frontdesk")
)
# What the HTTP API may not do to a production server.
REFUSED_IN_PRODUCTION = {("PUT", "/model"), ("DELETE", "/model"), ("POST", "/model/train")}


# What the widget and the caller mode send to open a conversation: the same as "hello",
# so it may come at any time.
OPENING_PAYLOADS = frozenset({"/greet"})


class UnsafeServerConfig(RuntimeError):
    """The server must not start like this; the message says why."""


def is_loopback(interface: str | None) -> bool:
    if interface in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(interface or "").is_loopback
    except ValueError:
        return False


def api_credentials(
    auth_token: str | None, jwt_secret: str | None, environ: Mapping[str, str] | None = None
) -> tuple[str | None, str | None]:
    env = os.environ if environ is None else environ
    return (
        auth_token or env.get("NEEDLECHECK_API_TOKEN") or None,
        jwt_secret or env.get("NEEDLECHECK_JWT_SECRET") or None,
    )


def check_exposure(interface: str | None, auth_token: str | None, jwt_secret: str | None) -> None:
    if not is_loopback(interface) and not (auth_token or jwt_secret):
        raise UnsafeServerConfig(
            f"the Rasa server would listen on {interface or 'every interface'} with an "
            "HTTP API anyone could use: set NEEDLECHECK_API_TOKEN (or NEEDLECHECK_JWT_SECRET), "
            "or listen on 127.0.0.1"
        )


def server_token(
    auth_token: str | None, jwt_secret: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The token the HTTP API runs with: the one given, or, with neither a token nor a JWT
    secret, the one generated into var/ (as `make run` does)."""
    if auth_token or jwt_secret:
        return auth_token
    from needlecheck.config import Settings, api_token

    env = os.environ if environ is None else environ
    return api_token(Settings.from_environment(env).var_dir, env)


# The channels, each with its own checks: socket.io checks the widget's origins itself;
# providers' webhooks are signed. Every other route is Rasa's HTTP API.
CHANNEL_PREFIXES = ("/webhooks/", "/socket.io")
# What a web page may send anywhere without the browser asking first (CORS "simple"
# requests), and so what a cross-site page could use to write blind.
SIMPLE_BODY_TYPES = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def own_origins(environ: Mapping[str, str] | None = None, port: int | None = None) -> set[str]:
    """The origins of the server's own pages: its loopback names and its public URL."""
    from urllib.parse import urlsplit

    from needlecheck.config import Settings

    settings = Settings.from_environment(os.environ if environ is None else environ)
    port = port or settings.rasa_port
    origins = {f"http://{host}:{port}" for host in ("localhost", "127.0.0.1", "[::1]")}
    if settings.public_url:
        public = urlsplit(settings.public_url)
        origins.add(f"{public.scheme}://{public.netloc}".lower())
    return origins


def cross_site_problem(
    method: str, path: str, headers: Mapping[str, str], origins: set[str]
) -> str | None:
    """Why a request to the HTTP API looks sent by another site's page, or None. Whatever
    the token: a page must not be able to use a browser's way to the API at all."""
    if path.startswith(CHANNEL_PREFIXES):
        return None
    origin = headers.get("origin")
    if origin is not None and origin.strip().rstrip("/").lower() not in origins:
        return "requests from another site's pages are refused"
    if (headers.get("sec-fetch-site") or "none").strip().lower() not in ("same-origin", "none"):
        return "requests from another site's pages are refused"
    if method.upper() in BODY_METHODS:
        media = (headers.get("content-type") or "").split(";")[0].strip().lower()
        if media in SIMPLE_BODY_TYPES:
            return f"the HTTP API does not take {media} bodies: send application/json"
    return None


def offered_payloads(events: Iterable[Any]) -> set[str]:
    """The payloads of the buttons in the assistant's messages since the person's last one
    (tracker events, or their dicts)."""
    offered: set[str] = set()
    for event in reversed(list(events)):
        data = event if isinstance(event, dict) else event.as_dict()
        if data.get("event") == "user":
            break
        if data.get("event") == "bot":
            shown = data.get("data") or {}
            for button in (shown.get("buttons") or []) + (shown.get("quick_replies") or []):
                if isinstance(button, dict) and isinstance(button.get("payload"), str):
                    offered.add(button["payload"].strip())
    return offered


def as_typed_text(text: str, offered: set[str]) -> str:
    """The text NLU should read: a payload that was offered stays a payload; any other
    text starting with "/" loses the slashes, so NLU reads it as words."""
    stripped = text.strip()
    if not stripped.startswith("/") or stripped in offered or stripped in OPENING_PAYLOADS:
        return text
    return stripped.lstrip("/").strip()


def typed_payload_gate(parse: Any) -> Any:
    """For MessageProcessor._parse_message_with_graph (`parse`): a typed payload that was
    not offered is read as words."""
    from rasa.core.processor import MessageProcessor

    def parse_message_with_graph(
        self: MessageProcessor, message: Any, tracker: Any, only_output_properties: bool = True
    ) -> dict[str, Any]:
        text = message.text or ""
        if text.lstrip().startswith("/"):
            read = as_typed_text(text, offered_payloads(tracker.events if tracker else ()))
            if read != text:
                logger.info("a typed payload that was not offered is read as text")
                message = copy.copy(message)
                message.text = read
        return parse(self, message, tracker, only_output_properties)

    return parse_message_with_graph


def message_limits(handle: Any, environ: Mapping[str, str] | None = None) -> Any:
    """For Agent.handle_message (`handle`): a message too long, or over its sender's
    budget, is answered politely and not processed."""
    from rasa.core.agent import Agent

    limiter = RateLimiter(sender_rate(environ))
    longest = max_message_length(environ)

    async def handle_message(self: Agent, message: Any) -> Any:
        if message.text:
            message.text = valid_text(message.text)
        problem = None
        if len(message.text or "") > longest:
            problem = "too_long"
        elif not limiter.allow(str(message.sender_id))[0]:
            problem = "too_fast"
            logger.warning("a sender's message was refused: over the message rate")
        if problem is None:
            return await handle(self, message)
        if message.output_channel is not None:
            await message.output_channel.send_text_message(message.sender_id, polite(problem))
        return None

    return handle_message


def harden_app(app: Any, environ: Mapping[str, str] | None = None) -> None:
    """Body cap, time limits, the per-address budget and production's refusals."""
    from sanic import response

    env = os.environ if environ is None else environ
    app.config.REQUEST_MAX_SIZE = max_body_bytes(env)
    app.config.REQUEST_TIMEOUT = REQUEST_TIMEOUT
    app.config.RESPONSE_TIMEOUT = RESPONSE_TIMEOUT
    limiter = RateLimiter(address_rate(env))
    proxies = trusted_proxies(env)
    production = env.get("NEEDLECHECK_PROFILE") == PRODUCTION

    @app.middleware("request")
    async def guard(request: Any) -> Any:
        if production and (request.method, request.path.rstrip("/")) in REFUSED_IN_PRODUCTION:
            return response.json(
                {"error": "the model cannot be changed through the HTTP API in production"},
                status=403,
            )
        if request.path in UNCOUNTED_PATHS or request.path in SIGNED_WEBHOOKS:
            return None
        address = client_address(request.ip, forwarded_for(request.headers), proxies)
        allowed, wait = limiter.allow(address)
        if not allowed:
            return response.json(
                {"error": "too many requests from this address; try again shortly"},
                status=429,
                headers={"Retry-After": str(max(1, round(wait)))},
            )
        return None


def install_cross_site_refusal(
    app: Any, environ: Mapping[str, str] | None = None, port: int | None = None
) -> None:
    from sanic import response

    origins = own_origins(environ, port)

    @app.middleware("request")
    async def refuse_cross_site(request: Any) -> Any:
        problem = cross_site_problem(request.method, request.path, request.headers, origins)
        if problem is None:
            return None
        logger.warning("a cross-site request to the HTTP API was refused")
        return response.json({"error": problem}, status=403)


def guarded_app(configure: Any, environ: Mapping[str, str] | None = None) -> Any:
    """For rasa.core.run.configure_app (`configure`): the app it makes, hardened
    (`harden_app`) and refusing cross-site requests."""

    @functools.wraps(configure)
    def configure_app(*args: Any, **kwargs: Any) -> Any:
        app = configure(*args, **kwargs)
        harden_app(app, environ)
        install_cross_site_refusal(app, environ, kwargs.get("port"))
        return app

    return configure_app


def guarded_serving(serve: Any, environ: Mapping[str, str] | None = None) -> Any:
    """For rasa.core.run.serve_application (`serve`): the API token from the environment
    (or var/), never listening beyond loopback without one."""

    @functools.wraps(serve)
    def serve_application(*args: Any, **kwargs: Any) -> Any:
        token, secret = api_credentials(kwargs.get("auth_token"), kwargs.get("jwt_secret"), environ)
        if kwargs.get("enable_api"):
            token = server_token(token, secret, environ)
        kwargs["auth_token"], kwargs["jwt_secret"] = token, secret
        if secret and not kwargs.get("jwt_method"):
            kwargs["jwt_method"] = "HS256"
        check_exposure(kwargs.get("interface", "0.0.0.0"), token, secret)
        return serve(*args, **kwargs)

    return serve_application
