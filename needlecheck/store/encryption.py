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

import json
import os
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
    "contact_requests": ("name", "phone", "email", "preferred_time"),
    "screenings": ("evidence", "transcript", "notes"),
    "handoff_requests": ("transcript",),
}


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
    return count
