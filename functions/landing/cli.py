"""The `landing` command: migrate, invoke, demo, serve (and the local tools built on them)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

DEV_INSTALL = "pip install -e '.[dev]' (make setup does)"


class DevToolsMissing(SystemExit):
    """A dev command ran where the dev package (local/landing_local) or its dependencies are absent."""


def _dev(name: str) -> ModuleType:
    """``landing_local.<name>``, the dev-only package outside the Lambda artifact, imported on first use."""
    try:
        return importlib.import_module(f"landing_local.{name}")
    except ModuleNotFoundError as error:
        if error.name is None or not error.name.startswith(
            ("landing_local", "moto", "werkzeug", "pixeltable")
        ):
            raise
        raise DevToolsMissing(
            f"landing: this command needs the development tools (the landing_local package and its "
            f"dependencies; {error.name} is missing): {DEV_INSTALL}"
        ) from error


def _database() -> str:
    """DATABASE_URL, or the embedded server's (started on demand); set before landing.db.engine is imported."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url  # no dev tools needed against a real database
    return str(_dev("embedded").ensure_database_url())


def cmd_migrate(args: argparse.Namespace) -> int:
    _database()
    from landing.db import engine as db
    from landing.db import migrate

    revision = migrate.upgrade(db.require_engine())
    print(f"database at revision {revision}")
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    """Like `sam local invoke FUNCTION -e EVENT --env-vars FILE`: response on stdout, logs on stderr."""
    from dataclasses import replace

    invoke = _dev("invoke")
    try:
        config = invoke.function_config(args.function, Path(args.template))
        if args.timeout is not None:
            config = replace(config, timeout_s=args.timeout)
        invoke.apply_env_vars(args.env_vars, args.function)
        source = sys.stdin.read() if args.event == "-" else Path(args.event).read_text()
        event: Any = json.loads(source)
    except (invoke.InvokeError, OSError, ValueError) as error:
        print(f"landing invoke: {error}", file=sys.stderr)
        return 2
    _database()
    return int(invoke.invoke(config, event, sys.stdout, sys.stderr))


def cmd_event(args: argparse.Namespace) -> int:
    """Like `sam local generate-event`: print a realistic event for `landing invoke` or a test."""
    samples = _dev("samples")
    fields: dict[str, Any] = {"region": args.region}
    if args.kind == "guardduty-scan":
        fields.update(result=args.result, etag=args.etag, version_id=args.version_id)
    elif args.kind != "schedule":
        fields.update(size=args.size, etag=args.etag, version_id=args.version_id, sequencer=args.sequencer)
    print(json.dumps(samples.generate(args.kind, args.bucket, args.key, **fields), indent=2))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    # The demo prints tables; structured logs and EMF metrics stay quiet unless asked for.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    _database()
    from landing.db import engine as db
    from landing.db import migrate

    demo = _dev("demo")
    migrate.upgrade(db.require_engine())
    return int(demo.run())


def cmd_serve(args: argparse.Namespace) -> int:
    # Per-invocation EMF metric blobs would drown the request log; set the variable to see them.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    _database()
    serve = _dev("serve")
    authorizer = None
    if args.jwt_secret_file:
        secret = Path(args.jwt_secret_file).read_text(encoding="utf-8").strip()
        authorizer = _dev("authorizer").JwtAuthorizer(secret, issuer=args.jwt_issuer)
    return int(serve.run(args.host, args.port, sweep_s=args.sweep_interval, authorizer=authorizer))


def cmd_upload(args: argparse.Namespace) -> int:
    from landing.client.api import Api
    from landing.client.upload import Uploader, upload_files

    token = os.environ.get("LANDING_TOKEN")
    if args.token_file:
        token = Path(args.token_file).read_text(encoding="utf-8").strip()
    uploader = Uploader(Api(args.api, token), parallel=args.parallel, wait_s=args.wait)
    outcomes = upload_files(uploader, [Path(name) for name in args.files], args.content_type)
    for outcome in outcomes:
        detail = f" ({outcome.reason})" if outcome.reason else ""
        print(f"{outcome.path}: {outcome.status}{detail}" + (f" -> {outcome.key}" if outcome.key else ""))
    return 0 if all(outcome.status == "uploaded" for outcome in outcomes) else 1


def cmd_reconcile(args: argparse.Namespace) -> int:
    _database()
    from landing.reconcile import command

    return command.main(
        args.bucket,
        args.prefix,
        dry_run=args.dry_run,
        page_size=args.page_size,
        inventory=args.inventory,
        after=args.after,
    )


def cmd_settings(args: argparse.Namespace) -> int:
    """Every setting as a markdown table: docs/operations.md carries this output (a test compares)."""
    from landing.settings import describe

    print("| variable | default | meaning |\n|---|---|---|")
    for variables, default, doc in describe():
        print(f"| `{variables}` | `{default}` | {doc} |")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="landing", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="apply the Alembic migrations (DATABASE_URL or the embedded database)")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser(
        "invoke", help="run a handler in-process on an event file (Docker-free sam local invoke)"
    )
    p.add_argument("function", help="logical id in template.yaml: IngestFunction, UploadsFunction, ...")
    p.add_argument("event", help="event JSON file (or - for stdin), e.g. tests/events/s3-put.json")
    p.add_argument("--env-vars", help="environment file in sam local invoke format (infra/env.json)")
    p.add_argument("--template", default="template.yaml", help="SAM template for handler, timeout, memory")
    p.add_argument("--timeout", type=float, help="override the template's function timeout (seconds)")
    p.set_defaults(func=cmd_invoke)

    # The sample kinds live in the dev package; without it `landing event` says what to install.
    kinds: tuple[str, ...] = ()
    results: tuple[str, ...] = ()
    try:
        from landing_local.samples import KINDS, SCAN_RESULTS

        kinds, results = KINDS, SCAN_RESULTS
    except ModuleNotFoundError:
        pass
    p = sub.add_parser("event", help="print a sample event (Docker-free sam local generate-event)")
    p.add_argument("kind", choices=kinds or None)
    p.add_argument("--bucket", default="example-bucket")
    p.add_argument("--key", default="reports/2026/q1 summary.pdf", help="object key, unencoded")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--etag", help="default: derived from the key")
    p.add_argument("--version-id", help="object version (versioned buckets)")
    p.add_argument("--sequencer", help="default: increasing with the clock")
    p.add_argument("--region", default="us-east-1")
    p.add_argument(
        "--result", choices=results or None, default="NO_THREATS_FOUND", help="guardduty-scan only"
    )
    p.set_defaults(func=cmd_event)

    p = sub.add_parser("demo", help="end-to-end demo on the embedded database and a local S3")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "serve",
        help="the uploads API and an upload page on a local HTTP server (Docker-free sam local start-api)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=3000, help="port (default 3000; 0 picks a free one)")
    p.add_argument("--sweep-interval", type=float, default=60.0, help="seconds between expiry passes (60)")
    p.add_argument(
        "--jwt-secret-file",
        help="play API Gateway's JWT authorizer: API routes need a Bearer HS256 token signed with the key "
        "in this file (the owner is then its sub, as deployed); without it every caller is anonymous",
    )
    p.add_argument("--jwt-issuer", default="landing-serve", help="the iss such tokens carry (landing-serve)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "upload",
        help="send files through the uploads API (parts in parallel, resumable) and wait for each verdict; "
        "exits 1 unless every file ends uploaded",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "--api",
        default=os.environ.get("LANDING_API_URL", "http://127.0.0.1:3000"),
        help="the API's URL (LANDING_API_URL; default http://127.0.0.1:3000, landing serve)",
    )
    p.add_argument("--token-file", help="a file holding the bearer token (default: LANDING_TOKEN, else none)")
    p.add_argument("--content-type", help="for every file (default: guessed from each name)")
    p.add_argument("--parallel", type=int, default=4, help="parts sent at once (4)")
    p.add_argument("--wait", type=float, default=300.0, help="seconds to wait for each verdict (300)")
    p.set_defaults(func=cmd_upload)

    p = sub.add_parser(
        "reconcile", help="repair the catalog from a listing of the bucket (lost or missing notifications)"
    )
    p.add_argument("--bucket", help="bucket to list (default: BUCKET_NAME)")
    p.add_argument("--prefix", default="", help="only keys under this prefix")
    p.add_argument("--dry-run", action="store_true", help="print the differences, write nothing")
    p.add_argument("--page-size", type=int, default=1000, help="keys per listing request (1-1000)")
    p.add_argument(
        "--inventory",
        metavar="S3_URI",
        help="compare an S3 Inventory report (s3://.../manifest.json, CSV with versions) instead of "
        "listing the bucket: for buckets too large to list",
    )
    p.add_argument("--after", metavar="KEY", help="resume a stopped run after this key")
    p.set_defaults(func=cmd_reconcile)

    p = sub.add_parser("settings", help="every environment variable the functions read, as a markdown table")
    p.set_defaults(func=cmd_settings)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
