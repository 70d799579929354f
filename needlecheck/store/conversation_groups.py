"""Which stored conversation IDs name the same conversation, so that SQL can group by it.

A phone-shaped conversation ID is stored as a keyed digest made with the newest data key
(needlecheck.store.encryption), beside an encrypted copy. `needlecheck keys rotate`
digests every row again with the newest key, so with one key, or after the rotation,
each conversation has one stored ID and the database groups by `conversation_id` alone.
In the rotation window (a new key put first in NEEDLECHECK_DATA_KEYS, `keys rotate` not
yet run) a conversation that came back holds rows under its old digest and rows under
its new one. `split_conversations` finds those from the digests' encrypted copies (each
digest decrypted once per set of keys) and `group_key` names each of them by its newest
digest, in SQL (`same_conversation`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from needlecheck.store.encryption import keyring
from needlecheck.store.models import ContactRequest, HandoffRequest, Screening

# The tables the queue groups by conversation.
MODELS = (Screening, ContactRequest, HandoffRequest)
# Digests looked up per IN (...): well under SQLite's limit of bound parameters.
CHUNK = 500


def split_conversations(session: Session) -> dict[str, str]:
    """{stored digest: the digest its conversation is grouped by}, for the conversations
    stored under more than one digest; empty outside a rotation window."""
    ring = keyring()
    if len(ring.keys) < 2:
        # Every readable row was digested with the one key.
        return {}
    stored: set[str] = set()
    for model in MODELS:
        stored.update(
            session.execute(
                select(model.conversation_id)
                .where(model.encrypted_conversation_id.is_not(None))
                .distinct()
            ).scalars()
        )
    unknown = sorted(stored - ring.newest_digests.keys())
    for start in range(0, len(unknown), CHUNK):
        chunk = unknown[start : start + CHUNK]
        for model in MODELS:
            # One encrypted copy per digest is enough: they all hold the same ID.
            rows = session.execute(
                select(model.conversation_id, func.min(model.encrypted_conversation_id))
                .where(model.conversation_id.in_(chunk))
                .group_by(model.conversation_id)
            )
            for digest, plain in rows:
                ring.newest_digests[digest] = ring.digest(plain)
    groups: dict[str, set[str]] = defaultdict(set)
    for digest in stored:
        groups[ring.newest_digests[digest]].add(digest)
    return {
        digest: newest
        for newest, digests in groups.items()
        if len(digests) > 1
        for digest in digests
        if digest != newest
    }


def group_key(column: ColumnElement, split: dict[str, str]) -> ColumnElement:
    """The conversation a row belongs to, in SQL: its stored ID, or for a conversation
    split across keys, its newest digest."""
    if not split:
        return column
    return case(split, value=column, else_=column)


def same_conversation(
    stored: ColumnElement, other: ColumnElement, split: dict[str, str]
) -> ColumnElement:
    """SQL: the stored ID `stored` names the same conversation as `other`; looked up by
    `stored`'s index (an IN list of the split digests beside the plain equality)."""
    if not split:
        return stored == other
    digests = sorted({*split, *split.values()})
    return or_(
        stored == other,
        and_(
            stored.in_(digests),
            other.in_(digests),
            group_key(stored, split) == group_key(other, split),
        ),
    )


def widen(digests: Iterable[str], split: dict[str, str]) -> set[str]:
    """`digests` and every other stored digest of the same conversations."""
    wanted = {split.get(digest, digest) for digest in digests}
    return wanted | {digest for digest, newest in split.items() if newest in wanted}
