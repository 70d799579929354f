"""The Overview's summary (needlecheck.store.overview_summary): `overview_counts` and
`overview_waits`, counts per clinic day (no conversation, record or person), and
`overview_state`, the zone those days are in; built here from the existing rows for
NEEDLECHECK_TIMEZONE (or the server's zone).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 09:00:00

"""

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema, then build the summary from the rows already stored."""
    op.create_table(
        "overview_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overview_state")),
    )
    op.create_table(
        "overview_counts",
        sa.Column("series", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("series", "day", "key", name="pk_overview_counts"),
    )
    op.create_table(
        "overview_waits",
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("wait_ms", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "day", "wait_ms", name="pk_overview_waits"),
    )
    # The data step: the same code as `needlecheck overview rebuild`.
    from sqlalchemy.orm import Session

    from needlecheck.store.clinic_days import clinic_zone
    from needlecheck.store.overview_summary import rebuild

    session = Session(bind=op.get_bind())
    rebuild(session, clinic_zone(os.environ.get("NEEDLECHECK_TIMEZONE") or None))
    session.flush()


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("overview_waits")
    op.drop_table("overview_counts")
    op.drop_table("overview_state")
