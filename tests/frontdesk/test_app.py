"""The front desk over HTTP: sign-in, roles, the queue, records, follow-ups, overrides,
the audit log and the exports."""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest
from fastapi.routing import APIRoute
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from sqlalchemy import select

from needlecheck.frontdesk.app import create_app
from needlecheck.store import staff
from needlecheck.store.models import AuditEntry, OutcomeOverride, Screening
from tests.frontdesk.conftest import csrf_from, sign_in
from tests.frontdesk.support import add_contact, add_handoff, add_screening, words

# The widget's routes serve visitors of the clinic's site (tests/frontdesk/test_widget_and_caller.py).
PUBLIC = {
    "/login",
    "/healthz",
    "/openapi.json",
    "/widget.js",
    "/demo",
    "/widget/erase",
    "/widget/ics",
}
CLINICIAN_ONLY = {
    "/audit",
    "/api/audit",
    "/screenings/{screening_id}/override",
    "/records/{kind}/{record_id}/erase",
    "/overview",
    "/overview/{plot}.csv",
}


def routes() -> list[tuple[str, str]]:
    app = create_app(sessions=None)  # routes only; no request reaches the database
    found = []
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path not in PUBLIC:
            for method in sorted(route.methods):
                found.append((method, route.path))
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "1", path).replace("/records/1/", "/records/screening/")


@pytest.mark.parametrize(("method", "path"), routes())
def test_every_route_needs_a_signed_in_member(frontdesk, method: str, path: str) -> None:
    with frontdesk.client() as client:
        response = client.request(method, concrete(path), headers={"Accept": "text/html"})
    assert response.status_code == 401
    assert "needlecheck_session" not in response.cookies


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p in routes() if p in CLINICIAN_ONLY])
def test_clinician_routes_refuse_the_front_desk(frontdesk, method: str, path: str) -> None:
    with frontdesk.client("bob") as client:
        response = client.request(method, concrete(path), data={"csrf_token": "x"})
    assert response.status_code == 403


def test_the_session_cookie_is_httponly_strict_and_secure_behind_tls(frontdesk) -> None:
    with frontdesk.client() as client:
        plain = sign_in(client, "bob", "bob's long passphrase")
    cookie = plain.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie
    with frontdesk.client() as client:
        # The proxy in front (nginx, HAProxy) says the browser used TLS.
        tls = sign_in(client, "bob", "bob's long passphrase", **{"X-Forwarded-Proto": "https"})
    assert "Secure" in tls.headers["set-cookie"]


def test_forms_without_the_csrf_token_are_refused(frontdesk) -> None:
    screening = add_screening(frontdesk.sessions, "csrf-1", "eligible")
    with frontdesk.client("bob") as client:
        response = client.post(
            f"/records/screening/{screening}/follow-up", data={"status": "contacted"}
        )
        assert response.status_code == 403
        page = client.get(f"/screenings/{screening}")
        done = client.post(
            f"/records/screening/{screening}/follow-up",
            data={"status": "contacted", "csrf_token": csrf_from(page.text)},
        )
        assert done.status_code == 303
    with frontdesk.client() as client:
        client.get("/login")
        forged = client.post(
            "/login", data={"username": "bob", "password": "bob's long passphrase"}
        )
    assert forged.status_code == 403


@pytest.mark.parametrize(
    ("user", "path", "form"),
    [
        ("alice", "/screenings/{id}/override", {"outcome": "eligible", "reason": "seen"}),
        ("bob", "/records/screening/{id}/follow-up", {"status": "closed"}),
        ("bob", "/logout", {}),
    ],
)
def test_every_form_needs_its_csrf_token(frontdesk, user: str, path: str, form: dict) -> None:
    screening = add_screening(frontdesk.sessions, f"csrf-{user}-{len(path)}", "not_suitable")
    with frontdesk.client(user) as client:
        url = path.format(id=screening)
        assert client.post(url, data=form).status_code == 403
        assert client.post(url, data={**form, "csrf_token": "forged"}).status_code == 403
        token = csrf_from(client.get(f"/screenings/{screening}").text)
        assert client.post(url, data={**form, "csrf_token": token}).status_code == 303


def test_the_retention_purge_runs_when_the_front_desk_starts(frontdesk) -> None:
    assert "retention purge:" in frontdesk.log.read_text()
    with frontdesk.sessions() as session:
        purges = session.execute(select(AuditEntry).where(AuditEntry.action == "purge")).scalars()
        assert [(e.staff_username, e.detail) for e in purges][:1] == [
            ("system", "older than 365 days: nothing")
        ]


def test_sign_in_is_throttled_after_five_failures(frontdesk) -> None:
    with frontdesk.sessions.begin() as session:
        staff.add_staff(
            session,
            username="carol",
            display_name="Carol",
            role="front_desk",
            password="carol's long passphrase",
        )
    with frontdesk.client(headers={"X-Forwarded-For": "203.0.113.9"}) as client:
        for _ in range(5):
            assert sign_in(client, "carol", "wrong password!!").status_code == 401
        # Even the right password waits now, from this address and for this name.
        response = sign_in(client, "carol", "carol's long passphrase")
    with frontdesk.client(headers={"X-Forwarded-For": "203.0.113.77"}) as client:
        elsewhere = sign_in(client, "carol", "carol's long passphrase")
    assert response.status_code == elsewhere.status_code == 429
    assert "Too many failed sign-ins" in response.text


def test_a_locked_name_stays_locked_however_it_is_padded_or_written(frontdesk) -> None:
    with frontdesk.sessions.begin() as session:
        staff.add_staff(
            session,
            username="erin",
            display_name="Erin",
            role="front_desk",
            password="erin's long passphrase",
        )
    # Padded failures count for the name, each from its own address (so that only the
    # name's count can lock): the fifth locks "erin" itself.
    for number, name in enumerate((" erin", "erin ", "\u00a0erin", "ERIN", "\uff45rin")):
        with frontdesk.client(headers={"X-Forwarded-For": f"203.0.113.{100 + number}"}) as client:
            assert sign_in(client, name, "wrong password!!").status_code == 401
    for number, name in enumerate(("erin", " erin", "erin ", "\u00a0erin", "Erin")):
        with frontdesk.client(headers={"X-Forwarded-For": f"203.0.113.{110 + number}"}) as client:
            response = sign_in(client, name, "erin's long passphrase")
        assert response.status_code == 429, repr(name)


def test_wrong_password_and_unknown_user_get_the_same_answer(frontdesk) -> None:
    with frontdesk.client(headers={"X-Forwarded-For": "203.0.113.10"}) as client:
        wrong = sign_in(client, "bob", "not bob's password")
        unknown = sign_in(client, "nobody", "not bob's password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong user name or password." in wrong.text
    assert "Wrong user name or password." in unknown.text


def test_the_queue_puts_who_needs_a_call_first(frontdesk) -> None:
    s = frontdesk.sessions
    eligible = add_screening(s, "q-eligible", "eligible", minutes_ago=50)
    dated = add_screening(s, "q-dated", "defer_dated", minutes_ago=40)
    undated = add_screening(s, "q-undated", "defer_undated", minutes_ago=45)
    review = add_screening(s, "q-review", "clinician_review", minutes_ago=30)
    unsuitable = add_screening(s, "q-unsuitable", "not_suitable", minutes_ago=35)
    urgent = add_screening(s, "q-urgent", "urgent_care", minutes_ago=1)
    handoff = add_handoff(s, "q-handoff", minutes_ago=5)
    contact = add_contact(s, "q-contact-only", "Dana Ortiz", "+44 20 7946 0018", minutes_ago=20)
    with frontdesk.client("bob") as client:
        rows = client.get("/api/queue", params={"per_page": 500}).json()["items"]
    mine = [(row["kind"], row["id"]) for row in rows if row["conversation_id"].startswith("q-")]
    assert mine == [
        ("screening", urgent),
        ("handoff", handoff),
        ("screening", unsuitable),
        ("screening", review),
        ("contact", contact),
        ("screening", dated),
        ("screening", undated),
        ("screening", eligible),
    ]
    first = next(row for row in rows if row["id"] == urgent and row["kind"] == "screening")
    assert first["priority"] == "urgent care"
    assert (
        next(r for r in rows if r["id"] == dated and r["kind"] == "screening")["earliest_date"]
        == "2026-12-20"
    )


def test_filters_and_search_by_name_or_phone(frontdesk) -> None:
    s = frontdesk.sessions
    add_screening(s, "f-1", "clinician_review")
    add_contact(s, "f-1", "Evelyn Marsh", "+1 (415) 555-0134", "evelyn@example.org")
    add_screening(s, "f-2", "eligible")
    with frontdesk.client("bob") as client:
        by_name = client.get("/api/queue", params={"q": "marsh"}).json()["items"]
        by_phone = client.get("/api/queue", params={"q": "555-0134"}).json()["items"]
        # A national number with its trunk zero finds the international one.
        national = client.get("/api/queue", params={"q": "(0415) 555 0134"}).json()["items"]
        by_outcome = client.get("/api/queue", params={"outcome": "clinician_review"}).json()[
            "items"
        ]
        future = client.get("/api/queue", params={"since": "2099-01-01"}).json()["items"]
        bad = client.get("/api/queue", params={"outcome": "cleared"})
    assert {(r["kind"], r["conversation_id"]) for r in by_name} == {
        ("screening", "f-1"),
        ("contact", "f-1"),
    }
    assert by_phone == by_name == national
    assert all(r["outcome"] == "clinician_review" for r in by_outcome) and by_outcome
    assert future == []
    assert bad.status_code == 422


def test_a_screening_shows_findings_words_transcript_contact_and_consent(frontdesk) -> None:
    s = frontdesk.sessions
    screening = add_screening(s, "d-1", "clinician_review", **words())
    add_contact(s, "d-1", "Farah Nasser", "+31 20 555 0199")
    with frontdesk.client("bob") as client:
        page = client.get(f"/screenings/{screening}").text
    assert "clinician review" in page
    assert "RV-DIABETES" in page and "Source:" in page
    assert "Diabetes can slow wound healing" in page
    assert "I have diabetes, type 2" in page  # the person's own words
    assert "How old are you?" in page  # the transcript
    assert "Farah Nasser" in page and "+31205550199" in page
    assert "Consent to health questions" in page and "sha256:aaaaaaaaaaa" in page
    with frontdesk.sessions() as session:
        views = session.execute(
            select(AuditEntry).where(AuditEntry.action == "view", AuditEntry.record_id == screening)
        ).scalars()
        assert [(v.staff_username, v.record_type) for v in views] == [("bob", "screening")]


def test_a_screening_shows_what_was_named_outside_the_lists(frontdesk) -> None:
    s = frontdesk.sessions
    notes = {"medications": ["the pill", "sertraline"], "allergies": ["hay fever"]}
    screening = add_screening(s, "d-notes", "eligible", notes=notes)
    plain = add_screening(s, "d-no-notes", "eligible")
    with frontdesk.client("bob") as client:
        page = client.get(f"/screenings/{screening}").text
        without = client.get(f"/screenings/{plain}").text
    assert "Named outside the screening" in page
    assert re.search(r"<td>medications</td><td>the pill, sertraline</td>", page)
    assert re.search(r"<td>allergies</td><td>hay fever</td>", page)
    assert "Named outside the screening" not in without


def test_a_needs_a_person_request_shows_the_conversation_that_led_to_it(frontdesk) -> None:
    s = frontdesk.sessions
    lines = [
        {"at": "2026-11-24T10:00:00+00:00", "speaker": "assistant", "text": "How old are you?"},
        {"at": "2026-11-24T10:00:05+00:00", "speaker": "person", "text": "old enough <b>lol</b>"},
    ]
    handoff = add_handoff(
        s,
        "d-person",
        reason="needs a person: 3 answers to the age question were unclear to the assistant",
        transcript=lines,
    )
    asked = add_handoff(s, "d-asked")
    with frontdesk.client("bob") as client:
        page = client.get(f"/handoffs/{handoff}").text
        plain = client.get(f"/handoffs/{asked}").text
    assert "needs a person: 3 answers to the age question" in page
    assert "<h2>Conversation</h2>" in page
    assert '<li class="assistant"><small>10:00</small> How old are you?</li>' in page
    # The person's words are shown as text, never as markup.
    assert "old enough &lt;b&gt;lol&lt;/b&gt;" in page and "<b>lol</b>" not in page
    assert "<h2>Conversation</h2>" not in plain


def test_marking_contacted_booked_and_closed_keeps_the_history(frontdesk) -> None:
    s = frontdesk.sessions
    contact = add_contact(s, "m-1", "Gus Olsen", email="gus@example.org")
    with frontdesk.client("bob") as client:
        token = csrf_from(client.get(f"/contacts/{contact}").text)
        for status, note in [("contacted", "left a voicemail"), ("booked", "Tue 10:00")]:
            done = client.post(
                f"/records/contact/{contact}/follow-up",
                data={"status": status, "note": note, "csrf_token": token},
            )
            assert done.status_code == 303
        page = client.get(f"/contacts/{contact}").text
        bad = client.post(
            f"/records/contact/{contact}/follow-up",
            data={"status": "cleared", "csrf_token": token},
        )
        booked = client.get("/api/queue", params={"status": "booked"}).json()["items"]
    assert "left a voicemail" in page and "Tue 10:00" in page
    assert bad.status_code == 422
    assert ("contact", contact) in {(r["kind"], r["id"]) for r in booked}


def test_an_override_is_kept_beside_the_engines_outcome(frontdesk) -> None:
    screening = add_screening(frontdesk.sessions, "o-1", "not_suitable")
    with frontdesk.client("alice") as client:
        token = csrf_from(client.get(f"/screenings/{screening}").text)
        no_reason = client.post(
            f"/screenings/{screening}/override",
            data={"outcome": "clinician_review", "csrf_token": token},
        )
        done = client.post(
            f"/screenings/{screening}/override",
            data={
                "outcome": "clinician_review",
                "reason": "keloid was a single piercing reaction; see in person",
                "csrf_token": token,
            },
        )
        page = client.get(f"/screenings/{screening}").text
    assert no_reason.status_code == 422
    assert done.status_code == 303
    assert "Clinician&#39;s outcome" in page or "Clinician's outcome" in page
    with frontdesk.sessions() as session:
        stored = session.get(Screening, screening)
        assert stored.outcome == "not_suitable"  # the engine's outcome is never replaced
        (override,) = session.execute(
            select(OutcomeOverride).where(OutcomeOverride.screening_id == screening)
        ).scalars()
        assert (override.outcome, override.clinician_username) == ("clinician_review", "alice")


def test_the_audit_log_is_for_clinicians_and_names_no_person(frontdesk) -> None:
    add_contact(frontdesk.sessions, "a-1", "Hana Kimura", "+81 3 5555 0142")
    with frontdesk.client("bob") as client:
        client.get("/api/queue", params={"q": "Kimura"})
    with frontdesk.client("alice") as client:
        page = client.get("/audit")
        entries = client.get("/api/audit", params={"limit": 1000}).json()
    assert page.status_code == 200
    assert {"sign_in", "view_queue", "view_audit"} <= {e["action"] for e in entries}
    assert all("Kimura" not in str(e) and "5555" not in str(e) for e in entries)


def test_the_queue_exports_as_csv_with_formulas_defused(frontdesk) -> None:
    add_contact(frontdesk.sessions, "csv-1", '=HYPERLINK("http://x")', "+1 202 555 0101")
    with frontdesk.client("bob") as client:
        response = client.get("/export/queue.csv", params={"status": "all"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == [
        "priority",
        "kind",
        "id",
        "status",
        "outcome",
        "override",
        "earliest_date",
        "created_at",
        "conversation_id",
        "name",
        "phone",
        "email",
        "summary",
    ]
    mine = next(row for row in rows if row["conversation_id"] == "csv-1")
    assert mine["name"] == '\'=HYPERLINK("http://x")'
    assert mine["phone"] == "'+12025550101"


def test_a_screening_exports_as_a_valid_fhir_r4_questionnaire_response(frontdesk) -> None:
    screening = add_screening(frontdesk.sessions, "fhir-1", "defer_dated")
    with frontdesk.client("bob") as client:
        response = client.get(f"/api/screenings/{screening}/fhir")
        missing = client.get("/api/screenings/999999/fhir")
    assert response.headers["content-type"] == "application/fhir+json"
    resource = response.json()
    QuestionnaireResponse.parse_obj(resource)
    assert resource["resourceType"] == "QuestionnaireResponse"
    assert resource["status"] == "completed"
    items = {item["linkId"]: item for item in resource["item"]}
    assert items["outcome"]["answer"][0]["valueCoding"]["code"] == "defer"
    assert items["age"]["answer"] == [{"valueInteger": 34}]
    finding = items["finding-1"]["answer"]
    assert finding[0]["valueCoding"]["code"] == "DF-ISOTRETINOIN"
    assert {"valueDate": "2026-12-20"} in finding
    assert missing.status_code == 404


def test_the_openapi_document_describes_the_json_endpoints(frontdesk) -> None:
    with frontdesk.client() as client:
        document = client.get("/openapi.json").json()
    assert {"/api/queue", "/api/queue/version", "/api/audit", "/export/queue.csv"} <= set(
        document["paths"]
    )
    assert "/api/screenings/{screening_id}/fhir" in document["paths"]


def test_new_records_change_the_queue_version_and_rows(frontdesk) -> None:
    with frontdesk.client("bob") as client:
        before = client.get("/api/queue/version").json()["version"]
        screening = add_screening(frontdesk.sessions, "live-1", "urgent_care")
        after = client.get("/api/queue/version").json()["version"]
        rows = client.get("/queue/rows").text
    assert before != after
    assert f"/screenings/{screening}" in rows


def test_a_database_that_is_down_gets_a_clear_503(frontdesk, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from needlecheck.store.database import create_db_engine, session_factory

    down = session_factory(
        create_db_engine("postgresql://postgres@127.0.0.1:1/none?connect_timeout=1")
    )
    with TestClient(create_app(down), base_url="http://localhost") as client:
        client.cookies.set("needlecheck_session", "a-session-token")
        response = client.get("/api/queue")
    assert response.status_code == 503
    assert "database is not reachable" in response.json()["detail"]


def test_no_name_phone_or_email_reaches_the_log(frontdesk) -> None:
    add_contact(frontdesk.sessions, "log-1", "Ivo Petrov", "+359 2 555 0177", "ivo@example.org")
    with frontdesk.client("bob") as client:
        client.get("/", params={"q": "Petrov"})
        client.get("/api/queue", params={"q": "555 0177"})
        client.get("/export/queue.csv", params={"q": "ivo@example.org"})
    log = frontdesk.log.read_text()
    for secret in ("Petrov", "5550177", "555 0177", "ivo@example.org"):
        assert secret not in log


def test_conversations_in_progress_change_the_version_and_show_without_words(frontdesk) -> None:
    from datetime import datetime, timezone

    from needlecheck.store import activity

    with frontdesk.client("bob") as client:
        before = client.get("/api/queue/version").json()["version"]
        now = datetime.now(timezone.utc).timestamp()
        with frontdesk.sessions.begin() as session:
            activity.record_event(
                session,
                {"sender_id": "live-7f3a9c21", "event": "user", "timestamp": now,
                 "input_channel": "twilio", "text": "I take warfarin"},
            )  # fmt: skip
            activity.record_event(
                session,
                {"sender_id": "live-7f3a9c21", "event": "slot", "timestamp": now + 1,
                 "name": "requested_slot", "value": "medications"},
            )  # fmt: skip
        assert client.get("/api/queue/version").json()["version"] != before
        panel = client.get("/queue/activity")
        page = client.get("/")
    assert panel.status_code == 200
    # Without the production profile's event stream the panel says where it comes from.
    assert "Shown in the production profile" in panel.text
    assert "Conversations in progress" in page.text
    assert "warfarin" not in panel.text + page.text
    with httpx.Client(base_url=frontdesk.url) as anonymous:
        assert anonymous.get("/queue/activity", follow_redirects=False).status_code in (303, 401)


def test_the_panel_lists_live_conversations_when_the_stream_is_on(frontdesk) -> None:
    from datetime import datetime, timezone

    from fastapi.testclient import TestClient

    from needlecheck.store import activity
    from tests.frontdesk.conftest import sign_in
    from tests.frontdesk.support import PASSWORDS

    now = datetime.now(timezone.utc).timestamp()
    with frontdesk.sessions.begin() as session:
        activity.record_event(
            session,
            {"sender_id": "stream-4be1", "event": "user", "timestamp": now,
             "input_channel": "socketio"},
        )  # fmt: skip
    app = create_app(frontdesk.sessions)
    with TestClient(app, base_url="http://localhost") as client:
        sign_in(client, "bob", PASSWORDS["bob"])
        app.state.events.enabled = True
        reconnecting = client.get("/queue/activity").text
        app.state.events.connected = True
        connected = client.get("/queue/activity").text
    assert "The event stream is reconnecting" in reconnecting
    assert "stream-4" in connected and "socketio" in connected
    assert "reconnecting" not in connected


def test_a_forged_host_header_gets_400_and_is_never_reflected(frontdesk) -> None:
    for path in ("/login/", "/queue/rows/", "/login", "/demo", "/widget.js"):
        forged = httpx.get(
            frontdesk.url + path, headers={"Host": "evil.example"}, follow_redirects=False
        )
        assert forged.status_code == 400, path
        assert "evil.example" not in forged.headers.get("location", "") + forged.text
    # The names `make run` is opened by still work, port or not.
    port = frontdesk.url.rsplit(":", 1)[1]
    for host in ("localhost", f"localhost:{port}", f"127.0.0.1:{port}"):
        redirect = httpx.get(
            frontdesk.url + "/login/", headers={"Host": host}, follow_redirects=False
        )
        assert redirect.status_code == 307
        assert redirect.headers["location"] == f"http://{host}/login"
    # Probes address the server by IP; the health check names no URL.
    probe = httpx.get(frontdesk.url + "/healthz", headers={"Host": "10.1.2.3:8000"})
    assert probe.status_code == 200


def test_the_front_desk_host_names_come_from_the_environment() -> None:
    from needlecheck.frontdesk.hosts import frontdesk_hosts

    assert frontdesk_hosts({}) == ["localhost", "127.0.0.1"]
    configured = {"NEEDLECHECK_FRONTDESK_HOSTS": " Desk.Clinic.example, desk2.example ,"}
    assert frontdesk_hosts(configured) == ["desk.clinic.example", "desk2.example"]
    for wrong in ("https://desk.example", "desk.example:443"):
        with pytest.raises(ValueError, match="NEEDLECHECK_FRONTDESK_HOSTS"):
            frontdesk_hosts({"NEEDLECHECK_FRONTDESK_HOSTS": wrong})


def test_security_headers_on_pages_and_on_the_widget(frontdesk) -> None:
    with frontdesk.client() as client:
        page = client.get("/login")
        tls = client.get("/login", headers={"X-Forwarded-Proto": "https"})
        widget = client.get("/widget.js")
    policy = page.headers["content-security-policy"]
    for directive in ("default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in policy
    assert "unsafe-inline" not in policy and "script-src" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in page.headers
    assert tls.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    # The widget's script is loaded into clinics' pages.
    assert "frame-ancestors" not in widget.headers["content-security-policy"]
    assert "x-frame-options" not in widget.headers


def test_an_oversized_form_is_refused_with_413_before_sign_in(frontdesk) -> None:
    with frontdesk.client() as client:
        refused = client.post("/login", content=b"username=" + b"a" * 200_000,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert refused.status_code == 413
