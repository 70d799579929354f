"""The overview's funnel and its date ranges: `funnel_events` (a keyed digest of the
conversation ID, the stage it reached and when; no text), and indexes on the creation
times the overview filters by (covering: the counts read the indexes, not the rows).

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-07 21:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "funnel_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_digest", sa.String(length=80), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funnel_events")),
        sa.UniqueConstraint("conversation_digest", "stage", name="uq_funnel_events_stage"),
    )
    op.create_index("ix_funnel_events_at_stage", "funnel_events", ["at", "stage"])
    op.create_index(
        "ix_screenings_created_at",
        "screenings",
        ["created_at", "outcome", "channel", "conversation_id"],
    )
    op.create_index(
        "ix_screening_findings_rules", "screening_findings", ["screening_id", "rule_id"]
    )
    op.create_index("ix_contact_requests_created_at", "contact_requests", ["created_at"])
    op.create_index("ix_follow_ups_status_created_at", "follow_ups", ["status", "created_at"])
    op.create_index("ix_follow_ups_first", "follow_ups", ["record_type", "record_id", "created_at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_follow_ups_first", table_name="follow_ups")
    op.drop_index("ix_follow_ups_status_created_at", table_name="follow_ups")
    op.drop_index("ix_contact_requests_created_at", table_name="contact_requests")
    op.drop_index("ix_screening_findings_rules", table_name="screening_findings")
    op.drop_index("ix_screenings_created_at", table_name="screenings")
    op.drop_index("ix_funnel_events_at_stage", table_name="funnel_events")
    op.drop_table("funnel_events")
