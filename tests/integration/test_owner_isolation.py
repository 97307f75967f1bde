"""Owners are isolated whatever their `sub`: adversarial subs built from a victim's key see nothing of it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from landing.db import engine as db
from landing.s3 import clients
from landing.uploads.keys import owner_segment
from tests.conftest import rows
from tests.support.api import Api

TEXT = {"filename": "notes.txt", "content_type": "text/plain", "size": 12}
VICTIMS = ["alice", "auth0|victim"]


@pytest.fixture
def api_s3(s3, clean_db):
    clients.reset()
    yield s3
    clients.reset()


def victim_upload(victim: str) -> dict[str, str]:
    """The victim's upload, decided, with its object in the catalog (linked as ingest links it)."""
    status, created = Api(victim).create(**TEXT)
    assert status == 201, created
    with db.require_engine().begin() as conn:
        conn.execute(
            text(
                "INSERT INTO objects (bucket, key, sequence_number, size, is_deleted, upload_id) "
                "VALUES ('example-bucket', :key, '01', 12, false, :id)"
            ),
            {"key": created["key"], "id": uuid.UUID(created["id"])},
        )
        conn.execute(
            text("UPDATE uploads SET status = 'uploaded' WHERE id = :id"), {"id": uuid.UUID(created["id"])}
        )
    return created


def adversarial_subs(victim: str, key: str) -> list[str]:
    """Every path segment of the victim's key, every run of segments, and look-alikes of its owner."""
    segments = key.split("/")
    runs = ["/".join(segments[i:j]) for i in range(len(segments)) for j in range(i + 1, len(segments) + 1)]
    digest = "h-" + owner_segment(victim).removeprefix("h-")
    return [
        *runs,
        key + "/",
        "/" + key,
        digest,
        digest.upper(),
        f"{victim}/",
        f" {victim}",
        f"{victim}\u2028",
    ]


@pytest.mark.parametrize("victim", VICTIMS)
def test_no_sub_derived_from_a_victims_key_reaches_the_victims_uploads_or_objects(api_s3, victim):
    created = victim_upload(victim)
    area = "/".join(created["key"].split("/")[:2]) + "/"
    attackers = [sub for sub in adversarial_subs(victim, created["key"]) if sub != victim]
    if owner_segment(victim) != victim:
        assert owner_segment(victim) in attackers  # the exploit: a sub equal to the victim's folder

    for sub in attackers:
        attacker = Api(sub)
        status, own = attacker.create(**TEXT)
        assert status == 201, (sub, own)
        assert not own["key"].startswith(area), sub
        listed = attacker.call("GET", "/objects")[1]["objects"]
        assert [o["key"] for o in listed] == [], sub
        assert attacker.call("GET", "/objects", query={"prefix": area})[1]["objects"] == [], sub
        assert created["id"] not in [u["id"] for u in attacker.call("GET", "/uploads")[1]["uploads"]], sub
        assert attacker.get(created["id"])[0] == 404, sub
        assert attacker.call("DELETE", f"/uploads/{created['id']}", route="/uploads/<upload_id>")[0] == 404, (
            sub
        )

    (victim_row,) = rows("SELECT owner, status FROM uploads WHERE id = :id", id=uuid.UUID(created["id"]))
    assert victim_row == {"owner": victim, "status": "uploaded"}
    assert [o["key"] for o in Api(victim).call("GET", "/objects")[1]["objects"]] == [created["key"]]


def test_an_object_under_an_owners_folder_without_their_upload_is_not_theirs(api_s3):
    """Listing follows ownership recorded in the database, not the look of a key."""
    with db.require_engine().begin() as conn:
        conn.execute(
            text(
                "INSERT INTO objects (bucket, key, sequence_number, size, is_deleted) "
                "VALUES ('example-bucket', 'uploads/alice/planted/file.txt', '01', 1, false)"
            )
        )
    assert Api("alice").call("GET", "/objects")[1]["objects"] == []


def test_another_owners_upload_whose_key_lies_in_the_callers_folder_is_not_theirs(api_s3):
    """The upload row's owner decides, not the folder its key is in (a legacy row, a segment collision)."""
    mine = victim_upload("alice")
    theirs = victim_upload("bob")
    moved = f"uploads/alice/{theirs['id']}/notes.txt"
    with db.require_engine().begin() as conn:
        for table, column in (("objects", "key"), ("uploads", "key")):
            conn.execute(
                text(f"UPDATE {table} SET {column} = :moved WHERE key = :key"),
                {"moved": moved, "key": theirs["key"]},
            )

    status, page, _ = Api("alice").call("GET", "/objects")

    assert status == 200
    assert [o["key"] for o in page["objects"]] == [mine["key"]]
    assert [o["key"] for o in Api("bob").call("GET", "/objects")[1]["objects"]] == []  # out of bob's folder


@pytest.mark.parametrize("sub", ["h-0123456789abcdef0123456789abcdef01234567", "h-x", "h-"])
def test_a_sub_shaped_like_a_digest_is_digested_itself(sub):
    assert owner_segment(sub) != sub and owner_segment(sub).startswith("h-")


def test_distinct_subs_get_distinct_segments():
    subs = ["alice", "Alice", "auth0|alice", "h-alice", "alice.", "-alice", "a" * 128, "a" * 129]
    assert len({owner_segment(sub) for sub in subs}) == len(subs)


@pytest.mark.parametrize("sub", ["alice\x00", "alice\r\nadmin", "a" * 2049])
def test_an_identity_the_database_cannot_hold_exactly_is_refused_not_a_500(api_s3, sub):
    status, body = Api(sub).create(**TEXT)
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert rows("SELECT id FROM uploads") == []
