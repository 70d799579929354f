"""Contact details and the person's own words, encrypted at rest (Fernet, `cryptography`).

A stolen database file, or a backup, shows none of them: contact requests' name, phone,
email and preferred time, and screenings' words and transcript are stored as Fernet
tokens (AES-128-CBC with HMAC-SHA256). The keys come from NEEDLECHECK_DATA_KEYS, newest
first, separated by commas: data is written with the first key and read with any of them
(MultiFernet), so a key is rotated by putting a new one first and running
`needlecheck keys rotate`, which rewrites every value with it; then the old key can go.

Without the variable, development (`make run`) generates one key into var/data.key
(readable by its owner only); production refuses to start without it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.types import Text, TypeDecorator

KEY_FILE = "data.key"


class DataKeyError(ValueError):
    """The data keys are missing or malformed; the message says what to do."""


class UnreadableRecord(RuntimeError):
    """A stored value was written with a key that NEEDLECHECK_DATA_KEYS does not hold."""


def parse_keys(raw: str) -> list[bytes]:
    keys = [part.strip().encode() for part in raw.split(",") if part.strip()]
    if not keys:
        raise DataKeyError("NEEDLECHECK_DATA_KEYS is empty")
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise DataKeyError(
                f"NEEDLECHECK_DATA_KEYS: key {number} is not a Fernet key (32 url-safe "
                "base64-encoded bytes; make one with 'needlecheck keys new')"
            ) from None
    return keys


def load_keys(var_dir: Path, environ: Mapping[str, str] | None = None) -> list[bytes]:
    """The keys, newest first: from the environment, or (development only) var/data.key."""
    env = os.environ if environ is None else environ
    raw = env.get("NEEDLECHECK_DATA_KEYS")
    if raw:
        return parse_keys(raw)
    if env.get("NEEDLECHECK_PROFILE") == "production":
        raise DataKeyError(
            "NEEDLECHECK_DATA_KEYS is not set: production keeps contact details encrypted "
            "with a key from the environment ('needlecheck keys new' makes one)"
        )
    from needlecheck.config import generated_secret

    return parse_keys(generated_secret(var_dir / KEY_FILE, Fernet.generate_key().decode()))


class Keyring:
    def __init__(self, keys: list[bytes]) -> None:
        self.keys = keys
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        # Stored digest -> its conversation's digest with the newest key: a digest names
        # one conversation for good, so needlecheck.store.conversation_groups decrypts
        # each one once per set of keys (a new set of keys is a new Keyring).
        self.newest_digests: dict[str, str] = {}

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise UnreadableRecord(
                "a stored value cannot be decrypted with NEEDLECHECK_DATA_KEYS: the key it "
                "was written with is missing"
            ) from None

    def rotate(self, token: str) -> str:
        """The token written again with the newest key."""
        return self.encrypt(self.decrypt(token))

    def digest(self, value: str) -> str:
        """A keyed digest of `value` with the newest key: the form it is stored in."""
        return _digest(self.keys[0], value)

    def digests(self, value: str) -> list[str]:
        """The digests of `value` under every key, newest first: what a lookup compares.
        A row written before the newest key was added is found until `keys rotate` has
        rewritten it."""
        return [_digest(key, value) for key in self.keys]


# A digest is stored as this prefix and 64 hex digits. The prefix keeps a digest from
# ever looking like a phone number, so digesting a stored value again is a no-op.
DIGEST_PREFIX = "hmac:"
# Domain separation: the Fernet key itself never signs a lookup value.
_LOOKUP_LABEL = b"needlecheck lookup digest v1"


def _digest(key: bytes, value: str) -> str:
    lookup_key = hmac.new(base64.urlsafe_b64decode(key), _LOOKUP_LABEL, hashlib.sha256).digest()
    return DIGEST_PREFIX + hmac.new(lookup_key, value.encode(), hashlib.sha256).hexdigest()


# A conversation ID that is a phone number: SMS ("+447700900123"), WhatsApp
# ("whatsapp:+44...", or Meta's "447700900123"), or any channel's prefix before one.
_PHONE_SHAPED = re.compile(r"^(?:[A-Za-z_-]{1,32}:)?\+?[0-9]{7,15}$")


def is_phone_shaped(conversation_id: str) -> bool:
    return bool(_PHONE_SHAPED.match(conversation_id))


def conversation_key(conversation_id: str) -> str:
    """How a conversation ID is stored: a phone-shaped one as a keyed digest (newest
    key), any other one as it is."""
    if is_phone_shaped(conversation_id):
        return keyring().digest(conversation_id)
    return conversation_id


def conversation_keys(conversation_id: str) -> list[str]:
    """Every stored form a conversation ID may have: to look it up. A stored digest
    (from a record the front desk shows) is its own key."""
    if is_phone_shaped(conversation_id):
        return keyring().digests(conversation_id)
    return [conversation_id]


def sealed_conversation(conversation_id: str) -> str | None:
    """The value for a row's `encrypted_conversation_id`: the ID itself (encrypted by the
    column) when the row stores only its digest, so that staff can read it and erasure
    and key rotation can find it; None otherwise."""
    return conversation_id if is_phone_shaped(conversation_id) else None


_keyring: Keyring | None = None


def keyring() -> Keyring:
    """The process's keys, read on first use (never at import)."""
    global _keyring
    if _keyring is None:
        from needlecheck.config import Settings

        _keyring = Keyring(load_keys(Settings.from_environment().var_dir))
    return _keyring


def use_keys(keys: list[bytes] | None) -> None:
    """Set the keys (tests, key rotation); None reads them again on next use."""
    global _keyring
    _keyring = Keyring(keys) if keys else None


class EncryptedText(TypeDecorator):
    """A string stored as a Fernet token; None stays NULL (constraints still see it)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else keyring().encrypt(self.encode(value))

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else self.decode(keyring().decrypt(value))

    def encode(self, value: Any) -> str:
        return str(value)

    def decode(self, text: str) -> Any:
        return text


class EncryptedJSON(EncryptedText):
    """A JSON value stored as a Fernet token."""

    cache_ok = True

    def encode(self, value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))

    def decode(self, text: str) -> Any:
        return json.loads(text)


# What is encrypted, by table: the migration and `needlecheck keys rotate` read this.
ENCRYPTED_COLUMNS = {
    "contact_requests": ("name", "phone", "email", "preferred_time", "encrypted_conversation_id"),
    "screenings": ("facts", "evidence", "transcript", "notes", "encrypted_conversation_id"),
    "handoff_requests": ("reason", "transcript", "encrypted_conversation_id"),
    "takeovers": ("encrypted_conversation_id",),
    "takeover_messages": ("text",),
}
# The tables whose phone-shaped conversation IDs are stored as digests beside an
# encrypted copy; conversation_activity's key is the conversation ID itself.
CONVERSATION_TABLES = (
    "contact_requests",
    "screenings",
    "handoff_requests",
    "conversation_activity",
    "takeovers",
)


def rotate_all(session: Any) -> int:
    """Write every encrypted value again with the newest key; returns how many. Rasa's
    conversation events in the same database (the production tracker store) too: those
    stored before encryption, as plain JSON, are encrypted on the way."""
    from sqlalchemy import column, select, table, update

    from needlecheck.store.tracker_events import EVENTS, has_events_table

    ring = keyring()
    count = 0
    if has_events_table(session):
        for row in session.execute(select(EVENTS.c.id, EVENTS.c.data)).all():
            if not row.data:
                continue
            data = ring.encrypt(row.data) if row.data.startswith("{") else ring.rotate(row.data)
            session.execute(update(EVENTS).where(EVENTS.c.id == row.id).values(data=data))
            count += 1
    for name, columns in ENCRYPTED_COLUMNS.items():
        stored = table(name, column("id"), *(column(c) for c in columns))
        for row in session.execute(select(stored)).all():
            values = {c: ring.rotate(row._mapping[c]) for c in columns if row._mapping[c]}
            if values:
                session.execute(update(stored).where(stored.c.id == row.id).values(**values))
                count += len(values)
    count += _rekey_conversations(session, ring)
    count += _rekey_opt_outs(session, ring)
    return count


def _rekey_opt_outs(session: Any, ring: Keyring) -> int:
    """The STOP list's numbers digested again with the newest key, and their copies
    encrypted again: a number that opted out stays out once the old key is dropped."""
    from sqlalchemy import column, select, table, update

    stored = table(
        "channel_opt_outs", column("id"), column("address_digest"), column("encrypted_address")
    )
    count = 0
    for row in session.execute(select(stored).where(stored.c.encrypted_address.is_not(None))).all():
        plain = ring.decrypt(row.encrypted_address)
        session.execute(
            update(stored)
            .where(stored.c.id == row.id)
            .values(address_digest=ring.digest(plain), encrypted_address=ring.encrypt(plain))
        )
        count += 1
    return count


def _rekey_conversations(session: Any, ring: Keyring) -> int:
    """Phone-shaped conversation IDs digested again with the newest key (from their
    encrypted copy), so that lookups keep working once the old key is dropped."""
    from sqlalchemy import column, select, table, update

    count = 0
    plains: set[str] = set()
    for name in CONVERSATION_TABLES:
        stored = table(name, column("conversation_id"), column("encrypted_conversation_id"))
        rows = session.execute(
            select(stored).where(stored.c.encrypted_conversation_id.is_not(None))
        ).all()
        for row in rows:
            plain = ring.decrypt(row.encrypted_conversation_id)
            plains.add(plain)
            values = {"conversation_id": ring.digest(plain)}
            if name == "conversation_activity":
                # No `id` column, and not in ENCRYPTED_COLUMNS: its copy is rotated here.
                values["encrypted_conversation_id"] = ring.encrypt(plain)
                count += 1
            session.execute(
                update(stored)
                .where(stored.c.conversation_id == row.conversation_id)
                .where(stored.c.encrypted_conversation_id == row.encrypted_conversation_id)
                .values(**values)
            )
    # A takeover in progress is held under its conversation's key: the new digest.
    held = table("takeovers", column("conversation_id"), column("active_conversation"))
    session.execute(
        update(held)
        .where(held.c.active_conversation.is_not(None))
        .values(active_conversation=held.c.conversation_id)
    )
    return count + _rekey_events(session, ring, plains)


def _rekey_events(session: Any, ring: Keyring, plains: set[str]) -> int:
    """Rasa's events in this database (the production tracker store) under the newest
    digest of each phone-shaped sender the records name, including rows that still hold
    the number itself: erasure and the conversation find them once the old key is gone."""
    from sqlalchemy import update

    from needlecheck.store.tracker_events import EVENTS, has_events_table

    if not plains or not has_events_table(session):
        return 0
    count = 0
    for plain in sorted(plains):
        older = [plain, *ring.digests(plain)[1:]]
        result = session.execute(
            update(EVENTS).where(EVENTS.c.sender_id.in_(older)).values(sender_id=ring.digest(plain))
        )
        count += result.rowcount or 0
    return count
