"""Screenings keep the names people gave outside the screening's lists (notes for the
staff), and handoff requests the conversation that led to them ("needs a person").

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 20:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Text columns: the values are encrypted JSON (needlecheck.store.encryption).
    with op.batch_alter_table("screenings") as batch_op:
        batch_op.add_column(sa.Column("notes", sa.Text(), nullable=True))
    with op.batch_alter_table("handoff_requests") as batch_op:
        batch_op.add_column(sa.Column("transcript", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("handoff_requests") as batch_op:
        batch_op.drop_column("transcript")
    with op.batch_alter_table("screenings") as batch_op:
        batch_op.drop_column("notes")
