"""The staff alerts' dispatcher (needlecheck.frontdesk.alerts) against real servers: email
through aiosmtpd (plain, STARTTLS with a login, SSL), the signed webhook through a local
HTTP server, retries on a failing server, nothing personal in any alert or log line, and
each alert sent exactly once by two dispatchers on one database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import hashlib
import hmac
import http.server
import ipaddress
import json
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from needlecheck.config import AlertSettings, alert_settings
from needlecheck.frontdesk.alerts import Dispatcher, alert_text, signature
from needlecheck.screening import assess
from needlecheck.store.database import create_db_engine, session_factory
from needlecheck.store.migrate import upgrade
from needlecheck.store.models import AlertDelivery
from tests.frontdesk.conftest import free_port
from tests.frontdesk.support import FACTS, TODAY, add_contact, add_handoff, add_screening, words
from tests.screening.test_engine import CLEAR

SECRET = "a webhook secret of the clinic's"
NOW = dt.datetime(2026, 12, 7, 21, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker]:
    upgrade(database_url)
    engine = create_db_engine(database_url)
    yield session_factory(engine)
    engine.dispose()


# --- the servers ---------------------------------------------------------------------


class Inbox:
    """aiosmtpd's handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.raw: list[str] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.raw.append(envelope.content.decode("utf-8", "replace"))
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: the "private CA" NEEDLECHECK_SMTP_CA_FILE names."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    return context


@dataclass
class Hook:
    """A local HTTP server standing in for the clinic's tool: each request's headers and
    body, answered with the next status of `statuses` (then 200), after `delay` seconds."""

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/needlecheck"

    @property
    def accepted(self) -> list[bytes]:
        return [
            body
            for (_, body), status in zip(self.received, self.answered, strict=True)
            if status == 200
        ]


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(state.delay)
            with state.lock:
                status = state.statuses.pop(0) if state.statuses else 200
                state.received.append((dict(self.headers.items()), body))
                state.answered.append(status)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def settings(**overrides) -> AlertSettings:
    base = AlertSettings(
        frontdesk_url="https://frontdesk.riverside.example",
        clinic_name="Riverside Skin Clinic",
        email_from="needlecheck@riverside.example",
        email_to=("desk@riverside.example", "dr.lee@riverside.example"),
        smtp_security="none",
        smtp_host=None,
        webhook_secret=SECRET,
        retry_seconds=0,
        send_timeout=5,
    )
    return replace(base, **overrides)


def by_email(port: int, **more) -> AlertSettings:
    return settings(smtp_host="127.0.0.1", smtp_port=port, **more)


def rounds(dispatcher: Dispatcher, count: int = 1) -> None:
    async def run() -> None:
        for _ in range(count):
            await dispatcher.run_once()

    asyncio.run(run())


def outbox(sessions) -> list[AlertDelivery]:
    with sessions.begin() as session:
        return list(session.execute(select(AlertDelivery).order_by(AlertDelivery.id)).scalars())


# --- email -----------------------------------------------------------------------------


def test_alerts_reach_a_real_smtp_server_each_once(sessions, smtp) -> None:
    inbox, port = smtp
    urgent = add_screening(sessions, "m-urgent", "urgent_care")
    add_screening(sessions, "m-calm", "eligible")
    handoff = add_handoff(sessions, "m-person")
    dispatcher = Dispatcher(sessions, by_email(port))
    rounds(dispatcher, 3)
    assert len(inbox.messages) == 2
    # Sent side by side: in either order.
    second, first = sorted(inbox.messages, key=lambda message: message["Subject"])
    assert first["Subject"] == "An urgent screening at Riverside Skin Clinic"
    assert first["From"] == "needlecheck@riverside.example"
    assert (
        inbox.envelopes
        == [
            (
                "needlecheck@riverside.example",
                ["desk@riverside.example", "dr.lee@riverside.example"],
            )
        ]
        * 2
    )
    assert first.get_content().strip() == (
        "An urgent screening at Riverside Skin Clinic. Open the front desk: "
        f"https://frontdesk.riverside.example/screenings/{urgent}"
    )
    assert second["Subject"] == "A person is waiting at Riverside Skin Clinic"
    assert f"https://frontdesk.riverside.example/handoffs/{handoff}" in second.get_content()
    assert [(d.channel, d.status, d.attempts) for d in outbox(sessions)] == [
        ("email", "sent", 1)
    ] * 2


def test_email_over_starttls_with_a_login(sessions, certificate, tmp_path) -> None:
    inbox, port, logins = Inbox(), free_port(), []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"smtp password")

    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context(certificate),
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    controller.start()
    try:
        add_screening(sessions, "t-urgent", "urgent_care")
        configured = by_email(
            port,
            smtp_security="starttls",
            smtp_user="alerts@riverside.example",
            smtp_password="smtp password",
            smtp_ca_file=str(certificate[0]),
        )
        rounds(Dispatcher(sessions, configured))
        assert len(inbox.messages) == 1
        assert logins == [(b"alerts@riverside.example", b"smtp password")]
        # A certificate nobody vouches for is refused: nothing goes out unverified.
        add_handoff(sessions, "t-person")
        rounds(Dispatcher(sessions, replace(configured, smtp_ca_file=None)))
        assert len(inbox.messages) == 1
        assert outbox(sessions)[-1].last_error == "SSLCertVerificationError"
    finally:
        controller.stop()


def test_email_over_ssl(sessions, certificate) -> None:
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, ssl_context=server_context(certificate)
    )
    controller.start()
    try:
        add_screening(sessions, "s-urgent", "urgent_care")
        configured = by_email(port, smtp_security="ssl", smtp_ca_file=str(certificate[0]))
        rounds(Dispatcher(sessions, configured))
        assert len(inbox.messages) == 1
    finally:
        controller.stop()


def test_a_server_without_starttls_gets_nothing_in_the_clear(sessions, smtp) -> None:
    inbox, port = smtp
    add_screening(sessions, "n-urgent", "urgent_care")
    rounds(Dispatcher(sessions, by_email(port, smtp_security="starttls", attempts=1)))
    assert inbox.messages == []
    (delivery,) = outbox(sessions)
    assert (delivery.status, delivery.last_error) == ("failed", "SMTPNotSupportedError")


# --- the webhook -----------------------------------------------------------------------


def verify(headers: dict[str, str], body: bytes, secret: str, now: float) -> bool:
    """What docs/operating.md tells the clinic's tool to do, in Python."""
    timestamp = headers["X-Needlecheck-Timestamp"]
    if abs(now - int(timestamp)) > 300:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + expected.hexdigest(), headers["X-Needlecheck-Signature"])


def test_the_webhook_gets_slack_compatible_json_signed_with_the_secret(sessions, hook) -> None:
    urgent = add_screening(sessions, "w-urgent", "urgent_care")
    rounds(Dispatcher(sessions, settings(webhook_url=hook.url)))
    ((headers, body),) = hook.received
    assert json.loads(body) == {
        "text": "An urgent screening at Riverside Skin Clinic. Open the front desk: "
        f"https://frontdesk.riverside.example/screenings/{urgent}"
    }
    assert headers["Content-Type"] == "application/json"
    assert verify(headers, body, SECRET, time.time())
    assert not verify(headers, body, "another secret entirely", time.time())
    assert not verify(headers, body.replace(b"urgent", b"routine"), SECRET, time.time())
    assert not verify(headers, body, SECRET, time.time() + 600)  # replayed later
    assert signature(SECRET, "1700000000", b"{}") == (
        "sha256=" + hmac.new(SECRET.encode(), b"1700000000.{}", hashlib.sha256).hexdigest()
    )


def test_a_failing_webhook_is_retried_with_backoff_and_logged_without_personal_data(
    sessions, hook, caplog
) -> None:
    hook.statuses = [500, 503]
    add_screening(sessions, "r-urgent", "urgent_care")
    clock = [NOW]
    configured = settings(webhook_url=hook.url, retry_seconds=30, attempts=4)
    dispatcher = Dispatcher(sessions, configured, clock=lambda: clock[0])
    caplog.set_level(logging.INFO, logger="needlecheck")
    rounds(dispatcher)
    assert hook.answered == [500]
    rounds(dispatcher)  # not due yet: 30 s
    assert hook.answered == [500]
    clock[0] += dt.timedelta(seconds=30)
    rounds(dispatcher)
    assert hook.answered == [500, 503]
    clock[0] += dt.timedelta(seconds=59)
    rounds(dispatcher)  # then 60 s
    assert hook.answered == [500, 503]
    clock[0] += dt.timedelta(seconds=1)
    rounds(dispatcher, 2)
    assert hook.answered == [500, 503, 200]
    (delivery,) = outbox(sessions)
    assert (delivery.status, delivery.attempts) == ("sent", 3)
    lines = [r.getMessage() for r in caplog.records if r.name == "needlecheck.frontdesk.alerts"]
    assert any("webhook failed (attempt 1 of 4): HTTP 500" in line for line in lines), lines
    assert any("webhook failed (attempt 2 of 4): HTTP 503" in line for line in lines), lines
    assert any("sent by webhook, attempt 3" in line for line in lines), lines


def test_a_send_that_keeps_failing_is_given_up_after_its_attempts(sessions, caplog) -> None:
    closed = free_port()  # nothing listens there
    add_handoff(sessions, "g-person")
    caplog.set_level(logging.INFO, logger="needlecheck")
    dispatcher = Dispatcher(sessions, by_email(closed, attempts=3))
    rounds(dispatcher, 5)
    (delivery,) = outbox(sessions)
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.last_error == "ConnectionRefusedError"
    gave_up = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(gave_up) == 1 and "failed for good after 3 attempts" in gave_up[0].getMessage()


def test_a_server_that_hangs_holds_up_only_its_own_send(sessions, hook) -> None:
    hook.delay = 3
    add_screening(sessions, "h-urgent", "urgent_care")
    started = time.monotonic()
    rounds(Dispatcher(sessions, settings(webhook_url=hook.url, send_timeout=0.5, attempts=2)))
    assert time.monotonic() - started < 2.5
    (delivery,) = outbox(sessions)
    assert delivery.status == "pending" and delivery.last_error == "TimeoutError"


# --- nothing personal ------------------------------------------------------------------


def test_no_alert_or_log_line_carries_a_name_a_phone_an_answer_or_the_words(
    sessions, smtp, hook, caplog
) -> None:
    inbox, port = smtp
    caplog.set_level(logging.DEBUG)
    said = words()
    urgent = add_screening(sessions, "+447700900123", "urgent_care", **said)
    add_contact(sessions, "+447700900123", "Marta Kowalska", "+44 7700 900123", "marta@example.org")
    add_handoff(
        sessions,
        "+447700900123",
        minutes_ago=40,
        reason="please call me about the rash on my chin",
        transcript=said["transcript"],
    )
    add_screening(sessions, "pn-2", "not_suitable", **said)
    rounds(Dispatcher(sessions, by_email(port, webhook_url=hook.url)), 2)
    assert len(inbox.messages) == 3 and len(hook.received) == 3  # urgent, handoff, waiting

    assessment = assess({**CLEAR, **FACTS["urgent_care"]}, TODAY)
    forbidden = {
        "Marta",
        "Kowalska",
        "7700",
        "900123",
        "marta@example.org",
        "rash",
        "chin",
        "urgent_care",
        "infection",
        *(finding.reason[:40] for finding in assessment.findings),
        *(finding.rule for finding in assessment.findings),
        *(line["text"] for line in said["transcript"]),
        *(text for texts in said["evidence"].values() for text in texts),
    }
    bodies = inbox.raw + [body.decode() for _, body in hook.received]
    bodies += [json.loads(body)["text"] for _, body in hook.received]
    logged = [r.getMessage() for r in caplog.records]
    for text in bodies + logged:
        for secret in forbidden:
            assert secret.lower() not in text.lower(), (secret, text)
    # What an alert does say: what happened, the clinic, the link.
    kinds = sorted(json.loads(body)["text"].split(" at ")[0] for _, body in hook.received)
    assert kinds == [
        "A person is still waiting after 15 minutes",
        "A person is waiting",
        "An urgent screening",
    ]
    assert any(f"/screenings/{urgent}" in body for body in bodies)
    assert alert_text("urgent", "X", "L", 15) == (
        "An urgent screening at X",
        "An urgent screening at X. Open the front desk: L",
    )


# --- two front desks ------------------------------------------------------------------


def record(text: str) -> tuple[str, int]:
    """("screening", 12) from an alert's link ".../screenings/12"."""
    plural, number = text.strip().rsplit("/", 2)[-2:]
    return plural[:-1], int(number)


def test_two_dispatchers_on_one_database_send_each_alert_exactly_once(
    sessions, database_url, smtp, hook
) -> None:
    inbox, port = smtp
    expected = set()
    for number in range(8):
        expected.add(("screening", add_screening(sessions, f"x-{number}", "urgent_care")))
        expected.add(("handoff", add_handoff(sessions, f"x-{number}")))
    configured = by_email(port, webhook_url=hook.url)
    engines = [create_db_engine(database_url) for _ in range(2)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def front_desk(engine) -> None:
        dispatcher = Dispatcher(session_factory(engine), configured)
        start.wait()
        try:
            rounds(dispatcher, 4)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=front_desk, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert errors == []
    emailed = sorted(record(message.get_content()) for message in inbox.messages)
    hooked = sorted(record(json.loads(body)["text"]) for body in hook.accepted)
    assert emailed == hooked == sorted(expected)  # each once: no duplicate, none missing
    assert all(d.status == "sent" and d.attempts == 1 for d in outbox(sessions))


# --- settings ----------------------------------------------------------------------------


def test_the_settings_come_from_the_environment_and_refuse_what_cannot_work() -> None:
    assert alert_settings({}).channels == ()
    assert alert_settings({}).frontdesk_url == "http://localhost:8000"
    configured = alert_settings(
        {
            "NEEDLECHECK_SMTP_HOST": "smtp.riverside.example",
            "NEEDLECHECK_SMTP_SECURITY": "ssl",
            "NEEDLECHECK_SMTP_USER": "alerts",
            "NEEDLECHECK_SMTP_PASSWORD": "pw",
            "NEEDLECHECK_ALERT_EMAIL_FROM": "needlecheck@riverside.example",
            "NEEDLECHECK_ALERT_EMAIL_TO": "desk@riverside.example, dr.lee@riverside.example",
            "NEEDLECHECK_ALERT_WEBHOOK_URL": "https://tools.riverside.example/hook",
            "NEEDLECHECK_ALERT_WEBHOOK_SECRET": SECRET,
            "NEEDLECHECK_FRONTDESK_URL": "https://frontdesk.riverside.example/",
            "NEEDLECHECK_ALERT_WAIT_MINUTES": "0",
        }
    )
    assert configured.channels == ("email", "webhook")
    assert configured.smtp_port == 465
    assert configured.email_to == ("desk@riverside.example", "dr.lee@riverside.example")
    assert configured.frontdesk_url == "https://frontdesk.riverside.example"
    assert configured.wait_minutes == 0
    refused = [
        ({"NEEDLECHECK_SMTP_SECURITY": "tls"}, "NEEDLECHECK_SMTP_SECURITY"),
        ({"NEEDLECHECK_SMTP_PORT": "smtp"}, "NEEDLECHECK_SMTP_PORT"),
        ({"NEEDLECHECK_ALERT_WAIT_MINUTES": "1441"}, "NEEDLECHECK_ALERT_WAIT_MINUTES"),
        ({"NEEDLECHECK_ALERT_ATTEMPTS": "0"}, "NEEDLECHECK_ALERT_ATTEMPTS"),
        ({"NEEDLECHECK_ALERT_RETRY_SECONDS": "1.5"}, "NEEDLECHECK_ALERT_RETRY_SECONDS"),
        ({"NEEDLECHECK_ALERT_EMAIL_TO": "front desk"}, "NEEDLECHECK_ALERT_EMAIL_TO"),
        ({"NEEDLECHECK_FRONTDESK_URL": "frontdesk.example"}, "NEEDLECHECK_FRONTDESK_URL"),
        (
            {"NEEDLECHECK_SMTP_HOST": "smtp.example", "NEEDLECHECK_ALERT_EMAIL_TO": "a@b.example"},
            "NEEDLECHECK_ALERT_EMAIL_FROM",
        ),
        ({"NEEDLECHECK_SMTP_USER": "alerts"}, "NEEDLECHECK_SMTP_PASSWORD"),
        (
            {
                "NEEDLECHECK_SMTP_USER": "alerts",
                "NEEDLECHECK_SMTP_PASSWORD": "pw",
                "NEEDLECHECK_SMTP_SECURITY": "none",
            },
            "NEEDLECHECK_SMTP_SECURITY=none",
        ),
        (
            {"NEEDLECHECK_ALERT_WEBHOOK_URL": "https://x.example/h"},
            "NEEDLECHECK_ALERT_WEBHOOK_SECRET",
        ),
        (
            {
                "NEEDLECHECK_ALERT_WEBHOOK_URL": "ftp://x",
                "NEEDLECHECK_ALERT_WEBHOOK_SECRET": SECRET,
            },
            "NEEDLECHECK_ALERT_WEBHOOK_URL",
        ),
    ]
    for env, named in refused:
        with pytest.raises(ValueError, match=named):
            alert_settings(env)
