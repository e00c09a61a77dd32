"""Indexing batches through the workspace: outcomes, idempotence, files, deletion, search joins."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import ERROR, FIXTURES, INDEXED_STATUS, NO_FACE, SKIPPED, fixture_bytes, index_paths, two_faces_jpeg

from facelib import QualityFilter, bytes_source, filter_matches
from facelib.images import decode


def make_batch(tmp_path):
    folder = tmp_path / "batch"
    shutil.copytree(FIXTURES, folder, ignore=shutil.ignore_patterns("*.md"))
    (folder / "sub").mkdir()
    (folder / "sub" / "pair.jpg").write_bytes(two_faces_jpeg())
    (folder / "sub" / "broken.jpg").write_bytes(fixture_bytes("biden.jpg")[:5000])
    (folder / "notes.jpg").write_text("not a photo")
    (folder / "copy_of_obama.jpg").write_bytes(fixture_bytes("obama.jpg"))
    (folder / "readme.txt").write_text("ignored: not an image suffix")
    from PIL import Image
    Image.new("RGB", (300, 300), (90, 140, 200)).save(folder / "sky.png")
    return folder


@pytest.mark.parametrize("workers", [1, 2])
def test_batch_outcomes_and_rerun(workspace, tmp_path, workers):
    folder = make_batch(tmp_path)
    seen = []
    report = index_paths(workspace, "c", [folder], workers=workers, progress=lambda d, t, o: seen.append((d, t)))
    by_name = {o.name.split("batch/")[-1]: o for o in report.outcomes}
    assert len(report.outcomes) == 9 and seen[-1] == (9, 9)
    assert by_name["obama2.jpg"].status == INDEXED_STATUS and by_name["obama2.jpg"].faces_indexed == 1
    assert by_name["sub/pair.jpg"].faces_indexed == 2
    assert by_name["sub/broken.jpg"].status == ERROR and "truncated" in by_name["sub/broken.jpg"].message
    assert by_name["notes.jpg"].status == ERROR and "not a readable image" in by_name["notes.jpg"].message
    assert by_name["sky.png"].status == NO_FACE
    dup = [by_name["obama.jpg"], by_name["copy_of_obama.jpg"]]
    assert sorted(o.status for o in dup) == [INDEXED_STATUS, SKIPPED]
    assert dup[0].sha256 == dup[1].sha256 and "the same file as" in max(dup, key=lambda o: o.status).message
    assert report.faces_indexed == 6
    counts = workspace.catalog.counts("c")
    assert counts == {"images": 6, "faces": 6, "rejected": 0}
    # Every indexed face has a thumbnail and its image a stored copy on disk.
    for f in workspace.catalog.faces("c"):
        assert workspace.path(f.thumb_path).stat().st_size > 500
        assert workspace.path(f.stored_path).exists()
    # A rerun indexes nothing again and changes nothing.
    again = index_paths(workspace, "c", [folder], workers=workers)
    assert {o.status for o in again.outcomes} == {SKIPPED, ERROR} and again.faces_indexed == 0
    assert workspace.catalog.counts("c") == counts
    assert workspace.engine_for("c").describe_collection("c").face_count == 6
    summary = json.loads(json.dumps(report.summary()))
    assert summary["images"] == 9 and summary["faces_indexed"] == 6 and len(summary["errors"]) == 2


def test_search_joins_catalog_and_filters_locally(indexed):
    res = indexed.collection("fx").search_image(decode(fixture_bytes("obama3.jpg")))
    assert res.floor == 50 and res.searched_face == 0
    names = [r.image_name.split("/")[-1] for r in res.rows]
    assert set(names[:3]) == {"obama.jpg", "obama2.jpg", "obama3.jpg"}
    assert all(r.thumb_path and indexed.path(r.thumb_path).exists() for r in res.rows)
    strict = filter_matches(res.rows, 99.9)
    assert len(strict) < len(filter_matches(res.rows, 80)) == 3
    assert filter_matches(res.rows, 80, QualityFilter(min_size_px=10_000)) == []
    doc = res.to_json(threshold=80, max_faces=2)
    assert len(doc["matches"]) == 2 and set(doc["matches"][0]) == {"face_id", "image", "box", "similarity"}


def test_search_by_face(indexed):
    obama = next(f for f in indexed.catalog.faces("fx") if f.image_name.endswith("/obama.jpg"))
    res = indexed.collection("fx").search_face(obama.face_id)
    above = [r.image_name.split("/")[-1] for r in filter_matches(res.rows, 80)]
    assert sorted(above) == ["obama2.jpg", "obama3.jpg"]


def test_delete_image_removes_faces_files_and_vectors(workspace):
    coll = workspace.create_collection("d")
    coll.index([bytes_source("a.jpg", fixture_bytes("obama.jpg")), bytes_source("b.jpg", fixture_bytes("obama2.jpg"))])
    face = workspace.catalog.faces("d")[0]
    thumb, stored = workspace.path(face.thumb_path), workspace.path(face.stored_path)
    assert workspace.collection("d").delete_image(face.image_sha256) == 1
    assert not thumb.exists() and not stored.exists()
    assert workspace.catalog.counts("d")["faces"] == 1
    assert face.face_id not in workspace.engine_for("d").list_faces("d")
    workspace.delete_collection("d")
    assert workspace.collections() == []
    assert not list((workspace.settings.data_dir / "thumbs").rglob("*.jpg"))
    assert not list((workspace.settings.data_dir / "images").rglob("*.*"))


def _new(ws, name):
    ws.create_collection(name)
    return name


def test_index_anyway_a_face_left_out(workspace):
    workspace.create_collection("m")
    report = workspace.collection("m").index([bytes_source("pair.jpg", two_faces_jpeg())], max_faces=1)
    assert report.faces_indexed == 1 and report.faces_rejected == 1
    rejected = workspace.catalog.faces("m", status="rejected")[0]
    assert rejected.reasons == ("EXCEEDS_MAX_FACES",)
    promoted = workspace.collection("m").index_anyway(rejected.face_id)
    assert promoted.status == "indexed" and promoted.reasons == ()
    assert workspace.path(promoted.thumb_path).exists()
    assert workspace.catalog.counts("m") == {"images": 1, "faces": 2, "rejected": 0}
    engine = workspace.engine_for("m")
    assert set(engine.list_faces("m")) == {f.face_id for f in workspace.catalog.faces("m")}
    # The promoted face is searchable: the other face of the pair is not it.
    res = workspace.collection("m").search_face(promoted.face_id)
    assert promoted.face_id not in {r.face_id for r in res.rows}


@pytest.mark.parametrize("workers", [1, 2])
def test_each_detector_setting_analyses_with_its_own_models(tmp_path, workers):
    """Regression: the worker's analyser was a module global built with the first detector seen, so
    a "cnn" batch after a "hog" batch in one process was analysed (and stored) as "hog"."""
    from facelib import Settings, Workspace

    stored = {}
    for detector in ("hog", "cnn", "hog"):
        ws = Workspace(Settings(data_dir=tmp_path / f"data-{detector}-{len(stored)}", detector=detector, model="dlib"))
        coll = ws.create_collection("c", "local")
        names = ["obama.jpg", "biden.jpg", "obama2.jpg"]
        report = coll.index([bytes_source(n, fixture_bytes(n)) for n in names], workers=workers)
        assert report.faces_indexed == 3
        stored[len(stored)] = {f.detail.extra["detector"] for f in coll.faces()}
    assert stored == {0: {"hog"}, 1: {"cnn"}, 2: {"hog"}}


def test_a_cnn_batch_after_cnn_ran_here_does_not_fork():
    """Regression: after dlib's CNN ran in this process, forked workers waited for ever on its thread
    pool (the hog/cnn test above hung with 2 workers). Such a batch now runs here, in order."""
    from facelib.engines.local import LocalPreparer
    from facelib.engines.local.dlib import cnn_ran_here

    assert LocalPreparer("sface").fork_safe and LocalPreparer("dlib", "hog").fork_safe
    assert LocalPreparer("dlib", "cnn").fork_safe == (not cnn_ran_here())
    LocalPreparer("dlib", "cnn")(decode(fixture_bytes("obama.jpg")))
    assert cnn_ran_here() and not LocalPreparer("dlib", "cnn").fork_safe
