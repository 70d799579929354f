"""/openapi.json says what every JSON route answers (needlecheck/frontdesk/schemas.py), and
what the routes answer matches it: real answers, success and refusal, are validated
against the description the running front desk serves."""

from __future__ import annotations

import re
import secrets

import httpx
import schemathesis
from fastapi.routing import APIRoute

from needlecheck.frontdesk.app import create_app
from needlecheck.frontdesk.schemas import Health
from tests.frontdesk.conftest import csrf_from, sign_in
from tests.frontdesk.stand_in import Desk
from tests.frontdesk.support import PASSWORDS, add_contact, add_handoff, add_screening, words

JSON = re.compile(r"^application/([a-z0-9.-]+\+)?json$")
JSON_ROUTES = {
    ("GET", "/api/queue"),
    ("GET", "/api/queue/version"),
    ("GET", "/api/alerts"),
    ("GET", "/api/audit"),
    ("GET", "/api/screenings/{screening_id}/fhir"),
    ("POST", "/api/caller/{conversation}/messages"),
    ("POST", "/widget/erase"),
    ("GET", "/api/takeover/{conversation}"),
    ("POST", "/api/takeover/{conversation}/messages"),
}


def test_every_json_answer_in_the_description_has_a_schema() -> None:
    document = create_app(None).openapi()
    described = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            assert any(code.startswith("2") for code in answers), (method, path)
            for code, answer in answers.items():
                assert answer.get("content"), (method, path, code)
                for media_type, content in answer["content"].items():
                    if JSON.match(media_type):
                        # FastAPI writes {} for a route that declares no model: it says nothing.
                        assert content.get("schema"), (method, path, code, media_type)
                        if code.startswith("2"):
                            described.add((method.upper(), path))
    assert described == JSON_ROUTES
    # The CSV export is described as what it is.
    csv = document["paths"]["/export/queue.csv"]["get"]["responses"]["200"]["content"]
    assert list(csv) == ["text/csv"]


def test_the_health_check_has_a_model_too_though_it_is_not_described() -> None:
    (route,) = [r for r in create_app(None).routes if getattr(r, "path", "") == "/healthz"]
    assert isinstance(route, APIRoute) and not route.include_in_schema
    assert route.response_model is Health


def test_every_answer_matches_its_description(desk: Desk) -> None:
    screening = add_screening(desk.sessions, "m-screening", "defer_dated", **words())
    add_contact(desk.sessions, "m-screening", "Mina Park", "+44 20 7946 0111", "mina@example.org")
    add_handoff(desk.sessions, "m-handoff")
    desk.rasa.replies = [
        {"text": "How old are you?", "buttons": [{"title": "18 or over", "payload": "/adult"}]},
        {"custom": {"type": "recommendation", "title": "Book a consultation", "reasons": []}},
        "not a reply",
    ]
    answers: list[tuple[str, str, httpx.Response]] = []
    with httpx.Client(base_url=desk.url, timeout=20) as client:
        assert sign_in(client, "alice", PASSWORDS["alice"]).status_code == 303
        token = csrf_from(client.get(f"/screenings/{screening}").text)
        overridden = client.post(
            f"/screenings/{screening}/override",
            data={"outcome": "clinician_review", "reason": "seen in person", "csrf_token": token},
        )
        assert overridden.status_code == 303
        caller = client.post("/caller", data={"csrf_token": token}).headers["location"]
        messages = f"/api/caller/{caller.rsplit('/', 1)[1]}/messages"

        def call(method: str, template: str, url: str, **options) -> httpx.Response:
            response = client.request(method, url, **options)
            answers.append((method, template, response))
            return response

        queue = call("GET", "/api/queue", "/api/queue", params={"status": "all"})
        assert {row["kind"] for row in queue.json()["items"]} == {"screening", "contact", "handoff"}
        assert any(row["override"] for row in queue.json()["items"])
        call("GET", "/api/queue", "/api/queue", params={"status": "cleared"})  # 422
        call("GET", "/api/queue/version", "/api/queue/version")
        add_screening(desk.sessions, "m-urgent", "urgent_care")
        alerts = call("GET", "/api/alerts", "/api/alerts").json()
        assert alerts["count"] == 2 and {a["kind"] for a in alerts["alerts"]} == {
            "urgent",
            "handoff",
        }
        assert call("GET", "/api/audit", "/api/audit", params={"limit": 1000}).json()
        fhir = "/api/screenings/{screening_id}/fhir"
        call("GET", fhir, f"/api/screenings/{screening}/fhir")
        call("GET", fhir, "/api/screenings/999999/fhir")  # 404
        call("GET", fhir, "/api/screenings/0/fhir")  # 422
        sent = {"json": {"message": "I'm 34"}, "headers": {"X-CSRF-Token": token}}
        messages_ = "/api/caller/{conversation}/messages"
        assert len(call("POST", messages_, messages, **sent).json()) == 2
        call("POST", messages_, messages, json={"message": "hi"})  # 403: no token
        call("POST", messages_, messages, json={"message": ""}, headers=sent["headers"])  # 422
        state = "/api/takeover/{conversation}"
        call("GET", state, "/api/takeover/m-handoff")  # 404: never taken over
        staff_says = "/api/takeover/{conversation}/messages"
        said = {"json": {"text": "Hello"}, "headers": {"X-CSRF-Token": token}}
        call("POST", staff_says, "/api/takeover/m-handoff/messages", **said)  # 409: not held
        desk.rasa.status["POST"] = 500
        call("POST", messages_, messages, **sent)  # 502
        health = client.get("/healthz")
    with httpx.Client(base_url=desk.url, timeout=20) as anonymous:
        answers.append(("GET", "/api/queue", anonymous.get("/api/queue")))  # 401
        erase = {"headers": {"Origin": desk.url}}
        for body in ({"session_id": secrets.token_urlsafe(24)}, {"session_id": "short"}):
            response = anonymous.post("/widget/erase", json=body, **erase)  # 200, 422
            answers.append(("POST", "/widget/erase", response))
        widget = secrets.token_urlsafe(24)
        add_screening(desk.sessions, widget, "eligible", channel="web")
        desk.rasa.status["PUT"] = 500
        response = anonymous.post("/widget/erase", json={"session_id": widget}, **erase)  # 503
        answers.append(("POST", "/widget/erase", response))
        rest = secrets.token_urlsafe(24)
        add_screening(desk.sessions, rest, "eligible", channel="rest")
        response = anonymous.post("/widget/erase", json={"session_id": rest}, **erase)  # 403
        answers.append(("POST", "/widget/erase", response))

    Health.parse_obj(health.json())
    described = schemathesis.openapi.from_url(f"{desk.url}/openapi.json")
    seen = set()
    for method, template, response in answers:
        operation = described[template][method]
        documented = {int(code) for code in operation.definition.raw["responses"]}
        assert response.status_code in documented, (method, template, response.status_code)
        operation.validate_response(response)  # raises when the answer does not match
        seen.add((method, template, response.status_code))
    assert {(m, t) for m, t, _ in seen} == JSON_ROUTES
    assert {code for _, _, code in seen} == {200, 401, 403, 404, 409, 422, 502, 503}
