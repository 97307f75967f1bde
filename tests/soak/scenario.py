"""The soak's S3 history: seeded operations on a versioned bucket, what S3 answers at any point of it,
and what the catalog must hold at the end (the model), computed from the operations alone."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import quote_plus

BUCKET = "soak-bucket"
PUT, MARKER, REMOVE = 0, 1, 2  # a new version; a delete marker; one version removed for good
NEVER = 2**31 - 1
T0 = datetime(2026, 11, 20, tzinfo=UTC)
# 3 s between operations: a million of them span five weeks, so the journal crosses month partitions.
STEP = timedelta(seconds=3)
CONTENT_TYPES = (
    "text/csv",
    "application/pdf",
    "image/png",
    "application/octet-stream",
    "text/plain; charset=utf-8",
)
# Delivery paths of one event. S3 notification or EventBridge event; through the queue or invoked directly.
SQS_S3, DIRECT_S3, SQS_EB, DIRECT_EB = 0, 1, 2, 3
PATH_NAMES = ("sqs:s3", "direct:s3", "sqs:eventbridge", "direct:eventbridge")


@dataclass(frozen=True)
class Mix:
    """How the history and its deliveries are drawn (the defaults are the documented soak mix)."""

    hot_keys: int = 16
    hot_share: float = 0.25  # operations on a few hot keys
    new_key_share: float = 0.35  # operations on a key never seen (the rest revisit a cold key)
    direct_share: float = 0.05  # S3 notifications invoked directly instead of through the queue
    duplicate_share: float = 0.10  # a second copy of the same delivery (at-least-once)
    eventbridge_share: float = 0.15  # the same event also arrives through EventBridge
    eventbridge_direct: float = 0.3  # of those, a rule invoking the function (the rest: a rule to the queue)
    window: int = 200  # deliveries are reordered within this many operations
    poison_sqs: int = 6
    poison_direct: int = 2


def version_id(op: int) -> str:
    """An opaque S3-like version id that still names its operation (the first 9 characters)."""
    tail = base64.urlsafe_b64encode(hashlib.blake2b(op.to_bytes(8, "big"), digest_size=18).digest())
    return f"{op:09d}.{tail.decode()}"


def op_of_version(value: str) -> int | None:
    head = value[:9]
    return int(head) if len(value) > 10 and head.isdigit() and value[9] == "." else None


def normalised(sequencer: str) -> str:
    """AWS's rule, restated here on purpose: upper-case, right-pad with zeros, compare as strings."""
    return sequencer.upper().ljust(32, "0")


@dataclass(frozen=True)
class Version:
    """What S3 holds for one object version (fixed for ever once written)."""

    e_tag: str
    size: int
    content_type: str
    storage_class: str
    user_metadata: dict[str, str]
    checksum: str | None  # CRC32, base64
    last_modified: datetime


@dataclass
class Scenario:
    events: int
    seed: int
    mix: Mix
    key_names: list[str] = field(default_factory=list)
    key_of: array = field(default_factory=lambda: array("i"))
    kind: array = field(default_factory=lambda: array("b"))
    target: array = field(default_factory=lambda: array("i"))  # REMOVE: the op whose version goes
    current_after: array = field(default_factory=lambda: array("i"))  # live version after op, or -1
    removed_at: array = field(default_factory=lambda: array("i"))  # op that removed this version
    ops_of_key: list[array] = field(default_factory=list)
    flavour: array = field(default_factory=lambda: array("b"))  # event-name variant, trailing zeros

    # -- the history ---------------------------------------------------------------------------
    @classmethod
    def generate(cls, events: int, seed: int = 28, mix: Mix | None = None) -> Scenario:
        mix = mix or Mix()
        rng = random.Random(seed)
        s = cls(events, seed, mix)
        versions: list[list[int]] = []  # per key: versions S3 holds (object versions and markers)
        for k in range(mix.hot_keys):
            s._new_key(f"hot/report {k} (été)+final.csv", versions)
        for op in range(events):
            r = rng.random()
            if r < mix.hot_share:
                key = rng.randrange(mix.hot_keys)
            elif r < mix.hot_share + mix.new_key_share or len(s.key_names) == mix.hot_keys:
                n = len(s.key_names)
                key = s._new_key(f"cold/{n % 997:03d}/obj {n}{'+日本' if n % 7 == 0 else ''}.bin", versions)
            else:
                key = rng.randrange(mix.hot_keys, len(s.key_names))
            held = versions[key]
            r = rng.random()
            if not held:
                kind = PUT if r < 0.9 else MARKER
            else:
                kind = PUT if r < 0.6 else MARKER if r < 0.8 else REMOVE
            target = -1
            if kind in (PUT, MARKER):
                held.append(op)
            else:
                target = held[-1] if rng.random() < 0.5 else rng.choice(held)
                held.remove(target)
                s.removed_at[target] = op
            s.key_of.append(key)
            s.kind.append(kind)
            s.target.append(target)
            s.removed_at.append(NEVER)
            s.current_after.append(held[-1] if held and s.kind[held[-1]] == PUT else -1)
            s.ops_of_key[key].append(op)
            s.flavour.append(rng.randrange(100))
        return s

    def _new_key(self, name: str, versions: list[list[int]]) -> int:
        self.key_names.append(name)
        self.ops_of_key.append(array("i"))
        versions.append([])
        return len(self.key_names) - 1

    # -- what S3 says about an operation ------------------------------------------------------------
    def sequencer(self, op: int) -> str:
        raw = f"{0x0A1B2C3D4E000000 + op * 4096:016X}"
        flavour = self.flavour[op]
        if flavour % 3 == 0:
            raw = raw.rstrip("0") or "0"  # S3's sequencers vary in length: padding makes them compare
        return raw.lower() if flavour % 5 == 0 else raw

    def event_time(self, op: int) -> datetime:
        return T0 + op * STEP

    def version(self, op: int) -> Version:
        digest = hashlib.blake2b(f"{self.seed}/{op}".encode(), digest_size=16).digest()
        checksum = base64.b64encode(digest[8:12]).decode() if digest[7] % 3 == 0 else None
        return Version(
            e_tag=digest.hex(),
            size=int.from_bytes(digest[:4], "big") % 50_000_000,
            content_type=CONTENT_TYPES[digest[4] % len(CONTENT_TYPES)],
            storage_class="STANDARD" if digest[5] < 220 else "STANDARD_IA",
            user_metadata={"origin": "soak", "op": str(op)} if digest[6] % 2 else {},
            checksum=checksum,
            # HTTP dates have whole seconds.
            last_modified=self.event_time(op).replace(microsecond=0),
        )

    def event_name(self, op: int) -> str:
        kind = self.kind[op]
        if kind == MARKER:
            return "ObjectRemoved:DeleteMarkerCreated"
        if kind == REMOVE:
            return "ObjectRemoved:Delete"
        flavour = self.flavour[op]
        return (
            "ObjectCreated:CompleteMultipartUpload"
            if flavour < 10
            else ("ObjectCreated:Copy" if flavour < 20 else "ObjectCreated:Put")
        )

    def event_version(self, op: int) -> str:
        return version_id(self.target[op] if self.kind[op] == REMOVE else op)

    def s3_record(self, op: int) -> dict[str, Any]:
        """One record shaped like S3's notification (event message structure 2.1)."""
        key = self.key_names[self.key_of[op]]
        obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "versionId": self.event_version(op)}
        if self.kind[op] == PUT:
            v = self.version(op)
            obj.update(size=v.size, eTag=v.e_tag)
        obj["sequencer"] = self.sequencer(op)
        return {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": self.event_time(op).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "eventName": self.event_name(op),
            "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "203.0.113.9"},
            "responseElements": {"x-amz-request-id": f"SOAK{op:012X}", "x-amz-id-2": "soak/id2"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "landing-ingest",
                "bucket": {
                    "name": BUCKET,
                    "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                    "arn": f"arn:aws:s3:::{BUCKET}",
                },
                "object": obj,
            },
        }

    def eventbridge(self, op: int) -> dict[str, Any]:
        """The same event as EventBridge delivers it ("Object Created" / "Object Deleted")."""
        key = self.key_names[self.key_of[op]]
        kind = self.kind[op]
        obj: dict[str, Any] = {
            "key": quote_plus(key, safe="/"),
            "version-id": self.event_version(op),
            "sequencer": self.sequencer(op),
        }
        detail: dict[str, Any] = {
            "version": "0",
            "bucket": {"name": BUCKET},
            "object": obj,
            "request-id": f"SOAK{op:012X}",
            "requester": "123456789012",
            "source-ip-address": "203.0.113.9",
        }
        if kind == PUT:
            v = self.version(op)
            obj.update(size=v.size, etag=v.e_tag)
            detail["reason"] = "PutObject"
        else:
            detail["reason"] = "DeleteObject"
            detail["deletion-type"] = "Delete Marker Created" if kind == MARKER else "Permanently Deleted"
        return {
            "version": "0",
            "id": f"00000000-0000-4000-8000-{op:012d}",
            "detail-type": "Object Created" if kind == PUT else "Object Deleted",
            "source": "aws.s3",
            "account": "123456789012",
            "time": self.event_time(op).isoformat().replace("+00:00", "Z"),
            "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{BUCKET}"],
            "detail": detail,
        }

    def payload(self, op: int, path: int) -> str:
        if path in (SQS_EB, DIRECT_EB):
            return json.dumps(self.eventbridge(op))
        return json.dumps({"Records": [self.s3_record(op)]})

    # -- S3 at a point of the history (what HeadObject answers) -------------------------------------
    def head(self, key: str, version: str | None, clock: int) -> tuple[int, Version] | None:
        """(op of the version, its data) that HeadObject returns once operations 0..clock happened;
        None for a 404 (no such version, or a delete marker / nothing is current)."""
        k = self.key_index(key)
        if k is None:
            return None
        if version is not None:
            op = op_of_version(version)
            if op is None or op > clock or self.key_of[op] != k or self.kind[op] != PUT:
                return None
            return (op, self.version(op)) if self.removed_at[op] > clock else None
        ops = self.ops_of_key[k]
        i = bisect_right(ops, clock)
        if i == 0:
            return None
        current = self.current_after[ops[i - 1]]
        return (current, self.version(current)) if current >= 0 else None

    def key_index(self, key: str) -> int | None:
        index = getattr(self, "_index", None)
        if index is None:
            index = {name: k for k, name in enumerate(self.key_names)}
            self._index = index
        return index.get(key)

    # -- the model: what the catalog must hold at the end ---------------------------------------------
    def expected_objects(self) -> dict[str, dict[str, Any]]:
        """Per key, the objects row: the newest event decides, with what S3 holds at the end."""
        rows: dict[str, dict[str, Any]] = {}
        for k, ops in enumerate(self.ops_of_key):
            if not ops:
                continue
            last = ops[-1]
            kind = self.kind[last]
            live = last if kind == PUT else self.current_after[last] if kind == REMOVE else -1
            row: dict[str, Any] = {"sequence_number": normalised(self.sequencer(last))}
            if live >= 0:
                v = self.version(live)
                row.update(
                    version_id=version_id(live),
                    is_deleted=False,
                    size=v.size,
                    e_tag=v.e_tag,
                    content_type=v.content_type,
                    storage_class=v.storage_class,
                    user_metadata=v.user_metadata,
                    checksum_algorithm="CRC32" if v.checksum else None,
                    last_modified_date=v.last_modified,
                    deleted_at=None,
                )
            else:
                row.update(
                    version_id=version_id(last) if kind == MARKER else None,
                    is_deleted=True,
                    size=None,
                    e_tag=None,
                    content_type=None,
                    storage_class=None,
                    user_metadata=None,
                    checksum_algorithm=None,
                    last_modified_date=None,
                    deleted_at=self.event_time(last),
                )
            rows[self.key_names[k]] = row
        return rows

    def expected_journal(self) -> set[tuple[str, str, str]]:
        """One identity per distinct event: (key, normalised sequencer, CREATE|DELETE)."""
        return {
            (
                self.key_names[self.key_of[op]],
                normalised(self.sequencer(op)),
                "CREATE" if self.kind[op] == PUT else "DELETE",
            )
            for op in range(self.events)
        }


class Delivery(NamedTuple):
    slot: float
    op: int  # -1: a poison message
    path: int
    poison: str | None = None


POISON_BODIES = (
    "this is not JSON",
    "{}",
    "[]",
    '{"Records": "not a list"}',
    json.dumps(
        {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "eventTime": "2026-11-20T00:00:00.000Z",
                    "s3": {"bucket": {"name": BUCKET}, "object": {"key": "bad%zzescape"}},
                }
            ]
        }
    ),
    json.dumps(
        {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "eventTime": "2026-11-20T00:00:00.000Z",
                    "s3": {
                        "bucket": {"name": BUCKET},
                        "object": {"key": "poison/long-sequencer", "sequencer": "F" * 40},
                    },
                }
            ]
        }
    ),
)


def deliveries(s: Scenario) -> list[Delivery]:
    """Every delivery in the order it is sent: reordered within the window, duplicated, doubled through
    EventBridge, and the poison messages spread over the first third of the run."""
    mix = s.mix
    rng = random.Random(s.seed + 1)
    out: list[Delivery] = []
    for op in range(s.events):
        primary = DIRECT_S3 if rng.random() < mix.direct_share else SQS_S3
        out.append(Delivery(op + rng.random() * mix.window, op, primary))
        if rng.random() < mix.duplicate_share:
            out.append(Delivery(op + rng.random() * mix.window * 2, op, primary))
        if rng.random() < mix.eventbridge_share:
            path = DIRECT_EB if rng.random() < mix.eventbridge_direct else SQS_EB
            out.append(Delivery(op + rng.random() * mix.window, op, path))
    third = max(s.events // 3, 1)
    for n in range(mix.poison_sqs):
        out.append(Delivery(rng.random() * third, -1, SQS_S3, POISON_BODIES[n % len(POISON_BODIES)]))
    for n in range(mix.poison_direct):
        out.append(
            Delivery(rng.random() * third, -1, DIRECT_S3, json.dumps({"poison": n, "detail": "not an event"}))
        )
    out.sort(key=lambda d: d.slot)
    return out
