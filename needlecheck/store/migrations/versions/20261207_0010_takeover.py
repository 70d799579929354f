"""Live takeover: which member of staff holds a conversation (one at a time, by a unique
key that is NULL once handed back), and what staff wrote, encrypted at rest.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 21:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "takeovers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("encrypted_conversation_id", sa.Text(), nullable=True),
        sa.Column("active_conversation", sa.String(length=255), nullable=True),
        sa.Column("handoff_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("staff_username", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.Column("ending", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "ending IS NULL OR ending IN ('continue', 'end')", name=op.f("ck_takeovers_ending")
        ),
        sa.ForeignKeyConstraint(
            ["handoff_id"],
            ["handoff_requests.id"],
            name=op.f("fk_takeovers_handoff_id_handoff_requests"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_takeovers_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_takeovers")),
        sa.UniqueConstraint("active_conversation", name=op.f("uq_takeovers_active_conversation")),
    )
    op.create_index(
        op.f("ix_takeovers_conversation_id"), "takeovers", ["conversation_id"], unique=False
    )
    op.create_table(
        "takeover_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("takeover_id", sa.Integer(), nullable=False),
        sa.Column("staff_username", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["takeover_id"],
            ["takeovers.id"],
            name=op.f("fk_takeover_messages_takeover_id_takeovers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_takeover_messages")),
    )
    op.create_index(
        op.f("ix_takeover_messages_takeover_id"),
        "takeover_messages",
        ["takeover_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_takeover_messages_takeover_id"), table_name="takeover_messages")
    op.drop_table("takeover_messages")
    op.drop_index(op.f("ix_takeovers_conversation_id"), table_name="takeovers")
    op.drop_table("takeovers")
