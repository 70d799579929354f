"""The STOP list keyed like the conversations: a number that opted out is stored as a keyed
digest (HMAC with the data key) beside an encrypted copy, so that `keys rotate` can digest
it again. Rows written before keep their plain SHA-256 until the number sends STOP or
START again; the lookup still finds them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 18:45:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("channel_opt_outs") as batch:
        batch.alter_column(
            "address_digest", existing_type=sa.String(64), type_=sa.String(80), nullable=False
        )
        batch.add_column(sa.Column("encrypted_address", sa.Text(), nullable=True))


def downgrade() -> None:
    """Downgrade schema: keyed digests do not fit the old column and are dropped (those
    numbers can be sent to again until they reply STOP)."""
    op.execute(sa.text("DELETE FROM channel_opt_outs WHERE address_digest LIKE 'hmac:%'"))
    with op.batch_alter_table("channel_opt_outs") as batch:
        batch.drop_column("encrypted_address")
        batch.alter_column(
            "address_digest", existing_type=sa.String(80), type_=sa.String(64), nullable=False
        )
