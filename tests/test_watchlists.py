"""Watchlists (issue 27): every index job checks its new faces against the watched people and
records alerts; the index report carries them; Rekognition reuses grouping's searches (0 extra
paid calls) and asks Users of another collection (SearchUsersByImage)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import DEV, FIXTURES, ROOT, fixture_bytes, index_paths, needs_dev
from PIL import Image, ImageOps

from facelib import InvalidParameter


def index_job(ws, collection, paths):
    """One index job, as the CLI and the app run it; its report."""
    from facelib.jobs.runner import run_here
    from facelib.jobs.spool import paths_spec
    from facelib.jobs.store import JobKind

    ws.ensure_collection(collection)
    job = run_here(ws, JobKind.INDEX, collection, {"sources": [paths_spec(paths)], "workers": 1})
    assert job.state == "done", job.message
    return job.report


def mirrored(src: Path, dst: Path) -> Path:
    ImageOps.mirror(Image.open(src).convert("RGB")).save(dst, "JPEG", quality=92)
    return dst


def test_three_batches_alert_on_the_watched_people_only(workspace, tmp_path):
    from facelib.people.watchlists import Watchlists

    ws = workspace
    index_paths(ws, "known", [FIXTURES / "biden.jpg"], workers=1)
    ws.collection("known").people.update()
    report0 = index_job(ws, "cam", [FIXTURES / "obama.jpg"])
    assert report0["alerts"] == []  # no list yet
    cam = ws.collection("cam")
    obama = cam.people.listing()[0]
    cam.people.rename(obama.person_id, "Obama")
    biden = ws.collection("known").people.listing()[0]
    lists = Watchlists(cam)
    lists.create("suspects")
    lists.add("suspects", "Obama")
    lists.add("suspects", biden.person_id, source=ws.collection("known"))
    with pytest.raises(InvalidParameter, match="already"):
        lists.create("suspects")

    first = index_job(ws, "cam", [FIXTURES / "obama2.jpg"])
    assert [(a["person"]["person_id"], a["image"].rsplit("/", 1)[-1]) for a in first["alerts"]] == \
        [(obama.person_id, "obama2.jpg")]
    assert first["alerts"][0]["similarity"] >= 80 and first["alerts"][0]["watchlist"] == "suspects"
    second = index_job(ws, "cam", [mirrored(FIXTURES / "biden.jpg", tmp_path / "biden-m.jpg")])
    assert [(a["person"]["collection"], a["person"]["person_id"]) for a in second["alerts"]] == \
        [("known", biden.person_id)]
    third = index_job(ws, "cam", [FIXTURES / "obama3.jpg", mirrored(FIXTURES / "obama.jpg", tmp_path / "o-m.jpg")])
    assert sorted(a["image"].rsplit("/", 1)[-1] for a in third["alerts"]) == ["o-m.jpg", "obama3.jpg"]
    assert {a["person"]["person_id"] for a in third["alerts"]} == {obama.person_id}
    # every alert is kept, newest first; a face is never checked twice
    assert len(lists.alerts()) == 4 and lists.store.unchecked("cam") == []
    again = index_job(ws, "cam", [FIXTURES / "obama3.jpg"])
    assert again["alerts"] == [] and len(lists.alerts()) == 4


@pytest.mark.slow
def test_a_regroup_keeps_the_watched_person_and_the_cli_prints_alerts(workspace, tmp_path):
    from facelib.people.watchlists import Watchlists

    ws = workspace
    index_job(ws, "cam", [FIXTURES / "obama.jpg", FIXTURES / "biden.jpg"])
    cam = ws.collection("cam")
    biden = next(p for p in cam.people.listing() if len(p.face_ids) == 1 and
                 cam.face(p.face_ids[0]).image_name.endswith("biden.jpg"))
    Watchlists(cam).create("w", threshold=80)
    Watchlists(cam).add("w", biden.person_id)
    cam.people.store.clear_assignments()  # the person's id is gone: the anchors find them again
    cam.people.regroup()
    data = str(ws.settings.data_dir)
    ws.db.close()
    proc = subprocess.run([sys.executable, "-m", "facelib", "index", str(mirrored(FIXTURES / "biden.jpg", tmp_path / "b.jpg")),
                           str(FIXTURES / "obama2.jpg"), "--collection", "cam", "--data-dir", data, "--json", "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [a["image"].rsplit("/", 1)[-1] for a in doc["alerts"]] == ["b.jpg"]
    assert set(doc["alerts"][0]) >= {"person", "face_id", "image", "similarity", "at", "watchlist"}


def test_rekognition_reuses_grouping_searches_and_asks_users_of_another_collection(rek):
    """Same collection: the new face's SearchFaces (grouping's) is the only paid call; another
    collection: CreateUser + AssociateFaces once, then one SearchUsersByImage a new face."""
    from rekognition_stub import ANY, cid, expect_count, expect_create, face, index_response, search_response

    from facelib import bytes_source
    from facelib.images import decode
    from facelib.people.service import user_id
    from facelib.people.watchlists import Watchlists

    ws, engine, stub = rek
    shas = {}
    for name in ("obama.jpg", "biden.jpg"):
        shas[name] = decode(fixture_bytes(name)).sha256
        stub.add_response("index_faces", index_response(shas[name]))
    team = ws.collection("team")
    team.index([bytes_source(n, fixture_bytes(n)) for n in shas], workers=1)
    faces = {f.image_name: f.face_id for f in team.faces()}
    for f in sorted(faces.values()):  # grouping: one SearchFaces a face, nothing alike
        expect_count(engine, stub, "team", 2)
        stub.add_response("search_faces", search_response([]), {"CollectionId": cid(engine, "team"), "FaceId": f,
                                                                "FaceMatchThreshold": 50.0, "MaxFaces": 1000})
    team.people.update()
    obama = team.people.person_of()[faces["obama.jpg"]]
    expect_create(engine, stub, "other")
    ws.create_collection("other", "rekognition")
    other = ws.collection("other")
    lists = Watchlists(other)
    lists.create("w")
    lists.add("w", obama, source=team)
    Watchlists(team).create("here")
    Watchlists(team).add("here", obama)

    # a new photo in "team": grouping's SearchFaces finds Obama; the watchlist adds no call
    sha2 = decode(fixture_bytes("obama2.jpg")).sha256
    stub.add_response("index_faces", index_response(sha2))
    team.index([bytes_source("obama2.jpg", fixture_bytes("obama2.jpg"))], workers=1)
    new = next(f.face_id for f in team.faces() if f.image_sha256 == sha2)
    expect_count(engine, stub, "team", 3)
    stub.add_response("search_faces", search_response([(face(faces["obama.jpg"], shas["obama.jpg"]), 97.0)]),
                      {"CollectionId": cid(engine, "team"), "FaceId": new, "FaceMatchThreshold": 50.0, "MaxFaces": 1000})
    team.people.update()
    calls_before = sum(o.calls for o in ws.costs().operations)
    alerts = Watchlists(team).check()
    assert [(a.face_id, a.person_id, a.similarity) for a in alerts] == [(new, obama, 97.0)]
    assert sum(o.calls for o in ws.costs().operations) == calls_before  # 0 extra calls

    # a new photo in "other": Obama is a User of "team" (made once), one SearchUsersByImage
    sha3 = decode(fixture_bytes("obama3.jpg")).sha256
    stub.add_response("index_faces", index_response(sha3))
    other.index([bytes_source("obama3.jpg", fixture_bytes("obama3.jpg"))], workers=1)
    there = other.faces()[0].face_id
    uid = user_id(obama)
    stub.add_response("create_user", {}, {"CollectionId": cid(engine, "team"), "UserId": uid})
    stub.add_response("associate_faces", {"AssociatedFaces": [{"FaceId": f} for f in sorted(
        team.people.get(obama).face_ids)], "UserStatus": "UPDATING"},
        {"CollectionId": cid(engine, "team"), "UserId": uid, "FaceIds": ANY, "UserMatchThreshold": 0.0})
    stub.add_response("search_users_by_image", {"UserMatches": [{"Similarity": 95.5, "User": {
        "UserId": uid, "UserStatus": "ACTIVE"}}], "FaceModelVersion": "7.0"},
        {"CollectionId": cid(engine, "team"), "Image": {"Bytes": ANY}, "UserMatchThreshold": 80.0, "MaxUsers": 10})
    alerts = Watchlists(other).check()
    assert [(a.face_id, a.person_id, a.similarity, a.source) for a in alerts] == [(there, obama, 95.5, "team")]
    costs = {o.operation: o.calls for o in ws.costs().operations}
    assert costs["SearchUsersByImage"] == 1 and costs["AssociateFaces"] == 1


@pytest.mark.slow
@needs_dev
def test_dev_set_three_batches(workspace):
    """The dev photos in a first batch of one photo per person and three more: every photo of a
    watched person (Obama, Carole, Alice) alerts for them, and no photo without them does."""
    from bench.devset import load_labels
    from facelib.people.watchlists import Watchlists

    ws = workspace
    labels = {i.file: i.identities for i in load_labels()}
    files = sorted(labels)
    first = ["obama_k1.jpg", "carole1.jpg", "alice1.jpg", "brooke1.jpg"]
    index_job(ws, "dev", [DEV / "images" / f for f in first])
    dev = ws.collection("dev")
    lists = Watchlists(dev)
    lists.create("watch")
    watched = {}
    for f in first[:3]:
        face = next(x for x in dev.faces() if x.image_name.endswith(f))
        pid = dev.people.person_of()[face.face_id]
        lists.add("watch", pid)
        watched[pid] = labels[f][0]
    rest = [f for f in files if f not in first]
    seen: dict[str, set[str]] = defaultdict(set)
    for batch in (rest[0::3], rest[1::3], rest[2::3]):
        for a in index_job(ws, "dev", [DEV / "images" / f for f in batch])["alerts"]:
            seen[a["image"].rsplit("/", 1)[-1]].add(watched[a["person"]["person_id"]])
    from bench.devset import same_picture

    expected = {f: {w for w in labels[f] if w in watched.values()} for f in rest}
    expected = {f: w for f, w in expected.items() if w and not any(same_picture(f, g) for g in first)}
    from facelib.images import sha256_hex

    shas = {f: sha256_hex((DEV / "images" / f).read_bytes()) for f in files}
    order = [f for batch in (rest[0::3], rest[1::3], rest[2::3]) for f in batch]
    copies = {f for i, f in enumerate(order) if shas[f] in {shas[g] for g in first + order[:i]}}
    expected = {f: w for f, w in expected.items() if f not in copies}  # a byte copy adds no face
    wrong = {f: w for f, w in seen.items() if not w <= set(labels[f])}
    missed = {f: w - seen.get(f, set()) for f, w in expected.items() if w - seen.get(f, set())}
    assert len(expected) >= 10 and not wrong, wrong
    assert not missed, missed
