"""Erasure: deleting an image, a person or a collection leaves nothing of it on disk or in the catalog."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from conftest import ROOT, fixture_bytes, two_faces_jpeg


def traces(db_path, needles: set[str]) -> list[tuple[str, str]]:
    """(table, needle) for every needle found anywhere in any table of the database."""
    found = []
    with sqlite3.connect(db_path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for t in tables:
            text = " ".join(repr(row) for row in db.execute(f"SELECT * FROM {t}"))
            found += [(t, n) for n in needles if n in text]
    return found


def files_mentioning(root, needles: set[str]) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and any(n in p.name for n in needles)]


@pytest.fixture
def indexed_people(workspace, tmp_path):
    from conftest import index_paths

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg"):
        (folder / name).write_bytes(fixture_bytes(name))
    (folder / "pair.jpg").write_bytes(two_faces_jpeg())
    index_paths(workspace, "e", [folder])
    workspace.collection("e").people.update()
    return workspace, folder


def cli(ws, *args):
    out = subprocess.run([sys.executable, "-m", "facelib", "delete", "--collection", "e", "--data-dir",
                          str(ws.settings.data_dir), "--json", *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_delete_an_image_leaves_no_trace(indexed_people):
    ws, folder = indexed_people
    image = next(i for i in ws.catalog.images("e") if i.original_name.endswith("obama2.jpg"))
    face_ids = {f.face_id for f in ws.catalog.faces("e", status=None, image_sha256=image.sha256)}
    assert cli(ws, "--image", image.original_name) == {"deleted": "image", "sha256": image.sha256, "faces": 1}
    assert traces(ws.settings.db_path, face_ids | {image.sha256}) == []
    assert files_mentioning(ws.settings.data_dir, {image.sha256} | face_ids) == []
    assert ws.catalog.counts("e")["images"] == 3


def test_delete_a_person_leaves_no_trace_of_their_faces(indexed_people):
    ws, folder = indexed_people
    people = ws.collection("e").people
    biden = min(people.listing(), key=lambda p: len(p.face_ids))
    face_ids = set(biden.face_ids)
    thumbs = {ws.catalog.face(f).thumb_path for f in face_ids}
    assert cli(ws, "--person", str(biden.person_id))["faces"] == 2
    assert traces(ws.settings.db_path, face_ids) == []
    assert not any(ws.path(t).exists() for t in thumbs)
    assert biden.person_id not in {p.person_id for p in people.listing(include_hidden=True)}
    # The photos stay (without --with-photos); Obama is untouched.
    assert ws.catalog.counts("e") == {"images": 4, "faces": 3, "rejected": 0}


def test_delete_a_person_with_photos(indexed_people):
    ws, folder = indexed_people
    biden = min(ws.collection("e").people.listing(), key=lambda p: len(p.face_ids))
    shas = {ws.catalog.face(f).image_sha256 for f in biden.face_ids}
    cli(ws, "--person", str(biden.person_id), "--with-photos")
    assert traces(ws.settings.db_path, shas) == []
    assert files_mentioning(ws.settings.data_dir, shas) == []
    assert ws.catalog.counts("e")["images"] == 2  # the pair photo went with Biden


def test_delete_a_collection_leaves_nothing(indexed_people):
    ws, folder = indexed_people
    shas = {i.sha256 for i in ws.catalog.images("e")}
    face_ids = {f.face_id for f in ws.catalog.faces("e", status=None)}
    cli(ws, "--all")
    assert traces(ws.settings.db_path, shas | face_ids) == []
    assert not [p for p in (ws.settings.data_dir / "thumbs").rglob("*") if p.is_file()]
    assert not [p for p in (ws.settings.data_dir / "images").rglob("*") if p.is_file()]


def test_rekognition_erasure_deletes_faces_users_and_cache(workspace):
    from rekognition_stub import cid, expect_count, expect_erasure_through_user, rekognition_collection, search_response
    
    engine, stub, sha = rekognition_collection(workspace, "e")
    c = cid(engine, "e")
    face_id = workspace.catalog.faces("e")[0].face_id
    expect_count(engine, stub, "e")
    stub.add_response("search_faces", search_response([]))
    people = workspace.collection("e").people
    people.update()
    pid = people.listing()[0].person_id
    # The face belongs to the person's User (made by an earlier version): disassociated, deleted
    # again, then the User (met by the erasure, so it exists) is deleted.
    expect_erasure_through_user(stub, c, face_id, f"facesearch-person-{pid}")
    stub.add_response("delete_user", {}, {"CollectionId": c, "UserId": f"facesearch-person-{pid}"})
    assert workspace.collection("e").delete_person(pid) == 1
    stub.assert_no_pending_responses()
    assert traces(workspace.settings.db_path, {face_id}) == []
    cache = engine.cache.cache
    assert [k for k in cache.iterkeys() if "SearchFaces" in str(k)] == []  # cached searches evicted


def raw_hits(root, needles: dict[str, bytes]) -> list[tuple[str, str]]:
    """(file, what) for every needle found in the raw bytes of any file under ``root`` (WAL, free
    pages, caches and all), not only in rows."""
    hits = []
    for p in root.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            hits += [(str(p.relative_to(root)), what) for what, needle in needles.items() if needle in data]
    return hits


@pytest.mark.parametrize("model", ["sface", "dlib"])
def test_erasure_leaves_no_bytes_anywhere_under_the_data_directory(tmp_path, model):
    """While the workspace is still open (its WAL live): descriptors, face ids, hashes and file
    names of an erased photo are in no file's bytes."""
    from facelib import Settings, Workspace, bytes_source

    ws = Workspace(Settings(data_dir=tmp_path / "data", model=model))
    coll = ws.create_collection("e")
    coll.index([bytes_source("zq-keep.jpg", fixture_bytes("biden.jpg")),
                bytes_source("zq-erase-me-7f3a.jpg", fixture_bytes("obama.jpg"))], workers=1)
    coll.people.update()
    image = next(i for i in coll.images() if i.original_name == "zq-erase-me-7f3a.jpg")
    faces = coll.faces(image_sha256=image.sha256)
    engine = ws.engine("local")
    vectors = [engine.vector("e", f.face_id).astype("float32").tobytes() for f in faces]
    needles = {"sha256": image.sha256.encode(), "name": b"zq-erase-me-7f3a",
               **{f"face id {f.face_id}": f.face_id.encode() for f in faces},
               **{f"vector {i}": v[:64] for i, v in enumerate(vectors)}}
    assert raw_hits(ws.settings.data_dir, needles)  # the probe finds them before
    coll.delete_image(image.sha256)
    assert raw_hits(ws.settings.data_dir, needles) == []
    assert coll.counts()["images"] == 1
