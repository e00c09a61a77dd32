"""Rekognition against the real service's rules (issue 13): ownership of collections, region and
account, erasure through Users, cache scope and expiry, the searched face, money. botocore's
Stubber on the real client validates every request against the service model."""

from __future__ import annotations

import io
import json

import pytest
from conftest import fixture_bytes, two_faces_jpeg
from PIL import Image
from rekognition_stub import (
    ACCOUNT,
    arn,
    box,
    cid,
    client_error,
    expect_count,
    expect_create,
    expect_erasure_through_user,
    expect_tags,
    face,
    face_detail,
    index_response,
    make_engine,
    search_response,
)

from facelib import Settings, Workspace, bytes_source
from facelib.errors import (
    BudgetExceeded,
    CollectionExists,
    ErasureIncomplete,
    NotOwned,
    SearchMismatch,
    WrongAccount,
)
from facelib.images import decode


def index_photo(ws, engine, stub, name="obama.jpg", collection="team"):
    data = fixture_bytes(name)
    sha = decode(data).sha256
    stub.add_response("index_faces", index_response(sha))
    ws.collection(collection).index([bytes_source(name, data)], workers=1)
    return sha, ws.catalog.faces(collection, image_sha256=sha)[0].face_id


# -- 2. collections belong to this installation ------------------------------------------------------
def test_a_display_name_with_spaces_and_unicode_gets_a_namespaced_tagged_id(workspace):
    engine, stub = make_engine(workspace)
    name = "Famille Dupré — été 2024"
    c = expect_create(engine, stub, name)
    coll = workspace.create_collection(name, "rekognition")
    stub.assert_no_pending_responses()
    assert c.startswith(f"facesearch-{engine.collections.installation()}-Famille-Dupre-ete-2024-")
    ref = engine.collections.require(name)
    assert ref.arn == arn(c) and ref.face_model_version == "7.0" and ref.owned
    assert (ref.region, ref.account) == ("us-east-1", ACCOUNT)
    assert coll.location == f"{ACCOUNT} / us-east-1"
    assert workspace.collections() == [name]
    # Thumbnails of such a collection live in a plain folder name.
    assert workspace.files.collection_dir(name).name.isascii()


def test_an_aws_collection_of_another_installation_is_never_adopted(workspace):
    engine, stub = make_engine(workspace)
    c = expect_create(engine, stub, "fam")
    stub._queue.clear()  # answer CreateCollection with "exists" instead
    client_error(stub, "create_collection", "ResourceAlreadyExistsException", "exists")
    stub.add_response("describe_collection", {"FaceCount": 12, "CollectionARN": arn(c), "FaceModelVersion": "7.0"},
                      {"CollectionId": c})
    stub.add_response("list_tags_for_resource", {"Tags": {"facesearch:installation": "another"}},
                      {"ResourceArn": arn(c)})
    with pytest.raises(CollectionExists, match="import it explicitly"):
        workspace.create_collection("fam", "rekognition")
    assert workspace.collections() == [] and engine.collections.get("fam") is None
    stub.assert_no_pending_responses()


def test_a_collection_created_before_a_crash_is_ours_by_its_tags(workspace):
    engine, stub = make_engine(workspace)
    c = expect_create(engine, stub, "fam")
    stub._queue.clear()
    client_error(stub, "create_collection", "ResourceAlreadyExistsException", "exists")
    stub.add_response("describe_collection", {"FaceCount": 0, "CollectionARN": arn(c), "FaceModelVersion": "7.0"},
                      {"CollectionId": c})
    stub.add_response("list_tags_for_resource", {"Tags": {"facesearch:installation": engine.collections.installation()}},
                      {"ResourceArn": arn(c)})
    workspace.create_collection("fam", "rekognition")
    assert engine.collections.require("fam").owned
    stub.assert_no_pending_responses()


def test_delete_refuses_a_collection_whose_tags_or_arn_changed(rek):
    ws, engine, stub = rek
    index_photo(ws, engine, stub)
    c = cid(engine, "team")
    stub.add_response("describe_collection", {"FaceCount": 1, "CollectionARN": arn(c)}, {"CollectionId": c})
    expect_tags(engine, stub, "team", ours=False)
    with pytest.raises(NotOwned):
        ws.delete_collection("team")
    stub.add_response("describe_collection", {"FaceCount": 1, "CollectionARN": arn(c, account="999999999999")},
                      {"CollectionId": c})
    with pytest.raises(NotOwned):
        ws.delete_collection("team")
    assert ws.collections() == ["team"] and ws.catalog.counts("team")["faces"] == 1  # nothing was deleted
    # Ours: deleted in AWS, then everywhere here.
    expect_count(engine, stub, "team")
    expect_tags(engine, stub, "team")
    stub.add_response("delete_collection", {"StatusCode": 200}, {"CollectionId": c})
    ws.delete_collection("team")
    assert ws.collections() == [] and engine.collections.get("team") is None


def test_an_imported_collection_is_used_but_never_deleted_in_aws(workspace):
    engine, stub = make_engine(workspace)
    stub.add_response("list_collections", {"CollectionIds": ["their-faces"]}, {"MaxResults": 1000})
    assert workspace.importable() == ["their-faces"]
    stub.add_response("describe_collection", {"FaceCount": 500, "CollectionARN": arn("their-faces"),
                                              "FaceModelVersion": "6.0"}, {"CollectionId": "their-faces"})
    workspace.import_collection("Their faces", "their-faces")
    _, fid = index_photo(workspace, engine, stub, collection="Their faces")
    # Deleting it here erases only the face indexed from here: no DeleteCollection.
    stub.add_response("delete_faces", {"DeletedFaces": [fid]}, {"CollectionId": "their-faces", "FaceIds": [fid]})
    workspace.delete_collection("Their faces")
    stub.assert_no_pending_responses()
    assert workspace.collections() == []


def test_collections_made_by_the_old_version_are_kept_as_imported(tmp_path):
    """The migration marks Rekognition collections of the old layout as not ours (their id was the
    display name and may have been adopted): deleting one erases its faces, never the collection."""
    import sqlite3

    from facelib.store.db import Database
    from facelib.workspace import migrations

    path = tmp_path / "data" / "catalog.sqlite3"
    path.parent.mkdir()
    db = Database(path, [m for m in migrations() if m.version < 10])
    db.connect().execute("INSERT INTO collections(name, engine, created_at) VALUES ('old', 'rekognition', 1.0)")
    db.connect().commit()
    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    engine, stub = make_engine(ws)
    ref = engine.collections.require("old")
    assert (ref.collection_id, ref.owned, ref.arn) == ("old", False, None)
    stub.add_response("describe_collection", {"FaceCount": 3, "CollectionARN": arn("old"), "FaceModelVersion": "6.0"},
                      {"CollectionId": "old"})
    ws.delete_collection("old")  # no DeleteCollection queued: the Stubber fails on one
    stub.assert_no_pending_responses()
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM rekognition_collections").fetchone() == (0,)


# -- 3. regions and accounts ---------------------------------------------------------------------------
def test_a_client_of_another_region_or_account_is_refused(rek, tmp_path):
    ws, engine, stub = rek
    index_photo(ws, engine, stub)
    for region, account in (("eu-west-1", ACCOUNT), ("us-east-1", "999999999999")):
        other, other_stub = make_engine(ws, region=region, account=account)
        with pytest.raises(WrongAccount, match="us-east-1"):
            ws.collection("team").search_face(ws.catalog.faces("team")[0].face_id)
        with pytest.raises(WrongAccount):
            ws.collection("team").index([bytes_source("biden.jpg", fixture_bytes("biden.jpg"))], workers=1)
        other_stub.assert_no_pending_responses()  # refused before any call


def test_cached_answers_never_cross_regions_or_accounts(workspace):
    img = decode(fixture_bytes("obama.jpg"))
    for region, account in (("us-east-1", ACCOUNT), ("eu-west-1", ACCOUNT), ("us-east-1", "999999999999")):
        engine, stub = make_engine(workspace, region=region, account=account)
        stub.add_response("detect_faces", {"FaceDetails": [face_detail()]})  # each pays its own call
        engine.detect_faces(img)
        stub.assert_no_pending_responses()
        engine.detect_faces(img)  # and then hits its own entry
    keys = [json.loads(k) for k in engine.cache.cache.iterkeys() if isinstance(k, str)]
    assert sorted(tuple(k[2][:2]) for k in keys) == sorted([("eu-west-1", ACCOUNT), ("us-east-1", ACCOUNT),
                                                            ("us-east-1", "999999999999")])


def test_the_s3_client_follows_the_profile_and_region(monkeypatch, tmp_path):
    seen = {}

    def fake_client(service, settings, *args, **kwargs):
        seen[service] = (settings.aws_profile, settings.aws_region)
        raise RuntimeError("stop here")

    monkeypatch.setattr("facelib.aws.client", fake_client)
    ws = Workspace(Settings(data_dir=tmp_path / "d", aws_profile="analyst", aws_region="eu-west-1"))
    with pytest.raises(RuntimeError):
        ws.s3_sources("s3://bucket/prefix")
    assert seen["s3"] == ("analyst", "eu-west-1")


# -- 1. erasure ------------------------------------------------------------------------------------------
def test_a_face_in_a_user_is_disassociated_then_deleted(rek):
    ws, engine, stub = rek
    sha, fid = index_photo(ws, engine, stub)
    c = cid(engine, "team")
    expect_erasure_through_user(stub, c, fid)
    assert ws.collection("team").delete_image(sha) == 1
    assert ws.catalog.counts("team") == {"images": 0, "faces": 0, "rejected": 0}


def test_faces_aws_kept_stay_in_the_catalog_and_the_erasure_says_so(rek):
    ws, engine, stub = rek
    sha, fid = index_photo(ws, engine, stub)
    sha2, fid2 = index_photo(ws, engine, stub, "biden.jpg")
    c = cid(engine, "team")
    # AWS deletes one; the other stays in a User even after disassociation was asked (twice).
    kept = {"FaceId": fid2, "UserId": "u", "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"]}
    stub.add_response("delete_faces", {"DeletedFaces": [fid], "UnsuccessfulFaceDeletions": [kept]},
                      {"CollectionId": c, "FaceIds": [fid, fid2]})
    stub.add_response("disassociate_faces", {"UnsuccessfulFaceDisassociations": [
        {"FaceId": fid2, "UserId": "u", "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"]}]}, {"CollectionId": c,
                                                                                         "UserId": "u", "FaceIds": [fid2]})
    stub.add_response("delete_faces", {"UnsuccessfulFaceDeletions": [kept]}, {"CollectionId": c, "FaceIds": [fid2]})
    with pytest.raises(ErasureIncomplete) as info:
        ws.collection("team").delete_faces([fid, fid2])
    assert info.value.remaining == [fid2]
    assert [f.face_id for f in ws.catalog.faces("team")] == [fid2]  # only the confirmed one left the catalog


def test_erasing_an_image_evicts_every_cached_answer_about_it(rek):
    ws, engine, stub = rek
    sha, fid = index_photo(ws, engine, stub)
    img = decode(fixture_bytes("obama.jpg"))
    stub.add_response("detect_faces", {"FaceDetails": [face_detail()]})
    engine.detect_faces(img)  # age, landmarks... cached by the image
    stub.add_response("compare_faces", {"FaceMatches": [], "UnmatchedFaces": []})
    engine.compare_faces(decode(fixture_bytes("biden.jpg")), img)
    assert [k for k in engine.cache.cache.iterkeys() if sha in str(k)]
    stub.add_response("delete_faces", {"DeletedFaces": [fid]})
    ws.collection("team").delete_image(sha)
    assert [k for k in engine.cache.cache.iterkeys() if sha in str(k)] == []
    # Nor in the bytes of any file of the cache (its WAL, free pages), while it is open.
    leftovers = [p for p in ws.settings.cache_dir.rglob("*") if p.is_file() and sha.encode() in p.read_bytes()]
    assert leftovers == []


# -- 5. the searched face --------------------------------------------------------------------------------
def test_other_faces_are_painted_over_and_a_wrong_searched_face_is_refused(rek):
    from facelib.thumbnails import square_crop_box

    ws, engine, stub = rek
    pair = decode(two_faces_jpeg(), "pair.jpg")
    left, right = box(0.05, 0.1, 0.52, 0.6), box(0.62, 0.3, 0.12, 0.18)
    sent = []
    engine.client.meta.events.register("provide-client-params.rekognition.SearchFacesByImage",
                                       lambda params, **_: sent.append(params["Image"]["Bytes"]))
    stub.add_response("detect_faces", {"FaceDetails": [face_detail(left), face_detail(right)]})
    expect_count(engine, stub, "team")
    # Rekognition answers for a box at the crop's edge: the neighbour, not the chosen face.
    stub.add_response("search_faces_by_image", search_response([], box(0.0, 0.0, 0.2, 0.3)))
    with pytest.raises(SearchMismatch):
        engine.search_faces_by_image("team", pair, face_index=1)
    crop = Image.open(io.BytesIO(sent[0])).convert("RGB")
    w, h = pair.rgb.size
    px = square_crop_box(_bb(right), w, h, margin=0.4)
    neighbour_ends = (left["Left"] + left["Width"]) * w - px[0]
    chosen_starts = right["Left"] * w - px[0]
    x = int(min(neighbour_ends, chosen_starts) / 2)
    assert x > 2  # the neighbour does reach into the crop
    assert all(abs(v - 128) <= 8 for v in crop.getpixel((x, crop.height // 2)))  # painted over
    # The chosen face itself is intact.
    cx, cy = int((right["Left"] + right["Width"] / 2) * w - px[0]), int((right["Top"] + right["Height"] / 2) * h - px[1])
    assert crop.getpixel((cx, cy)) != (128, 128, 128)


def _bb(d):
    from facelib.records import BoundingBox

    return BoundingBox(d["Left"], d["Top"], d["Width"], d["Height"])


def test_index_anyway_deletes_a_face_that_is_not_the_chosen_one(rek):
    ws, engine, stub = rek
    pair = decode(two_faces_jpeg(), "pair.jpg")
    right = _bb(box(0.62, 0.1, 0.2, 0.3))
    wrong = index_response(pair.sha256, boxes=[box(0.0, 0.0, 0.15, 0.15)])
    new_id = wrong["FaceRecords"][0]["Face"]["FaceId"]
    stub.add_response("index_faces", wrong)
    stub.add_response("delete_faces", {"DeletedFaces": [new_id]}, {"CollectionId": cid(engine, "team"),
                                                                   "FaceIds": [new_id]})
    with pytest.raises(SearchMismatch):
        engine.index_face_region("team", pair, right, pair.sha256, others=[])


# -- 6. stale reads ----------------------------------------------------------------------------------------
def test_a_change_made_elsewhere_makes_a_cached_search_stale_and_entries_expire(rek):
    ws, engine, stub = rek
    _, fid = index_photo(ws, engine, stub)
    expect_count(engine, stub, "team", 1)
    stub.add_response("search_faces", search_response([]))
    ws.collection("team").search_face(fid)
    expect_count(engine, stub, "team", 1)
    ws.collection("team").search_face(fid)  # served by the cache
    expect_count(engine, stub, "team", 2)  # someone indexed a face from the console
    stub.add_response("search_faces", search_response([(face("elsewhere", "x"), 91.0)]))
    assert [r.similarity for r in ws.collection("team").search_face(fid).rows] == [91.0]
    key = next(k for k in engine.cache.cache.iterkeys() if "SearchFaces" in str(k))
    _, expire_time = engine.cache.cache.get(key, expire_time=True)
    assert expire_time is not None  # a time to live as well


# -- 7. a killed process leaves no lock --------------------------------------------------------------------
def test_a_lock_held_by_a_killed_process_does_not_hang_the_next_call(tmp_path):
    import signal
    import subprocess
    import sys
    import threading

    from facelib.engines.rekognition.cache import PaidCallCache, make_key

    cache = PaidCallCache(tmp_path / "cache", lock_wait=600)  # a bounded wait is not what saves us here
    key = make_key("SearchFaces", ("us-east-1", ACCOUNT, "c"), 0, 1, None, FaceId="f")
    holder = subprocess.Popen([sys.executable, "-c", f"""
import sys, time
from facelib.engines.rekognition.cache import PaidCallCache
cache = PaidCallCache({str(tmp_path / "cache")!r})
lock = cache._lock({key!r})
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        result = []
        t = threading.Thread(target=lambda: result.append(cache.get_or_call(key, lambda: {"ok": 1})), daemon=True)
        t.start()
        t.join(30)
        assert result == [{"ok": 1}]  # the kernel released the dead holder's lock
    finally:
        holder.kill()
        holder.wait()


# -- 10. recovery ------------------------------------------------------------------------------------------
def test_recovery_lists_the_collection_once_for_every_pending_image(rek):
    ws, engine, stub = rek
    c = cid(engine, "team")
    shas = [decode(fixture_bytes(n)).sha256 for n in ("obama.jpg", "biden.jpg", "obama2.jpg")]
    for sha in shas:
        ws.catalog.mark_pending("team", sha)
    stub.add_response("list_faces", {"Faces": [face("g1", shas[0]), face("g2", shas[2]), face("keep", "other")]},
                      {"CollectionId": c, "MaxResults": 4096})
    stub.add_response("delete_faces", {"DeletedFaces": ["g1", "g2"]}, {"CollectionId": c, "FaceIds": ["g1", "g2"]})
    ws.collection("team").index([], workers=1)
    assert ws.catalog.pending("team") == []


# -- 11. money --------------------------------------------------------------------------------------------
def test_users_apis_are_priced_and_prices_are_settings(monkeypatch, tmp_path):
    from facelib.settings import Prices, prices

    p = Prices()
    for op in ("AssociateFaces", "DisassociateFaces", "SearchUsers", "SearchUsersByImage", "IndexFaces"):
        assert p.of(op) == p.group1 > 0
    assert p.of("DetectFaces") == p.group2 and p.of("ListFaces") == p.of("DescribeCollection") == 0.0
    monkeypatch.setenv("FACESEARCH_PRICES", '{"group1": 0.0008, "per_face_month": 0.00002}')
    assert prices() == Prices(group1=0.0008, group2=0.001, per_face_month=0.00002)
    assert Settings(data_dir=tmp_path).prices.group1 == 0.0008
    monkeypatch.setenv("FACESEARCH_PRICES", '{"free": 1}')
    with pytest.raises(ValueError):
        prices()


def test_a_batch_over_the_budget_is_refused_before_any_call(tmp_path):
    ws = Workspace(Settings(data_dir=tmp_path / "d", budget_usd=0.0015))
    engine, stub = make_engine(ws)
    expect_create(engine, stub, "team")
    ws.create_collection("team", "rekognition")
    photos = [bytes_source(n, fixture_bytes(n)) for n in ("obama.jpg", "biden.jpg")]
    with pytest.raises(BudgetExceeded, match="budget"):
        ws.collection("team").index(photos, workers=1)
    stub.assert_no_pending_responses()  # nothing was called
    assert ws.catalog.counts("team")["images"] == 0


def test_a_used_up_quota_stops_the_batch_and_names_it(rek):
    ws, engine, stub = rek
    client_error(stub, "index_faces", "ServiceQuotaExceededException", "Faces per collection quota exceeded")
    photos = [bytes_source(n, fixture_bytes(n)) for n in ("obama.jpg", "biden.jpg", "obama2.jpg")]
    report = ws.collection("team").index(photos, workers=1)
    assert [o.status for o in report.outcomes] == ["error"] * 3
    assert "quota" in report.outcomes[0].message.lower() and "Faces per collection" in report.outcomes[0].message
    assert all("batch stopped" in o.message for o in report.outcomes[1:])
    assert report.stopped and report.summary()["stopped"]


def test_the_s3_estimate_reads_the_listing_and_the_batch_downloads_each_object_once(rek):
    import boto3
    from botocore.response import StreamingBody
    from botocore.stub import Stubber

    from facelib.ingest.s3 import s3_sources

    ws, engine, stub = rek
    s3 = boto3.client("s3", region_name="us-east-1")
    s3_stub = Stubber(s3)
    objs = [("p/a.jpg", "obama.jpg", "ea"), ("p/b.jpg", "biden.jpg", "eb"), ("p/copy.jpg", "obama.jpg", "ea")]
    s3_stub.add_response("list_objects_v2", {"Contents": [
        {"Key": k, "ETag": f'"{e}"', "Size": len(fixture_bytes(n))} for k, n, e in objs]
        + [{"Key": "p/huge.jpg", "ETag": '"eh"', "Size": 10 ** 10}], "IsTruncated": False},
        {"Bucket": "bkt", "Prefix": "p/"})
    with s3_stub:
        sources = s3_sources("s3://bkt/p/", s3)
        for _ in range(3):  # every Streamlit rerun estimates again: still no download
            est = ws.collection("team").estimate(sources)
        assert (est.files, est.duplicates, est.unreadable, est.paid_calls) == (4, 1, 1, 2)
        for k, n, e in objs:
            data = fixture_bytes(n)
            s3_stub.add_response("get_object", {"Body": StreamingBody(io.BytesIO(data), len(data))},
                                 {"Bucket": "bkt", "Key": k, "IfMatch": f'"{e}"'})  # the listed version only
        for n in ("obama.jpg", "biden.jpg"):
            stub.add_response("index_faces", index_response(decode(fixture_bytes(n)).sha256))
        report = ws.collection("team").index(sources, workers=1)
        s3_stub.assert_no_pending_responses()  # one GetObject per object, no more
    assert report.faces_indexed == 2
    # Now the listing knows them: the same prefix estimates as already indexed.
    est = ws.collection("team").estimate(sources[:2])
    assert (est.already_indexed, est.paid_calls) == (2, 0)
