"""The queue's index: each conversation's latest screening, and what the queue orders
and filters it by, from the index alone (a screening's row carries its encrypted facts
and transcript, which the queue never reads).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 00:30:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index(
        "ix_screenings_queue",
        "screenings",
        ["conversation_id", "created_at", "id", "outcome", "status", "earliest_date"],
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_screenings_queue", table_name="screenings")
