"""Ingest: S3 events to catalog rows (journal and current state), one statement per batch."""
