"""Screenings record the consent to health questions: its text version and time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: screenings stored before consent was asked have no record of it.
    with op.batch_alter_table("screenings") as batch_op:
        batch_op.add_column(sa.Column("consent_text_version", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("screenings") as batch_op:
        batch_op.drop_column("consent_at")
        batch_op.drop_column("consent_text_version")
