"""The front desk's public widget routes and the caller mode's endpoints, over HTTP."""

from __future__ import annotations

import re
import secrets

import httpx
from sqlalchemy import select

from needlecheck.store.models import AuditEntry, Screening
from tests.frontdesk.conftest import csrf_from
from tests.frontdesk.support import add_screening


def test_widget_js_is_one_cacheable_script_with_socketio_inside(frontdesk) -> None:
    response = httpx.get(f"{frontdesk.url}/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert "Socket.IO v4.8.1" in response.text and "needlecheck chat widget" in response.text
    # Nothing is fetched from elsewhere at run time: no CDN, no web font.
    assert not re.search(r"https://(?!socket\.io|github\.com)[a-z0-9.-]+\.[a-z]+/", response.text)
    again = httpx.get(
        f"{frontdesk.url}/widget.js", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304


def test_the_demo_page_embeds_the_widget_and_may_talk_to_the_chat_server(frontdesk) -> None:
    response = httpx.get(f"{frontdesk.url}/demo")
    assert response.status_code == 200
    assert '<script src="/widget.js" defer></script>' in response.text
    assert 'id="needlecheck-config"' in response.text
    policy = response.headers["content-security-policy"]
    assert "connect-src 'self' http://localhost:5005 ws://localhost:5005" in policy
    assert "script-src" not in policy and "unsafe-inline" not in policy


def test_widget_erasure_deletes_the_conversation_for_allowed_origins_only(frontdesk) -> None:
    session_id = secrets.token_urlsafe(24)
    add_screening(frontdesk.sessions, session_id, "eligible", channel="web")
    port = frontdesk.url.rsplit(":", 1)[1]
    allowed = f"http://localhost:{port}"
    preflight = httpx.options(
        f"{frontdesk.url}/widget/erase",
        headers={"Origin": allowed, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["access-control-allow-origin"] == allowed
    foreign = httpx.post(
        f"{frontdesk.url}/widget/erase",
        json={"session_id": session_id},
        headers={"Origin": "https://elsewhere.example"},
    )
    assert foreign.status_code == 403
    for bad in ({"session_id": "short"}, {"session_id": 5}, ["x"], {}):
        refused = httpx.post(f"{frontdesk.url}/widget/erase", json=bad, headers={"Origin": allowed})
        assert refused.status_code == 422
    with frontdesk.sessions.begin() as session:
        assert session.execute(
            select(Screening.id).where(Screening.conversation_id == session_id)
        ).first()
    erased = httpx.post(
        f"{frontdesk.url}/widget/erase",
        json={"session_id": session_id},
        headers={"Origin": allowed},
    )
    assert erased.status_code == 200 and erased.json() == {"deleted": True}
    assert erased.headers["access-control-allow-origin"] == allowed
    with frontdesk.sessions.begin() as session:
        assert not session.execute(
            select(Screening.id).where(Screening.conversation_id == session_id)
        ).first()
        entry = session.execute(select(AuditEntry).order_by(AuditEntry.id.desc())).scalars().first()
        assert (entry.staff_username, entry.action) == ("visitor", "erase")
        assert session_id not in (entry.detail or "")


def test_caller_mode_needs_a_signed_in_staff_member_and_the_form_token(frontdesk) -> None:
    assert httpx.post(f"{frontdesk.url}/caller").status_code == 401
    with frontdesk.client("bob") as client:
        queue = client.get("/")
        assert "New screening for a caller" in queue.text
        assert client.post("/caller", data={"csrf_token": "wrong"}).status_code == 403
        started = client.post("/caller", data={"csrf_token": csrf_from(queue.text)})
        assert started.status_code == 303
        location = started.headers["location"]
        assert re.fullmatch(r"/caller/frontdesk-[A-Za-z0-9_-]{24}", location)
        page = client.get(location)
        assert page.status_code == 200
        conversation = location.rsplit("/", 1)[1]
        assert f'data-conversation="{conversation}"' in page.text
        endpoint = f"/api/caller/{conversation}/messages"
        assert client.post(endpoint, json={"message": "hi"}).status_code == 403
        token = csrf_from(queue.text)
        assert (
            client.post(endpoint, json={"message": ""}, headers={"X-CSRF-Token": token}).status_code
            == 422
        )
        assert (
            client.post(
                "/api/caller/someone-else/messages",
                json={"message": "hi"},
                headers={"X-CSRF-Token": token},
            ).status_code
            == 404
        )
        # No assistant runs beside this front desk: a clear 503, never a 500.
        down = client.post(endpoint, json={"message": "hi"}, headers={"X-CSRF-Token": token})
        assert down.status_code == 503
        assert "not reachable" in down.json()["detail"]


def test_the_front_desk_imports_neither_rasa_nor_tensorflow() -> None:
    # Serving the widget and relaying for callers must not pull the assistant's stack in.
    import subprocess
    import sys

    probe = (
        "import sys; from needlecheck.frontdesk.app import create_app; create_app(None); "
        "print(sorted(m for m in ('rasa', 'tensorflow', 'spacy', 'socketio') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_tokens_and_bodies_that_are_not_ascii_or_too_deep_get_a_4xx_never_a_500(
    frontdesk,
) -> None:
    deep = b"[" * 50_000 + b"]" * 50_000
    for body in (deep, b'{"session_id": ' + deep + b"}", b"\xff\xfe not json"):
        answer = httpx.post(
            f"{frontdesk.url}/widget/erase",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 422, (body[:20], answer.status_code)
    with frontdesk.client() as client:
        client.get("/login")  # the sign-in form's cookie is set; its token is not sent
        for token in ("é", "\u00ff" * 43, "\u2028"):
            refused = client.post(
                "/login", data={"username": "bob", "password": "x", "csrf_token": token}
            )
            assert refused.status_code == 403, token
            assert "The sign-in form expired" in refused.text
    with frontdesk.client("bob") as client:
        client.post("/caller", data={"csrf_token": csrf_from(client.get("/").text)})
        endpoint = "/api/caller/frontdesk-AAAAAAAAAAAAAAAAAAAAAAAA/messages"
        for raw in ("é".encode(), b"\xff\xfe", "\u00e9".encode("latin-1")):
            refused = client.post(endpoint, json={"message": "hi"}, headers={"X-CSRF-Token": raw})
            assert refused.status_code == 403, raw
        token = csrf_from(client.get("/").text)
        deep_json = client.post(
            endpoint,
            content=deep,
            headers={"Content-Type": "application/json", "X-CSRF-Token": token},
        )
        assert 400 <= deep_json.status_code < 500


def test_the_widget_erases_only_conversations_the_widget_started(frontdesk) -> None:
    port = frontdesk.url.rsplit(":", 1)[1]
    headers = {"Origin": f"http://localhost:{port}"}
    rest = secrets.token_urlsafe(24)  # a REST sender shaped like a widget session
    caller = f"frontdesk-{secrets.token_urlsafe(18)}"
    mixed = secrets.token_urlsafe(24)  # begun in the widget, continued over REST
    widget = secrets.token_urlsafe(24)
    add_screening(frontdesk.sessions, rest, "eligible", channel="rest")
    add_screening(frontdesk.sessions, caller, "eligible", channel="frontdesk")
    add_screening(frontdesk.sessions, mixed, "eligible", channel="web")
    add_screening(frontdesk.sessions, mixed, "eligible", channel="rest")
    add_screening(frontdesk.sessions, widget, "eligible", channel="web")

    def erase(conversation: str, **extra: str) -> httpx.Response:
        return httpx.post(
            f"{frontdesk.url}/widget/erase",
            json={"session_id": conversation},
            headers={**headers, **extra},
        )

    def kept(conversation: str) -> int:
        with frontdesk.sessions.begin() as session:
            return len(
                session.execute(
                    select(Screening.id).where(Screening.conversation_id == conversation)
                ).all()
            )

    for conversation in (rest, caller, mixed):
        refused = erase(conversation)
        assert refused.status_code == 403, conversation
        assert "started in this website's chat" in refused.json()["detail"]
        # Without an Origin header too: a script is no browser, and no more trusted.
        assert (
            httpx.post(
                f"{frontdesk.url}/widget/erase", json={"session_id": conversation}
            ).status_code
            == 403
        )
    assert (kept(rest), kept(caller), kept(mixed)) == (1, 1, 2)
    # A conversation of which nothing is stored has nothing to erase.
    nothing = erase(secrets.token_urlsafe(24))
    assert nothing.status_code == 200 and nothing.json() == {"deleted": True}
    erased = erase(widget)
    assert erased.status_code == 200 and erased.json() == {"deleted": True}
    assert kept(widget) == 0
