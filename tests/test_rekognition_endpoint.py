"""The Rekognition engine as the registry builds it, over HTTP to a Rekognition-shaped endpoint on
127.0.0.1 (bench/rekognition_endpoint.py): botocore's real retry handler, connection pool,
deadline and threads run, which the Stubber (answering before them) cannot show."""

from __future__ import annotations

import time

import pytest
from conftest import fixture_bytes

from bench.rekognition_endpoint import RekognitionEndpoint
from facelib import Settings, Workspace, bytes_source
from facelib.errors import EngineUnavailable
from facelib.images import decode


@pytest.fixture
def endpoint(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with RekognitionEndpoint() as ep:
        yield ep


def workspace(tmp_path, ep, **settings):
    return Workspace(Settings(data_dir=tmp_path / "data", engine="rekognition", aws_region="us-east-1",
                              aws_endpoint_url=ep.url, **settings))


def photos(n):
    """n distinct small JPEGs (a face photo with one pixel changed each)."""
    import io

    from PIL import Image

    base = Image.open(io.BytesIO(fixture_bytes("obama.jpg"))).convert("RGB")
    out = []
    for i in range(n):
        im = base.copy()
        im.putpixel((i % im.width, i // im.width), (i % 256, 0, 0))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85)
        out.append(bytes_source(f"p{i:03d}.jpg", buf.getvalue()))
    return out


def test_throttling_is_retried_by_botocore_and_then_reported_busy(endpoint, tmp_path):
    ws = workspace(tmp_path, endpoint)
    engine = ws.engine()
    img = decode(fixture_bytes("obama.jpg"))
    endpoint.fail("DetectFaces", "ThrottlingException", times=2)
    assert len(engine.detect_faces(img)) == 1  # third attempt answers
    assert endpoint.calls["DetectFaces"] == 3
    endpoint.fail("DetectFaces", "ProvisionedThroughputExceededException", times=10)
    with pytest.raises(EngineUnavailable, match="busy"):
        engine.detect_faces(decode(fixture_bytes("biden.jpg")))
    assert endpoint.calls["DetectFaces"] == 6  # 3 attempts for an interactive call, then "busy"


def test_an_interactive_call_stops_retrying_at_its_deadline(endpoint, tmp_path):
    endpoint.latency = (0.4, 0.4)
    ws = workspace(tmp_path, endpoint, aws_deadline=0.3)
    endpoint.fail("DetectFaces", "InternalServerError", times=10, status=500)
    with pytest.raises(EngineUnavailable):
        ws.engine().detect_faces(decode(fixture_bytes("obama.jpg")))
    assert endpoint.calls["DetectFaces"] == 1  # the first answer came after the deadline: no retry


def test_batches_use_their_own_client_sized_for_their_concurrency(endpoint, tmp_path):
    ws = workspace(tmp_path, endpoint, aws_concurrency=24)
    engine = ws.engine()
    assert engine.batch_client is not engine.client
    # A batch starts at 24 calls in flight and may grow to the ceiling (4 x 24): the pool holds that many.
    assert engine.start_concurrency == 24
    assert engine.batch_client.meta.config.max_pool_connections == 96 == engine.concurrency
    assert engine.batch_client.meta.config.retries["mode"] == engine.client.meta.config.retries["mode"] == "standard"
    assert engine.batch_client.meta.config.retries["total_max_attempts"] > 3


def test_a_batch_fans_out_and_indexes_every_photo_once(endpoint, tmp_path):
    endpoint.latency = (0.05, 0.1)
    ws = workspace(tmp_path, endpoint, aws_concurrency=16)
    coll = ws.create_collection("Family album")
    report = coll.index(photos(48))
    assert report.faces_indexed == 48 and not report.errors
    assert endpoint.calls["IndexFaces"] == 48
    assert endpoint.max_in_flight >= 8  # many calls at once, not one per core
    (cid,) = endpoint.collections
    assert len(endpoint.collections[cid]["faces"]) == ws.catalog.counts("Family album")["faces"] == 48
    tags = endpoint.collections[cid]["tags"]
    assert tags["facesearch:installation"] and cid.startswith("facesearch-")


def test_a_calls_per_second_limit_holds(endpoint, tmp_path):
    ws = workspace(tmp_path, endpoint, aws_concurrency=8, aws_calls_per_second=5.0)
    coll = ws.create_collection("rated")
    start = time.monotonic()
    coll.index(photos(8))
    # A lower bound only (a limit can never make it faster): 8 calls at 5/s take at least ~1.4 s
    # beyond the bucket's first token.
    assert time.monotonic() - start >= 1.0


def test_erasure_frees_faces_from_users_end_to_end(endpoint, tmp_path):
    ws = workspace(tmp_path, endpoint)
    coll = ws.create_collection("fam")
    coll.index(photos(2))
    (cid,) = endpoint.collections
    faces = list(endpoint.collections[cid]["faces"])
    endpoint.collections[cid]["users"]["mom"] = set(faces)  # Users made by another tool
    sha = coll.images()[0].sha256
    coll.delete_image(sha)
    assert len(endpoint.collections[cid]["faces"]) == 1 == coll.counts()["faces"]
    assert endpoint.calls["DisassociateFaces"] == 1 and endpoint.calls["DeleteFaces"] == 2
    coll.delete()
    assert endpoint.collections == {}


def test_a_batch_finds_the_quota_and_never_fails_a_photo_for_throttling(endpoint, tmp_path):
    """A TPS quota (token bucket) far under what 16 calls in flight ask: the batch slows down to it,
    every photo is indexed once, and throttled calls are a small share of all calls."""
    endpoint.latency = (0.05, 0.05)
    ws = workspace(tmp_path, endpoint)
    coll = ws.create_collection("quota")
    endpoint.quota("IndexFaces", 40, burst=5)
    report = coll.index(photos(90))
    assert report.faces_indexed == 90 and not report.errors
    (cid,) = endpoint.collections
    assert len(endpoint.collections[cid]["faces"]) == 90  # a throttled call indexed nothing: no duplicate
    throttled = endpoint.throttled["IndexFaces"]
    assert throttled > 0 and endpoint.calls["IndexFaces"] == 90 + throttled
    # 16 in flight at 50 ms would ask 320/s, 8x the quota, with 5 calls of burst: a short batch pays for learning it.
    assert throttled / endpoint.calls["IndexFaces"] < 0.3


def test_throttling_beyond_retries_stays_an_error_for_interactive_calls(endpoint, tmp_path):
    ws = workspace(tmp_path, endpoint)
    endpoint.fail("DetectFaces", "ThrottlingException", times=5)
    with pytest.raises(EngineUnavailable, match="busy"):
        ws.engine().detect_faces(decode(fixture_bytes("obama.jpg")))
