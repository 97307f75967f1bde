"""Presigned S3 requests for announced uploads: POST policies, signed PUTs and multipart part URLs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import quote

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1024**2
# S3 limits: at most 10,000 parts of 5 MiB..5 GiB each (the last part may be smaller).
MIN_PART_SIZE = 5 * MIB
MAX_PART_SIZE = 5 * 1024**3
# Part URLs are all returned in one response; 2,000 of them stay far below Lambda's 6 MB payload limit.
MAX_PARTS = 2000
UPLOAD_ID_META = "upload-id"
CACHE_CONTROL = "private, no-cache"
# A presigned PUT accepts standard headers it did not sign and S3 stores them: Content-Encoding would
# let a client make browsers decode (gunzip) the bytes that were sniffed. Signing it pins "identity"
# (no encoding); POST forms and multipart uploads carry none (see post() and multipart()).
CONTENT_ENCODING = "identity"
# S3 writes the object only if the key holds none yet (conditional write, PutObject and
# CompleteMultipartUpload): once an upload's body is stored, its presigned PUT cannot replace it.
IF_NONE_MATCH = "*"
# RFC 5987 attr-char: what filename*= may carry unescaped.
_ATTR_CHARS = "!#$&+-.^_`|~"


def content_disposition(key: str) -> str:
    """`attachment` with the key's file name (RFC 6266): a download is saved under the name the server
    chose (whose extension follows the declared type), never one the client or a browser guesses.

    The key's name is already sanitised (no quotes, backslashes, controls or separators), so the quoted
    ASCII fallback needs no escaping; filename*= carries the exact UTF-8 name, percent-encoded, so the
    header stays ASCII.
    """
    name = key.rsplit("/", 1)[-1] or "file"
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe=_ATTR_CHARS)}"


def stored_headers(key: str) -> dict[str, str]:
    """Stored with every uploaded object and pinned in every presigned request, so a client cannot choose
    how the object is later presented (rendered inline as a page, saved under another name, cached by
    shared caches)."""
    return {"Content-Disposition": content_disposition(key), "Cache-Control": CACHE_CONTROL}


class Target(TypedDict):
    """What every presigned request names: the object, its type and metadata, and how long it lives."""

    bucket: str
    key: str
    content_type: str
    upload_id: str
    metadata: Mapping[str, str]
    expires_s: int


@dataclass(frozen=True, slots=True)
class Presigned:
    """What a client needs to send the bytes: where, which form fields and which headers."""

    method: str
    url: str | None
    fields: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    parts: list[dict[str, Any]] = field(default_factory=list)
    part_size: int | None = None
    multipart_upload_id: str | None = None


def metadata_fields(upload_id: str, metadata: Mapping[str, str]) -> dict[str, str]:
    """x-amz-meta-* headers/fields: the caller's metadata plus the upload id the object must carry."""
    fields = {f"x-amz-meta-{name}": value for name, value in sorted(metadata.items())}
    fields[f"x-amz-meta-{UPLOAD_ID_META}"] = upload_id
    return fields


def post(
    client: S3Client,
    *,
    bucket: str,
    key: str,
    content_type: str,
    max_size: int,
    upload_id: str,
    metadata: Mapping[str, str],
    expires_s: int,
) -> Presigned:
    """A presigned POST whose policy pins the key, the content type, 1..max_size bytes and metadata.

    S3 refuses a form whose fields break any condition, so every field we hand out is also a
    condition, and the client can add nothing (an unlisted field fails the policy): no condition
    names Content-Encoding, so the object has none. A form takes no If-None-Match, so it can be
    sent again until it expires: ``expires_s`` is kept short (POST_PRESIGN_EXPIRES).
    """
    fields: dict[str, str] = {
        "Content-Type": content_type,
        **stored_headers(key),
        **metadata_fields(upload_id, metadata),
    }
    conditions: list[Any] = [{name: value} for name, value in fields.items()]
    conditions.append(["content-length-range", 1, max_size])
    # botocore adds {"bucket": ...}, {"key": key} (exact, as the key has no ${filename}) and the
    # x-amz-algorithm/credential/date(/security-token) conditions.
    answer = client.generate_presigned_post(
        Bucket=bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires_s
    )
    return Presigned(method="POST", url=answer["url"], fields=dict(answer["fields"]))


def put(
    client: S3Client,
    *,
    bucket: str,
    key: str,
    content_type: str,
    size: int,
    upload_id: str,
    metadata: Mapping[str, str],
    checksum_sha256: str,
    expires_s: int,
) -> Presigned:
    """A presigned PUT signing Content-Type, Content-Length, the stored headers, Content-Encoding,
    If-None-Match, the metadata and x-amz-checksum-sha256 (a header left unsigned could be chosen
    by the client).

    Signed headers must be sent with exactly these values (``headers``), so S3 refuses another type
    or length, verifies the body against the checksum, and writes only while the key is empty: the
    URL can only ever write the announced bytes, once.
    """
    stored = stored_headers(key)
    params: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "ContentType": content_type,
        "ContentLength": size,
        "ContentDisposition": stored["Content-Disposition"],
        "CacheControl": stored["Cache-Control"],
        "ContentEncoding": CONTENT_ENCODING,
        "IfNoneMatch": IF_NONE_MATCH,
        "Metadata": {**metadata, UPLOAD_ID_META: upload_id},
    }
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(size),
        **stored,
        "Content-Encoding": CONTENT_ENCODING,
        "If-None-Match": IF_NONE_MATCH,
    }
    headers.update(metadata_fields(upload_id, metadata))
    params["ChecksumSHA256"] = checksum_sha256
    headers["x-amz-checksum-sha256"] = checksum_sha256
    url = client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_s, HttpMethod="PUT")
    return Presigned(method="PUT", url=url, headers=headers)


def part_size_for(size: int, configured: int) -> int:
    """The configured part size, grown (in whole MiB) until the file fits in MAX_PARTS parts."""
    needed = max(configured, MIN_PART_SIZE, math.ceil(size / MAX_PARTS))
    part_size = math.ceil(needed / MIB) * MIB
    if part_size > MAX_PART_SIZE:
        raise ValueError(f"{size} bytes do not fit in {MAX_PARTS} parts of at most 5 GiB")
    return part_size


def create_multipart(
    client: S3Client, *, bucket: str, key: str, content_type: str, upload_id: str, metadata: Mapping[str, str]
) -> str:
    """CreateMultipartUpload with the object's headers set by the server; returns S3's UploadId."""
    stored = stored_headers(key)
    created = client.create_multipart_upload(
        Bucket=bucket,
        Key=key,
        ContentType=content_type,
        ContentDisposition=stored["Content-Disposition"],
        CacheControl=stored["Cache-Control"],
        Metadata={**metadata, UPLOAD_ID_META: upload_id},
    )
    return str(created["UploadId"])


def part_url(
    client: S3Client,
    *,
    bucket: str,
    key: str,
    multipart_upload_id: str,
    part_number: int,
    expires_s: int,
    length: int | None = None,
) -> str:
    """A presigned UploadPart; with ``length`` its Content-Length is signed too (S3 then refuses
    any other size). Without it (the client never said how big the part is) S3 accepts up to 5 GiB."""
    params: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "UploadId": multipart_upload_id,
        "PartNumber": part_number,
    }
    if length is not None:
        params["ContentLength"] = length
    return client.generate_presigned_url("upload_part", Params=params, ExpiresIn=expires_s, HttpMethod="PUT")


def list_parts(client: S3Client, *, bucket: str, key: str, multipart_upload_id: str) -> list[dict[str, Any]]:
    """Every part S3 holds for a multipart upload (all pages), as S3 lists them."""
    parts: list[dict[str, Any]] = []
    marker = 0
    while True:
        page = client.list_parts(
            Bucket=bucket, Key=key, UploadId=multipart_upload_id, PartNumberMarker=marker
        )
        parts.extend(dict(part) for part in page.get("Parts", []))
        if not page.get("IsTruncated"):
            return parts
        marker = int(page["NextPartNumberMarker"])


def multipart(
    client: S3Client,
    *,
    bucket: str,
    key: str,
    content_type: str,
    size: int,
    upload_id: str,
    metadata: Mapping[str, str],
    part_size: int,
    expires_s: int,
) -> Presigned:
    """Start a multipart upload and presign one PUT per part, each signed with its exact length.

    Signing every part's Content-Length means the parts add up to exactly the announced size. The
    object's headers are set here, by the server (no Content-Encoding); parts cannot change them.
    """
    s3_upload_id = create_multipart(
        client, bucket=bucket, key=key, content_type=content_type, upload_id=upload_id, metadata=metadata
    )
    count = math.ceil(size / part_size)
    parts = []
    for number in range(1, count + 1):
        length = min(part_size, size - (number - 1) * part_size)
        url = part_url(
            client,
            bucket=bucket,
            key=key,
            multipart_upload_id=s3_upload_id,
            part_number=number,
            expires_s=expires_s,
            length=length,
        )
        parts.append({"part_number": number, "url": url, "size": length})
    return Presigned(
        method="MULTIPART",
        url=None,
        parts=parts,
        part_size=part_size,
        multipart_upload_id=s3_upload_id,
    )


def complete_multipart(
    client: S3Client, *, bucket: str, key: str, multipart_upload_id: str, parts: list[tuple[int, str]]
) -> str | None:
    """CompleteMultipartUpload with the client's (part number, ETag) list; returns the object's ETag.

    Conditional on the key being empty (If-None-Match): completion never replaces a stored body.
    """
    answer = client.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=multipart_upload_id,
        IfNoneMatch=IF_NONE_MATCH,
        MultipartUpload={"Parts": [{"PartNumber": number, "ETag": etag} for number, etag in parts]},
    )
    e_tag = answer.get("ETag")
    return str(e_tag).strip('"') if e_tag else None


def abort_multipart(client: S3Client, *, bucket: str, key: str, multipart_upload_id: str) -> bool:
    """AbortMultipartUpload; False when S3 no longer knows the upload (aborted or completed already)."""
    from botocore.exceptions import ClientError

    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=multipart_upload_id)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchUpload":
            return False
        raise
    return True
