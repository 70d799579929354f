"""Settings read from the environment, in one place, with the zero-setup defaults."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The action server's port under `make run`, and the first of production's (endpoints.yml
# names it too; tests/test_config.py checks that the two agree).
DEFAULT_ACTION_PORT = 5055


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    policy_file: str | None
    api_token: str | None
    rasa_port: int
    host: str
    # The clinic's time zone: waiting periods end on the clinic's calendar day, not the server's.
    timezone: str | None = None
    frontdesk_port: int = 8000
    # Screenings, contact and handoff requests older than this are deleted (daily).
    retention_days: int = 365
    # Where providers and the widget reach the Rasa server (Twilio signs this URL).
    public_url: str | None = None
    # Sites whose pages may use the chat widget.
    allowed_origins: tuple[str, ...] = ()
    # Where the front desk reaches the Rasa server (caller mode).
    rasa_url: str | None = None
    # Where people reach the front desk (its public https address): the messaging
    # channels' link to the earliest-date calendar file. Unset: only the widget offers it.
    frontdesk_url: str | None = None
    # The action server's shared secret (Rasa sends it; rasa-sdk alone checks nothing).
    action_secret: str | None = None
    # The production profile's services (`make run-prod`, docs/production.md).
    tracker_store_url: str | None = None
    redis_url: str = "redis://127.0.0.1:6379/1"
    rabbitmq_url: str | None = None
    events_exchange: str = "needlecheck-events"
    events_queue: str = "needlecheck_frontdesk"
    # Production: the action servers' load balancer (the servers take the next ports).
    action_port: int = DEFAULT_ACTION_PORT
    # A fixed date for every "today" (NEEDLECHECK_TODAY): the held-out evaluation and the
    # conversation simulator read relative dates ("two months ago") against the date their
    # labels were written on. Never set it for a clinic.
    fixed_today: date | None = None

    @property
    def chat_server_url(self) -> str:
        return (self.public_url or f"http://localhost:{self.rasa_port}").rstrip("/")

    @property
    def widget_origins(self) -> list[str]:
        """The allowed origins; by default the front desk's own, which serves the demo."""
        if self.allowed_origins:
            return list(self.allowed_origins)
        port = self.frontdesk_port
        return [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]

    @property
    def assistant_url(self) -> str:
        return (self.rasa_url or f"http://127.0.0.1:{self.rasa_port}").rstrip("/")

    def clinic_time(self, now: datetime | None = None) -> datetime:
        """The current time where the clinic is (the server's local time if no zone is set)."""
        now = now or datetime.now(timezone.utc)
        return now.astimezone(ZoneInfo(self.timezone)) if self.timezone else now.astimezone()

    def today(self, now: datetime | None = None) -> date:
        """The current date where the clinic is (the server's local date if no zone is set)."""
        if self.fixed_today is not None:
            return self.fixed_today
        if self.timezone is None:
            return (now.astimezone() if now else datetime.now().astimezone()).date()
        return (now or datetime.now(timezone.utc)).astimezone(ZoneInfo(self.timezone)).date()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        var_dir = Path(env.get("NEEDLECHECK_VAR_DIR") or "var").resolve()
        return cls(
            fixed_today=_date(env, "NEEDLECHECK_TODAY"),
            var_dir=var_dir,
            database_url=env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'needlecheck.db'}",
            policy_file=env.get("NEEDLECHECK_POLICY") or None,
            # From the environment only: the production profile must refuse to start
            # without one. `make run` generates one into var/ (api_token, kept_api_token).
            api_token=env.get("NEEDLECHECK_API_TOKEN") or None,
            rasa_port=_port(env, "NEEDLECHECK_RASA_PORT", 5005),
            host=env.get("NEEDLECHECK_HOST") or "127.0.0.1",
            timezone=_zone(env.get("NEEDLECHECK_TIMEZONE") or None),
            frontdesk_port=_port(env, "NEEDLECHECK_FRONTDESK_PORT", 8000),
            retention_days=_days(env, "NEEDLECHECK_RETENTION_DAYS", 365),
            public_url=env.get("NEEDLECHECK_PUBLIC_URL") or None,
            allowed_origins=tuple(
                origin.strip().rstrip("/")
                for origin in (env.get("NEEDLECHECK_ALLOWED_ORIGINS") or "").split(",")
                if origin.strip()
            ),
            rasa_url=env.get("NEEDLECHECK_RASA_URL") or None,
            frontdesk_url=_public_url(env, "NEEDLECHECK_FRONTDESK_URL"),
            action_secret=env.get("NEEDLECHECK_ACTION_SECRET") or None,
            tracker_store_url=env.get("NEEDLECHECK_TRACKER_STORE_URL") or None,
            redis_url=env.get("NEEDLECHECK_REDIS_URL") or "redis://127.0.0.1:6379/1",
            rabbitmq_url=env.get("NEEDLECHECK_RABBITMQ_URL") or None,
            events_exchange=env.get("NEEDLECHECK_EVENTS_EXCHANGE") or "needlecheck-events",
            events_queue=env.get("NEEDLECHECK_EVENTS_QUEUE") or "needlecheck_frontdesk",
            action_port=_port(env, "NEEDLECHECK_ACTION_PORT", DEFAULT_ACTION_PORT),
        )


def _date(env: Mapping[str, str], name: str) -> date | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a date of the form YYYY-MM-DD") from None


def _public_url(env: Mapping[str, str], name: str) -> str | None:
    """An http(s) address with a host and nothing after its path, without a trailing /."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None

    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{name}={raw!r} is not an address such as https://frontdesk.example")
    return raw.rstrip("/")


def _zone(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"NEEDLECHECK_TIMEZONE={name!r} is not a time zone name (for example Europe/London)"
        ) from None
    return name


def bounded_int(
    env: Mapping[str, str], name: str, default: int, low: int, high: int | None, what: str
) -> int:
    """The whole number in environment variable `name`, `default` when it is unset or empty.
    Anything else (a sign, a decimal point, a value outside low..high) stops start-up with
    an error that names the variable and what it should be."""
    raw = env.get(name)
    if not raw:
        return default
    # isdigit() alone passes other scripts' digits ("٣"), which int() would quietly read.
    whole = raw.isascii() and raw.isdigit()
    if not whole or int(raw) < low or (high is not None and int(raw) > high):
        raise ValueError(f"{name}={raw!r} is not {what}")
    return int(raw)


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    return bounded_int(env, name, default, 1, 65535, "a TCP port number")


def _days(env: Mapping[str, str], name: str, default: int) -> int:
    return bounded_int(env, name, default, 1, None, "a whole number of days (1 or more)")


SMTP_SECURITY = ("starttls", "ssl", "none")
SMTP_DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


@dataclass(frozen=True)
class AlertSettings:
    """Staff alerts (docs/operating.md, "Staff alerts"): a new urgent screening, a new
    handoff request, and a person waiting longer than `wait_minutes`, sent by email and to
    an optional signed webhook by the front desk's dispatcher. An alert names no person
    and no health detail: only what happened, the clinic and a link into the front desk."""

    # A handoff request still open after this many minutes alerts again (0: never).
    wait_minutes: int = 15
    # The front desk's address as staff reach it, for the links in alerts.
    frontdesk_url: str = "http://localhost:8000"
    # The clinic's name in alerts; None: clinic.yml's `name`.
    clinic_name: str | None = None
    # Email: on when both the SMTP host and a recipient are set.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = None
    # A CA bundle for an SMTP server whose certificate a private CA signed.
    smtp_ca_file: str | None = None
    email_from: str | None = None
    email_to: tuple[str, ...] = ()
    # The clinic's own tools: a Slack-compatible JSON POST, signed with the secret.
    webhook_url: str | None = None
    webhook_secret: str | None = None
    # A failed send is tried again `attempts` times in all, after retry_seconds, then
    # twice that, and so on (at most an hour apart).
    attempts: int = 5
    retry_seconds: float = 30
    # Seconds an SMTP server or the webhook gets to answer.
    send_timeout: float = 15

    @property
    def email(self) -> bool:
        return bool(self.smtp_host and self.email_to)

    @property
    def webhook(self) -> bool:
        return bool(self.webhook_url)

    @property
    def channels(self) -> tuple[str, ...]:
        """Where alerts are sent besides the open front desk."""
        return tuple(name for name, on in (("email", self.email), ("webhook", self.webhook)) if on)


def alert_settings(
    environ: Mapping[str, str] | None = None, handoff_wait_minutes: int = 15
) -> AlertSettings:
    """The staff alerts' settings from the environment; a value that cannot work (a port
    that is not a number, a webhook without its secret, email without a sender) is a
    ValueError naming the variable. The "still waiting" alert comes after the wait the
    person is promised (clinic.yml's `handoff_wait_minutes`) unless the variable says
    otherwise."""
    env = os.environ if environ is None else environ
    security = (env.get("NEEDLECHECK_SMTP_SECURITY") or "starttls").strip().lower()
    if security not in SMTP_SECURITY:
        raise ValueError(
            f"NEEDLECHECK_SMTP_SECURITY={security!r} is not one of {', '.join(SMTP_SECURITY)}"
        )
    frontdesk_port = _port(env, "NEEDLECHECK_FRONTDESK_PORT", 8000)
    frontdesk_url = (
        env.get("NEEDLECHECK_FRONTDESK_URL") or f"http://localhost:{frontdesk_port}"
    ).rstrip("/")
    if not frontdesk_url.startswith(("http://", "https://")):
        raise ValueError(
            f"NEEDLECHECK_FRONTDESK_URL={frontdesk_url!r} is not an http:// or https:// address"
        )
    recipients = tuple(
        address.strip()
        for address in (env.get("NEEDLECHECK_ALERT_EMAIL_TO") or "").split(",")
        if address.strip()
    )
    for address in recipients:
        if "@" not in address or any(c.isspace() for c in address):
            raise ValueError(f"NEEDLECHECK_ALERT_EMAIL_TO: {address!r} is not an email address")
    host = (env.get("NEEDLECHECK_SMTP_HOST") or "").strip() or None
    sender = (env.get("NEEDLECHECK_ALERT_EMAIL_FROM") or "").strip() or None
    if host and recipients and not sender:
        raise ValueError(
            "NEEDLECHECK_ALERT_EMAIL_FROM is needed to send alerts by email "
            "(the address they come from)"
        )
    user = env.get("NEEDLECHECK_SMTP_USER") or None
    password = env.get("NEEDLECHECK_SMTP_PASSWORD") or None
    if user and not password:
        raise ValueError("NEEDLECHECK_SMTP_PASSWORD is needed with NEEDLECHECK_SMTP_USER")
    if user and security == "none":
        raise ValueError(
            "NEEDLECHECK_SMTP_USER with NEEDLECHECK_SMTP_SECURITY=none would send the "
            "password unencrypted: use starttls or ssl"
        )
    webhook = (env.get("NEEDLECHECK_ALERT_WEBHOOK_URL") or "").strip() or None
    secret = env.get("NEEDLECHECK_ALERT_WEBHOOK_SECRET") or None
    if webhook and not webhook.startswith(("http://", "https://")):
        raise ValueError("NEEDLECHECK_ALERT_WEBHOOK_URL is not an http:// or https:// address")
    if webhook and (not secret or len(secret) < 16):
        raise ValueError(
            "NEEDLECHECK_ALERT_WEBHOOK_SECRET (16 characters or more) is needed with "
            "NEEDLECHECK_ALERT_WEBHOOK_URL: the clinic's tool checks the signature with it"
        )
    return AlertSettings(
        wait_minutes=bounded_int(
            env,
            "NEEDLECHECK_ALERT_WAIT_MINUTES",
            handoff_wait_minutes,
            0,
            1440,
            "a whole number of minutes (0 to 1440)",
        ),
        frontdesk_url=frontdesk_url,
        clinic_name=(env.get("NEEDLECHECK_CLINIC_NAME") or "").strip() or None,
        smtp_host=host,
        smtp_port=_port(env, "NEEDLECHECK_SMTP_PORT", SMTP_DEFAULT_PORTS[security]),
        smtp_security=security,
        smtp_user=user,
        smtp_password=password,
        smtp_ca_file=env.get("NEEDLECHECK_SMTP_CA_FILE") or None,
        email_from=sender,
        email_to=recipients,
        webhook_url=webhook,
        webhook_secret=secret,
        attempts=bounded_int(
            env, "NEEDLECHECK_ALERT_ATTEMPTS", 5, 1, 20, "a whole number of attempts (1 to 20)"
        ),
        retry_seconds=bounded_int(
            env,
            "NEEDLECHECK_ALERT_RETRY_SECONDS",
            30,
            1,
            3600,
            "a whole number of seconds (1 to 3600)",
        ),
    )


SECRET_FILE = "frontdesk.secret"
ACTION_SECRET_FILE = "action.secret"
API_TOKEN_FILE = "api.token"


def shared_secret(var_dir: Path, environ: Mapping[str, str] | None = None) -> str:
    """The secret the front desk sends the Rasa server's caller channel: from the
    environment, or generated once into var/."""
    env = os.environ if environ is None else environ
    if env.get("NEEDLECHECK_FRONTDESK_SECRET"):
        return env["NEEDLECHECK_FRONTDESK_SECRET"]
    return generated_secret(var_dir / SECRET_FILE)


def action_secret(var_dir: Path, environ: Mapping[str, str] | None = None) -> str:
    """The action server's secret for `make run`: from the environment, or generated once
    into var/. The production profile never generates it (it refuses to start instead)."""
    env = os.environ if environ is None else environ
    if env.get("NEEDLECHECK_ACTION_SECRET"):
        return env["NEEDLECHECK_ACTION_SECRET"]
    return generated_secret(var_dir / ACTION_SECRET_FILE)


def api_token(var_dir: Path, environ: Mapping[str, str] | None = None) -> str:
    """Rasa's HTTP API token: from the environment, or generated once into var/. The API
    reads and rewrites every conversation, so it never runs without one, even on loopback:
    any local process, or a web page open in the clinic's browser, can reach loopback."""
    env = os.environ if environ is None else environ
    if env.get("NEEDLECHECK_API_TOKEN"):
        return env["NEEDLECHECK_API_TOKEN"]
    return generated_secret(var_dir / API_TOKEN_FILE)


def kept_api_token(settings: Settings) -> str | None:
    """The token of the running `make run` for tools run beside it (`needlecheck status`,
    the erasure, `bench/converse.py --url`): from the environment, or the one generated
    into var/; never generates one."""
    if settings.api_token:
        return settings.api_token
    try:
        return (settings.var_dir / API_TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None


def generated_secret(path: Path, value: str | None = None) -> str:
    """The secret kept in `path`, written there first (mode 0600) when it is not yet:
    `value`, or a random one."""
    var_dir = path.parent
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        # Readable by its owner only; `make run` creates it before starting the servers.
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as file:
                file.write(value or secrets.token_urlsafe(32))
    return path.read_text().strip()


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def log_level(environ: Mapping[str, str] | None = None) -> str:
    """NEEDLECHECK_LOG_LEVEL for every needlecheck process; DEBUG is the most verbose,
    and even there no personal data is logged (needlecheck.security.logs)."""
    env = os.environ if environ is None else environ
    raw = (env.get("NEEDLECHECK_LOG_LEVEL") or "INFO").strip().upper()
    if raw not in LOG_LEVELS:
        raise ValueError(f"NEEDLECHECK_LOG_LEVEL={raw!r} is not one of {', '.join(LOG_LEVELS)}")
    return raw
