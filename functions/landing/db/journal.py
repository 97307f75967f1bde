"""The journal's monthly partitions: created ahead of time, expired ones dropped, the default watched."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Date, cast, func, literal_column, text
from sqlalchemy.sql.elements import ColumnElement

PARENT = "object_events"
DEFAULT_PARTITION = "object_events_default"
# Partitions exist for the current month and this many after it: an event stamped early by a skewed
# clock, or a month boundary passed between two scheduled passes, never falls into the default.
MONTHS_AHEAD = 2
_BOUNDS = re.compile(r"FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")
# Every column the journal has now (whatever revision it is at), for moving rows out of the default
# partition by name.
_COLUMNS_SQL = text(
    "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
    "WHERE attrelid = CAST(:parent AS regclass) AND attnum > 0 AND NOT attisdropped"
)


def month_of(timestamp: Any) -> ColumnElement[date]:
    """SQL: the partition key of an event time, the first day of its UTC month (RECORD_MONTH_SQL)."""
    # Constants as SQL literals, not bind parameters: the prepared write keeps its two parameters.
    return cast(
        func.date_trunc(literal_column("'month'"), func.timezone(literal_column("'UTC'"), timestamp)), Date
    )


def month_start(moment: date | datetime) -> date:
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return moment.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_{month:%Y_%m}"


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    lower: date
    upper: date


@dataclass
class Maintenance:
    """What one pass did: partitions created and dropped, rows found in the default partition (and
    moved out into a new month, or deleted as expired)."""

    partitions_created: list[str] = field(default_factory=list)
    partitions_dropped: list[str] = field(default_factory=list)
    moved_from_default: int = 0
    expired_from_default: int = 0
    default_rows: int = 0


def is_partitioned(connection: Connection) -> bool:
    """Whether object_events is the partitioned journal (revision 0007 on), not the old single table."""
    kind = connection.execute(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:name)"), {"name": PARENT}
    ).scalar()
    return kind == "p"


def partitions(connection: Connection) -> list[Partition]:
    """The monthly partitions (the default excluded), oldest first, bounds read from the catalog."""
    found = []
    for name, bound in connection.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:parent)"
        ),
        {"parent": PARENT},
    ):
        match = _BOUNDS.search(bound)
        if match:
            found.append(Partition(name, date.fromisoformat(match[1]), date.fromisoformat(match[2])))
    return sorted(found, key=lambda p: p.lower)


def _covered(existing: list[Partition], month: date) -> bool:
    return any(p.lower <= month < p.upper for p in existing)


def create_partition(connection: Connection, month: date) -> int:
    """Create the partition of ``month``; rows the default partition holds for it move in first.

    PostgreSQL refuses a new partition whose range the default already holds rows for, so those are
    moved into a plain table that is then attached. Returns how many rows moved.
    """
    name, upper = partition_name(month), add_months(month, 1)
    bounds = f"FROM ('{month.isoformat()}') TO ('{upper.isoformat()}')"
    waiting = connection.execute(
        text(f"SELECT count(*) FROM {DEFAULT_PARTITION} WHERE record_month >= :lo AND record_month < :hi"),
        {"lo": month, "hi": upper},
    ).scalar_one()
    if not waiting:
        connection.execute(text(f"CREATE TABLE {name} PARTITION OF {PARENT} FOR VALUES {bounds}"))
        return 0
    connection.execute(text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    columns = connection.execute(_COLUMNS_SQL, {"parent": PARENT}).scalar_one()
    moved = connection.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE record_month >= :lo "
            f"AND record_month < :hi RETURNING {columns}) "
            f"INSERT INTO {name} ({columns}) SELECT {columns} FROM moved"
        ),
        {"lo": month, "hi": upper},
    ).rowcount
    connection.execute(text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES {bounds}"))
    return int(moved)


def create_partition_as_definer(connection: Connection, month: date) -> int:
    """create_partition for a role without DDL rights (the functions' DATABASE_APP_ROLE): the same
    work in landing_journal_create_partition, a SECURITY DEFINER function of revision 0008."""
    moved = connection.execute(
        text("SELECT landing_journal_create_partition(:month)"), {"month": month}
    ).scalar_one()
    return int(moved)


def ensure_partitions(
    connection: Connection,
    now: datetime,
    *,
    ahead: int = MONTHS_AHEAD,
    keep_from: date | None = None,
    as_definer: bool = False,
) -> Maintenance:
    """Partitions for this month and ``ahead`` more, and for any month the default partition holds
    rows of (from ``keep_from`` on: months retention has already given up are not recreated).

    The migrations own the schema and create partitions themselves; the scheduled pass passes
    ``as_definer`` and goes through the SECURITY DEFINER function."""
    create = create_partition_as_definer if as_definer else create_partition
    result = Maintenance()
    existing = partitions(connection)
    current = month_start(now)
    wanted = {add_months(current, n) for n in range(ahead + 1)}
    wanted |= {
        month_start(month)
        for (month,) in connection.execute(text(f"SELECT DISTINCT record_month FROM {DEFAULT_PARTITION}"))
    }
    for month in sorted(wanted):
        if _covered(existing, month) or (keep_from is not None and add_months(month, 1) <= keep_from):
            continue
        result.moved_from_default += create(connection, month)
        result.partitions_created.append(partition_name(month))
        existing.append(Partition(partition_name(month), month, add_months(month, 1)))
    return result


def retention_cutoff(now: datetime, retention_days: int | None) -> datetime | None:
    return None if retention_days is None else now - timedelta(days=retention_days)


def drop_expired(connection: Connection, cutoff: datetime) -> Maintenance:
    """Detach and drop every partition whose whole range ends at or before ``cutoff``.

    A partition's rows all have record_timestamp before its upper bound (the record_month check
    ties the two), so a partition ending by the cutoff has no unexpired row; it is still checked,
    so a row that somehow says otherwise keeps its partition. Rows in the default partition older
    than the cutoff are deleted (the default is small by design). ``objects`` is never touched.
    """
    result = Maintenance()
    for partition in partitions(connection):
        if datetime.combine(partition.upper, datetime.min.time(), tzinfo=UTC) > cutoff:
            break
        # landing_journal_drop_partition (SECURITY DEFINER, revision 0008) checks the bound and the
        # rows again, then detaches and drops: the functions' role holds no DDL right of its own.
        dropped = connection.execute(
            text("SELECT landing_journal_drop_partition(:name, :cutoff)"),
            {"name": partition.name, "cutoff": cutoff},
        ).scalar_one()
        if dropped:
            result.partitions_dropped.append(partition.name)
    # landing_journal_expire_default (SECURITY DEFINER, revision 0009): the functions' role may not
    # delete journal rows itself (the journal is append-only by grant, landing.db.roles).
    expired = connection.execute(
        text("SELECT landing_journal_expire_default(:cutoff)"), {"cutoff": cutoff}
    ).scalar_one()
    result.expired_from_default = int(expired)
    return result


def maintain(connection: Connection, now: datetime, retention_days: int | None) -> Maintenance:
    """The scheduled pass's journal work: count what arrived in the default partition since the last
    pass (events outside every monthly partition: a clock far off, a late event for a dropped
    month), drop what retention expired, then create the months due and those the default holds."""
    found = connection.execute(text(f"SELECT count(*) FROM {DEFAULT_PARTITION}")).scalar_one()
    cutoff = retention_cutoff(now, retention_days)
    result = Maintenance()
    if cutoff is not None:
        result = drop_expired(connection, cutoff)
    keep_from = month_start(cutoff) if cutoff is not None else None
    created = ensure_partitions(connection, now, keep_from=keep_from, as_definer=True)
    result.partitions_created, result.moved_from_default = (
        created.partitions_created,
        created.moved_from_default,
    )
    result.default_rows = int(found)
    return result
