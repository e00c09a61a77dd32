"""The Live page's frame processing on real photos: boxes, labels, throttling, cost; the page itself."""

from __future__ import annotations

import concurrent.futures as cf
import io

import numpy as np
import pytest
from conftest import FIXTURES, fixture_bytes, two_faces_jpeg
from PIL import Image


class Immediate(cf.Executor):
    """Runs a submitted search at once (so a test sees its label on the next frame)."""

    def submit(self, fn, /, *args, **kwargs):
        fut: cf.Future = cf.Future()
        fut.set_result(fn(*args, **kwargs))
        return fut


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def frame_of(data: bytes) -> np.ndarray:
    """A 640x480 camera frame showing the photo (letterboxed)."""
    frame = Image.new("RGB", (640, 480), (230, 230, 230))
    im = Image.open(io.BytesIO(data)).convert("RGB")
    im.thumbnail((640, 480))
    frame.paste(im, ((640 - im.width) // 2, (480 - im.height) // 2))
    return np.asarray(frame)


@pytest.fixture
def recognizer(indexed):

    clock = Clock()
    rec = indexed.collection("fx").live(clock=clock, executor=Immediate())
    return rec, clock


def test_boxes_and_labels_are_drawn(recognizer):
    rec, clock = recognizer
    frame = frame_of(two_faces_jpeg())
    first = rec.process(frame)
    clock.t += 0.1
    out = rec.process(frame)
    labels = sorted(f["label"] for f in rec.snapshot()["faces"])
    assert labels == ["biden.jpg", "obama.jpg"]
    assert all(f["similarity"] > 90 for f in rec.snapshot()["faces"])
    changed = np.any(out != frame, axis=2)
    assert 0.002 < changed.mean() < 0.2  # boxes and captions, not the whole picture
    assert out.shape == frame.shape and not np.array_equal(first, out)  # captions changed once labelled


def test_searches_are_throttled_per_face(recognizer):
    rec, clock = recognizer
    frame = frame_of(two_faces_jpeg())
    for _ in range(30):  # 3 seconds at 10 frames a second
        rec.process(frame)
        clock.t += 0.1
    snap = rec.snapshot()
    assert snap["frames"] == 30
    assert snap["searches"] == 2 * 3  # two faces, once a second each
    assert len(snap["faces"]) == 2


def test_a_face_that_leaves_is_forgotten(recognizer):
    rec, clock = recognizer
    rec.process(frame_of(fixture_bytes("obama.jpg")))
    sky = np.full((480, 640, 3), 180, np.uint8)
    clock.t += 2.0
    rec.process(sky)
    assert rec.snapshot()["faces"] == []
    assert rec.frozen_jpeg()[:2] == b"\xff\xd8"


def test_unknown_faces_say_so(workspace):
    from conftest import index_paths

    index_paths(workspace, "only_biden", [FIXTURES / "biden.jpg"], workers=1)
    rec = workspace.collection("only_biden").live(executor=Immediate(), clock=Clock())
    frame = frame_of(fixture_bytes("obama.jpg"))
    rec.process(frame)
    assert [f["label"] for f in rec.snapshot()["faces"]] == ["unknown"]


def test_rekognition_throttles_harder_and_counts_cost(workspace):
    from rekognition_stub import face, rekognition_collection, search_response

    engine, stub, sha = rekognition_collection(workspace, "r")
    stored = workspace.catalog.faces("r")[0]
    clock = Clock()
    rec = workspace.collection("r").live(clock=clock, executor=Immediate())
    assert rec.search_interval == 5.0
    frame = frame_of(fixture_bytes("obama.jpg"))
    # Two searches in 6 seconds, each one SearchFacesByImage on the crop the offline detector found
    # (no DetectFaces), never cached: a live crop is biometric data with nothing to purge it.
    centre = {"Left": 0.22, "Top": 0.22, "Width": 0.56, "Height": 0.56}  # the face, in the middle of its crop
    for _ in range(2):
        stub.add_response("search_faces_by_image", search_response([(face(stored.face_id, sha), 97.0)], centre))
    for _ in range(60):
        rec.process(frame)
        clock.t += 0.1
    stub.assert_no_pending_responses()
    snap = rec.snapshot()
    assert snap["searches"] == 2 and snap["faces"][0]["label"] == "obama.jpg"
    assert snap["dollars"] == pytest.approx(0.002)  # one paid call a search
    assert not [k for k in engine.cache.cache.iterkeys() if "SearchFacesByImage" in str(k)]


def test_live_page_with_the_stream_patched(with_samples_at, monkeypatch):
    """webrtc_streamer() cannot run under AppTest: patch it and feed its frame callback directly."""
    import av
    import streamlit_webrtc

    captured = {}

    def fake_streamer(*args, **kwargs):
        captured.update(kwargs)

    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", fake_streamer)
    at = with_samples_at
    at.switch_page("pages/7_Live.py").run()
    assert not at.exception, at.exception
    assert captured["rtc_configuration"] == {"iceServers": []}
    frame = av.VideoFrame.from_ndarray(frame_of(fixture_bytes("obama2.jpg")), format="rgb24")
    out = captured["video_frame_callback"](frame)
    assert out.width == 640 and out.height == 480
    at.session_state["live_recognizer"].executor.shutdown(wait=True)
    at.run()
    assert not at.exception
    faces = at.dataframe[0].value
    assert len(faces) == 1 and faces["who"][0].startswith("Person ")  # the samples are grouped into people
    assert faces["similarity"][0] >= 80
    assert {m.label: m.value for m in at.metric}["Frames"] == "1"
    at.button(key="live_freeze").click().run()
    assert at.session_state["search_query"]["source"] == "live"
