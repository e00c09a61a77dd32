"""Issue 23: the Rekognition engine's third audit (botocore Stubber on the real client; no AWS).

1 the estimate counts only files that will cost a call; 2 person erasure without DeleteUser, and
a half-way failure lets go of the faces AWS confirmed deleted; 3 erasure is linear and batched;
4 a damaged cache is a miss, an unreadable one is moved aside, erasure never depends on it, and
the engine checks it for doctor; 5 CompareFaces (CMYK source, no face, eviction); 6 S3 downloads
pinned to the listed ETag; 7 Index anyway paints out neighbours. Plus the spending limit jobs use.
"""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest
from conftest import fixture_bytes, two_faces_jpeg
from PIL import Image
from rekognition_stub import (
    box,
    cid,
    client_error,
    expect_count,
    face,
    face_detail,
    index_response,
    make_engine,
)

from facelib import Settings, Workspace, bytes_source
from facelib.errors import BudgetExceeded, ErasureIncomplete, InvalidParameter
from facelib.images import decode


def png(size, mode="RGB"):
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG")
    return buf.getvalue()


def index_photo(ws, stub, name="obama.jpg", collection="team"):
    data = fixture_bytes(name)
    sha = decode(data).sha256
    stub.add_response("index_faces", index_response(sha))
    ws.collection(collection).index([bytes_source(name, data)], workers=1)
    return sha, ws.catalog.faces(collection, image_sha256=sha)[0].face_id


def _bb(d):
    from facelib.records import BoundingBox

    return BoundingBox(d["Left"], d["Top"], d["Width"], d["Height"])


# -- 1. the estimate -------------------------------------------------------------------------------
def test_the_estimate_counts_only_files_that_will_cost_a_call(rek):
    ws, engine, stub = rek
    ico = io.BytesIO()
    Image.open(io.BytesIO(fixture_bytes("obama.jpg"))).save(ico, "ICO")
    sources = [bytes_source("tiny.png", png((10, 10))),            # under 16 px: refused by decode
               bytes_source("icon.ico", ico.getvalue()),            # a format decode does not take
               bytes_source("huge.png", png((11_000, 11_000), "1")),  # 121 MP: over the 120 MP limit
               bytes_source("obama.jpg", fixture_bytes("obama.jpg"))]
    est = ws.collection("team").estimate(sources)
    assert (est.files, est.unreadable, est.paid_calls) == (4, 3, 1)
    alone = ws.collection("team").estimate(sources[:1])
    assert alone.paid_calls == 0 and alone.dollars == 0


def test_a_free_file_passes_a_small_budget_and_the_refusal_prints_real_cents(tmp_path):
    ws = Workspace(Settings(data_dir=tmp_path / "d", budget_usd=0.002))
    engine, stub = make_engine(ws)
    from rekognition_stub import expect_create

    expect_create(engine, stub, "team")
    ws.create_collection("team", "rekognition")
    assert ws.collection("team").check_budget([bytes_source("tiny.png", png((10, 10)))]).dollars == 0
    photos = [bytes_source(n, fixture_bytes(n)) for n in ("obama.jpg", "biden.jpg")]
    assert ws.collection("team").check_budget(photos).index_dollars == 0.002  # without grouping: within
    with pytest.raises(BudgetExceeded) as info:  # grouping's searches too (a job that groups)
        ws.collection("team").check_budget(photos, grouping=True)
    assert "$0.002" in str(info.value) and "$0.00:" not in str(info.value) and "$0.005" in str(info.value)
    stub.assert_no_pending_responses()


def test_the_estimate_counts_every_face_grouping_will_search(rek):
    ws, engine, stub = rek
    index_photo(ws, stub, "obama.jpg")
    index_photo(ws, stub, "biden.jpg")
    assert ws.collection("team").people.pending_searches() == 2
    est = ws.collection("team").estimate([bytes_source("obama2.jpg", fixture_bytes("obama2.jpg"))])
    # The new photo's face (1 a photo so far) and the 2 faces never searched.
    assert est.grouping_calls == 3 and est.unsearched == 2
    assert est.dollars == pytest.approx(0.004)


# -- 2. person erasure ------------------------------------------------------------------------------
def person_of(ws, face_ids, collection="team"):
    people = ws.collection(collection).people
    pid = people.store.new_person()
    people.store.assign(face_ids, pid)
    return pid


def test_erasing_a_person_needs_no_delete_user_permission(rek):
    ws, engine, stub = rek
    sha, fid = index_photo(ws, stub)
    pid = person_of(ws, [fid])
    # Only DeleteFaces: a DeleteUser here would be an unexpected call (the policy withholds it).
    stub.add_response("delete_faces", {"DeletedFaces": [fid]}, {"CollectionId": cid(engine, "team"), "FaceIds": [fid]})
    assert ws.collection("team").delete_person(pid) == 1
    assert ws.catalog.counts("team")["faces"] == 0


def test_the_persons_own_user_is_deleted_after_its_faces(rek):
    from rekognition_stub import expect_erasure_through_user

    from facelib.people.service import user_id

    ws, engine, stub = rek
    sha, fid = index_photo(ws, stub)
    pid = person_of(ws, [fid])
    c = cid(engine, "team")
    expect_erasure_through_user(stub, c, fid, user_id(pid))
    stub.add_response("delete_user", {}, {"CollectionId": c, "UserId": user_id(pid)})
    assert ws.collection("team").delete_person(pid) == 1


def test_a_half_way_failure_lets_go_of_the_faces_aws_deleted(rek):
    ws, engine, stub = rek
    _, fid = index_photo(ws, stub)
    _, fid2 = index_photo(ws, stub, "biden.jpg")
    c = cid(engine, "team")
    stub.add_response("delete_faces", {"DeletedFaces": [fid], "UnsuccessfulFaceDeletions": [
        {"FaceId": fid2, "UserId": "mom", "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"]}]},
        {"CollectionId": c, "FaceIds": [fid, fid2]})
    client_error(stub, "disassociate_faces", "AccessDeniedException", "not authorized")
    with pytest.raises(ErasureIncomplete, match="rekognition:DisassociateFaces") as info:
        ws.collection("team").delete_faces([fid, fid2])
    assert info.value.remaining == [fid2]
    assert [f.face_id for f in ws.catalog.faces("team")] == [fid2]  # AWS confirmed fid gone: so is the row


# -- 3. erasure is linear and batched ----------------------------------------------------------------------
def test_erasing_20000_faces_is_linear_and_4096_a_call(rek):
    ws, engine, stub = rek
    c = cid(engine, "team")
    ids = [f"{i:08d}-0000-0000-0000-000000000000" for i in range(20_000)]
    sizes = []
    for start in range(0, len(ids), 4096):
        page = ids[start:start + 4096]
        sizes.append(len(page))
        stub.add_response("delete_faces", {"DeletedFaces": page}, {"CollectionId": c, "FaceIds": page})
    started = time.perf_counter()
    assert engine.delete_faces("team", ids) == ids
    assert time.perf_counter() - started < 5.0  # quadratic: 400 million set insertions took minutes
    assert sizes == [4096] * 4 + [3616]


# -- 4. a damaged cache --------------------------------------------------------------------------------------
def big_detect_answer(n=400):
    return {"FaceDetails": [face_detail(box(0.001 * i, 0.1, 0.05, 0.05)) for i in range(n)]}


def test_an_emptied_value_file_is_a_miss_and_is_removed(rek):
    ws, engine, stub = rek
    img = decode(fixture_bytes("obama.jpg"))
    stub.add_response("detect_faces", big_detect_answer())
    assert len(engine.detect_faces(img)) == 400
    (value,) = [p for p in ws.settings.cache_dir.rglob("*.val")]  # stored as a file (over 32 KB)
    value.write_bytes(b"")
    stub.add_response("detect_faces", big_detect_answer())  # asked again: a miss
    assert len(engine.detect_faces(img)) == 400
    assert len(engine.detect_faces(img)) == 400  # and kept again


def damage(path):
    path.write_bytes(b"this is not a database at all " * 200)


def test_an_unreadable_cache_is_moved_aside_and_searches_and_erasure_go_on(rek):
    ws, engine, stub = rek
    sha, fid = index_photo(ws, stub)
    engine.cache.close()
    damage(ws.settings.cache_dir / "cache.db")
    for p in ws.settings.cache_dir.glob("cache.db-*"):
        p.unlink()
    stub.add_response("detect_faces", {"FaceDetails": [face_detail()]})
    expect_count(engine, stub, "team")
    stub.add_response("search_faces_by_image", {"FaceMatches": [], "SearchedFaceBoundingBox": box()})
    assert ws.collection("team").search_image(decode(fixture_bytes("obama2.jpg"))).rows == ()
    assert engine.cache.damaged_copies()  # moved aside, not lost in place
    stub.add_response("delete_faces", {"DeletedFaces": [fid]})
    assert ws.collection("team").delete_image(sha) == 1
    assert engine.cache.damaged_copies() == []  # erasure leaves no copy holding answers about it


def test_a_cache_unreadable_when_opened_is_started_afresh(tmp_path):
    from facelib.engines.rekognition.cache import PaidCallCache

    (tmp_path / "cache").mkdir()
    damage(tmp_path / "cache" / "cache.db")
    cache = PaidCallCache(tmp_path / "cache")
    assert cache.get_or_call("k", lambda: {"a": 1}) == {"a": 1} == cache.get_or_call("k", lambda: {"b": 2})
    assert len(cache.damaged_copies()) == 1


def test_erasure_does_not_depend_on_the_cache(rek, monkeypatch):
    ws, engine, stub = rek
    sha, fid = index_photo(ws, stub)

    def broken(*_a, **_k):
        raise OSError("I/O error")
    monkeypatch.setattr(engine.cache.cache, "iterkeys", broken)
    stub.add_response("delete_faces", {"DeletedFaces": [fid]})
    assert ws.collection("team").delete_image(sha) == 1
    assert ws.catalog.counts("team")["images"] == 0


def test_the_engine_checks_and_repairs_its_cache_for_doctor(rek):
    from facelib.engines.base import HasCache

    ws, engine, stub = rek
    assert isinstance(engine, HasCache) and engine.check_cache() == []
    img = decode(fixture_bytes("obama.jpg"))
    stub.add_response("detect_faces", big_detect_answer())
    engine.detect_faces(img)
    next(ws.settings.cache_dir.rglob("*.val")).write_bytes(b"\x80")
    assert engine.check_cache() == ["1 cached answers cannot be read"]
    assert engine.check_cache(repair=True) and engine.check_cache() == []
    engine.cache.close()
    damage(ws.settings.cache_dir / "cache.db")
    assert "cannot be read" in engine.check_cache()[0]
    engine.check_cache(repair=True)
    assert engine.check_cache() == [] and engine.cache.damaged_copies() == []


# -- 5. CompareFaces -------------------------------------------------------------------------------------------
def compare_answer():
    return {"SourceImageFace": {"BoundingBox": box(), "Confidence": 99.9}, "UnmatchedFaces": [],
            "FaceMatches": [{"Similarity": 97.5, "Face": {"BoundingBox": box(0.4), "Confidence": 99.8}}]}


def test_a_cmyk_source_is_reencoded_for_compare_faces(rek):
    ws, engine, stub = rek
    cmyk = io.BytesIO()
    Image.open(io.BytesIO(fixture_bytes("obama.jpg"))).convert("CMYK").save(cmyk, "JPEG")
    sources = []
    engine.client.meta.events.register("provide-client-params.rekognition.CompareFaces",
                                       lambda params, **_: sources.append(params["SourceImage"]["Bytes"]))
    client_error(stub, "compare_faces", "InvalidImageFormatException", "Request has invalid image format")
    stub.add_response("compare_faces", compare_answer())
    matches = engine.compare_faces(decode(cmyk.getvalue(), "cmyk.jpg"), decode(fixture_bytes("obama2.jpg")))
    assert [round(m.similarity, 1) for m in matches] == [97.5]
    assert Image.open(io.BytesIO(sources[1])).mode == "RGB"


def test_no_face_in_either_image_is_an_empty_comparison(rek):
    ws, engine, stub = rek
    client_error(stub, "compare_faces", "InvalidParameterException", "Request has invalid parameters")
    assert engine.compare_faces(decode(fixture_bytes("obama.jpg")), decode(fixture_bytes("biden.jpg"))) == []
    client_error(stub, "compare_faces", "InvalidParameterException", "There are no faces in the source image.")
    assert engine.compare_faces(decode(fixture_bytes("obama2.jpg")), decode(fixture_bytes("biden.jpg"))) == []


def test_erasing_a_photo_evicts_the_comparison_of_a_face_cut_from_it(rek):
    ws, engine, stub = rek
    sha, fid = index_photo(ws, stub)
    coll = ws.collection("team")
    stub.add_response("compare_faces", compare_answer())
    coll.compare(coll.face_picture(fid), decode(fixture_bytes("obama2.jpg")))
    assert [k for k in engine.cache.cache.iterkeys() if "CompareFaces" in str(k)]
    stub.add_response("delete_faces", {"DeletedFaces": [fid]})
    coll.delete_image(sha)
    assert [k for k in engine.cache.cache.iterkeys() if "CompareFaces" in str(k)] == []


# -- 6. S3 objects replaced between listing and reading -----------------------------------------------------------
def test_an_s3_object_replaced_after_the_listing_is_not_indexed_under_the_old_etag(rek):
    import boto3
    from botocore.response import StreamingBody
    from botocore.stub import Stubber

    from facelib.ingest.s3 import s3_sources

    ws, engine, stub = rek
    s3 = boto3.client("s3", region_name="us-east-1")
    s3_stub = Stubber(s3)
    s3_stub.add_response("list_objects_v2", {"Contents": [
        {"Key": "p/a.jpg", "ETag": '"ea"', "Size": 100}, {"Key": "p/b.jpg", "ETag": '"eb"', "Size": 100}],
        "IsTruncated": False}, {"Bucket": "bkt", "Prefix": "p/"})
    data = fixture_bytes("obama.jpg")
    s3_stub.add_response("get_object", {"Body": StreamingBody(io.BytesIO(data), len(data))},
                         {"Bucket": "bkt", "Key": "p/a.jpg", "IfMatch": '"ea"'})
    s3_stub.add_client_error("get_object", service_error_code="PreconditionFailed", http_status_code=412,
                             expected_params={"Bucket": "bkt", "Key": "p/b.jpg", "IfMatch": '"eb"'})
    stub.add_response("index_faces", index_response(decode(data).sha256))
    with s3_stub:
        report = ws.collection("team").index(s3_sources("s3://bkt/p/", s3), workers=1)
        s3_stub.assert_no_pending_responses()
    assert [o.status for o in report.outcomes] == ["indexed", "error"]
    assert "replaced after it was listed" in report.outcomes[1].message
    assert ws.catalog.has_etag("team", "ea") and not ws.catalog.has_etag("team", "eb")


# -- 7. Index anyway paints out neighbours ------------------------------------------------------------------------
def test_index_anyway_paints_out_a_larger_neighbour(rek):
    from facelib.thumbnails import square_crop_box

    ws, engine, stub = rek
    pair = decode(two_faces_jpeg(), "pair.jpg")
    left, right = box(0.05, 0.1, 0.52, 0.6), box(0.62, 0.3, 0.12, 0.18)
    sent = []
    engine.client.meta.events.register("provide-client-params.rekognition.IndexFaces",
                                       lambda params, **_: sent.append(params["Image"]["Bytes"]))
    stub.add_response("detect_faces", {"FaceDetails": [face_detail(left), face_detail(right)]})
    w, h = pair.rgb.size
    px = square_crop_box(_bb(right), w, h, margin=0.4)
    cw, ch = px[2] - px[0], px[3] - px[1]
    in_crop = box((right["Left"] * w - px[0]) / cw, (right["Top"] * h - px[1]) / ch, right["Width"] * w / cw,
                  right["Height"] * h / ch)
    stub.add_response("index_faces", index_response(pair.sha256, boxes=[in_crop]))
    engine.index_face_region("team", pair, _bb(right), pair.sha256)
    crop = Image.open(io.BytesIO(sent[0])).convert("RGB")
    x = int(min((left["Left"] + left["Width"]) * w - px[0], right["Left"] * w - px[0]) / 2)
    assert x > 2 and all(abs(v - 128) <= 8 for v in crop.getpixel((x, crop.height // 2)))


# -- money: the spending limit jobs hold -----------------------------------------------------------------------
def test_a_spend_limit_is_exact_under_threads_and_says_what_was_spent():
    from facelib.engines.base import SpendLimit
    from facelib.settings import Prices

    limit = SpendLimit(0.010, Prices(group1=0.001, group2=0.001))
    passed, refused = [], []

    def worker():
        for _ in range(5):
            try:
                limit.charge("IndexFaces")
                passed.append(1)
            except BudgetExceeded:
                refused.append(1)
    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(passed) == 10 == limit.calls and limit.spent == pytest.approx(0.010)
    limit.charge("ListFaces")  # free calls are never refused
    with pytest.raises(BudgetExceeded, match=r"\$0.01 spent on 10 paid calls"):
        limit.charge("SearchFaces")


def test_every_paid_call_of_a_collection_charges_its_limit_first(rek):
    from facelib.engines.base import SpendLimit

    ws, engine, stub = rek
    limit = SpendLimit(0.002, ws.settings.prices)
    photos = [bytes_source(n, fixture_bytes(n)) for n in ("obama.jpg", "biden.jpg", "obama2.jpg")]
    for p in photos[:2]:
        stub.add_response("index_faces", index_response(decode(p.read()).sha256))
    with engine.spending("team", limit):
        report = ws.collection("team").index(photos, workers=1)
    assert [o.status for o in report.outcomes] == ["indexed", "indexed", "error"]
    assert "spending limit" in report.outcomes[2].message and limit.calls == 2
    # Cached answers are free; a refused call is given back.
    img = decode(fixture_bytes("obama3.jpg"))
    with engine.spending("team", SpendLimit(0.001, ws.settings.prices)) as _:
        stub.add_response("detect_faces", {"FaceDetails": [face_detail()]})
        engine.detect_faces(img, "team")
        engine.detect_faces(img, "team")  # from the cache: not charged
    refund = SpendLimit(0.001, ws.settings.prices)
    with engine.spending("team", refund):
        client_error(stub, "detect_faces", "InvalidParameterException", "bad")
        with pytest.raises(InvalidParameter):
            engine.detect_faces(decode(fixture_bytes("biden.jpg")), "team")
    assert refund.calls == 0 and refund.spent == 0


def test_the_local_engine_spends_nothing(workspace):
    from facelib.engines.base import SpendLimit

    local = workspace.engine("local")
    with local.spending("any", SpendLimit(0, workspace.settings.prices)):
        pass


# -- logs ------------------------------------------------------------------------------------------------------------
def test_logs_say_what_was_paid_and_erased_and_never_hold_secrets(rek, caplog):
    ws, engine, stub = rek
    caplog.set_level(logging.DEBUG, logger="facelib.engines.rekognition")
    sha, fid = index_photo(ws, stub)
    img = decode(fixture_bytes("obama.jpg"))
    stub.add_response("detect_faces", {"FaceDetails": [face_detail()]})
    engine.detect_faces(img)
    engine.detect_faces(img)
    stub.add_response("delete_faces", {"DeletedFaces": [fid]})
    ws.collection("team").delete_image(sha)
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("'team'" in m and "IndexFaces" in m and "$0.001" in m for m in info), info
    assert any("'team'" in m and "erased 1 of 1 faces" in m for m in info), info
    assert any("from the cache" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "testing" not in text and "AKIA" not in text and "Bytes" not in text and "Landmarks" not in text
    assert face  # (the stub helpers stay imported for the Stubber's shapes)


def test_erasing_a_whole_collection_evicts_its_answers_in_one_linear_pass(tmp_path):
    from facelib.engines.rekognition.cache import PaidCallCache, make_key

    cache = PaidCallCache(tmp_path / "cache")
    shas = [f"{i:064x}" for i in range(30_000)]
    with cache.cache.transact():
        for i in range(3_000):
            cache.cache.set(make_key("DetectFaces", ("r", "a", ""), None, None, (shas[i * 10], "prep2")), {"i": i})
    cache.cache.set(make_key("CompareFaces", ("r", "a", ""), None, None, ("x" * 64, "y" * 64, "prep2")), {})
    started = time.perf_counter()
    assert cache.forget_images(shas, ["CompareFaces"]) == 3_001
    assert time.perf_counter() - started < 5.0 and len(cache) == 0  # a substring test per sha took minutes
