"""The end-of-run check: the catalog's rows against the model, row by row and identity by identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.soak.scenario import BUCKET, Scenario

OBJECT_COLUMNS = (
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
)


SHOWN = 30  # mismatches described in the report; all are counted


@dataclass
class Findings:
    objects_checked: int = 0
    journal_rows: int = 0
    mismatches: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, what: str) -> None:
        self.mismatches += 1
        if len(self.examples) < SHOWN:
            self.examples.append(what)


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, datetime) and isinstance(got, datetime):
        return expected == got
    return bool(expected == got)


def catalog(url: str, scenario: Scenario, findings: Findings) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _objects(conn, scenario, findings)
            _journal(conn, scenario, findings)
    finally:
        engine.dispose()


def _objects(conn: Any, scenario: Scenario, findings: Findings) -> None:
    expected = scenario.expected_objects()
    rows = conn.execute(
        text(f"SELECT key, {', '.join(OBJECT_COLUMNS)} FROM objects WHERE bucket = :b"), {"b": BUCKET}
    ).all()
    seen: set[str] = set()
    for row in rows:
        got = row._mapping
        key = got["key"]
        seen.add(key)
        want = expected.get(key)
        if want is None:
            findings.add(f"objects: row for {key!r} that no event of the model names")
            continue
        findings.objects_checked += 1
        for column in OBJECT_COLUMNS:
            if not _same(want[column], got[column]):
                findings.add(f"objects[{key!r}].{column}: expected {want[column]!r}, got {got[column]!r}")
    for key in expected.keys() - seen:
        findings.add(f"objects: no row for {key!r}")
    other = conn.execute(text("SELECT count(*) FROM objects WHERE bucket <> :b"), {"b": BUCKET}).scalar()
    if other:
        findings.add(f"objects: {other} rows for buckets the soak never used")


def _journal(conn: Any, scenario: Scenario, findings: Findings) -> None:
    expected = scenario.expected_journal()
    rows = conn.execute(
        text(
            "SELECT key, sequence_number, record_type, count(*) FROM object_events WHERE bucket = :b "
            "GROUP BY 1, 2, 3"
        ),
        {"b": BUCKET},
    ).all()
    got: set[tuple[str, str, str]] = set()
    for key, sequence_number, record_type, count in rows:
        identity = (key, sequence_number, record_type)
        got.add(identity)
        findings.journal_rows += count
        if count != 1:
            findings.add(f"journal: {count} rows for {identity}")
    for identity in sorted(expected - got):
        findings.add(f"journal: no row for {identity}")
    for identity in sorted(got - expected):
        findings.add(f"journal: row for {identity} that no event of the model has")
