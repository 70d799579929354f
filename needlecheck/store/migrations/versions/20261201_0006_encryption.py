"""Contact details and the person's words encrypted at rest: the columns become text
holding Fernet tokens, and every stored value is encrypted with NEEDLECHECK_DATA_KEYS.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 06:00:00

"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from needlecheck.store.encryption import keyring

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The types before this revision, for the way back.
# The columns this revision encrypts, frozen: later revisions add their own encrypted
# columns, which do not exist yet at this point of the history.
ENCRYPTED_COLUMNS = {
    "contact_requests": ("name", "phone", "email", "preferred_time"),
    "screenings": ("evidence", "transcript"),
}
PLAIN_TYPES = {
    ("contact_requests", "name"): sa.String(length=200),
    ("contact_requests", "phone"): sa.String(length=32),
    ("contact_requests", "email"): sa.String(length=320),
    ("contact_requests", "preferred_time"): sa.String(length=200),
    ("screenings", "evidence"): sa.JSON(),
    ("screenings", "transcript"): sa.JSON(),
}


def _rewrite(table: str, columns: Sequence[str], change: Callable[[str], str]) -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(f"SELECT id, {', '.join(columns)} FROM {table}")  # fixed names, no input
    ).all()
    for row in rows:
        values = {
            c: (None if v is None else change(v)) for c, v in zip(columns, row[1:], strict=True)
        }
        assignments = ", ".join(f"{c} = :{c}" for c in columns)
        connection.execute(
            sa.text(f"UPDATE {table} SET {assignments} WHERE id = :id"), {**values, "id": row[0]}
        )


def upgrade() -> None:
    """Upgrade schema."""
    for table, columns in ENCRYPTED_COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(
                    column,
                    existing_type=PLAIN_TYPES[(table, column)],
                    type_=sa.Text(),
                    postgresql_using=f"{column}::text",
                )
        _rewrite(table, columns, keyring().encrypt)


def downgrade() -> None:
    """Downgrade schema."""
    for table, columns in ENCRYPTED_COLUMNS.items():
        _rewrite(table, columns, keyring().decrypt)
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                plain = PLAIN_TYPES[(table, column)]
                batch_op.alter_column(
                    column,
                    existing_type=sa.Text(),
                    type_=plain,
                    postgresql_using=f"{column}::json" if isinstance(plain, sa.JSON) else None,
                )
