"""ORM tables: the public data contract (column names follow Amazon S3 Metadata where they overlap)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# S3 keys are compared byte-wise (the order ListObjectsV2 returns); "C" collation also lets the
# primary key index serve prefix listings (key LIKE 'a/b/%').
KEY_TYPE = Text().with_variant(Text(collation="C"), "postgresql")

# UPDATE_METADATA: tags, storage class / access tier, restore or ACL changed on an existing version.
RECORD_TYPES = ("CREATE", "DELETE", "UPDATE_METADATA")
# S3 Metadata's encryption_status values (HeadObject's ServerSideEncryption / SSE-C headers, mapped).
ENCRYPTION_STATUSES = ("SSE-S3", "SSE-KMS", "DSSE-KMS", "SSE-C")
# HeadObject's x-amz-restore: a restore requested and running, or its temporary copy available.
RESTORE_STATUSES = ("IN_PROGRESS", "COMPLETED")
# The columns S3 Metadata's tables have and the catalog took on in revision 0010 (plus the restore
# state, ours only), on objects (current) and on the journal (as of the record).
METADATA_COLUMNS = (
    "object_tags",
    "is_delete_marker",
    "is_multipart",
    "encryption_status",
    "is_bucket_key_enabled",
    "kms_key_arn",
    "requester",
    "source_ip_address",
    "restore_status",
    "restore_expiry_date",
)
# What an UPDATE_METADATA record may change on the objects row (never the content columns).
MUTABLE_METADATA_COLUMNS = ("storage_class", "object_tags", "restore_status", "restore_expiry_date")
# The objects columns an event (or a reconcile repair) decides; created_at and upload_id are kept.
OBJECT_STATE_COLUMNS = (
    "version_id",
    "sequence_number",
    "size",
    "e_tag",
    "content_type",
    "storage_class",
    "user_metadata",
    "checksum_algorithm",
    "last_modified_date",
    "is_deleted",
    "deleted_at",
    *METADATA_COLUMNS,
    "metadata_read_at",
)
SOURCES = ("s3", "sqs", "eventbridge", "reconcile")
# The object_events columns an event supplies (id and received_at come from the database).
OBJECT_EVENT_COLUMNS = (
    "bucket",
    "key",
    "sequence_number",
    "record_type",
    "event_name",
    "record_timestamp",
    "version_id",
    "size",
    "e_tag",
    "request_id",
    "source",
    "storage_class",
    "checksum_algorithm",
    "user_metadata",
    *METADATA_COLUMNS,
    "last_modified_date",
)
# The partition key of object_events, from its event time: the first day of the UTC month.
RECORD_MONTH_SQL = "(date_trunc('month', record_timestamp AT TIME ZONE 'UTC'))::date"
# "scanning": the object passed the content checks and waits for a clean malware verdict (only when
# REQUIRE_CLEAN_SCAN is on); "quarantined": a malware scan found threats in the accepted object.
UPLOAD_STATUSES = ("pending", "uploaded", "rejected", "expired", "quarantined", "scanning")
# GuardDuty Malware Protection for S3's scanResultStatus values.
SCAN_RESULTS = ("NO_THREATS_FOUND", "THREATS_FOUND", "UNSUPPORTED", "ACCESS_DENIED", "FAILED")
# session.info key: the ids of uploads whose status this session changed (the uploads_status_event
# trigger wrote their outbox rows), so they are published right after the commit.
OUTBOX_WRITTEN = "landing.db.outbox_written"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB(none_as_null=True)}


class Upload(Base):
    __tablename__ = "uploads"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    bucket: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(KEY_TYPE)
    content_type: Mapped[str] = mapped_column(Text)
    max_size: Mapped[int] = mapped_column(BigInteger)
    owner: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    filename: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str | None] = mapped_column(String(16))
    checksum_sha256: Mapped[str | None] = mapped_column(Text)
    user_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    multipart_upload_id: Mapped[str | None] = mapped_column(Text)
    # False for uploads through the /s3 (Uppy) routes: max_size is then the bytes reserved so far, and
    # a multipart upload's exact size is fixed at completion from the parts S3 holds.
    size_announced: Mapped[bool] = mapped_column(Boolean, server_default=true())
    size: Mapped[int | None] = mapped_column(BigInteger)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    # The object body the upload was decided on; bytes sent again to the key are a replay.
    e_tag: Mapped[str | None] = mapped_column(Text)
    version_id: Mapped[str | None] = mapped_column(Text)
    # What the first bytes of the object are (content sniffing), and the malware verdict on it.
    detected_type: Mapped[str | None] = mapped_column(Text)
    scan_status: Mapped[str | None] = mapped_column(String(16))
    scanned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("bucket", "key", name="uq_uploads_bucket_key"),
        CheckConstraint(f"status IN {UPLOAD_STATUSES}", name="ck_uploads_status"),
        CheckConstraint(
            f"scan_status IS NULL OR scan_status IN {SCAN_RESULTS}", name="ck_uploads_scan_status"
        ),
        CheckConstraint("max_size > 0", name="ck_uploads_max_size"),
        Index("ix_uploads_owner_status_created", "owner", "status", "created_at"),
        Index(
            "ix_uploads_pending_expires",
            "expires_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )


class Object(Base):
    """Current state: one row per (bucket, key); deletes leave a tombstone."""

    __tablename__ = "objects"

    bucket: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(KEY_TYPE, primary_key=True)
    version_id: Mapped[str | None] = mapped_column(Text)
    sequence_number: Mapped[str] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    e_tag: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(Text)
    storage_class: Mapped[str | None] = mapped_column(Text)
    user_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    checksum_algorithm: Mapped[str | None] = mapped_column(Text)
    last_modified_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    is_deleted: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    upload_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("uploads.id", ondelete="SET NULL")
    )
    # GuardDuty's verdict on the current body (null until one names it; a new body clears it), and
    # its detected type when DETECT_BUCKET_DROPS is on (uploads always have theirs on `uploads`).
    scan_status: Mapped[str | None] = mapped_column(String(16))
    scanned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    detected_type: Mapped[str | None] = mapped_column(Text)
    # S3 Metadata's columns (revision 0010): tag key -> value ({} when none), encryption as S3
    # Metadata names it, who wrote the current version (or the delete) and from where, the restore.
    object_tags: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    is_delete_marker: Mapped[bool | None] = mapped_column(Boolean)
    is_multipart: Mapped[bool | None] = mapped_column(Boolean)
    encryption_status: Mapped[str | None] = mapped_column(Text)
    is_bucket_key_enabled: Mapped[bool | None] = mapped_column(Boolean)
    kms_key_arn: Mapped[str | None] = mapped_column(Text)
    requester: Mapped[str | None] = mapped_column(Text)
    source_ip_address: Mapped[str | None] = mapped_column(Text)
    restore_status: Mapped[str | None] = mapped_column(Text)
    restore_expiry_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When S3 was asked for the metadata above (revision 0014): a metadata update read earlier never
    # overwrites one read later, whichever commits last.
    metadata_read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_objects_updated_at", "updated_at"),
        CheckConstraint(
            f"scan_status IS NULL OR scan_status IN {SCAN_RESULTS}", name="ck_objects_scan_status"
        ),
        Index("ix_objects_upload_id", "upload_id", postgresql_where=text("upload_id IS NOT NULL")),
    )


class ObjectEvent(Base):
    """Append-only journal: one row per distinct S3 event, stale ones included.

    Range-partitioned by ``record_month`` (one partition per month, see landing.db.journal): old
    history goes by dropping whole partitions, never by a long DELETE.
    """

    __tablename__ = "object_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(KEY_TYPE)
    sequence_number: Mapped[str] = mapped_column(Text)
    record_type: Mapped[str] = mapped_column(String(16))
    event_name: Mapped[str] = mapped_column(Text)
    record_timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version_id: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    e_tag: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The partition key: the UTC month of record_timestamp. PostgreSQL wants it in every unique
    # constraint, and the exact timestamp would not do: S3 notifications carry milliseconds and
    # EventBridge whole seconds, so one event by two paths differs in record_timestamp but not in
    # its month. A stored column (not an expression) because unique constraints take only columns.
    record_month: Mapped[date] = mapped_column(Date, primary_key=True)
    # As of the record (revision 0010): what S3 held for the record's version when it was read.
    storage_class: Mapped[str | None] = mapped_column(Text)
    checksum_algorithm: Mapped[str | None] = mapped_column(Text)
    user_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    object_tags: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    is_delete_marker: Mapped[bool | None] = mapped_column(Boolean)
    is_multipart: Mapped[bool | None] = mapped_column(Boolean)
    encryption_status: Mapped[str | None] = mapped_column(Text)
    is_bucket_key_enabled: Mapped[bool | None] = mapped_column(Boolean)
    kms_key_arn: Mapped[str | None] = mapped_column(Text)
    requester: Mapped[str | None] = mapped_column(Text)
    source_ip_address: Mapped[str | None] = mapped_column(Text)
    restore_status: Mapped[str | None] = mapped_column(Text)
    restore_expiry_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The record's version as HeadObject dated it (revision 0013).
    last_modified_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # The event's identity: a redelivery, or the same event by a second path, adds nothing.
        UniqueConstraint(
            "bucket",
            "key",
            "sequence_number",
            "record_type",
            "record_month",
            name="uq_object_events_identity",
        ),
        CheckConstraint(f"record_type IN {RECORD_TYPES}", name="ck_object_events_record_type"),
        CheckConstraint(f"source IN {SOURCES}", name="ck_object_events_source"),
        # Whoever writes the row, the month is the one record_timestamp says.
        CheckConstraint(f"record_month = {RECORD_MONTH_SQL}", name="ck_object_events_record_month"),
        Index("ix_object_events_record_timestamp", "record_timestamp"),
        {"postgresql_partition_by": "RANGE (record_month)"},
    )


class ObjectScan(Base):
    """Append-only journal of malware scan results, one row per EventBridge event (stale ones too)."""

    __tablename__ = "object_scans"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # EventBridge's event id: a redelivery, or the same event through SQS, adds nothing.
    event_id: Mapped[str] = mapped_column(Text)
    bucket: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(KEY_TYPE)
    version_id: Mapped[str | None] = mapped_column(Text)
    e_tag: Mapped[str | None] = mapped_column(Text)
    scan_status: Mapped[str] = mapped_column(String(32))
    scan_result_status: Mapped[str] = mapped_column(String(16))
    threats: Mapped[list[Any] | None] = mapped_column(JSONB(none_as_null=True))
    record_timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        UniqueConstraint("event_id", name="uq_object_scans_event_id"),
        CheckConstraint(f"scan_result_status IN {SCAN_RESULTS}", name="ck_object_scans_result"),
        Index("ix_object_scans_bucket_key", "bucket", "key"),
    )


class ReconcileState(Base):
    """Where the scheduled reconcile of one (bucket, prefix) stands: resume point, lease, counts."""

    __tablename__ = "reconcile_state"

    bucket: Mapped[str] = mapped_column(Text, primary_key=True)
    prefix: Mapped[str] = mapped_column(KEY_TYPE, primary_key=True)
    # The continuation token: every key up to and including it is reconciled in the current run;
    # NULL means the run starts from the beginning of the listing.
    after_key: Mapped[str | None] = mapped_column(KEY_TYPE)
    run_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # NULL while a run is in progress; set when the listing was walked to its end.
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The invocation that holds the run, until lease_expires_at (one run per bucket and prefix).
    owner: Mapped[str | None] = mapped_column(Text)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scanned: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    inserted: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    updated: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    deleted: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    left_alone: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EventOutbox(Base):
    """Lifecycle events waiting to be published: written by the uploads_status_event trigger in the
    transaction that changes an upload's status, deleted once EventBridge accepted them."""

    __tablename__ = "event_outbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), unique=True, server_default=text("gen_random_uuid()")
    )
    upload_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    detail_type: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_event_outbox_upload_id", "upload_id"),)
