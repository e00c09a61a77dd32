"""The local engine's two models: weights checked by sha256, one calibrated mapping a model, each
collection searched only by its own model, and re-indexing with the other model keeping names."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import FIXTURES, fixture_bytes, index_paths, two_faces_jpeg

from facelib import EngineUnavailable, InvalidParameter, Settings, Workspace, bytes_source, decode
from facelib.engines.local import sface
from facelib.engines.local.similarity import CALIBRATIONS


@pytest.mark.parametrize("model", sorted(CALIBRATIONS))
def test_each_mapping_is_monotone_and_calibrated(model):
    cal = CALIBRATIONS[model]
    d = np.linspace(0, 2.5, 500)
    s = cal.similarity(d)
    assert np.all(np.diff(s) < 0) and 99 < s[0] <= 100 and s[-1] < 1
    for pct in (50, 70, 80, 90, 95):
        assert cal.similarity(cal.distance_for(pct)) == pytest.approx(pct)
    assert cal.similarity(cal.distance_at_80) == pytest.approx(80) and cal.similarity(cal.midpoint) == pytest.approx(50)


def test_the_weights_are_found_in_the_wheel_and_checked():
    for name in ("yunet", "sface"):
        path = sface.weight_path(name)
        assert path.is_file() and path.stat().st_size > 100_000


def test_a_wrong_weight_file_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "face_detection_yunet_2023mar_int8bq.onnx"
    shutil.copy(sface.weight_path("yunet"), bad)
    with open(bad, "r+b") as f:  # one flipped byte
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(EngineUnavailable, match="sha256"):
        sface.check_sha256(bad, sface.WEIGHTS["yunet"][1])
    monkeypatch.setitem(sface.WEIGHTS, "yunet", (sface.WEIGHTS["yunet"][0], "0" * 64))
    monkeypatch.setattr(sface, "_PATHS", {})
    with pytest.raises(EngineUnavailable, match="do not match their sha256"):
        sface.SFaceAnalyser().warm()


def test_sface_finds_and_describes_faces():
    from facelib.engines.local.models import analyser_for

    a = analyser_for("sface")
    faces = a.analyze(decode(two_faces_jpeg()))
    assert len(faces) == 2
    for f in faces:
        assert f.vector is not None and f.vector.shape == (128,)
        assert float(np.linalg.norm(f.vector)) == pytest.approx(1.0, abs=1e-4)
        assert [lm.type for lm in f.detail.landmarks] == ["eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"]
        eye_l, eye_r = f.detail.landmarks[0], f.detail.landmarks[1]
        assert eye_l.x < eye_r.x  # Rekognition's eyeLeft is the one on the image's left
        assert 70 <= f.detail.confidence <= 100 and abs(f.detail.pose.yaw) < 30 and abs(f.detail.pose.roll) < 15
        assert 0 <= f.detail.brightness <= 100 and 0 <= f.detail.sharpness <= 100
    same = a.analyze(decode(fixture_bytes("obama2.jpg")))[0].vector
    obama = min(faces, key=lambda f: f.detail.box.left).vector
    biden = max(faces, key=lambda f: f.detail.box.left).vector
    cal = CALIBRATIONS["sface"]
    assert cal.similarity(float(np.linalg.norm(same - obama))) >= 80 > cal.similarity(float(np.linalg.norm(same - biden)))


def test_a_photo_turned_without_exif_is_found_and_the_rotation_stored():
    from PIL import Image

    from facelib.engines.local.models import analyser_for

    upright = decode(fixture_bytes("obama.jpg"))
    for degrees in (90, 180, 270):
        turned = upright.rgb.rotate(-degrees, expand=True)  # clockwise, as a camera without EXIF
        import io

        buf = io.BytesIO()
        turned.save(buf, "JPEG", quality=92)
        faces = analyser_for("sface").analyze(decode(buf.getvalue()))
        assert len(faces) == 1, degrees
        assert faces[0].detail.extra["rotation"] in (90, 180, 270)
        assert isinstance(turned, Image.Image)


def test_new_collections_use_sface_and_only_their_model_searches_them(tmp_path):
    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    new = ws.create_collection("new", "local")
    old = ws.create_collection("old", "local", "dlib")
    assert (new.model, old.model) == ("sface", "dlib")
    for coll in (new, old):
        coll.index([bytes_source("obama.jpg", fixture_bytes("obama.jpg"))], workers=1)
        res = coll.search_image(decode(fixture_bytes("obama2.jpg")))
        assert [r.image_name for r in res.rows if r.similarity >= 80] == ["obama.jpg"], coll.model
    engine = ws.engine("local")
    sface_vector = engine.vector("new", new.faces()[0].face_id)
    with pytest.raises(InvalidParameter, match="indexed with the dlib model"):
        engine.search_vector("old", sface_vector, model="sface")
    with pytest.raises(InvalidParameter, match="cannot search"):
        engine.search_vector("old", np.zeros(64, np.float32))
    assert ws.catalog.connect().execute("SELECT model_version FROM collections WHERE name='new'").fetchone()[0] \
        == sface.MODEL_VERSION


def test_reindex_keeps_names_hidden_people_and_decisions(tmp_path):
    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    index_paths(ws, "fam", [FIXTURES], workers=1)
    coll = ws.collection("fam")
    coll.index([bytes_source("pair.jpg", two_faces_jpeg())], workers=1)
    people = coll.people
    people.update()
    obama, biden = people.listing()
    people.rename(obama.person_id, "Barack")
    people.hide(biden.person_id)
    loner = people.not_this_person(obama.face_ids[-1])
    before = people.store.decision_rows()
    report = coll.reindex("dlib")
    assert coll.model == "dlib" and report.images == 5 and report.faces_after == report.faces_before == 6
    assert report.faces_unmatched == [] and report.decisions_lost == 0 and report.people_lost == []
    after = {p.person_id: p for p in people.listing(include_hidden=True)}
    assert after[obama.person_id].name == "Barack" and len(after[obama.person_id].face_ids) == 3
    assert after[biden.person_id].hidden and len(after[loner].face_ids) == 1
    assert len(people.store.decision_rows()) == len(before) > 0
    # The new vectors are dlib's: a search finds Obama's photos again, and regrouping honours the decisions.
    res = coll.search_image(decode(fixture_bytes("obama2.jpg")))
    assert {r.image_name.rsplit("/", 1)[-1] for r in res.rows if r.similarity >= 80} >= {"obama.jpg", "obama3.jpg"}
    regrouped = {p.person_id: p for p in people.regroup()}
    assert regrouped[obama.person_id].name == "Barack" and loner in regrouped
    with pytest.raises(InvalidParameter, match="already"):
        coll.reindex("dlib")


def test_reindex_reports_what_it_could_not_carry(tmp_path):
    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    coll = ws.create_collection("c", "local", "dlib")
    coll.index([bytes_source(n, fixture_bytes(n)) for n in ("obama.jpg", "biden.jpg")], workers=1)
    coll.people.update()
    gone = next(i for i in coll.images() if i.original_name == "biden.jpg")
    ws.path(gone.stored_path).unlink()
    report = coll.reindex("sface")
    assert report.without_copy == ["biden.jpg"] and report.images == 1
    assert [i.original_name for i in coll.images()] == ["obama.jpg"]
    assert len(report.people_lost) == 1 and coll.counts() == {"images": 1, "faces": 1, "rejected": 0}


def test_a_reindex_leaves_no_correction_to_undo(tmp_path):
    """Regression: the undo journal still named the faces a re-index had replaced, so an undo after it
    deleted the decisions the re-index had just carried over."""
    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    index_paths(ws, "fam", [FIXTURES], workers=1)
    people = ws.collection("fam").people
    people.update()
    obama = people.listing()[0]
    people.split([obama.face_ids[0]])
    assert people.last_correction()
    ws.collection("fam").reindex("dlib")
    assert people.last_correction() is None and people.store.decision_rows()
