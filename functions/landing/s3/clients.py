"""The S3 clients: built once per execution environment, lazily, so tests can install moto first."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from landing.settings import SettingsError, get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@cache
def s3_client() -> S3Client:
    """HeadObject, ranged GETs, listings and deletes: short timeouts and bounded retries."""
    import boto3
    from botocore.config import Config

    settings = get_settings()
    return boto3.client(
        "s3",
        region_name=settings.aws_region,
        endpoint_url=settings.s3_endpoint_url,
        # Worst case 3 attempts x (2 s connect + 3 s read) = 15 s: a silent S3 path fails the
        # record well inside the function timeout instead of running into it.
        config=Config(
            connect_timeout=2,
            read_timeout=3,
            retries={"mode": "standard", "total_max_attempts": 3},
        ),
    )


@cache
def signing_client() -> S3Client:
    """SigV4 presigning and the multipart calls of the uploads API.

    Against AWS it signs for the regional virtual-hosted endpoint (botocore's default for presigned
    requests can be the global one, which redirects browsers outside us-east-1); against a local
    endpoint (moto) it uses path-style URLs, which resolve without wildcard DNS.
    """
    import boto3
    from botocore.config import Config

    settings = get_settings()
    session = boto3.session.Session()
    if session.get_credentials() is None:
        # botocore would fail deep inside the signer with an AttributeError; say what is missing.
        raise SettingsError(
            "no AWS credentials to sign uploads with: the function's role in AWS, or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY locally (any value signs for a local S3)"
        )
    return session.client(
        "s3",
        region_name=settings.aws_region,
        endpoint_url=settings.s3_endpoint_url,
        config=Config(
            signature_version="s3v4",
            s3={
                "addressing_style": "path" if settings.s3_endpoint_url else "virtual",
                "us_east_1_regional_endpoint": "regional",
            },
            # Never add SDK-computed checksums to presigned requests: the client sends the bytes,
            # and a checksum of an empty body would make S3 refuse them.
            request_checksum_calculation="when_required",
            connect_timeout=2,
            read_timeout=5,
            retries={"mode": "standard", "max_attempts": 3},
        ),
    )


def reset() -> None:
    """Forget both clients (tests and the demo switch endpoints or install moto)."""
    s3_client.cache_clear()
    signing_client.cache_clear()
