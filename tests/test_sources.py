"""Sources: Instagram exports (both JSON layouts) and S3 prefixes (real client, Stubber)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from conftest import fixture_bytes

from facelib import zip_sources


def instagram_zip(layout: str) -> bytes:
    posts_file = {"2024": "your_instagram_activity/content/posts_1.json", "2021": "content/posts_1.json"}[layout]
    posts = [
        {"media": [{"uri": "media/posts/202401/17.jpg", "creation_timestamp": 1704067200,
                    "title": "Caf\u00c3\u00a9 with Mom \u00f0\u009f\u0098\u008a"}]},
        {"title": "Two at once", "creation_timestamp": 1706745600,
         "media": [{"uri": "media/posts/202402/18.jpg", "creation_timestamp": 1706745600, "title": ""},
                   {"uri": "media/posts/202402/19.jpg", "creation_timestamp": 1706745601, "title": ""}]},
    ]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(posts_file, json.dumps(posts))
        zf.writestr("personal_information/personal_information.json", "{}")
        zf.writestr("media/posts/202401/17.jpg", fixture_bytes("obama.jpg"))
        zf.writestr("media/posts/202402/18.jpg", fixture_bytes("biden.jpg"))
        zf.writestr("media/posts/202402/19.jpg", fixture_bytes("obama2.jpg"))
    return buf.getvalue()


@pytest.mark.parametrize("layout", ["2024", "2021"])
def test_instagram_export_keeps_dates_and_captions(workspace, layout):
    sources = zip_sources(io.BytesIO(instagram_zip(layout)), name="instagram.zip")
    photos = {s.name: s for s in sources if s.origin == "instagram"}
    assert set(photos) == {f"instagram.zip/media/posts/{p}" for p in ("202401/17.jpg", "202402/18.jpg", "202402/19.jpg")}
    first = photos["instagram.zip/media/posts/202401/17.jpg"].metadata
    assert first["caption"] == "Café with Mom 😊" and first["post_date"] == "2024-01-01T00:00:00+00:00"
    assert photos["instagram.zip/media/posts/202402/19.jpg"].metadata["caption"] == "Two at once"
    workspace.create_collection("ig")
    report = workspace.collection("ig").index(sources, workers=1)
    assert report.faces_indexed == 3 and not report.errors  # the JSON files are not reported as errors
    stored = {i.original_name: i for i in workspace.catalog.images("ig")}
    assert stored["instagram.zip/media/posts/202401/17.jpg"].metadata["caption"] == "Café with Mom 😊"
    assert stored["instagram.zip/media/posts/202401/17.jpg"].source == "instagram"


def test_s3_prefix_is_listed_with_the_paginator_and_streamed(workspace):
    import boto3
    from botocore.response import StreamingBody
    from botocore.stub import Stubber

    from facelib.ingest.s3 import s3_sources

    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    stub = Stubber(client)
    stub.add_response("list_objects_v2", {"Contents": [
        {"Key": "photos/a.jpg", "ETag": '"etag-a"', "Size": 10}, {"Key": "photos/notes.txt", "Size": 3}],
        "IsTruncated": True, "NextContinuationToken": "t1"}, {"Bucket": "family", "Prefix": "photos/"})
    stub.add_response("list_objects_v2", {"Contents": [{"Key": "photos/sub/b.JPG", "ETag": '"etag-b"', "Size": 10}],
                                          "IsTruncated": False},
                      {"Bucket": "family", "Prefix": "photos/", "ContinuationToken": "t1"})
    for key, name, etag in (("photos/a.jpg", "obama.jpg", "etag-a"), ("photos/sub/b.JPG", "biden.jpg", "etag-b")):
        data = fixture_bytes(name)
        stub.add_response("get_object", {"Body": StreamingBody(io.BytesIO(data), len(data)), "ContentLength": len(data)},
                          {"Bucket": "family", "Key": key, "IfMatch": f'"{etag}"'})  # the listed version only
    with stub:
        sources = s3_sources("s3://family/photos/", client=client)
        assert [s.name for s in sources] == ["s3://family/photos/a.jpg", "s3://family/photos/sub/b.JPG"]
        assert sources[0].metadata == {"bucket": "family", "key": "photos/a.jpg", "etag": "etag-a", "size": 10}
        workspace.create_collection("s3")
        report = workspace.collection("s3").index(sources, workers=1)
        stub.assert_no_pending_responses()
    assert report.faces_indexed == 2
    image = next(i for i in workspace.catalog.images("s3") if i.original_name.endswith("a.jpg"))
    assert image.source == "s3" and image.metadata["etag"] == "etag-a"


def test_s3_errors_are_clear():
    import boto3
    from botocore.stub import Stubber

    from facelib.errors import EngineAuthError, InvalidParameter
    from facelib.ingest.s3 import parse_s3_uri, s3_sources

    with pytest.raises(InvalidParameter):
        parse_s3_uri("https://bucket/x")
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    stub = Stubber(client)
    stub.add_client_error("list_objects_v2", "AccessDenied", "denied", 403)
    with stub, pytest.raises(EngineAuthError, match="s3:ListBucket"):
        s3_sources("s3://private/x", client=client)
