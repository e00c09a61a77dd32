"""Photos under an S3 prefix (``s3://bucket/prefix``) as lazy sources, with key and ETag kept.

Listing uses boto3's ListObjectsV2 paginator; each object is downloaded once, when the batch reaches
it (the pre-flight estimate reads only the listing's size and ETag).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import BadImage, EngineAuthError, InvalidParameter
from ..images import MAX_BYTES
from .sources import IMAGE_SUFFIXES, Source, display_name


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix")."""
    if not uri.startswith("s3://") or len(uri) <= 5:
        raise InvalidParameter(f"{uri!r} is not an s3://bucket/prefix address")
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise InvalidParameter(f"{uri!r} names no bucket")
    return bucket, prefix


def s3_sources(uri: str, client: Any) -> list[Source]:
    """One source per image object under the prefix (by key order); ``client``: a boto3 S3 client
    (:func:`facelib.aws.client`)."""
    bucket, prefix = parse_s3_uri(uri)
    sources = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith("/") or "." + key.rsplit(".", 1)[-1].lower() not in IMAGE_SUFFIXES:
                    continue
                etag = str(obj.get("ETag", "")).strip('"')
                sources.append(Source(display_name(f"s3://{bucket}/{key}"), _reader(client, bucket, key, obj.get("Size", 0)),
                                      "s3", {"bucket": bucket, "key": key, "etag": etag,
                                                                  "size": int(obj.get("Size", 0))}))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("AccessDenied", "AccessDeniedException", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise EngineAuthError(f"S3 refused listing {uri}: the credentials need s3:ListBucket ({code})") from exc
        raise InvalidParameter(f"S3 could not list {uri}: {code}") from exc
    except BotoCoreError as exc:
        raise EngineAuthError(f"cannot reach S3 for {uri}: {exc}") from exc
    return sources


def _reader(client: Any, bucket: str, key: str, size: int) -> Callable[[], bytes]:
    def read() -> bytes:
        if size > MAX_BYTES:
            raise BadImage(f"s3://{bucket}/{key}: {size / 1e6:.0f} MB is over the {MAX_BYTES / 1e6:.0f} MB limit")
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
            data: bytes = body.read()
            return data
        except ClientError as exc:
            raise BadImage(f"s3://{bucket}/{key}: cannot be read ({exc.response.get('Error', {}).get('Code')})") from exc
        except BotoCoreError as exc:
            raise BadImage(f"s3://{bucket}/{key}: cannot be read ({exc})") from exc
    return read
