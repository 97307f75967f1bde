"""Lifecycle events carry the content checks: the malware verdict and the detected type join the detail.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0004's function plus scan_status, scanned_at and detected_type (0005's columns): an application told
# "Upload Quarantined" learns the verdict without asking the API. The trigger itself is unchanged.
UPLOAD_EVENT_FUNCTION = """
CREATE OR REPLACE FUNCTION landing_upload_status_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_outbox (upload_id, detail_type, detail)
    VALUES (
        NEW.id,
        CASE NEW.status
            WHEN 'uploaded' THEN 'Upload Completed'
            WHEN 'rejected' THEN 'Upload Rejected'
            WHEN 'expired' THEN 'Upload Expired'
            WHEN 'quarantined' THEN 'Upload Quarantined'
        END,
        jsonb_build_object(
            'upload_id', NEW.id,
            'bucket', NEW.bucket,
            'key', NEW.key,
            'status', NEW.status,
            'previous_status', OLD.status,
            'size', NEW.size,
            'content_type', NEW.content_type,
            'detected_type', NEW.detected_type,
            'owner', NEW.owner,
            'filename', NEW.filename,
            'method', NEW.method,
            'rejection_reason', NEW.rejection_reason,
            'scan_status', NEW.scan_status,
            'scanned_at', to_char(NEW.scanned_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'metadata', NEW.user_metadata,
            'created_at', to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'expires_at', to_char(NEW.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'completed_at', to_char(NEW.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'changed_at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        )
    );
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.execute(UPLOAD_EVENT_FUNCTION)


def downgrade() -> None:
    # Back to 0004's definition (0005's downgrade then drops the columns this one reads).
    previous = importlib.import_module("landing.db.migrations.versions.0004_event_outbox")
    op.execute(previous.UPLOAD_EVENT_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
