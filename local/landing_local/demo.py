"""`landing demo` / `make run`: embedded Postgres + moto, files in, notifications drained, rows out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CORSConfigurationTypeDef

DEMO_BUCKET = "landing-demo"
DEMO_QUEUE = "landing-demo-ingest"
DEMO_FILES = {
    "reports/2026/q1 summary.txt": b"quarterly numbers\n",
    "reports/2026/a+b=c.csv": b"a,b,c\n1,2,3\n",
    "unicodé/naïve ☃ file.txt": b"snowman\n",
    "nested/deep/path/data.json": b'{"ok": true}\n',
    "tmp/scratch.txt": b"to be deleted\n",
}


def bucket_cors(origins: list[str]) -> CORSConfigurationTypeDef:
    """The bucket's CORS for the local upload page: browsers POST forms and PUT parts straight to the
    bucket, and multipart clients must read each part's ETag. Only the page's own origins, as the
    deployed bucket allows only CorsAllowedOrigins (template.yaml)."""
    return {
        "CORSRules": [
            {
                "AllowedOrigins": origins,
                "AllowedMethods": ["GET", "HEAD", "POST", "PUT"],
                "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag", "x-amz-version-id"],
                "MaxAgeSeconds": 3000,
            }
        ]
    }


def setup_bucket(s3: Any, sqs: Any, bucket: str = DEMO_BUCKET, queue: str = DEMO_QUEUE) -> str:
    """Bucket whose ObjectCreated/ObjectRemoved notifications go to a queue; returns the queue URL."""
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    existing = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]
        },
    )
    return str(queue_url)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    line = "  ".join(c.ljust(widths[c]) for c in columns)
    rule = "  ".join("-" * widths[c] for c in columns)
    body = ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join([line, rule, *body])


def print_catalog(bucket: str, since: datetime) -> None:
    """The bucket's objects rows, and the journal rows this run added (the database is reused)."""
    from sqlalchemy import text

    from landing.db.uow import unit_of_work

    with unit_of_work() as session:
        rows = [
            dict(r._mapping)
            for r in session.execute(
                text(
                    "SELECT key, size, e_tag, content_type, is_deleted, "
                    "left(sequence_number, 16) AS sequence, "
                    "coalesce(user_metadata::text, '') AS user_metadata "
                    "FROM objects WHERE bucket = :b ORDER BY key"
                ),
                {"b": bucket},
            )
        ]
        counts = [
            dict(r._mapping)
            for r in session.execute(
                text(
                    "SELECT record_type, source, count(*) AS events FROM object_events "
                    "WHERE bucket = :b AND received_at >= :since GROUP BY 1, 2 ORDER BY 1, 2"
                ),
                {"b": bucket, "since": since},
            )
        ]
    print(f"\nobjects in s3://{bucket} ({len(rows)} rows)\n")
    print(table(rows, ["key", "size", "e_tag", "content_type", "is_deleted", "sequence", "user_metadata"]))
    print("\nobject_events (journal rows added by this run)\n")
    print(table(counts, ["record_type", "source", "events"]))


def api_event(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A minimal HTTP API (payload 2.0) request with no authorizer, as a local caller sends it."""
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "localhost"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "landing-demo",
            "routeKey": f"{method} {path}",
            "stage": "$default",
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


# The EICAR anti-virus test file: harmless, and reported by every scanner (GuardDuty included) as a
# threat; here it stands for the file GuardDuty would find infected.
# Built from two halves so that the source file itself never trips a scanner on a developer's machine.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def presigned_upload(sqs: Any, queue_url: str, filename: str, data: bytes) -> dict[str, Any] | None:
    """One upload through the uploads API: announce it, POST the file to S3 with the returned form
    fields (a real HTTP request to the moto server), drain the queue into ingest, ask for its status."""
    import requests

    from landing.handlers.uploads import handler
    from landing.lambda_context import local_context
    from landing_local.queue import drain

    request = {"filename": filename, "content_type": "text/plain", "size": len(data)}
    answer = handler(api_event("POST", "/uploads", request), local_context("UploadsFunction"))
    upload = json.loads(answer["body"])
    print(f"\npresigned upload\n\nPOST /uploads {json.dumps(request)}")
    print(f"  -> {answer['statusCode']} id={upload.get('id')} method={upload.get('method')}")
    print(f"     key={upload.get('key')}")
    if answer["statusCode"] != 201:
        return None
    sent = requests.post(
        upload["url"], data=upload["fields"], files={"file": (filename, data, "text/plain")}, timeout=10
    )
    print(f"POST {upload['url']} (form fields + file) -> {sent.status_code}")
    totals = drain(sqs, queue_url)
    print("drained the queue into the ingest handler: " + json.dumps(totals))
    answer = handler(api_event("GET", f"/uploads/{upload['id']}"), local_context("UploadsFunction"))
    status: dict[str, Any] = json.loads(answer["body"])
    print(f"GET /uploads/{upload['id']} -> {answer['statusCode']}")
    print(table([status], ["status", "size", "object_size", "content_type", "detected_type", "completed_at"]))
    return status


def malware_verdicts(s3: Any, uploads: list[tuple[dict[str, Any], str]]) -> list[dict[str, Any]]:
    """What GuardDuty Malware Protection would send for each upload (it does not run locally), through
    the ingest handler; then each upload as GET /uploads/{id} shows it."""
    from landing.handlers.ingest import handler as ingest
    from landing.handlers.uploads import handler
    from landing.lambda_context import local_context
    from landing_local import samples

    print("\nmalware scan results (GuardDuty Malware Protection Object Scan Result events)\n")
    shown = []
    for upload, result in uploads:
        head = s3.head_object(Bucket=DEMO_BUCKET, Key=upload["key"])
        event = samples.guardduty_scan(
            DEMO_BUCKET,
            upload["key"],
            result=result,
            etag=head["ETag"].strip('"'),
            version_id=head.get("VersionId"),
        )
        ingest(event, local_context("IngestFunction"))
        answer = handler(api_event("GET", f"/uploads/{upload['id']}"), local_context("UploadsFunction"))
        shown.append(json.loads(answer["body"]))
    print(table(shown, ["filename", "status", "scan_status", "scanned_at", "rejection_reason"]))
    return shown


def lifecycle_events(sqs: Any, events_queue_url: str) -> list[str]:
    """The lifecycle events an application subscribed to the bus received, shown; their detail-types."""
    from landing_local import bus

    published = bus.received(sqs, events_queue_url)
    print(f"\nlifecycle events on the EventBridge bus {bus.LOCAL_BUS} (moto; a rule sends them to a queue)\n")
    for published_event in published:
        print("  " + bus.describe(published_event))
    return sorted(str(e.get("detail-type")) for e in published)


def run() -> int:
    import boto3

    from landing_local import bus, moto_server

    started = datetime.now(UTC)
    server, endpoint = moto_server.start()
    print(f"moto S3/SQS server at {endpoint}")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    queue_url = setup_bucket(s3, sqs)
    events = boto3.client("events", endpoint_url=endpoint, region_name="us-east-1")
    events_queue_url = bus.setup(events, sqs)
    for key, body in DEMO_FILES.items():
        s3.put_object(Bucket=DEMO_BUCKET, Key=key, Body=body, Metadata={"origin": "demo"})
    s3.put_object(Bucket=DEMO_BUCKET, Key="reports/2026/q1 summary.txt", Body=b"revised numbers\n")
    s3.delete_object(Bucket=DEMO_BUCKET, Key="tmp/scratch.txt")
    print(f"uploaded {len(DEMO_FILES)} files, overwrote 1, deleted 1")

    from landing_local.queue import drain

    totals = drain(sqs, queue_url)
    print("drained the queue into the ingest handler: " + json.dumps(totals))
    print_catalog(DEMO_BUCKET, started)
    import os

    from landing.s3 import clients
    from landing.settings import get_settings

    # Settings were read before the moto server existed: point the product's clients at it now.
    os.environ["BUCKET_NAME"] = DEMO_BUCKET
    get_settings.cache_clear()
    clients.reset()
    clean = presigned_upload(
        sqs, queue_url, "../hello from the browser?.txt", b"uploaded through a presigned POST\n"
    )
    infected = presigned_upload(sqs, queue_url, "eicar.txt", EICAR)
    verdicts = []
    if clean and infected:
        verdicts = malware_verdicts(s3, [(clean, "NO_THREATS_FOUND"), (infected, "THREATS_FOUND")])
    published = lifecycle_events(sqs, events_queue_url)
    server.stop()
    expected = [("uploaded", "NO_THREATS_FOUND"), ("quarantined", "THREATS_FOUND")]
    ok = [(v["status"], v["scan_status"]) for v in verdicts] == expected
    # Both uploads completed, then one was quarantined: three lifecycle events.
    ok = ok and published == ["Upload Completed", "Upload Completed", "Upload Quarantined"]
    return 0 if totals["failed"] == 0 and ok else 1
