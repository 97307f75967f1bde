"""Lifecycle events name the body they are about: the decided object's e_tag and version_id join the detail.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PREVIOUS = importlib.import_module("landing.db.migrations.versions.0006_event_detail_verdict")
# 0006's function plus uploads.e_tag and version_id (0003's columns): a consumer told "Upload Completed"
# reads exactly the accepted body (GetObject VersionId / If-Match), never whatever a replayed presigned
# request put at the key since. The trigger itself is unchanged.
UPLOAD_EVENT_FUNCTION = _PREVIOUS.UPLOAD_EVENT_FUNCTION.replace(
    "'detected_type', NEW.detected_type,",
    "'detected_type', NEW.detected_type,\n            'e_tag', NEW.e_tag,\n            'version_id', NEW.version_id,",
    1,
)


def upgrade() -> None:
    assert UPLOAD_EVENT_FUNCTION != _PREVIOUS.UPLOAD_EVENT_FUNCTION
    op.execute(UPLOAD_EVENT_FUNCTION)


def downgrade() -> None:
    op.execute(_PREVIOUS.UPLOAD_EVENT_FUNCTION)
