"""Staff accounts, their signed-in sessions and sign-in throttling.

Passwords are hashed with Argon2id (argon2-cffi); a session cookie carries a random token
of which only the SHA-256 is stored, so a copy of the database signs nobody in.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from needlecheck.store.models import (
    STAFF_ROLES,
    LoginAttempt,
    StaffMember,
    StaffSession,
    as_utc,
    utcnow,
)
from needlecheck.store.repository import InvalidRecord

SESSION_LIFETIME = timedelta(hours=12)
# Sign-in throttling: this many failures within the window blocks further tries.
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_hasher = PasswordHasher()


@dataclass(frozen=True)
class SignedIn:
    """Who is behind a session cookie."""

    staff_id: int
    username: str
    display_name: str
    role: str
    csrf_token: str


def normalise_username(username: str | None) -> str:
    """The one form of a user name that is stored, throttled and looked up.

    NFKC turns a no-break space into a space and full-width letters into ASCII; then the
    spaces around the name go and case is folded. Without this, " carol" or "CAROL" was a
    name of its own to the sign-in throttle while still finding carol's account."""
    folded = unicodedata.normalize("NFKC", username or "").strip().casefold()
    # Case folding can undo NFKC (rarely): normalise once more so the result is stable.
    return unicodedata.normalize("NFKC", folded)


def add_staff(
    session: Session, *, username: str, display_name: str, role: str, password: str
) -> StaffMember:
    username = normalise_username(username)
    if not _USERNAME.match(username):
        raise InvalidRecord(
            "username: 2 to 64 characters, lower-case letters, digits, '.', '_' or '-'"
        )
    if role not in STAFF_ROLES:
        raise InvalidRecord(f"role: {role!r} is not one of {', '.join(STAFF_ROLES)}")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidRecord(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    if session.execute(select(StaffMember.id).where(StaffMember.username == username)).first():
        raise InvalidRecord(f"username: {username!r} already exists")
    member = StaffMember(
        username=username,
        display_name=(display_name or "").strip() or username,
        role=role,
        password_hash=_hasher.hash(password),
        active=True,
    )
    session.add(member)
    session.flush()
    return member


def set_password(session: Session, username: str, password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidRecord(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    member = _member(session, username)
    member.password_hash = _hasher.hash(password)
    # A new password signs every browser out.
    session.execute(delete(StaffSession).where(StaffSession.staff_id == member.id))


def set_active(session: Session, username: str, active: bool) -> None:
    member = _member(session, username)
    member.active = active
    if not active:
        session.execute(delete(StaffSession).where(StaffSession.staff_id == member.id))


def list_staff(session: Session) -> list[StaffMember]:
    return list(session.execute(select(StaffMember).order_by(StaffMember.username)).scalars())


def is_throttled(session: Session, username: str, client: str, now: datetime | None = None) -> bool:
    since = (now or utcnow()) - FAILURE_WINDOW
    # Failures are stored under the normalised name (`authenticate`), so count it that way.
    name = normalise_username(username)[:64]
    for column, value in ((LoginAttempt.username, name), (LoginAttempt.client, client)):
        count = session.execute(
            select(func.count()).where(column == value, LoginAttempt.at >= since)
        ).scalar_one()
        if count >= MAX_FAILURES:
            return True
    return False


def authenticate(session: Session, username: str, password: str, client: str) -> StaffMember | None:
    """The active member with these credentials, or None (and the failure is counted)."""
    username = normalise_username(username)
    member = session.execute(
        select(StaffMember).where(StaffMember.username == username)
    ).scalar_one_or_none()
    try:
        # The hash is checked even for an unknown name, so timing does not reveal names.
        _hasher.verify(member.password_hash if member else _dummy_hash(), password or "")
        ok = member is not None and member.active
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        session.add(LoginAttempt(username=username[:64], client=client[:64]))
        session.flush()
        return None
    if _hasher.check_needs_rehash(member.password_hash):
        member.password_hash = _hasher.hash(password)
    session.execute(
        delete(LoginAttempt).where(
            LoginAttempt.username == username[:64], LoginAttempt.client == client
        )
    )
    return member


def open_session(session: Session, member: StaffMember) -> str:
    """Start a session; returns the cookie's token (never stored as such)."""
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=_digest(token),
            csrf_token=secrets.token_urlsafe(32),
            staff_id=member.id,
            expires_at=utcnow() + SESSION_LIFETIME,
        )
    )
    session.flush()
    return token


def signed_in(session: Session, token: str | None) -> SignedIn | None:
    if not token:
        return None
    row = session.execute(
        select(StaffSession, StaffMember)
        .join(StaffMember, StaffMember.id == StaffSession.staff_id)
        .where(StaffSession.token_hash == _digest(token))
    ).first()
    if row is None:
        return None
    staff_session, member = row
    if not member.active or as_utc(staff_session.expires_at) <= utcnow():
        return None
    return SignedIn(
        member.id, member.username, member.display_name, member.role, staff_session.csrf_token
    )


def close_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(StaffSession).where(StaffSession.token_hash == _digest(token)))


def forget_stale(session: Session, now: datetime | None = None) -> int:
    """Delete expired sessions and failed sign-ins past the throttling window (they hold
    client addresses); returns how many rows went."""
    now = now or utcnow()
    gone = session.execute(delete(StaffSession).where(StaffSession.expires_at <= now)).rowcount
    gone += session.execute(
        delete(LoginAttempt).where(LoginAttempt.at < now - FAILURE_WINDOW)
    ).rowcount
    return gone or 0


def _member(session: Session, username: str) -> StaffMember:
    member = session.execute(
        select(StaffMember).where(StaffMember.username == normalise_username(username))
    ).scalar_one_or_none()
    if member is None:
        raise LookupError(f"no staff member {username!r}")
    return member


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))
