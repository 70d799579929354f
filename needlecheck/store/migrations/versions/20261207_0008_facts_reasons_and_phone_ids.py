"""The rest of the person's words encrypted at rest: screenings' facts and handoff
requests' reasons. Conversation IDs shaped like phone numbers (SMS, WhatsApp) are stored
as keyed digests beside an encrypted copy, and idempotency keys (which name the
conversation) as digests.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 18:30:00

"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from needlecheck.store.encryption import DIGEST_PREFIX, keyring

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: what this revision took for a phone-shaped conversation ID.
PHONE_SHAPED = re.compile(r"^(?:[A-Za-z_-]{1,32}:)?\+?[0-9]{7,15}$")
CONVERSATION_TABLES = ("screenings", "contact_requests", "handoff_requests")
ACTIVITY = "conversation_activity"


def _rows(sql: str) -> list[sa.engine.Row]:
    return op.get_bind().execute(sa.text(sql)).all()  # fixed names, no input


def _set(sql: str, values: dict[str, object]) -> None:
    op.get_bind().execute(sa.text(sql), values)


def upgrade() -> None:
    """Upgrade schema."""
    ring = keyring()
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.alter_column(
            "facts", existing_type=sa.JSON(), type_=sa.Text(), postgresql_using="facts::text"
        )
    for table in (*CONVERSATION_TABLES, ACTIVITY):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("encrypted_conversation_id", sa.Text(), nullable=True))
    for row in _rows("SELECT id, facts FROM screenings"):
        _set(
            "UPDATE screenings SET facts = :v WHERE id = :id",
            {"v": ring.encrypt(row[1]), "id": row[0]},
        )
    for row in _rows("SELECT id, reason FROM handoff_requests"):
        _set(
            "UPDATE handoff_requests SET reason = :v WHERE id = :id",
            {"v": ring.encrypt(row[1]), "id": row[0]},
        )
    for row in _rows(
        "SELECT id, idempotency_key FROM screenings WHERE idempotency_key IS NOT NULL"
    ):
        _set(
            "UPDATE screenings SET idempotency_key = :v WHERE id = :id",
            {"v": ring.digest(row[1]), "id": row[0]},
        )
    for table in (*CONVERSATION_TABLES, ACTIVITY):
        for (conversation,) in _rows(f"SELECT DISTINCT conversation_id FROM {table}"):
            if PHONE_SHAPED.match(conversation):
                _set(
                    f"UPDATE {table} SET conversation_id = :digest, "
                    "encrypted_conversation_id = :sealed WHERE conversation_id = :plain",
                    {
                        "digest": ring.digest(conversation),
                        "sealed": ring.encrypt(conversation),
                        "plain": conversation,
                    },
                )


def downgrade() -> None:
    """Downgrade schema."""
    ring = keyring()
    for table in (*CONVERSATION_TABLES, ACTIVITY):
        rows = _rows(
            f"SELECT conversation_id, encrypted_conversation_id FROM {table} "
            "WHERE encrypted_conversation_id IS NOT NULL"
        )
        for digest, sealed in rows:
            _set(
                f"UPDATE {table} SET conversation_id = :plain, encrypted_conversation_id = NULL "
                "WHERE conversation_id = :digest AND encrypted_conversation_id = :sealed",
                {"plain": ring.decrypt(sealed), "digest": digest, "sealed": sealed},
            )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("encrypted_conversation_id")
    # A digest cannot be turned back into its key; the keys only guard retries that are
    # seconds apart, so none is needed for the rows already stored.
    _set(
        "UPDATE screenings SET idempotency_key = NULL WHERE idempotency_key LIKE :prefix",
        {"prefix": DIGEST_PREFIX + "%"},
    )
    for row in _rows("SELECT id, reason FROM handoff_requests"):
        _set(
            "UPDATE handoff_requests SET reason = :v WHERE id = :id",
            {"v": ring.decrypt(row[1]), "id": row[0]},
        )
    for row in _rows("SELECT id, facts FROM screenings"):
        _set(
            "UPDATE screenings SET facts = :v WHERE id = :id",
            {"v": ring.decrypt(row[1]), "id": row[0]},
        )
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.alter_column(
            "facts", existing_type=sa.Text(), type_=sa.JSON(), postgresql_using="facts::json"
        )
