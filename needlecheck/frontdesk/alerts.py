"""The staff alerts' dispatcher: sends what needlecheck.store.alerts queues, by email and
to the clinic's signed webhook, from the front desk's process (docs/operating.md,
"Staff alerts").

Every few seconds it raises "still waiting" alerts, queues each new alert's deliveries,
claims the due ones and sends them, each in its own task with a timeout. A failed send
is tried again after a growing pause, a bounded number of times; the log names the
delivery, the channel and the error's kind, never an address, a name or a message. The
conversation never waits for any of this: the assistant only writes the alert's row.

An alert says what happened ("an urgent screening", "a person is waiting"), the clinic's
name and the record's link in the front desk: no name, phone, answer, reason or words.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import smtplib
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy.orm import sessionmaker

from needlecheck.config import AlertSettings
from needlecheck.store import alerts as alert_store
from needlecheck.store.models import utcnow

logger = logging.getLogger(__name__)

POLL_SECONDS = 5.0
SIGNATURE_HEADER = "X-Needlecheck-Signature"
TIMESTAMP_HEADER = "X-Needlecheck-Timestamp"

HEADLINES = {
    "urgent": "An urgent screening",
    "handoff": "A person is waiting",
    "waiting": "A person is still waiting",
}


def clinic_name(settings: AlertSettings) -> str:
    """NEEDLECHECK_CLINIC_NAME, else clinic.yml's `name`, else "the clinic"."""
    if settings.clinic_name:
        return settings.clinic_name
    from needlecheck.clinic import Clinic, ClinicFileError

    try:
        return Clinic.load().details.get("name") or "the clinic"
    except ClinicFileError:
        return "the clinic"


def alert_text(kind: str, clinic: str, link: str, wait_minutes: int) -> tuple[str, str]:
    """(subject, text) of an alert: what happened, the clinic, the link. Nothing else."""
    headline = HEADLINES[kind]
    detail = f"{headline} after {wait_minutes} minutes" if kind == "waiting" else headline
    return f"{headline} at {clinic}", f"{detail} at {clinic}. Open the front desk: {link}"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook's signature: HMAC-SHA256 with the secret over "<timestamp>.<body>"."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class SendError(Exception):
    """A send that failed, with a description safe to log (no address, no message)."""


def describe(error: BaseException) -> str:
    """What went wrong, for the log and the outbox row: the error's kind and the server's
    status code, never its message (an SMTP server may repeat an address)."""
    if isinstance(error, SendError):
        return str(error)
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.__class__.__name__} {error.smtp_code}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "SMTPRecipientsRefused"
    return error.__class__.__name__


def send_email(settings: AlertSettings, subject: str, text: str) -> None:
    """Send one alert by SMTP (blocking: the dispatcher runs it in a thread)."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.email_from
    message["To"] = ", ".join(settings.email_to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="needlecheck")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    context = ssl.create_default_context(cafile=settings.smtp_ca_file)
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.send_timeout
    if settings.smtp_security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        if settings.smtp_security == "starttls":
            # Refused when the server offers no STARTTLS: never sent in the clear instead.
            client.starttls(context=context)
        if settings.smtp_user:
            client.login(settings.smtp_user, settings.smtp_password or "")
        client.send_message(message)


async def send_webhook(settings: AlertSettings, text: str) -> None:
    """POST {"text": ...} to the webhook, signed; anything but a 2xx answer is a failure."""
    import aiohttp

    body = json.dumps({"text": text}).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(settings.webhook_secret or "", timestamp, body),
        "User-Agent": "needlecheck-alerts",
    }
    timeout = aiohttp.ClientTimeout(total=settings.send_timeout)
    async with (
        aiohttp.ClientSession(timeout=timeout) as client,
        client.post(
            settings.webhook_url, data=body, headers=headers, allow_redirects=False
        ) as reply,
    ):
        if not 200 <= reply.status < 300:
            raise SendError(f"HTTP {reply.status}")


class Dispatcher:
    """One front desk's dispatcher; any number may run on one database."""

    def __init__(
        self,
        sessions: sessionmaker,
        settings: AlertSettings,
        *,
        name: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.name = name or f"{socket.gethostname()[:40]}-{uuid.uuid4().hex[:8]}"
        self.clock = clock
        self.clinic = clinic_name(settings)
        self.sent = 0
        self.failed = 0

    def link(self, claimed: alert_store.Claimed) -> str:
        return self.settings.frontdesk_url + claimed.path

    def _prepare(self) -> list[alert_store.Claimed]:
        now = self.clock()
        with self.sessions.begin() as session:
            alert_store.raise_waiting(session, self.settings.wait_minutes, now)
        with self.sessions.begin() as session:
            alert_store.queue_deliveries(session, self.settings.channels, now)
        with self.sessions.begin() as session:
            return alert_store.claim(session, self.name, now)

    async def run_once(self) -> int:
        """One round: raise, queue, claim and send; the number of deliveries tried."""
        claimed = await asyncio.to_thread(self._prepare)
        await asyncio.gather(*(self._deliver(item) for item in claimed))
        return len(claimed)

    async def _deliver(self, claimed: alert_store.Claimed) -> None:
        subject, text = alert_text(
            claimed.kind, self.clinic, self.link(claimed), self.settings.wait_minutes
        )
        try:
            if claimed.channel == "email":
                await asyncio.wait_for(
                    asyncio.to_thread(send_email, self.settings, subject, text),
                    self.settings.send_timeout * 2,
                )
            else:
                await asyncio.wait_for(
                    send_webhook(self.settings, text), self.settings.send_timeout * 2
                )
        except Exception as error:
            await asyncio.to_thread(self._failed, claimed, describe(error))
            return
        await asyncio.to_thread(self._delivered, claimed)

    def _delivered(self, claimed: alert_store.Claimed) -> None:
        with self.sessions.begin() as session:
            alert_store.delivered(session, claimed.delivery_id, self.name, self.clock())
        self.sent += 1
        logger.info(
            "staff alert %d (%s): sent by %s, attempt %d",
            claimed.alert_id,
            claimed.kind,
            claimed.channel,
            claimed.attempt,
        )

    def _failed(self, claimed: alert_store.Claimed, error: str) -> None:
        with self.sessions.begin() as session:
            outcome = alert_store.failed(
                session,
                claimed.delivery_id,
                self.name,
                error,
                attempts=self.settings.attempts,
                retry_seconds=self.settings.retry_seconds,
                now=self.clock(),
            )
        self.failed += 1
        if outcome == "failed":
            logger.error(
                "staff alert %d (%s): %s failed for good after %d attempts: %s",
                claimed.alert_id,
                claimed.kind,
                claimed.channel,
                claimed.attempt,
                error,
            )
        else:
            logger.warning(
                "staff alert %d (%s): %s failed (attempt %d of %d): %s; it will be retried",
                claimed.alert_id,
                claimed.kind,
                claimed.channel,
                claimed.attempt,
                self.settings.attempts,
                error,
            )

    async def run(self, interval: float = POLL_SECONDS) -> None:
        """Round after round until cancelled; a failing database is logged and outlasted."""
        logger.info(
            "staff alerts: %s; waiting alerts after %s",
            ", ".join(self.settings.channels) or "front desk only (no email or webhook)",
            f"{self.settings.wait_minutes} minutes" if self.settings.wait_minutes else "never",
        )
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.error("staff alerts: a round failed: %s", error.__class__.__name__)
            await asyncio.sleep(interval)
