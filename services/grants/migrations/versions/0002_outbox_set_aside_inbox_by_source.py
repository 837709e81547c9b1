"""outbox rows set aside, inbox keyed by source and id

The plumbing tables' revision 0002, shared by every service: see runtime.plumbing_revisions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 06:47:12.518033

"""

from collections.abc import Sequence

from runtime.plumbing_revisions import downgrade_0002, upgrade_0002

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_0002()


def downgrade() -> None:
    downgrade_0002()
