"""An independent SigV4 query-signature check (what S3 does with a presigned URL), for tests moto cannot serve:
moto never verifies signatures, so whether a client may leave a header out is decided here."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlparse


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signed_headers(url: str) -> list[str]:
    return dict(parse_qsl(urlparse(url).query))["X-Amz-SignedHeaders"].split(";")


def valid(method: str, url: str, headers: Mapping[str, str], secret_key: str) -> bool:
    """Whether S3 would accept this request's signature: every signed header sent, with the signed value.

    Canonical request as AWS documents it for query-string authentication (payload UNSIGNED-PAYLOAD).
    """
    parsed = urlparse(url)
    query = dict(parse_qsl(parsed.query, keep_blank_values=True))
    signature = query.pop("X-Amz-Signature")
    sent = {name.lower(): " ".join(value.strip().split()) for name, value in headers.items()}
    sent["host"] = parsed.netloc
    names = query["X-Amz-SignedHeaders"].split(";")
    if any(name not in sent for name in names):
        return False  # S3 answers 403: a signed header is missing
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
    )
    canonical = "\n".join(
        [
            method,
            parsed.path or "/",
            canonical_query,
            "".join(f"{name}:{sent[name]}\n" for name in names),
            ";".join(names),
            "UNSIGNED-PAYLOAD",
        ]
    )
    date = query["X-Amz-Date"]
    _, day, region, service, _ = query["X-Amz-Credential"].split("/")
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), service), "aws4_request")
    return hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), signature)
