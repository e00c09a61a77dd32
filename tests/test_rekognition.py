"""The Rekognition engine on a real boto3 client wrapped in botocore's Stubber (no AWS)."""

from __future__ import annotations

import io

import pytest
from conftest import DEV, FIXTURES, fixture_bytes, needs_dev, needs_recorded, two_faces_jpeg
from PIL import Image
from rekognition_stub import (
    ANY,
    box,
    cid,
    client_error,
    expect_count,
    face,
    face_detail,
    index_response,
    recorded,
    recorded_search,
    search_response,
)

from facelib import bytes_source, filter_matches
from facelib.errors import (
    BadImage,
    CollectionNotFound,
    CredentialsError,
    EngineAuthError,
    EngineUnavailable,
    InvalidParameter,
    QuotaExceeded,
)
from facelib.images import decode

ATTRS = ["DEFAULT", "AGE_RANGE"]


def captured_images(engine, operation):
    """Capture the Image bytes sent with ``operation`` (the Stubber checks shapes, this checks content)."""
    seen = []
    engine.client.meta.events.register(f"provide-client-params.rekognition.{operation}",
                                       lambda params, **_: seen.append(params["Image"]["Bytes"]))
    return seen


def index_params(engine, sha, max_faces=100):
    return {"CollectionId": cid(engine, "team"), "Image": {"Bytes": ANY}, "ExternalImageId": sha,
            "DetectionAttributes": ATTRS, "MaxFaces": max_faces, "QualityFilter": "NONE"}


def in_crop(image, face_box):
    """Where a face of ``image`` lies in the crop Rekognition is sent for it (relative to the crop)."""
    from facelib.thumbnails import square_crop_box

    b = _record_box(face_box)
    w, h = image.rgb.size
    x0, y0, x1, y1 = square_crop_box(b, w, h, margin=0.4)
    cw, ch = x1 - x0, y1 - y0
    return box((b.left * w - x0) / cw, (b.top * h - y0) / ch, b.width * w / cw, b.height * h / ch)


def index_two(ws, stub, engine=None):
    engine = engine or ws.engine("rekognition")
    shas = {}
    for name in ("obama.jpg", "biden.jpg"):
        data = fixture_bytes(name)
        sha = decode(data).sha256
        shas[name] = sha
        unindexed = [(box(0.7, 0.7, 0.1, 0.1), ("LOW_SHARPNESS", "SMALL_BOUNDING_BOX"))] if name == "biden.jpg" else []
        stub.add_response("index_faces", index_response(sha, unindexed=unindexed), index_params(engine, sha))
    report = ws.collection("team").index([bytes_source(n, fixture_bytes(n)) for n in shas], workers=1)
    return report, shas


def test_index_a_batch_end_to_end(rek):
    ws, engine, stub = rek
    report, shas = index_two(ws, stub)
    assert [o.status for o in report.outcomes] == ["indexed", "indexed"]
    assert report.faces_indexed == 2 and report.faces_rejected == 1
    faces = ws.catalog.faces("team")
    assert len(faces) == 2
    f = faces[0]
    assert f.detail.age_low == 30 and f.detail.brightness == 80.0 and f.detail.pose.yaw == 5.0
    assert f.detail.size_px == round(min(0.3 * 512, 0.35 * 640))  # box relative to the original size
    thumb = Image.open(ws.path(f.thumb_path))
    assert thumb.size == (96, 96)
    rejected = ws.catalog.faces("team", status="rejected")
    assert len(rejected) == 1 and rejected[0].reasons == ("LOW_SHARPNESS", "SMALL_BOUNDING_BOX")
    # Rerun: no paid call at all (the stub has nothing queued and would fail).
    again = ws.collection("team").index([bytes_source(n, fixture_bytes(n)) for n in shas], workers=1)
    assert {o.status for o in again.outcomes} == {"skipped"}
    ops = {o["operation"]: o for o in ws.costs().to_json()["operations"]}
    assert ops["IndexFaces"] == {"operation": "IndexFaces", "calls": 2, "cache_hits": 0, "spent": 0.002, "saved": 0.0}
    assert ops["CreateCollection"]["spent"] == 0.0 and ws.costs().stored_faces == 2


def test_search_by_image_is_cached_and_thresholded_locally(rek):
    ws, engine, stub = rek
    _, shas = index_two(ws, stub)
    obama_face = ws.catalog.faces("team", image_sha256=shas["obama.jpg"])[0]
    biden_face = ws.catalog.faces("team", image_sha256=shas["biden.jpg"])[0]
    query = decode(fixture_bytes("obama2.jpg"), "q.jpg")
    stub.add_response("detect_faces", {"FaceDetails": [face_detail()]},
                      {"Image": {"Bytes": ANY}, "Attributes": ATTRS})
    expect_count(engine, stub, "team", 2)
    matches = [(face(obama_face.face_id, shas["obama.jpg"]), 97.5), (face(biden_face.face_id, shas["biden.jpg"]), 61.0)]
    stub.add_response("search_faces_by_image", search_response(matches, box()),
                      {"CollectionId": cid(engine, "team"), "Image": {"Bytes": ANY}, "FaceMatchThreshold": 50.0,
                       "MaxFaces": 1000})
    first = ws.collection("team").search_image(query)
    assert [r.image_name for r in first.rows] == ["obama.jpg", "biden.jpg"]
    assert first.rows[0].thumb_path and first.rows[0].detail.age_low == 30
    # Moving the threshold filters locally; the same search again is served by the cache.
    assert [r.image_name for r in filter_matches(first.rows, 80)] == ["obama.jpg"]
    expect_count(engine, stub, "team", 2)  # the free check that the collection did not change
    second = ws.collection("team").search_image(decode(fixture_bytes("obama2.jpg"), "again.jpg"))
    assert second.rows == first.rows
    costs = {o["operation"]: o for o in ws.costs().to_json()["operations"]}
    assert costs["DetectFaces"]["calls"] == 1 and costs["DetectFaces"]["cache_hits"] == 1
    assert costs["SearchFacesByImage"]["calls"] == 1 and costs["SearchFacesByImage"]["cache_hits"] == 1
    assert ws.costs().saved == pytest.approx(0.002)


def test_an_index_makes_cached_searches_stale(rek):
    ws, engine, stub = rek
    _, shas = index_two(ws, stub)
    fid = ws.catalog.faces("team", image_sha256=shas["obama.jpg"])[0].face_id
    params = {"CollectionId": cid(engine, "team"), "FaceId": fid, "FaceMatchThreshold": 50.0, "MaxFaces": 1000}
    expect_count(engine, stub, "team", 2)
    stub.add_response("search_faces", search_response([]), params)
    assert ws.collection("team").search_face(fid).rows == ()
    expect_count(engine, stub, "team", 2)
    assert ws.collection("team").search_face(fid).rows == ()  # cached
    sha = decode(fixture_bytes("obama3.jpg")).sha256
    stub.add_response("index_faces", index_response(sha), index_params(engine, sha))
    ws.collection("team").index([bytes_source("obama3.jpg", fixture_bytes("obama3.jpg"))], workers=1)
    new_face = ws.catalog.faces("team", image_sha256=sha)[0]
    expect_count(engine, stub, "team", 3)
    stub.add_response("search_faces", search_response([(face(new_face.face_id, sha), 95.0)]), params)
    assert [r.image_name for r in ws.collection("team").search_face(fid).rows] == ["obama3.jpg"]


def test_errors_are_not_cached(rek):
    ws, engine, stub = rek
    img = decode(fixture_bytes("obama.jpg"))
    client_error(stub, "detect_faces", "ProvisionedThroughputExceededException", status=400)
    with pytest.raises(EngineUnavailable, match="after retries"):
        engine.detect_faces(img)
    stub.add_response("detect_faces", {"FaceDetails": [face_detail()]})
    assert len(engine.detect_faces(img)) == 1
    assert len(engine.detect_faces(img)) == 1  # now cached


def test_other_face_of_a_group_photo_is_cropped_and_sent_alone(rek):
    ws, engine, stub = rek
    pair = decode(two_faces_jpeg(), "pair.jpg")
    left, right = box(0.1, 0.1, 0.25, 0.4), box(0.62, 0.1, 0.2, 0.3)
    stub.add_response("detect_faces", {"FaceDetails": [face_detail(left), face_detail(right)]})
    sent = captured_images(engine, "SearchFacesByImage")
    expect_count(engine, stub, "team")
    stub.add_response("search_faces_by_image", search_response([], in_crop(pair, right)))
    res = engine.search_faces_by_image("team", pair, threshold=50, max_faces=10, face_index=1)
    assert res.searched_face == 1 and len(res.query_faces) == 2
    crop = Image.open(io.BytesIO(sent[0]))
    assert crop.width < pair.rgb.width / 2 and abs(crop.width - crop.height) <= 1
    # Even the largest face is sent alone: the neighbour is painted over in its crop.
    expect_count(engine, stub, "team")
    stub.add_response("search_faces_by_image", search_response([], in_crop(pair, left)))
    engine.search_faces_by_image("team", pair, threshold=50, max_faces=10)
    assert sent[1] != pair.data


def test_no_face_is_an_empty_result(rek):
    ws, engine, stub = rek
    sky = Image.new("RGB", (200, 200), (90, 140, 200))
    buf = io.BytesIO()
    sky.save(buf, "JPEG")
    stub.add_response("detect_faces", {"FaceDetails": []})
    res = engine.search_faces_by_image("team", decode(buf.getvalue()))
    assert res.query_faces == () and res.matches == ()
    img = decode(fixture_bytes("obama.jpg"))
    stub.add_response("detect_faces", {"FaceDetails": [face_detail()]})
    expect_count(engine, stub, "team")
    client_error(stub, "search_faces_by_image", "InvalidParameterException",
                 "There are no faces in the image. Should be at least 1.")
    res = engine.search_faces_by_image("team", img)
    assert len(res.query_faces) == 1 and res.matches == ()
    # Another validation error is not "no face": it is reported.
    expect_count(engine, stub, "team")
    client_error(stub, "search_faces_by_image", "InvalidParameterException", "Request has invalid parameters")
    with pytest.raises(InvalidParameter, match="invalid parameters"):
        engine.search_faces_by_image("team", decode(fixture_bytes("obama.jpg"), "other.jpg"), threshold=51)


def test_list_faces_paginates_and_is_never_cached(rek):
    ws, engine, stub = rek
    c = cid(engine, "team")
    for _ in range(2):  # ListFaces is free: asked again every time, never served stale
        stub.add_response("list_faces", {"Faces": [face("a"), face("b")], "NextToken": "t1"},
                          {"CollectionId": c, "MaxResults": 4096})
        stub.add_response("list_faces", {"Faces": [face("c")]}, {"CollectionId": c, "MaxResults": 4096,
                                                                  "NextToken": "t1"})
        assert engine.list_faces("team") == ["a", "b", "c"]
    for _ in range(2):
        stub.add_response("describe_collection", {"FaceCount": 3, "FaceModelVersion": "7.0"}, {"CollectionId": c})
        assert engine.describe_collection("team").face_count == 3
    assert not [k for k in engine.cache.cache.iterkeys() if "ListFaces" in str(k) or "DescribeCollection" in str(k)]


def test_delete_faces_counts_not_found_as_gone(rek):
    ws, engine, stub = rek
    stub.add_response("delete_faces", {"DeletedFaces": ["a"], "UnsuccessfulFaceDeletions": [
        {"FaceId": "b", "Reasons": ["FACE_NOT_FOUND"]}]}, {"CollectionId": cid(engine, "team"), "FaceIds": ["a", "b"]})
    assert engine.delete_faces("team", ["a", "b"]) == ["a", "b"]


@pytest.mark.parametrize("code,exc,words", [
    ("InvalidParameterException", InvalidParameter, "InvalidParameterException"),
    ("ResourceNotFoundException", CollectionNotFound, "does not exist"),
    ("AccessDeniedException", EngineAuthError, "rekognition:DetectFaces"),
    ("UnrecognizedClientException", CredentialsError, "did not accept the credentials"),
    ("InvalidSignatureException", CredentialsError, "clock"),
    ("ExpiredTokenException", CredentialsError, "session token"),
    ("ServiceQuotaExceededException", QuotaExceeded, "quota"),
    ("ProvisionedThroughputExceededException", EngineUnavailable, "busy"),
    ("ThrottlingException", EngineUnavailable, "busy"),
    ("ImageTooLargeException", BadImage, "refused the image"),
    ("InvalidImageFormatException", BadImage, "refused the image"),
])
def test_error_codes_map_to_facelib_errors(rek, code, exc, words):
    ws, engine, stub = rek
    client_error(stub, "detect_faces", code, "message from AWS")
    if code == "InvalidImageFormatException":  # refused once more after re-encoding
        client_error(stub, "detect_faces", code, "message from AWS")
    with pytest.raises(exc, match=words) as info:
        engine.detect_faces(decode(fixture_bytes("obama.jpg")))
    assert info.value.__cause__ is not None  # chained from the boto error
    if exc is CredentialsError:
        assert "permission" not in str(info.value)  # bad credentials are not a missing permission


def test_missing_collection_on_search(rek):
    ws, engine, stub = rek
    with pytest.raises(CollectionNotFound):  # not this installation's: no call at all
        engine.search_faces("gone", "f", 80, 10)
    client_error(stub, "describe_collection", "ResourceNotFoundException", "The collection id: x does not exist")
    with pytest.raises(CollectionNotFound):  # deleted elsewhere
        engine.search_faces("team", "f", 80, 10)


def test_a_missing_user_is_not_a_missing_collection(rek):
    ws, engine, stub = rek
    client_error(stub, "delete_user", "ResourceNotFoundException", "The user id: u does not exist")
    assert engine.delete_user("team", "u") is False
    client_error(stub, "disassociate_faces", "ResourceNotFoundException", "The user id: u does not exist")
    assert engine.disassociate_faces("team", "u", ["f"]) == ["f"]


def test_limits_are_enforced_before_any_call(rek):
    ws, engine, stub = rek
    img = decode(fixture_bytes("obama.jpg"))
    with pytest.raises(InvalidParameter):
        engine.search_faces("team", "f", threshold=150)
    with pytest.raises(InvalidParameter):
        engine.search_faces("team", "f", max_faces=0)
    with pytest.raises(InvalidParameter):
        engine.index_faces("team", img, "has spaces in it")
    with pytest.raises(InvalidParameter):
        engine.index_faces("team", img, "ok\n")  # the pattern is matched in full
    with pytest.raises(InvalidParameter):
        engine.index_faces("team", img, "ok", max_faces=101)
    with pytest.raises(InvalidParameter):
        engine.create_collection("fam\n")


def test_large_png_and_tiny_image_are_prepared(rek):
    from facelib.engines.rekognition.shapes import MAX_IMAGE_BYTES, prepare_image

    rng = __import__("numpy").random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 255, (1800, 1800, 3), dtype="uint8"))
    buf = io.BytesIO()
    noisy.save(buf, "PNG")
    assert len(buf.getvalue()) > MAX_IMAGE_BYTES
    big = decode(buf.getvalue(), max_side=None)
    sent = prepare_image(big)
    assert len(sent) <= MAX_IMAGE_BYTES and Image.open(io.BytesIO(sent)).format == "JPEG"
    out = Image.open(io.BytesIO(sent))
    assert out.width / out.height == pytest.approx(1.0)  # same aspect: relative boxes still hold
    small = Image.new("RGB", (60, 40), (200, 150, 120))
    buf = io.BytesIO()
    small.save(buf, "PNG")
    tiny = Image.open(io.BytesIO(prepare_image(decode(buf.getvalue()))))
    assert min(tiny.size) >= 80 and tiny.width / tiny.height == pytest.approx(1.5, rel=0.02)
    ok = decode(fixture_bytes("obama.jpg"))
    assert prepare_image(ok) == ok.data  # a fitting JPEG is sent as it is
    webp = io.BytesIO()
    Image.open(FIXTURES / "obama.jpg").save(webp, "WEBP")
    assert Image.open(io.BytesIO(prepare_image(decode(webp.getvalue())))).format == "JPEG"


def test_reencoded_images_are_sent_at_1920_px(rek):
    from facelib.engines.rekognition.shapes import SEND_MAX_SIDE, prepare_image

    big = Image.open(FIXTURES / "obama.jpg").convert("RGB").resize((3000, 2400))
    buf = io.BytesIO()
    big.save(buf, "WEBP")
    sent = Image.open(io.BytesIO(prepare_image(decode(buf.getvalue()))))  # the working copy is 1600 px
    assert max(sent.size) == SEND_MAX_SIDE == 1920


def test_a_refused_format_is_reencoded_once(rek):
    ws, engine, stub = rek
    cmyk = io.BytesIO()
    Image.open(FIXTURES / "obama.jpg").convert("CMYK").save(cmyk, "JPEG")
    img = decode(cmyk.getvalue(), "cmyk.jpg")
    sent = captured_images(engine, "DetectFaces")
    client_error(stub, "detect_faces", "InvalidImageFormatException", "Request has invalid image format")
    stub.add_response("detect_faces", {"FaceDetails": [face_detail()]})
    assert len(engine.detect_faces(img)) == 1
    assert sent[0] == img.data and Image.open(io.BytesIO(sent[1])).mode == "RGB"
    # Refused twice: a per-file error, and a batch clears the image's pending mark (nothing was written).
    client_error(stub, "index_faces", "InvalidImageFormatException", "Request has invalid image format")
    client_error(stub, "index_faces", "InvalidImageFormatException", "Request has invalid image format")
    report = ws.collection("team").index([bytes_source("cmyk.jpg", cmyk.getvalue())], workers=1)
    assert report.outcomes[0].status == "error" and "refused the image" in report.outcomes[0].message
    assert ws.catalog.pending("team") == []


def test_no_credentials_is_a_credentials_error(monkeypatch, workspace):
    from botocore.exceptions import NoCredentialsError

    from facelib.engines.rekognition.shapes import map_error

    assert isinstance(map_error(NoCredentialsError(), "DetectFaces"), CredentialsError)


# -- replaying the recorded real responses ------------------------------------------------------
@needs_recorded
@needs_dev
def test_recorded_detect_faces_maps_every_face(rek):
    ws, engine, stub = rek
    resp = recorded("detect-faces", "alice3")
    stub.add_response("detect_faces", resp, {"Image": {"Bytes": ANY}, "Attributes": ATTRS})
    img = decode((DEV / "images" / "alice3.jpg").read_bytes(), "alice3.jpg")
    faces = engine.detect_faces(img)
    assert len(faces) == len(resp["FaceDetails"]) == 2
    for d, raw in zip(faces, resp["FaceDetails"], strict=False):
        assert d.box.left == pytest.approx(raw["BoundingBox"]["Left"])
        assert d.brightness == pytest.approx(raw["Quality"]["Brightness"])
        assert d.age_low == raw["AgeRange"]["Low"] and len(d.landmarks) == len(raw["Landmarks"])


@needs_recorded
@needs_dev
def test_recorded_index_and_search_through_the_pipeline(rek):
    ws, engine, stub = rek
    names = ["alice1", "alice2", "alice3"]
    for n in names:
        sha = decode((DEV / "images" / f"{n}.jpg").read_bytes()).sha256
        stub.add_response("index_faces", recorded("index-faces", n), index_params(engine, sha))
    report = ws.collection("team").index(
        [bytes_source(f"{n}.jpg", (DEV / "images" / f"{n}.jpg").read_bytes()) for n in names], workers=1)
    expected = sum(len(recorded("index-faces", n)["FaceRecords"]) for n in names)
    assert report.faces_indexed == expected
    face_id, resp = recorded_search("alice1")
    ids = {f.face_id for f in ws.catalog.faces("team")}
    assert face_id in ids  # the recorded search was made for a face of alice1
    expect_count(engine, stub, "team", report.faces_indexed)
    stub.add_response("search_faces", resp, {"CollectionId": cid(engine, "team"), "FaceId": face_id,
                                             "FaceMatchThreshold": 50.0, "MaxFaces": 1000})
    rows = ws.collection("team").search_face(face_id).rows
    assert len(rows) == len(resp["FaceMatches"])
    known = [r for r in rows if r.thumb_path]
    assert {r.image_name for r in known} <= {"alice2.jpg", "alice3.jpg"} and known
    assert all(r.similarity >= 80 for r in rows)


def test_preflight_estimate(rek):
    ws, engine, stub = rek
    index_two(ws, stub)
    sources = [bytes_source(n, fixture_bytes(n)) for n in ("obama.jpg", "biden.jpg", "obama2.jpg", "obama3.jpg")]
    sources.append(bytes_source("copy.jpg", fixture_bytes("obama3.jpg")))
    sources.append(bytes_source("notes.jpg", b"not an image at all"))
    est = ws.collection("team").estimate(sources)
    assert (est.files, est.already_indexed, est.duplicates, est.unreadable, est.paid_calls) == (6, 2, 1, 1, 2)
    # Grouping afterwards: one SearchFaces for each new face (1 face per image so far) and for each of
    # the 2 faces indexed but never searched.
    assert est.grouping_calls == 4 and est.unsearched == 2 and est.index_dollars == pytest.approx(0.002)
    assert est.dollars == pytest.approx(0.006)


def test_costs_cli_reads_the_ledger(rek):
    import json
    import subprocess
    import sys

    from conftest import ROOT

    ws, engine, stub = rek
    index_two(ws, stub)
    out = subprocess.run([sys.executable, "-m", "facelib", "costs", "--json", "--data-dir", str(ws.settings.data_dir)],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    doc = json.loads(out)
    assert doc["paid_calls"] == 2 and doc["spent_usd"] == pytest.approx(0.002) and doc["stored_faces"] == 2


def test_index_anyway_crops_the_face_and_maps_the_box_back(rek):
    ws, engine, stub = rek
    data = two_faces_jpeg()
    sha = decode(data).sha256
    right = box(0.62, 0.1, 0.2, 0.3)
    stub.add_response("index_faces", index_response(sha, unindexed=[(right, ("EXCEEDS_MAX_FACES",))]),
                      index_params(engine, sha, max_faces=1))
    ws.collection("team").index([bytes_source("pair.jpg", data)], workers=1, max_faces=1)
    rejected = ws.catalog.faces("team", status="rejected")[0]
    sent = captured_images(engine, "IndexFaces")
    stub.add_response("detect_faces", {"FaceDetails": [face_detail(), face_detail(right)]})  # the neighbours
    stub.add_response("index_faces", index_response(sha, boxes=[box(0.2, 0.2, 0.6, 0.6)]), index_params(engine, sha, 1))
    promoted = ws.collection("team").index_anyway(rejected.face_id)
    crop = Image.open(io.BytesIO(sent[0]))
    assert crop.width < decode(data).rgb.width / 2
    assert promoted.status == "indexed" and promoted.detail.box == rejected.detail.box
    assert ws.catalog.counts("team")["rejected"] == 0


def test_index_face_region_maps_the_crop_box_to_the_image(rek):
    ws, engine, stub = rek
    pair = decode(two_faces_jpeg(), "pair.jpg")
    right = box(0.62, 0.1, 0.2, 0.3)
    stub.add_response("index_faces", index_response(pair.sha256, boxes=[box(0.25, 0.25, 0.5, 0.5)]))
    face = engine.index_face_region("team", pair, _record_box(right), pair.sha256, others=[])
    b = face.detail.box
    # The crop is centred on the right face, and the returned box its middle half: so is the mapped one.
    assert abs((b.left + b.width / 2) - 0.72) < 0.02 and abs((b.top + b.height / 2) - 0.25) < 0.03
    assert 0 < b.width < 0.3 and face.face_id


def _record_box(d):
    from facelib.records import BoundingBox

    return BoundingBox(d["Left"], d["Top"], d["Width"], d["Height"])


def test_people_graph_costs_one_search_per_face_and_makes_no_users(rek):
    ws, engine, stub = rek
    _, shas = index_two(ws, stub)
    faces = sorted(ws.catalog.faces("team"), key=lambda f: f.face_id)  # searched in id order
    people = ws.collection("team").people
    assert people.pending_searches() == 2
    for f in faces:
        other = next(o for o in faces if o.face_id != f.face_id)
        expect_count(engine, stub, "team", 2)
        stub.add_response("search_faces", search_response([(face(other.face_id, other.image_sha256), 60.0)]),
                          {"CollectionId": cid(engine, "team"), "FaceId": f.face_id, "FaceMatchThreshold": 50.0,
                           "MaxFaces": 1000})
    assert people.update() == 2
    assert len(people.listing()) == 2 and people.pending_searches() == 0
    people.regroup()  # no stubbed response left: a paid call here would fail the test
    people.merge([p.person_id for p in people.listing()])  # corrections make no call either (no Users)
    assert not hasattr(people, "mirror_to_users")


def test_a_failed_index_call_leaves_nothing_half_written_and_a_rerun_cleans_up(rek):
    ws, engine, stub = rek
    retries = engine.client.meta.config.retries  # standard mode, 3 attempts (interactive)
    assert retries["mode"] == "standard" and retries["total_max_attempts"] == 3
    data = fixture_bytes("obama.jpg")
    sha = decode(data).sha256
    client_error(stub, "index_faces", "InternalServerError", "try later", status=500)  # (throttling is retried)
    report = ws.collection("team").index([bytes_source("obama.jpg", data)], workers=1)
    assert report.outcomes[0].status == "error" and "busy" in report.outcomes[0].message
    assert ws.catalog.counts("team") == {"images": 0, "faces": 0, "rejected": 0}
    assert not list(ws.settings.thumbs_dir.rglob("*.jpg"))
    assert ws.catalog.pending("team") == [sha]
    # The rerun first removes whatever AWS may have kept for that image, then indexes it once.
    stub.add_response("list_faces", {"Faces": [face("ghost", sha), face("other", "another-image")]},
                      {"CollectionId": cid(engine, "team"), "MaxResults": 4096})
    stub.add_response("delete_faces", {"DeletedFaces": ["ghost"]}, {"CollectionId": cid(engine, "team"),
                                                                     "FaceIds": ["ghost"]})
    stub.add_response("index_faces", index_response(sha), index_params(engine, sha))
    again = ws.collection("team").index([bytes_source("obama.jpg", data)], workers=1)
    assert again.faces_indexed == 1 and ws.catalog.pending("team") == []


def test_compare_on_rekognition_is_one_cached_call(rek):
    """The Compare page's call on a Rekognition collection: CompareFaces once, then the cache."""
    from rekognition_stub import box

    ws, engine, stub = rek
    coll = ws.collection("team")
    src, dst = decode(fixture_bytes("obama.jpg"), "a.jpg"), decode(fixture_bytes("obama2.jpg"), "b.jpg")
    stub.add_response("compare_faces", {"SourceImageFace": {"BoundingBox": box(), "Confidence": 99.9},
                                        "FaceMatches": [{"Similarity": 97.5, "Face": {"BoundingBox": box(0.4),
                                                                                     "Confidence": 99.8}}],
                                        "UnmatchedFaces": []})
    first = coll.compare(src, dst)
    again = coll.compare(src, dst)
    assert [round(m.similarity, 1) for m in first] == [97.5] == [round(m.similarity, 1) for m in again]
    assert first[0].face.detail.box.left == pytest.approx(0.4)
    stub.assert_no_pending_responses()
