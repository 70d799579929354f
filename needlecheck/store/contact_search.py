"""The queue's search: the conversations whose contact request names a person or number.

Contact details are encrypted at rest (needlecheck.store.encryption), with a fresh IV per
value, so the database cannot compare them: each request's details are decrypted here
and matched. Only what the term can match is decrypted (the name always; the phone for
three digits or more; the email for a term with an "@"), one column at a time: a name
search decrypts one value per contact request, a number two.
"""

from __future__ import annotations

from sqlalchemy import Text, select, type_coerce
from sqlalchemy.orm import Session

from needlecheck.store.encryption import keyring
from needlecheck.store.models import ContactRequest
from needlecheck.store.repository import phone_digits


def matching_conversations(session: Session, search: str) -> set[str]:
    """The stored conversation IDs of the contact requests that match `search`: part of
    the name (any case), three or more digits of the phone number, or the whole email."""
    term = search.strip()
    folded = term.casefold()
    digits = phone_digits(term)
    by_phone = len(digits) >= 3
    by_email = "@" in term
    ring = keyring()

    def stored(column: object) -> object:
        # The token as stored: decrypted below only when the match needs it.
        return type_coerce(column, Text)

    rows = session.execute(
        select(
            ContactRequest.conversation_id,
            stored(ContactRequest.name),
            stored(ContactRequest.phone) if by_phone else None,
            stored(ContactRequest.email) if by_email else None,
        )
    )
    found: set[str] = set()
    for conversation, name, phone, email in rows:
        if conversation in found:
            continue
        if (
            folded in ring.decrypt(name).casefold()
            or (by_phone and phone and digits in phone_digits(ring.decrypt(phone)))
            or (by_email and email and ring.decrypt(email) == term.lower())
        ):
            found.add(conversation)
    return found
