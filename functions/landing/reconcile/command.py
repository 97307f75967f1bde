"""`landing reconcile`: one full pass over a bucket, progress while it runs, a summary at the end."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from landing.errors import RetryableS3Error
from landing.reconcile import run, sources
from landing.reconcile.run import Batch, Totals

# Progress lines at most this often (plus the last one), however fast batches go by.
PROGRESS_EVERY_S = 1.0
VERBS = {"insert": "would insert", "update": "would update", "delete": "would delete"}


class Progress:
    """Prints scanned / repaired / rate to ``err``; in a dry run, each planned repair to ``out``."""

    def __init__(self, out: TextIO, err: TextIO, dry_run: bool) -> None:
        self.out, self.err, self.dry_run = out, err, dry_run
        self.last = 0.0
        # Every key up to here is reconciled (its batch committed): where a rerun may start.
        self.resume_after: str | None = None

    def __call__(self, batch: Batch, totals: Totals) -> None:
        self.resume_after = batch.upper
        if self.dry_run:
            for planned in batch.comparison.planned:
                print(f"{VERBS[planned.action]} {planned.key}: {planned.reason}", file=self.out)
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S or batch.upper is None:
            self.last = now
            repaired = totals.planned if self.dry_run else totals.repaired
            label = "to repair" if self.dry_run else "repaired"
            print(
                f"scanned {totals.scanned}  {label} {repaired}  {totals.per_second:.0f}/s",
                file=self.err,
                flush=True,
            )


def summary(bucket: str, prefix: str, totals: Totals, source: str, dry_run: bool) -> str:
    elapsed = time.monotonic() - totals.started
    lines = [
        f"reconcile s3://{bucket}/{prefix}{' (dry run: nothing written)' if dry_run else ''}",
        f"  listed       {totals.scanned} objects {source} in {elapsed:.1f} s "
        f"({totals.per_second:.0f}/s); {totals.rows} catalog rows compared",
    ]
    if dry_run:
        lines.append(f"  to repair    {totals.planned}")
    else:
        lines += [
            f"  inserted     {totals.inserted} (missing from the catalog)",
            f"  updated      {totals.updated} (changed in S3, or deleted in the catalog)",
            f"  deleted      {totals.deleted} (no longer in S3)",
            f"  without HeadObject details: {totals.unenriched} (recorded from the listing alone)",
        ]
    lines.append(f"  left alone   {totals.left_alone} (written by live events during the run)")
    return "\n".join(lines)


def main(
    bucket: str | None,
    prefix: str = "",
    *,
    dry_run: bool = False,
    page_size: int = 1000,
    inventory: str | None = None,
    after: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the pass; 0 when it completed, 1 when S3 or the database failed, 2 for bad arguments.

    ``inventory`` (s3://.../manifest.json) compares an S3 Inventory report instead of listing the
    bucket; ``after`` resumes a stopped run after that key (the stop message prints it).
    """
    from botocore.exceptions import BotoCoreError, ClientError
    from sqlalchemy.exc import SQLAlchemyError

    from landing.settings import get_settings

    out = out or sys.stdout
    err = err or sys.stderr
    progress = Progress(out, err, dry_run)
    try:
        if inventory:
            source = sources.inventory_source(inventory, prefix)
            if bucket and bucket != source.bucket:
                raise ValueError(f"{inventory} is an inventory of {source.bucket}, not {bucket}")
            bucket = source.bucket
        bucket = bucket or get_settings().bucket_name
        if not bucket:
            print("landing reconcile: --bucket is required (or set BUCKET_NAME)", file=err)
            return 2
        if not inventory:
            source = sources.listing_source(bucket, prefix)
        outcome = run.run(
            bucket,
            prefix,
            dry_run=dry_run,
            page_size=page_size,
            after_key=after,
            on_batch=progress,
            source=source,
        )
    except ValueError as error:
        print(f"landing reconcile: {error}", file=err)
        return 2
    except (ClientError, BotoCoreError, SQLAlchemyError, RetryableS3Error) as error:
        # Repairs committed so far stay: each batch is its own transaction, and a rerun skips them.
        print(f"landing reconcile: stopped: {error}", file=err)
        if progress.resume_after:
            print(f"  resume with --after {progress.resume_after!r}", file=err)
        return 1
    print(summary(bucket, prefix, outcome.totals, source.description, dry_run), file=out)
    return 0
