"""Reconcile beside live ingestion: a newer event that lands while it runs is never overwritten."""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable, Iterator

import boto3
import pytest
from sqlalchemy import text

from landing.db import engine as db
from landing.handlers.ingest import handler as ingest
from landing.lambda_context import local_context
from landing.reconcile import compare as reconcile
from landing.reconcile import run as reconcile_run
from landing.s3 import listing
from tests.conftest import rows
from tests.support.events import delete_record, s3_event, s3_record

BUCKET = "example-bucket"


@pytest.fixture(autouse=True)
def _clean(clean_db: None, s3) -> Iterator[None]:
    with db.require_engine().begin() as conn:
        conn.execute(text("TRUNCATE reconcile_state"))
    yield


class Live:
    """A client writing to S3 and delivering each write's event to the ingest handler at once."""

    def __init__(self) -> None:
        self.s3 = boto3.client("s3", region_name="us-east-1")
        self.sequencers = itertools.count(0x0055AED6DCD9028100)
        self.context = local_context("IngestFunction")

    def put(self, key: str, body: bytes) -> str:
        etag = self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)["ETag"].strip('"')
        self.deliver_create(key, etag, len(body))
        return etag

    def deliver_create(self, key: str, etag: str, size: int) -> None:
        sequencer = f"{next(self.sequencers):018X}"
        ingest(s3_event(s3_record(key, sequencer=sequencer, etag=etag, size=size)), self.context)

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=BUCKET, Key=key)
        ingest(s3_event(delete_record(key, f"{next(self.sequencers):018X}")), self.context)


def catalog() -> dict[str, tuple[bool, str | None]]:
    return {
        r["key"]: (r["is_deleted"], r["e_tag"]) for r in rows("SELECT key, is_deleted, e_tag FROM objects")
    }


def truth(s3) -> dict[str, str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return {o["Key"]: o["ETag"].strip('"') for page in pages for o in page.get("Contents", [])}


def assert_catalog_is_s3(s3) -> None:
    present = {key: etag for key, (deleted, etag) in catalog().items() if not deleted}
    assert present == truth(s3)


def after_each_page(monkeypatch: pytest.MonkeyPatch, action: Callable[[int], None]) -> None:
    """Run ``action(page_number)`` right after each listing page is taken, before it is compared."""
    original = listing.pages

    def pages(*args, **kwargs) -> Iterator[listing.Page]:
        for number, page in enumerate(original(*args, **kwargs)):
            action(number)
            yield page

    monkeypatch.setattr(listing, "pages", pages)


def test_events_landing_between_listing_and_comparison_are_left_alone(s3, monkeypatch):
    live = Live()
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"a")  # its event is lost
    live.put("c.txt", b"c1")
    s3.put_object(Bucket=BUCKET, Key="c.txt", Body=b"c2")  # this overwrite's event is lost

    def meanwhile(page: int) -> None:
        if page == 0:
            live.delete("a.txt")  # listed as present; the live DELETE is newer
            live.put("b.txt", b"b")  # not listed; the live create must survive the comparison
            live.put("c.txt", b"c3")  # listed as c2; the live c3 is newer

    after_each_page(monkeypatch, meanwhile)
    outcome = reconcile_run.run(BUCKET, page_size=1000)

    assert outcome.totals.left_alone == 3
    assert outcome.totals.repaired == 0
    assert catalog()["a.txt"][0] is True
    assert_catalog_is_s3(s3)
    assert rows("SELECT count(*) AS n FROM object_events WHERE source = 'reconcile'")[0]["n"] == 0


def test_events_landing_between_comparison_and_write_are_left_alone(s3, monkeypatch):
    live = Live()
    x_etag = s3.put_object(Bucket=BUCKET, Key="x.txt", Body=b"x")["ETag"].strip('"')  # event delayed
    live.put("y.txt", b"y1")
    y_etag = s3.put_object(Bucket=BUCKET, Key="y.txt", Body=b"y2")["ETag"].strip('"')  # event delayed
    live.put("z.txt", b"z1")
    s3.delete_object(Bucket=BUCKET, Key="z.txt")  # event lost
    original = reconcile.head_creates

    def head_then_deliver(bucket, planned):
        heads = original(bucket, planned)
        # After the rows were read and compared, before the repairs are written:
        live.deliver_create("x.txt", x_etag, 1)  # the delayed event for the listed object arrives
        live.deliver_create("y.txt", y_etag, 2)
        live.put("z.txt", b"z2")  # a live create racing the reconcile's delete
        return heads

    monkeypatch.setattr(reconcile, "head_creates", head_then_deliver)
    outcome = reconcile_run.run(BUCKET, page_size=1000)

    assert outcome.totals.planned == 3
    assert outcome.totals.repaired == 0
    assert outcome.totals.left_alone == 3
    assert_catalog_is_s3(s3)
    # Every row holds the live event's real sequencer, not a reconcile-derived one.
    sequences = {r["key"]: r["sequence_number"] for r in rows("SELECT key, sequence_number FROM objects")}
    assert all(seq.startswith("0055AED6DCD90281") for seq in sequences.values())
    assert rows("SELECT count(*) AS n FROM object_events WHERE source = 'reconcile'")[0]["n"] == 0


def test_reconcile_racing_a_stream_of_live_writes_converges_to_s3(s3, monkeypatch):
    """Live writes on a writer thread, between and during pages; the catalog ends equal to S3."""
    keys = [f"race/{i:03d}.txt" for i in range(60)]
    rnd = random.Random(11)
    for key in keys[::2]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())  # events lost
    live = Live()
    for key in keys[1::3]:
        live.put(key, b"delivered")
    stop = threading.Event()
    errors: list[BaseException] = []
    written = threading.Condition()
    writes = [0]

    def writer() -> None:
        try:
            while not stop.is_set():
                key = rnd.choice(keys)
                if rnd.random() < 0.3:
                    live.delete(key)
                else:
                    live.put(key, rnd.randbytes(rnd.randint(1, 9)))
                with written:
                    writes[0] += 1
                    written.notify_all()
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    # Proof that it raced: after each batch (the one moment the run holds no pooled connection, so
    # the writer can get one), wait until the writer has committed another write. Left to the
    # scheduler alone, a busy machine could run the whole reconcile before the writer's first write.
    landed: list[int] = []
    since = [0]

    def a_write_lands(batch: object, totals: object) -> None:
        with written:
            written.wait_for(lambda: writes[0] > since[0] or bool(errors), timeout=10)
            landed.append(writes[0] - since[0])
            since[0] = writes[0]

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        first = reconcile_run.run(BUCKET, page_size=4, on_batch=a_write_lands)
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert first.complete
    # Ten or more batches (40-odd objects, 4 a page), and live writes landed between every two.
    assert len(landed) >= 10 and all(n >= 1 for n in landed), landed

    assert_catalog_is_s3(s3)
    # And a quiet rerun finds nothing left to repair.
    assert reconcile_run.run(BUCKET, page_size=4).totals.planned == 0


def test_a_live_write_that_began_before_the_listing_and_committed_after_the_comparison_survives(
    s3, monkeypatch
):
    """The row's updated_at (its transaction's start) predates the listing; only the sequence check
    sees that the row changed after it was compared."""
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from landing.db.engine import build_engine
    from landing.ingest import catalog
    from landing.s3.fields import normalise_sequencer
    from landing.s3.notifications import S3Record
    from landing.settings import get_settings

    live = Live()
    live.put("w.txt", b"w1")
    s3.put_object(Bucket=BUCKET, Key="w.txt", Body=b"w22")  # event lost: reconcile will plan an update
    live_engine = build_engine(get_settings())  # its own pool: the module engine holds one connection
    connection = live_engine.connect()
    transaction = connection.begin()
    connection.execute(text("SELECT 1"))  # the live transaction's now() is fixed here, before the listing
    original = reconcile.head_creates

    def head_then_commit_live(bucket, planned):
        heads = original(bucket, planned)
        now = datetime.now(UTC)
        record = S3Record(
            bucket=BUCKET,
            key="w.txt",
            event_name="ObjectCreated:Put",
            record_type="CREATE",
            event_time=now,
            sequencer=normalise_sequencer("0055AED6DCD9FFFFFF", now),
            version_id=None,
            size=5,
            e_tag="newest",
            request_id=None,
            source="s3",
        )
        with Session(bind=connection) as session:
            catalog.record_events(session, [record])
        transaction.commit()
        return heads

    monkeypatch.setattr(reconcile, "head_creates", head_then_commit_live)
    try:
        outcome = reconcile_run.run(BUCKET, page_size=1000)
    finally:
        connection.close()
        live_engine.dispose()

    assert (outcome.totals.planned, outcome.totals.repaired, outcome.totals.left_alone) == (1, 0, 1)
    (row,) = rows("SELECT e_tag, sequence_number FROM objects")
    assert (row["e_tag"], row["sequence_number"][:18]) == ("newest", "0055AED6DCD9FFFFFF")
