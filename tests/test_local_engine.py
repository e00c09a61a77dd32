"""The local engine on real photos: detection, quality, indexing, search, errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fixture_bytes, two_faces_jpeg

from facelib import Settings, Workspace
from facelib.errors import CollectionExists, CollectionNotFound, FaceNotFound, InvalidParameter
from facelib.images import decode


def local_engine(data_dir, detector="hog", model="sface"):
    """The local engine of a fresh workspace (its vectors live in that workspace's catalog database)."""
    return Workspace(Settings(data_dir=data_dir, detector=detector, model=model)).engine("local")


@pytest.fixture
def engine(tmp_path):
    e = local_engine(tmp_path)
    e.create_collection("people")
    return e


def img(name):
    return decode(fixture_bytes(name), name)


def test_detect_one_face_with_sane_details(engine):
    faces = engine.detect_faces(img("obama.jpg"))
    assert len(faces) == 1
    d = faces[0]
    b = d.box
    # The face is in the upper middle of the portrait.
    assert 0.2 < b.left + b.width / 2 < 0.8 and 0.1 < b.top + b.height / 2 < 0.6
    assert 0.1 < b.width < 0.7
    assert d.confidence > 90 and 20 < d.brightness < 90 and 10 < d.sharpness <= 100
    assert abs(d.pose.yaw) < 25 and abs(d.pose.roll) < 15
    assert d.size_px > 80 and len(d.landmarks) == 5
    nose = d.landmarks[4]
    assert b.left < nose.x < b.left + b.width and b.top < nose.y < b.top + b.height


def test_two_faces_are_found_left_to_right(engine):
    faces = engine.detect_faces(decode(two_faces_jpeg()))
    assert len(faces) == 2


def test_index_then_search_finds_the_same_person(engine):
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg"):
        res = engine.index_faces("people", img(name), name.replace(".jpg", ""))
        assert len(res.faces) == 1
    found = engine.search_faces_by_image("people", img("obama3.jpg"), threshold=80, max_faces=10)
    assert found.searched_face == 0 and len(found.query_faces) == 1
    assert [m.face.external_image_id for m in found.matches] == ["obama", "obama2"]
    assert all(80 <= m.similarity <= 100 for m in found.matches)
    low = engine.search_faces_by_image("people", img("obama3.jpg"), threshold=0, max_faces=10)
    biden = [m for m in low.matches if m.face.external_image_id == "biden"]
    assert biden and biden[0].similarity < 50


def test_search_by_face_id_excludes_itself_and_respects_max(engine):
    ids = {n: engine.index_faces("people", img(n), n.split(".")[0]).faces[0].face_id
           for n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")}
    matches = engine.search_faces("people", ids["obama.jpg"], threshold=80, max_faces=5)
    assert {m.face.face_id for m in matches} == {ids["obama2.jpg"], ids["obama3.jpg"]}
    assert len(engine.search_faces("people", ids["obama.jpg"], threshold=0, max_faces=1)) == 1
    assert engine.describe_collection("people").face_count == 4
    assert engine.delete_faces("people", [ids["obama2.jpg"], "nope"]) == [ids["obama2.jpg"], "nope"]  # both gone
    assert set(engine.list_faces("people")) == {ids["obama.jpg"], ids["obama3.jpg"], ids["biden.jpg"]}
    assert [m.face.face_id for m in engine.search_faces("people", ids["obama.jpg"], 80, 5)] == [ids["obama3.jpg"]]


def test_reindexing_an_external_id_replaces_it(engine):
    engine.index_faces("people", img("obama.jpg"), "same")
    engine.index_faces("people", img("obama.jpg"), "same")
    assert engine.describe_collection("people").face_count == 1


def test_max_faces_keeps_the_largest(engine):
    res = engine.index_faces("people", decode(two_faces_jpeg()), "pair", max_faces=1)
    assert len(res.faces) == 1 and len(res.unindexed) == 1
    assert res.unindexed[0].reasons == ("EXCEEDS_MAX_FACES",)
    assert res.faces[0].detail.box.area >= res.unindexed[0].detail.box.area


def test_search_chooses_face_by_index(engine):
    engine.index_faces("people", img("biden.jpg"), "biden")
    pair = decode(two_faces_jpeg())
    # Faces come in detector order; find which one is Biden (on the right).
    found = engine.search_faces_by_image("people", pair, threshold=80)
    right = max(range(2), key=lambda i: found.query_faces[i].box.left)
    hit = engine.search_faces_by_image("people", pair, threshold=80, face_index=right)
    assert [m.face.external_image_id for m in hit.matches] == ["biden"]
    assert engine.search_faces_by_image("people", pair, threshold=80, face_index=1 - right).matches == ()
    with pytest.raises(InvalidParameter):
        engine.search_faces_by_image("people", pair, face_index=5)


def test_no_face_gives_an_empty_result(engine):
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (200, 200), (120, 160, 200)).save(buf, "PNG")
    res = engine.search_faces_by_image("people", decode(buf.getvalue()))
    assert res.query_faces == () and res.searched_face is None and res.matches == ()


def test_compare_faces(engine):
    pair = decode(two_faces_jpeg())
    matches = engine.compare_faces(img("obama2.jpg"), pair, threshold=80)
    assert len(matches) == 1 and matches[0].similarity >= 80
    assert matches[0].face.detail.box.left < 0.5  # Obama is on the left of the pair


def test_collection_errors(engine):
    with pytest.raises(CollectionExists):
        engine.create_collection("people")
    with pytest.raises(CollectionNotFound):
        engine.search_faces("nope", "x")
    with pytest.raises(FaceNotFound):
        engine.search_faces("people", "missing")
    with pytest.raises(InvalidParameter):
        engine.create_collection("bad\tname")  # display names: spaces allowed, control characters not
    with pytest.raises(InvalidParameter):
        engine.search_vector("people", np.zeros(128, np.float32), threshold=150)
    engine.delete_collection("people")
    assert engine.list_collections() == []


def test_cnn_detector_option(tmp_path):
    cnn = local_engine(tmp_path / "c", detector="cnn", model="dlib")
    faces = cnn.detect_faces(img("obama.jpg"))
    assert len(faces) == 1 and faces[0].extra["detector"] == "cnn"
    hog = local_engine(tmp_path / "d", model="dlib").detect_faces(img("obama.jpg"))[0].box
    b = faces[0].box
    assert abs((b.left + b.width / 2) - (hog.left + hog.width / 2)) < 0.05  # the same face
    with pytest.raises(ValueError):
        local_engine(tmp_path / "e", detector="fast", model="dlib")


def test_a_collection_too_large_for_this_machines_memory_is_refused_with_the_way_out(engine, monkeypatch):
    """Exact search keeps a collection's vectors in memory (about 552 bytes a face): a collection
    that would not fit in the memory available is one clear error, not the server killed."""
    from facelib.engines.local import vectors
    from facelib.errors import EngineUnavailable

    for name in ("obama.jpg", "biden.jpg"):
        engine.index_faces("people", img(name), name.replace(".jpg", ""))
    monkeypatch.setattr(vectors, "available_memory", lambda: 1000)
    with pytest.raises(EngineUnavailable, match=r"2 faces need .* exact search .* rekognition"):
        engine.search_faces_by_image("people", img("obama2.jpg"))
    monkeypatch.setattr(vectors, "available_memory", lambda: 10 ** 9)
    assert engine.search_faces_by_image("people", img("obama2.jpg")).matches
