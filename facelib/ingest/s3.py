"""Photos under an S3 prefix (``s3://bucket/prefix``) as lazy sources, with key and ETag kept.

Listing uses boto3's ListObjectsV2 paginator; each object is downloaded once, when the batch reaches
it (the pre-flight estimate reads only the listing's size and ETag). The download is pinned to the
listed ETag (``IfMatch``): an object replaced after the listing is refused (list again), so new
bytes are never indexed under the old ETag.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import BadImage, EngineAuthError, InvalidParameter
from ..images import MAX_BYTES
from .sources import MEDIA_SUFFIXES, Source, display_name


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix")."""
    if not uri.startswith("s3://") or len(uri) <= 5:
        raise InvalidParameter(f"{uri!r} is not an s3://bucket/prefix address")
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise InvalidParameter(f"{uri!r} names no bucket")
    return bucket, prefix


def s3_sources(uri: str, client: Any, profile: str | None = None) -> list[Source]:
    """One source per image object under the prefix (by key order); ``client``: a boto3 S3 client
    (:func:`facelib.aws.client`) of the AWS ``profile`` (None: the default chain)."""
    bucket, prefix = parse_s3_uri(uri)
    sources = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith("/") or "." + key.rsplit(".", 1)[-1].lower() not in MEDIA_SUFFIXES:
                    continue
                etag = str(obj.get("ETag", "")).strip('"')
                size = int(obj.get("Size", 0))
                reader = S3Reader(bucket, key, size, client.meta.region_name, profile, client.meta.endpoint_url, client,
                                  etag=etag or None)
                sources.append(Source(display_name(f"s3://{bucket}/{key}"), reader, "s3",
                                      {"bucket": bucket, "key": key, "etag": etag, "size": size}))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("AccessDenied", "AccessDeniedException", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise EngineAuthError(f"S3 refused listing {uri}: the credentials need s3:ListBucket ({code})") from exc
        raise InvalidParameter(f"S3 could not list {uri}: {code}") from exc
    except BotoCoreError as exc:
        raise EngineAuthError(f"cannot reach S3 for {uri}: {exc}") from exc
    return sources


@dataclass
class S3Reader:
    """Downloads one object (at most :data:`facelib.images.MAX_BYTES`). Picklable without its client:
    a Dask worker makes its own from ``region``, ``profile`` and ``endpoint_url`` and the standard
    AWS chain, so it reads S3 itself (:mod:`facelib.ingest.cluster`)."""

    bucket: str
    key: str
    size: int
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    client: Any = field(default=None, repr=False, compare=False)
    #: The ETag the listing gave (without quotes): the download must be that version.
    etag: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "client": None}

    def _client(self) -> Any:
        if self.client is None:
            self.client = _process_client(self.region, self.profile, self.endpoint_url)
        return self.client

    def __call__(self) -> bytes:
        where = f"s3://{self.bucket}/{self.key}"
        if self.size > MAX_BYTES:
            raise BadImage(f"{where}: {self.size / 1e6:.0f} MB is over the {MAX_BYTES / 1e6:.0f} MB limit")
        pin = {"IfMatch": f'"{self.etag}"'} if self.etag else {}
        try:
            body = self._client().get_object(Bucket=self.bucket, Key=self.key, **pin)["Body"]
            data: bytes = body.read(MAX_BYTES + 1)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "412"):
                raise BadImage(f"{where}: the object was replaced after it was listed (ETag {self.etag} is gone): "
                               "run the batch again to index the new version") from exc
            raise BadImage(f"{where}: cannot be read ({code})") from exc
        except BotoCoreError as exc:
            raise BadImage(f"{where}: cannot be read ({exc})") from exc
        if len(data) > MAX_BYTES:
            raise BadImage(f"{where}: over the {MAX_BYTES / 1e6:.0f} MB limit")
        return data


@functools.lru_cache(maxsize=8)
def _process_client(region: str | None, profile: str | None, endpoint_url: str | None) -> Any:
    """One S3 client per process and setting (boto3 clients are thread-safe; making one per photo
    would cost more than the download)."""
    from ..aws import client
    from ..settings import Settings

    return client("s3", Settings(aws_region=region, aws_profile=profile), "batch", endpoint_url=endpoint_url)
