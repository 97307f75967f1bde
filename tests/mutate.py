"""`make mutate`: break each core guard on purpose, in a copy of the package, and check its tests notice.

Each mutation replaces one exact piece of source text in a copy of the packages (the working tree is
never touched), then runs the tests that must catch it with that copy first on PYTHONPATH. A
mutation is "caught" when those tests fail, "missed" when they pass (a gap in the suite), and
"stale" when its text is no longer in the source (the code moved: update the mutation here).

    python -m tests.mutate              every mutation, then a summary; exit 1 unless all caught
    python -m tests.mutate --list       names and what each one breaks
    python -m tests.mutate NAME ...     only these

The chosen tests first run once unmutated (--no-baseline skips that): a failure there would make
every mutation look caught.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The Lambda package and the dev package, copied side by side into one directory put on PYTHONPATH.
PACKAGES = (ROOT / "functions" / "landing", ROOT / "local" / "landing_local")


@dataclass(frozen=True)
class Mutation:
    name: str
    breaks: str
    path: str  # landing/... or landing_local/...
    old: str
    new: str
    tests: tuple[str, ...]
    also: tuple[tuple[str, str], ...] = ()  # more (old, new) edits in the same file, for two-part guards


CATALOG_GUARD = """            where=tuple_(objects.c.sequence_number, objects.c.is_deleted)
            < tuple_(upsert.excluded.sequence_number, upsert.excluded.is_deleted),"""

MUTATIONS = (
    Mutation(
        "fuzz-limit-bare-int",
        "limit parsed with a bare int(): any non-numeric limit is a 500 (the deliberate 500 that the "
        "Schemathesis pass in make test must catch on its own)",
        "landing/uploads/browse.py",
        "    if not LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:\n",
        "    if not 1 <= int(raw) <= MAX_LIMIT:\n",
        ("tests/fuzz/test_schemathesis.py",),
    ),
    Mutation(
        "metadata-update-any-version",
        "a metadata update moves the objects row whatever version it names (a non-current one included)",
        "landing/ingest/metadata.py",
        "                objects.c.version_id.is_not_distinct_from(rows.c.version_id),\n",
        "",
        ("tests/integration/test_metadata_events.py",),
    ),
    Mutation(
        "metadata-update-older-read-wins",
        "a metadata update read from S3 earlier overwrites one read later that committed first",
        "landing/ingest/metadata.py",
        "                newer,\n",
        "",
        ("tests/unit/test_catalog.py",),
    ),
    Mutation(
        "metadata-sequence-from-event-time",
        "a metadata update's journal identity comes from the event time: the same change by notification "
        "(milliseconds) and EventBridge (seconds) is journalled twice",
        "landing/s3/notifications.py",
        "    basis = request_id or event_time.replace(microsecond=0).isoformat()",
        "    basis = event_time.isoformat()",
        ("tests/unit/test_notifications.py", "tests/integration/test_metadata_events.py"),
    ),
    Mutation(
        "upsert-guard-sequencer-only",
        "the objects upsert compares sequencers only: a DELETE no longer wins a tie with an earlier CREATE",
        "landing/ingest/catalog.py",
        CATALOG_GUARD,
        "            where=objects.c.sequence_number < upsert.excluded.sequence_number,",
        (
            "tests/unit/test_catalog.py",
            "tests/integration/test_ordering_ties.py",
            "tests/property/test_ordering.py",
        ),
    ),
    Mutation(
        "upsert-guard-sequencer-or-equal",
        "the objects upsert also overwrites on an equal sequencer: a CREATE tying a tombstone resurrects it",
        "landing/ingest/catalog.py",
        CATALOG_GUARD,
        "            where=objects.c.sequence_number <= upsert.excluded.sequence_number,",
        (
            "tests/unit/test_catalog.py",
            "tests/integration/test_ordering_ties.py",
            "tests/property/test_ordering.py",
        ),
    ),
    Mutation(
        "upsert-guard-removed",
        "the objects upsert overwrites whatever is stored: stale events win",
        "landing/ingest/catalog.py",
        CATALOG_GUARD,
        "",
        ("tests/unit/test_catalog.py", "tests/property/test_ordering.py"),
    ),
    Mutation(
        "soak-upsert-guard-removed",
        "the objects upsert overwrites whatever is stored; only the soak runs, to show it reports mismatches",
        "landing/ingest/catalog.py",
        CATALOG_GUARD,
        "",
        ("tests/soak/test_soak_smoke.py",),
    ),
    Mutation(
        "soak-upsert-guard-inverted",
        "the objects upsert keeps the older event (the sequencer comparison reversed); only the soak runs",
        "landing/ingest/catalog.py",
        CATALOG_GUARD,
        """            where=tuple_(objects.c.sequence_number, objects.c.is_deleted)
            > tuple_(upsert.excluded.sequence_number, upsert.excluded.is_deleted),""",
        ("tests/soak/test_soak_smoke.py",),
    ),
    Mutation(
        "batch-rank-ignores-delete",
        "inside one batch, the newest event per key is chosen by sequencer only (the DELETE tie-break is lost)",
        "landing/ingest/catalog.py",
        '    return (row["sequence_number"], row["is_deleted"])',
        '    return (row["sequence_number"], False)',
        ("tests/unit/test_catalog.py", "tests/property/test_ordering.py"),
    ),
    Mutation(
        "sequencer-not-padded",
        "sequencers are compared as sent, without right-padding to one width",
        "landing/s3/fields.py",
        '    return raw.upper().ljust(SEQUENCER_WIDTH, "0")',
        "    return raw.upper()",
        ("tests/unit/test_catalog.py", "tests/unit/test_notifications.py", "tests/property/test_ordering.py"),
    ),
    Mutation(
        "refused-credentials-kept",
        "a login refused for its credentials no longer invalidates them: the refused IAM token is reused",
        "landing/db/credentials.py",
        "        if is_auth_failure(context.original_exception):\n            source.invalidate()",
        "        if is_auth_failure(context.original_exception):\n            pass",
        ("tests/unit/test_dbauth.py",),
    ),
    Mutation(
        "iam-token-never-invalidated",
        "IamTokenSource.invalidate does nothing: a refused token is served until it is 10 minutes old",
        "landing/db/credentials.py",
        "    def invalidate(self) -> None:\n        with self._lock:\n            self._cached = None",
        "    def invalidate(self) -> None:\n        pass",
        ("tests/unit/test_dbauth.py",),
    ),
    Mutation(
        "collector-not-paused",
        "quiet_imports no longer pauses the garbage collector while a handler's imports load",
        "landing/coldstart.py",
        "    enabled = gc.isenabled()\n    gc.disable()",
        "    enabled = gc.isenabled()",
        ("tests/unit/test_coldstart.py",),
    ),
    Mutation(
        "objects-owner-unscoped",
        "GET /objects takes the caller's prefix as given and no longer joins the caller's own uploads",
        "landing/uploads/browse.py",
        "    if prefix.startswith(area):\n        area = prefix\n    elif not area.startswith(prefix):\n"
        '        return {"objects": [], "next_cursor": None}',
        "    if prefix:\n        area = prefix",
        ("tests/hostile/test_api_corpus.py",),
        also=(("            Upload.owner == owner,\n", ""),),
    ),
    Mutation(
        "objects-owner-join-removed",
        "GET /objects lists any upload's object under the caller's prefix, whoever announced it",
        "landing/uploads/browse.py",
        "            Upload.owner == owner,\n",
        "",
        ("tests/integration/test_owner_isolation.py",),
    ),
    Mutation(
        "upload-grace-ignored",
        "pending uploads expire as soon as their presigned request does (UPLOAD_GRACE ignored)",
        "landing/uploads/expiry.py",
        "    return now - timedelta(seconds=get_settings().upload_grace_s)",
        "    return now",
        ("tests/integration/test_uploads_lifecycle.py",),
    ),
    Mutation(
        "upload-grace-inclusive",
        "an upload exactly at expiry + grace counts as due (the boundary moves by one tick)",
        "landing/uploads/expiry.py",
        '    return (uploads.c.status == "pending") & (uploads.c.expires_at < _due_before(now))',
        '    return (uploads.c.status == "pending") & (uploads.c.expires_at <= _due_before(now))',
        ("tests/integration/test_uploads_lifecycle.py",),
    ),
    Mutation(
        "expiry-overrides-decided-uploads",
        "the expiry pass expires any upload past its grace, even one ingest already decided",
        "landing/uploads/expiry.py",
        '    return (uploads.c.status == "pending") & (uploads.c.expires_at < _due_before(now))',
        "    return uploads.c.expires_at < _due_before(now)",
        ("tests/integration/test_uploads_lifecycle.py",),
    ),
    Mutation(
        "records-written-counts-received",
        "the RecordsWritten metric counts every record received, duplicates included",
        "landing/ingest/batch.py",
        "        RecordsWritten=result.journalled,",
        "        RecordsWritten=result.received,",
        ("tests/integration/test_metrics.py",),
    ),
    Mutation(
        "failed-messages-not-counted",
        "an SQS batch with failed messages emits no Failures metric",
        "landing/ingest/batch.py",
        '        **({"Failures": failed} if failed else {}),\n',
        "",
        ("tests/integration/test_metrics.py",),
    ),
    Mutation(
        "reconcile-overwrites-changed-rows",
        "reconcile repairs a row even when a live event changed it after the listing",
        "landing/reconcile/repairs.py",
        '        objects.c.updated_at < bindparam("listed_at", type_=DateTime(timezone=True)),\n',
        "",
        (
            "tests/integration/test_reconcile_race.py",
            "tests/unit/test_reconcile.py",
            "tests/integration/test_reconcile.py",
        ),
    ),
    Mutation(
        "statement-floor-removed",
        "the per-invocation lock/statement timeout may fall below the 2 s floor",
        "landing/db/uow.py",
        "    return max(budget, settings.min_statement_timeout_ms)",
        "    return budget",
        (
            "tests/faults/test_lock_and_deadline.py::test_statement_and_lock_timeouts_follow_the_remaining_time_with_a_2s_floor",
        ),
    ),
    Mutation(
        "invocation-bound-not-set",
        "an invocation with little time left keeps the connection's long lock/statement timeout",
        "landing/db/uow.py",
        "    if budget_ms >= get_settings().statement_timeout_ms:\n        return",
        "    if True:\n        return",
        (
            "tests/faults/test_lock_and_deadline.py::test_row_held_for_update_fails_cleanly_within_the_budget_and_retry_converges",
        ),
    ),
    Mutation(
        "ping-without-short-timeout",
        "the idle-connection ping waits the full socket timeout instead of 2 s",
        "landing/db/health.py",
        "            usock.settimeout(PING_SOCKET_TIMEOUT_S)",
        "            pass",
        ("tests/faults/test_silent_network.py",),
    ),
    Mutation(
        "error-detail-logged",
        "PostgreSQL's DETAIL (the conflicting key, the failing row) stays in logged database errors",
        "landing/errors.py",
        'LOGGABLE_SERVER_FIELDS = frozenset("SVCMHstcdnFLR")',
        'LOGGABLE_SERVER_FIELDS = frozenset("SVCMHstcdnFLRDWPpq")',
        ("tests/integration/test_engine_secrecy.py",),
    ),
    Mutation(
        "journal-deletable",
        "the functions' database role may UPDATE and DELETE journal rows again",
        "landing/db/roles.py",
        'APPEND_ONLY = ("object_events", "object_scans")',
        "APPEND_ONLY: tuple[str, ...] = ()",
        (
            "tests/integration/test_database_roles.py::test_the_application_role_may_append_to_the_journal_but_never_change_or_remove_a_row",
        ),
    ),
    Mutation(
        "local-s3-any-origin",
        "landing serve's moto answers a page of any origin",
        "landing_local/moto_server.py",
        "        if origin is not None and origin not in self.origins:",
        "        if False:",
        (
            "tests/integration/test_server_cli.py::test_another_sites_page_cannot_list_read_or_write_the_local_bucket",
        ),
    ),
    Mutation(
        "local-s3-any-host",
        "landing serve's moto answers a DNS-rebound host name",
        "landing_local/moto_server.py",
        '        if host_name(environ.get("HTTP_HOST", "")) not in LOOPBACK_HOSTS:',
        "        if False:",
        ("tests/integration/test_server_cli.py::test_a_dns_rebound_name_cannot_reach_the_local_bucket",),
    ),
    Mutation(
        "put-unconditional",
        "a presigned PUT no longer signs If-None-Match: *, so it can overwrite the accepted body",
        "landing/uploads/presign.py",
        '        "IfNoneMatch": IF_NONE_MATCH,\n',
        "",
        (
            "tests/unit/test_uploads_rules.py::test_a_put_without_its_conditional_or_encoding_header_fails_the_signature",
            "tests/integration/test_uploads_api.py::test_put_is_signed_for_type_length_and_checksum",
        ),
    ),
    Mutation(
        "put-conditional-header-not-returned",
        "the API stops telling the client to send If-None-Match: *",
        "landing/uploads/presign.py",
        '        "If-None-Match": IF_NONE_MATCH,\n',
        "",
        (
            "tests/integration/test_uploads_e2e.py::test_a_presigned_put_sent_again_cannot_replace_the_stored_body",
        ),
    ),
    Mutation(
        "multipart-completion-unconditional",
        "CompleteMultipartUpload no longer requires an empty key",
        "landing/uploads/presign.py",
        "        IfNoneMatch=IF_NONE_MATCH,\n",
        "",
        ("tests/integration/test_uploads_e2e.py::test_multipart_completion_never_replaces_a_stored_body",),
    ),
    Mutation(
        "post-form-long-lived",
        "a presigned POST form (not conditional) lives as long as a PUT",
        "landing/uploads/intents.py",
        "}.get(intent.method, settings.post_presign_expires_s)",
        "}.get(intent.method, settings.presign_expires_s)",
        ("tests/integration/test_uploads_api.py::test_create_returns_201_and_writes_one_pending_row",),
    ),
    Mutation(
        "put-content-encoding-unsigned",
        "a presigned PUT lets the client choose Content-Encoding",
        "landing/uploads/presign.py",
        '        "ContentEncoding": CONTENT_ENCODING,\n',
        "",
        (
            "tests/unit/test_uploads_rules.py::test_a_put_without_its_conditional_or_encoding_header_fails_the_signature",
        ),
    ),
    Mutation(
        "unannounced-encoding-accepted",
        "ingest accepts an object stored with Content-Encoding: gzip",
        "landing/uploads/decisions.py",
        "    if encoding and encoding.lower() != presign.CONTENT_ENCODING:",
        "    if False:",
        (
            "tests/integration/test_content_sniffing.py::test_a_body_stored_with_an_unannounced_content_encoding_is_rejected",
        ),
    ),
    Mutation(
        "disposition-without-filename",
        "Content-Disposition names no file: the browser picks the name",
        "landing/uploads/presign.py",
        '    return {"Content-Disposition": content_disposition(key), "Cache-Control": CACHE_CONTROL}',
        '    return {"Content-Disposition": "attachment", "Cache-Control": CACHE_CONTROL}',
        (
            "tests/integration/test_uploads_api.py::test_the_key_and_the_download_name_carry_the_declared_types_extension",
            "tests/integration/test_uploads_e2e.py::test_a_completed_multipart_object_carries_the_pinned_headers",
        ),
    ),
    Mutation(
        "multipart-headers-unpinned",
        "multipart uploads are created without Content-Disposition and Cache-Control",
        "landing/uploads/presign.py",
        '        ContentDisposition=stored["Content-Disposition"],\n        CacheControl=stored["Cache-Control"],\n',
        "",
        (
            "tests/integration/test_uploads_e2e.py::test_a_completed_multipart_object_carries_the_pinned_headers",
        ),
    ),
    Mutation(
        "event-detail-without-body",
        "lifecycle events no longer name the accepted e_tag and version_id",
        "landing/db/migrations/versions/0011_event_detail_accepted_body.py",
        "    op.execute(UPLOAD_EVENT_FUNCTION)\n\n\ndef downgrade",
        "    pass\n\n\ndef downgrade",
        (
            "tests/integration/test_lifecycle_events.py::test_a_completed_event_names_the_accepted_version_in_a_versioned_bucket",
        ),
    ),
    Mutation(
        "objects-listing-current-body",
        "GET /objects reports whatever version is current, a replay included",
        "landing/uploads/browse.py",
        '        "version_id": upload.version_id if upload.e_tag else row.version_id,',
        '        "version_id": row.version_id,',
        (
            "tests/integration/test_uploads_replay.py::test_a_replay_whose_delete_failed_is_deleted_again_by_each_pass_until_it_is_gone",
        ),
    ),
    Mutation(
        "replay-delete-never-retried",
        "the scheduled pass no longer deletes a replay whose first delete failed",
        "landing/uploads/sweep.py",
        "    deleted += delete_objects(client, replaced)\n",
        "",
        (
            "tests/integration/test_uploads_replay.py::test_a_replay_whose_delete_failed_is_deleted_again_by_each_pass_until_it_is_gone",
        ),
    ),
    Mutation(
        "executable-filename-accepted",
        "a file named *.hta, *.bat, *.lnk... is accepted under a non-executable type",
        "landing/uploads/content.py",
        "    return extension(name) in EXECUTABLE_EXTENSIONS and media_type(declared) not in EXECUTABLE_TYPES",
        "    return False",
        (
            "tests/integration/test_uploads_api.py::test_a_file_name_that_runs_when_opened_is_refused_and_writes_nothing",
            "tests/unit/test_uploads_rules.py::test_a_file_name_that_runs_when_opened_is_refused",
        ),
    ),
    Mutation(
        "key-keeps-client-extension",
        "the stored key keeps the client's extension whatever the declared type",
        "landing/uploads/content.py",
        '    return f"{name}.{allowed[0]}"',
        "    return name",
        (
            "tests/unit/test_uploads_rules.py::test_the_stored_extension_follows_the_declared_type",
            "tests/integration/test_uploads_api.py::test_the_key_and_the_download_name_carry_the_declared_types_extension",
        ),
    ),
    Mutation(
        "hta-wsf-sct-not-sniffed",
        "HTA, WSF and scriptlet markup pass as text",
        "landing/s3/sniffing.py",
        "        if pattern.search(text):",
        "        if False:",
        (
            "tests/integration/test_content_sniffing.py::test_an_html_application_declared_as_text_is_rejected",
            "tests/unit/test_content.py::test_script_formats_without_a_magic_number_are_refused_where_their_bytes_tell",
        ),
    ),
    Mutation(
        "shortcut-signatures-ignored",
        "shortcut, registry, Internet-shortcut, help and console signatures pass",
        "landing/s3/sniffing.py",
        "        if runs is not None:",
        "        if False:",
        (
            "tests/unit/test_content.py::test_script_formats_without_a_magic_number_are_refused_where_their_bytes_tell",
        ),
    ),
    Mutation(
        "ole-root-not-followed",
        "an OLE file's root entry past the first bytes is not read",
        "landing/ingest/service.py",
        "follow=sniffing.root_entry_offset",
        "follow=None",
        (
            "tests/integration/test_content_sniffing.py::test_an_msi_whose_directory_lies_past_the_first_4_kib_is_rejected",
            "tests/integration/test_content_sniffing.py::test_an_office_file_whose_directory_lies_past_the_first_4_kib_is_accepted",
        ),
    ),
    Mutation(
        "unread-ole-root-trusted",
        "an OLE file whose root storage was not read passes as a document",
        "landing/s3/sniffing.py",
        '        return Detected(\n            "application/x-msi",\n            "an OLE compound file',
        '        return None\n        return Detected(\n            "application/x-msi",\n            "an OLE compound file',
        (
            "tests/unit/test_content.py::test_an_ole_file_whose_root_storage_is_not_read_counts_as_a_possible_installer",
        ),
    ),
    Mutation(
        "msi-clsid-big-endian",
        "the MSI CLSID is compared big-endian, as OLE never stores it",
        "landing/s3/sniffing.py",
        '"000C1084-0000-0000-C000-000000000046").bytes_le',
        '"000C1084-0000-0000-C000-000000000046").bytes',
        (
            "tests/unit/test_content.py::test_the_installer_clsid_is_compared_as_ole_stores_it_little_endian",
            "tests/unit/test_content.py::test_an_msi_whose_directory_lies_past_the_first_4_kib_is_an_installer",
        ),
    ),
    Mutation(
        "replay-verdict-quarantines-upload",
        "a malware verdict about a replay still current at the key quarantines the accepted upload",
        "landing/uploads/quarantine.py",
        "    decided_on = _names_decided_body(scan.e_tag, version_id)\n",
        "    decided_on = uploads.c.id.is_not(None)\n",
        (
            "tests/integration/test_uploads_replay.py::test_a_threat_found_in_a_replay_never_quarantines_or_deletes_the_accepted_body",
        ),
    ),
    Mutation(
        "s3-route-key-not-checked",
        "an /s3 multipart route takes any ?key= with the upload id (the key is half of the upload's name)",
        "landing/uploads/multipart.py",
        "    if row.key != key:\n",
        "    if False:\n",
        ("tests/integration/test_uppy_routes.py",),
    ),
    Mutation(
        "s3-part-signed-past-the-bound",
        "a part is signed however much the parts S3 already holds exceed the upload's maximum",
        "landing/uploads/multipart.py",
        "        if held >= bound:\n",
        "        if False:\n",
        ("tests/integration/test_uppy_routes.py",),
    ),
    Mutation(
        "s3-part-number-unbounded",
        "a part number that alone makes the upload larger than its maximum is still signed",
        "landing/uploads/multipart.py",
        "        if (number - 1) * presign.MIN_PART_SIZE >= bound:\n",
        "        if False:\n",
        ("tests/integration/test_uppy_routes.py",),
    ),
    Mutation(
        "s3-completion-unbounded",
        "parts adding up to more than the maximum are completed into an object",
        "landing/uploads/multipart.py",
        "        if total > bound:\n",
        "        if False:\n",
        ("tests/integration/test_uppy_routes.py",),
    ),
    Mutation(
        "s3-reservation-outside-the-quota",
        "signing parts of an upload without an announced size never counts against the daily byte quota",
        "landing/uploads/multipart.py",
        "        reservations.grow(session, settings, row, min(bound, held + largest), now)\n",
        "        pass\n",
        ("tests/integration/test_uppy_routes.py",),
    ),
)


def _union(mutations: list[Mutation]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(test for m in mutations for test in m.tests))


def _copy(directory: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(package, directory / package.name, ignore=shutil.ignore_patterns("__pycache__"))
    return directory


def run(mutation: Mutation, workdir: Path, mutate: bool = True) -> tuple[str, float, str]:
    """('caught' | 'missed' | 'stale' | 'error', seconds, detail)."""
    copy = _copy(workdir / mutation.name)
    if mutate:
        # A path under functions/landing/ may also be written without its "landing/".
        path = (
            mutation.path
            if mutation.path.startswith(("landing/", "landing_local/"))
            else f"landing/{mutation.path}"
        )
        target = copy / path
        source = target.read_text()
        for old, new in ((mutation.old, mutation.new), *mutation.also):
            if source.count(old) != 1:
                return "stale", 0.0, f"the text to break is not (exactly once) in {mutation.path}"
            source = source.replace(old, new)
        target.write_text(source)
    env = {
        **os.environ,
        "PYTHONPATH": str(copy),
        "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "ci"),
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutation.tests],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - started
    last = (done.stdout.strip().splitlines() or [""])[-1]
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED tests", "ERROR tests"))]
    if done.returncode == 0:
        return "missed", elapsed, last
    if done.returncode == 1:
        return "caught", elapsed, failed[0] if failed else last
    return "error", elapsed, f"pytest exit {done.returncode}: {last or done.stderr.strip()[-300:]}"


def uses_the_copy(workdir: Path) -> bool:
    """The copy on PYTHONPATH must shadow the editable install, or every mutation would be 'missed'."""
    copy = _copy(workdir / "probe")
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import landing, landing_local; print(landing.__file__, landing_local.__file__)",
        ],
        env={**os.environ, "PYTHONPATH": str(copy)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return all(path.startswith(str(copy)) for path in found.split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutate", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="only these mutations")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of the tests")
    args = parser.parse_args(argv)
    if args.list:
        for mutation in MUTATIONS:
            print(f"{mutation.name:36} {mutation.breaks}")
        return 0
    unknown = set(args.names) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"no such mutation: {', '.join(sorted(unknown))}")
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    results: list[tuple[Mutation, str]] = []
    with tempfile.TemporaryDirectory(prefix="landing-mutate-") as tmp:
        workdir = Path(tmp)
        if not uses_the_copy(workdir):
            print("the mutated copy does not shadow the installed package: nothing would be tested")
            return 2
        if not args.no_baseline:
            baseline = Mutation("baseline", "nothing", "landing/__init__.py", "", "", _union(chosen))
            outcome, seconds, detail = run(baseline, workdir, mutate=False)
            print(
                f"{'PASSED' if outcome == 'missed' else 'FAILED':7} {'unmutated':36} {seconds:6.1f}s  {detail}"
            )
            if outcome != "missed":
                print("the tests fail without any mutation: fix that first")
                return 2
        for mutation in chosen:
            outcome, seconds, detail = run(mutation, workdir)
            results.append((mutation, outcome))
            print(f"{outcome.upper():7} {mutation.name:36} {seconds:6.1f}s  {detail}", flush=True)
    counts = {o: sum(1 for _, r in results if r == o) for o in ("caught", "missed", "stale", "error")}
    print(", ".join(f"{n} {o}" for o, n in counts.items()) + f" of {len(results)} mutations")
    return 0 if counts["caught"] == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
