from __future__ import annotations

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

from needlecheck.security.rasa_guard import (
    UnsafeServerConfig,
    api_credentials,
    as_typed_text,
    check_exposure,
    is_loopback,
    offered_payloads,
)
from needlecheck.text import max_body_bytes

CONSENT_BUTTONS = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]


def test_the_payloads_offered_are_those_since_the_last_user_message() -> None:
    events = [
        BotUttered("old question", {"buttons": [{"title": "Old", "payload": "/old"}]}),
        UserUttered("hi"),
        BotUttered("May I ask?", {"buttons": CONSENT_BUTTONS}),
        BotUttered(
            "Or pick one", {"quick_replies": [{"title": "Q", "payload": '/inform{"a": 1}'}]}
        ),
        ActionExecuted("action_listen"),
    ]
    assert offered_payloads(events) == {"/affirm", "/deny", '/inform{"a": 1}'}
    as_dicts = [event.as_dict() for event in events]
    assert offered_payloads(as_dicts) == {"/affirm", "/deny", '/inform{"a": 1}'}
    assert offered_payloads([*events, UserUttered("yes")]) == set()


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("/affirm", "/affirm"),
        ("/greet", "/greet"),
        ("  /deny ", "  /deny "),
        ('/inform{"age": 3}', 'inform{"age": 3}'),
        ("/restart", "restart"),
        ('//inform{"screening_outcome": "eligible"}', 'inform{"screening_outcome": "eligible"}'),
        ("/", ""),
        ("I use /retinol/", "I use /retinol/"),
    ],
)
def test_only_an_offered_payload_stays_a_payload(typed: str, read: str) -> None:
    assert as_typed_text(typed, {"/affirm", "/deny"}) == read


def test_the_api_must_have_a_token_beyond_loopback() -> None:
    check_exposure("127.0.0.1", None, None)
    check_exposure("::1", None, None)
    check_exposure("localhost", None, None)
    check_exposure("0.0.0.0", "token", None)
    check_exposure("10.0.0.5", None, "jwt-secret")
    for interface in ("0.0.0.0", "192.0.2.10", "::", None):
        with pytest.raises(UnsafeServerConfig, match="NEEDLECHECK_API_TOKEN"):
            check_exposure(interface, None, None)
    assert not is_loopback("example.org")


def test_credentials_come_from_the_environment() -> None:
    env = {"NEEDLECHECK_API_TOKEN": "t", "NEEDLECHECK_JWT_SECRET": "j"}
    assert api_credentials(None, None, env) == ("t", "j")
    assert api_credentials("given", None, env) == ("given", "j")
    assert api_credentials(None, None, {}) == (None, None)


def test_the_body_cap() -> None:
    assert max_body_bytes({}) == 128 * 1024
    assert max_body_bytes({"NEEDLECHECK_MAX_BODY_BYTES": "4096"}) == 4096
    for raw in ("12", "lots", "999999999999"):
        with pytest.raises(ValueError, match="NEEDLECHECK_MAX_BODY_BYTES"):
            max_body_bytes({"NEEDLECHECK_MAX_BODY_BYTES": raw})


def test_the_server_gets_its_body_cap_time_limits_and_guard() -> None:
    from sanic import Sanic

    from needlecheck.security.rasa_guard import REQUEST_TIMEOUT, RESPONSE_TIMEOUT, harden_app

    app = Sanic("needlecheck_guard_test")
    harden_app(app, {"NEEDLECHECK_MAX_BODY_BYTES": "4096"})
    assert app.config.REQUEST_MAX_SIZE == 4096
    assert (app.config.REQUEST_TIMEOUT, app.config.RESPONSE_TIMEOUT) == (15, 60)
    assert REQUEST_TIMEOUT < RESPONSE_TIMEOUT
    assert [m.__name__ for m in app.request_middleware] == ["guard"]


def test_the_guard_counts_addresses_but_not_signed_webhooks_or_readiness() -> None:
    import asyncio
    from types import SimpleNamespace

    from sanic import Sanic

    from needlecheck.security.rasa_guard import harden_app

    app = Sanic("needlecheck_guard_budget_test")
    harden_app(app, {"NEEDLECHECK_ADDRESS_RATE": "1/60", "NEEDLECHECK_PROFILE": "production"})
    (guard,) = app.request_middleware

    def status(method: str, path: str, ip: str = "203.0.113.5") -> int | None:
        request = SimpleNamespace(method=method, path=path, ip=ip, headers={})
        answer = asyncio.run(guard(request))
        return None if answer is None else answer.status

    assert status("POST", "/webhooks/rest/webhook") is None
    assert status("POST", "/webhooks/rest/webhook") == 429
    assert status("POST", "/webhooks/rest/webhook", ip="203.0.113.6") is None
    for path in (
        "/webhooks/twilio/webhook",
        "/webhooks/telegram/webhook",
        "/webhooks/health/ready",
    ):
        assert status("POST", path) is None
    assert status("PUT", "/model", ip="203.0.113.7") == 403


def test_the_guard_counts_the_address_the_proxy_saw_not_the_one_the_client_wrote() -> None:
    import asyncio
    from types import SimpleNamespace

    from sanic import Sanic
    from sanic.compat import Header

    from needlecheck.security.rasa_guard import harden_app

    def statuses(env: dict[str, str]) -> list[int | None]:
        app = Sanic(f"needlecheck_forwarded_{len(env)}")
        harden_app(app, {"NEEDLECHECK_ADDRESS_RATE": "3/60", **env})
        (guard,) = app.request_middleware
        result = []
        for forged in range(6):
            # The client writes a new address each time; HAProxy appends the one it saw.
            lines = [("x-forwarded-for", f"198.51.100.{forged}")]
            if env:
                lines.append(("x-forwarded-for", "203.0.113.5"))
            request = SimpleNamespace(
                method="POST", path="/webhooks/rest/webhook", ip="127.0.0.1", headers=Header(lines)
            )
            answer = asyncio.run(guard(request))
            result.append(None if answer is None else answer.status)
        return result

    # `make run`: no proxy, so the loopback peer is the address, whatever the header says.
    assert statuses({}) == [None, None, None, 429, 429, 429]
    # Behind HAProxy: its own line names the client.
    behind = statuses({"NEEDLECHECK_TRUSTED_PROXIES": "127.0.0.1"})
    assert behind == [None, None, None, 429, 429, 429]


def test_the_api_never_runs_without_a_token(tmp_path) -> None:
    import stat

    from needlecheck.security.rasa_guard import guarded_serving

    served: list[dict] = []
    serve = guarded_serving(lambda **kw: served.append(kw), {"NEEDLECHECK_VAR_DIR": str(tmp_path)})
    serve(enable_api=True, interface="127.0.0.1")
    serve(enable_api=True, interface="127.0.0.1")
    kept = tmp_path / "api.token"
    # Generated once into var/, readable by its owner only, and the same on the next start.
    assert len(kept.read_text()) >= 40
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert [call["auth_token"] for call in served] == [kept.read_text()] * 2
    # A token or a JWT secret of the clinic's own is used as it is.
    serve = guarded_serving(
        lambda **kw: served.append(kw),
        {"NEEDLECHECK_VAR_DIR": str(tmp_path), "NEEDLECHECK_JWT_SECRET": "j"},
    )
    serve(enable_api=True, interface="127.0.0.1")
    assert (served[-1]["auth_token"], served[-1]["jwt_secret"]) == (None, "j")


OWN = {"http://localhost:5005", "http://127.0.0.1:5005"}
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/conversations/x/tracker/events", {**JSON, "origin": "http://evil.example"}),
        ("GET", "/conversations/x/tracker", {"origin": "http://evil.example"}),
        ("GET", "/conversations/x/tracker", {"origin": "null"}),
        ("GET", "/conversations/x/tracker", {"origin": "http://localhost:8000"}),
        ("GET", "/conversations/x/tracker", {"sec-fetch-site": "cross-site"}),
        ("POST", "/conversations/x/messages", {"content-type": "text/plain"}),
        ("POST", "/conversations/x/messages", {"content-type": "text/plain;charset=UTF-8"}),
        ("PUT", "/conversations/x/tracker/events", {"content-type": "multipart/form-data; b=1"}),
        ("POST", "/model/parse", {"content-type": "application/x-www-form-urlencoded"}),
    ],
)
def test_cross_site_requests_to_the_api_are_refused(method, path, headers) -> None:
    from needlecheck.security.rasa_guard import cross_site_problem

    assert cross_site_problem(method, path, headers, OWN)


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/conversations/x/tracker/events", JSON),
        ("GET", "/conversations/x/tracker", {}),
        ("GET", "/status", {"origin": "http://127.0.0.1:5005", "sec-fetch-site": "same-origin"}),
        ("GET", "/status", {"sec-fetch-site": "none"}),
        ("GET", "/conversations/x/tracker", {"content-type": "text/plain"}),
        # The channels have their own checks: socket.io the widget's origins, providers
        # their signatures (Twilio posts a form).
        ("POST", "/webhooks/twilio/webhook", {"content-type": "application/x-www-form-urlencoded"}),
        ("GET", "/socket.io/", {"origin": "http://localhost:8000"}),
    ],
)
def test_the_servers_own_and_non_browser_requests_pass(method, path, headers) -> None:
    from needlecheck.security.rasa_guard import cross_site_problem

    assert cross_site_problem(method, path, headers, OWN) is None


def test_the_server_refuses_cross_site_requests_with_403() -> None:
    import asyncio
    import json
    from types import SimpleNamespace

    from sanic import Sanic

    from needlecheck.security.rasa_guard import install_cross_site_refusal, own_origins

    app = Sanic("needlecheck_cross_site_test")
    env = {"NEEDLECHECK_PUBLIC_URL": "https://chat.clinic.example/"}
    install_cross_site_refusal(app, env, 5099)
    (refuse,) = app.request_middleware
    assert own_origins(env, 5099) >= {"http://127.0.0.1:5099", "https://chat.clinic.example"}

    def answer(headers: dict[str, str]) -> object:
        request = SimpleNamespace(method="POST", path="/conversations/x/tracker/events")
        request.headers = headers
        return asyncio.run(refuse(request))

    refused = answer({"content-type": "text/plain", "origin": "http://evil.example"})
    assert refused.status == 403 and "another site" in json.loads(refused.body)["error"]
    assert answer({**JSON, "origin": "https://chat.clinic.example"}) is None
