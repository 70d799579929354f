"""Production profile: an idempotency key per screening (retried writes store one row)
and the conversation activity the front desk reads from Rasa's event stream.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 15:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=300), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_screenings_idempotency_key"), ["idempotency_key"]
        )
    op.create_table(
        "conversation_activity",
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_conversation_activity")),
    )
    with op.batch_alter_table("conversation_activity", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_activity_last_event_at"), ["last_event_at"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("conversation_activity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_activity_last_event_at"))
    op.drop_table("conversation_activity")
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_screenings_idempotency_key"), type_="unique")
        batch_op.drop_column("idempotency_key")
