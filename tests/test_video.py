"""Faces in video: appearances found within a second of the truth, one row per track, none for an
absent person; a cut ends a track; a damaged tail; no face; limits; erasure of every byte; the
CLI's time codes; Rekognition pays one IndexFaces per appearance. Videos are made by the tests
(tests/videos.py) from the shipped photos."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import FIXTURES, ROOT
from videos import SCENES, Shot, make_video, truncated

from facelib import FileStatus, Settings, Workspace, file_source
from facelib.engines.local.engine import LocalPreparer
from facelib.images import load_file
from facelib.video.frames import looks_like_video
from facelib.video.prepare import prepare_video

pytest.importorskip("av")
TRUTH = [(1.0, 4.0), (4.0, 7.0)]  # Obama, then (after a cut) Biden


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("v") / "scenes.mp4", SCENES)


def test_appearances_are_found_within_a_second_of_the_truth_one_per_track(clip):
    prepared = prepare_video(LocalPreparer(), clip.read_bytes(), "scenes.mp4")
    times = sorted((a.start_s, a.end_s) for a in prepared.appearances.values())
    assert len(times) == len(prepared.details) == len(TRUTH) == len(prepared.thumbs)
    for (s, e), (ts, te) in zip(times, TRUTH, strict=True):
        assert abs(s - ts) <= 1.0 and abs(e - te) <= 1.0, times
    assert prepared.format == "MP4" and prepared.size == (640, 480) and not prepared.note


def test_a_scene_cut_ends_a_track_even_where_the_faces_overlap(tmp_path):
    """The same place on screen, another person after a cut: two appearances, not one."""
    path = make_video(tmp_path / "cut.mp4", [Shot(0, 2, (40, 40, 40), "obama.jpg", 0.3, 0.3),
                                             Shot(2, 4, (220, 200, 90), "biden.jpg", 0.3, 0.3)])
    prepared = prepare_video(LocalPreparer(), path.read_bytes(), "cut.mp4")
    assert len(prepared.appearances) == 2


def test_a_damaged_tail_indexes_what_it_can_and_says_where_it_stopped(tmp_path):
    """A download cut short (Matroska, which streams): the faces before the cut are indexed and
    the outcome says where decoding stopped."""
    path = make_video(tmp_path / "scenes.mkv", SCENES)
    data = truncated(path.read_bytes(), 0.6)
    prepared = prepare_video(LocalPreparer(), data, "cut-short.mkv")
    assert "stopped at" in prepared.note, prepared.note
    starts = sorted(a.start_s for a in prepared.appearances.values())
    assert starts and abs(starts[0] - 1.0) <= 1.0  # Obama, before the damage


def test_an_mp4_cut_before_its_index_is_one_clear_error(clip):
    from facelib.errors import BadImage

    with pytest.raises(BadImage, match="not a readable video"):
        prepare_video(LocalPreparer(), truncated(clip.read_bytes(), 0.5), "cut.mp4")


def test_a_video_is_indexed_searched_and_erased_like_photos(clip, tmp_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "scenes.mp4").write_bytes(clip.read_bytes())
    make_video(folder / "empty.mp4", [Shot(0, 2, (10, 10, 10))])
    (folder / "biden.jpg").write_bytes((FIXTURES / "biden.jpg").read_bytes())
    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    coll = ws.create_collection("v", "local")
    report = coll.index([file_source(p) for p in sorted(folder.iterdir())])
    by = {o.name.rsplit("/", 1)[-1]: o for o in report.outcomes}
    assert by["scenes.mp4"].status == FileStatus.INDEXED and by["scenes.mp4"].faces_indexed == 2
    assert by["empty.mp4"].status == FileStatus.NO_FACE and "no face" in by["empty.mp4"].message
    faces = coll.faces()
    times = ws.appearances.of(f.face_id for f in faces)
    assert len(times) == 2 and all(f.image_name.endswith("scenes.mp4") for f in faces if f.face_id in times)

    # Search with another photo of the person in the first scene: the video's appearance is found.
    result = coll.search_image(load_file(str(FIXTURES / "obama2.jpg")))
    video_rows = [r for r in result.rows if r.face_id in times and r.similarity >= 80]
    assert len(video_rows) == 1 and 0.0 <= times[video_rows[0].face_id].start_s <= 2.0

    # The CLI's rows carry the video's name and when the face was on screen.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "facelib", "search", str(FIXTURES / "obama2.jpg"), "--collection", "v",
                          "--data-dir", str(tmp_path / "data"), "--json"], env=env, text=True, capture_output=True,
                         timeout=120)
    rows = [m for m in json.loads(out.stdout)["matches"] if m["image"].endswith("scenes.mp4")]
    assert len(rows) == 1 and rows[0]["start_s"] < rows[0]["end_s"] and abs(rows[0]["end_s"] - 4.0) <= 1.0

    # The Photos and Person pages show a video by the frame of each appearance, its face boxed.
    face = next(f for f in faces if f.face_id in times)
    frame = coll.photo(face.stored_path, [face.detail.box])
    assert frame is not None and frame.size == (640, 480)
    assert coll.appearances([face.face_id])[face.face_id] == times[face.face_id]

    # Grouping puts appearances into people like faces.
    people = coll.people
    people.update()
    assert any(f in p.face_ids for p in people.listing() for f in times)

    # Erasure: every appearance, thumbnail and the stored copy go; no byte of the video is left.
    sha = next(f.image_sha256 for f in faces if f.face_id in times)
    coll.delete_image(sha)
    assert not ws.appearances.of(times) and not coll.faces(image_sha256=sha)
    raw = clip.read_bytes()
    piece = raw[len(raw) // 2: len(raw) // 2 + 256]  # frames with a face in them
    for p in (tmp_path / "data").rglob("*"):
        if p.is_file():
            assert sha not in p.name and piece not in p.read_bytes(), p


def test_videos_over_the_limits_are_refused_with_the_setting_to_change(clip, tmp_path, monkeypatch):
    monkeypatch.setenv("FACESEARCH_VIDEO_MAX_SECONDS", "5")
    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    coll = ws.create_collection("v", "local")
    report = coll.index([file_source(clip)])
    assert report.outcomes[0].status == FileStatus.ERROR and "FACESEARCH_VIDEO_MAX_SECONDS" in report.outcomes[0].message
    monkeypatch.setenv("FACESEARCH_VIDEO_MAX_SECONDS", "3600")
    monkeypatch.setenv("FACESEARCH_VIDEO_MAX_SIDE", "320")
    report = coll.index([file_source(clip)])
    assert "FACESEARCH_VIDEO_MAX_SIDE" in report.outcomes[0].message


def test_only_video_containers_are_taken_for_video():
    assert looks_like_video(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00")
    assert not looks_like_video(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00")  # a phone photo
    assert not looks_like_video((FIXTURES / "obama.jpg").read_bytes())
    assert looks_like_video(b"\x1a\x45\xdf\xa3" + b"\x00" * 12)


def test_rekognition_pays_one_index_faces_per_appearance(clip, tmp_path, monkeypatch):
    """Only key frames go to IndexFaces: the cost is the appearances, not the frames."""
    from bench.rekognition_endpoint import RekognitionEndpoint

    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(k, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with RekognitionEndpoint() as ep:
        ws = Workspace(Settings(data_dir=tmp_path / "data", engine="rekognition", aws_region="us-east-1",
                                aws_endpoint_url=ep.url))
        coll = ws.create_collection("r", "rekognition")
        est = coll.estimate([file_source(clip)])  # from the container's duration: 9 s -> one appearance's call
        assert (est.videos, est.paid_calls) == (1, 1)
        report = coll.index([file_source(clip)])
        assert report.outcomes[0].status == FileStatus.INDEXED, report.outcomes[0].message
        assert ep.calls["IndexFaces"] == 2 == report.faces_indexed
        faces = coll.faces()
        assert len(ws.appearances.of(f.face_id for f in faces)) == 2
        stored = {f for c in ep.collections.values() for f in c["faces"]}
        assert stored == {f.face_id for f in faces}
