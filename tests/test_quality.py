"""Pure functions: quality scores, pose, similarity mapping, thumbnails, view-time filters."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageFilter

from facelib import MatchRow, QualityFilter, filter_matches, matches_by_threshold, quality, thumbnails
from facelib.engines.local import similarity
from facelib.records import BoundingBox, FaceDetail, Pose


def test_brightness_scale():
    assert quality.brightness(np.zeros((8, 8), np.float32)) == 0
    assert quality.brightness(np.full((8, 8), 255, np.float32)) == pytest.approx(100)


def test_sharpness_drops_with_blur():
    rng = np.random.default_rng(0)
    noise = Image.fromarray((rng.random((96, 96)) * 255).astype(np.uint8))
    sharp = quality.sharpness(np.asarray(noise, np.float32))
    blurred = quality.sharpness(np.asarray(noise.filter(ImageFilter.GaussianBlur(3)), np.float32))
    flat = quality.sharpness(np.full((96, 96), 128, np.float32))
    assert flat == 0 and 0 < blurred < sharp <= 100 and sharp > 90


def five(roll_deg=0.0, nose_dx=0.0, nose_drop=0.78):
    """dlib-ordered 5 points of a face with eye distance 100 px, rotated by roll_deg."""
    pts = [(165, 100), (135, 100), (35, 100), (65, 100), (100 + nose_dx, 100 + 100 * nose_drop)]
    c, s = math.cos(math.radians(roll_deg)), math.sin(math.radians(roll_deg))
    return [(100 + (x - 100) * c - (y - 100) * s, 100 + (x - 100) * s + (y - 100) * c) for x, y in pts]


def test_pose_frontal_is_near_zero():
    p = quality.pose_from_five_points(five())
    assert abs(p.yaw) < 1 and abs(p.pitch) < 1 and abs(p.roll) < 1


def test_pose_roll_and_yaw():
    assert quality.pose_from_five_points(five(roll_deg=20)).roll == pytest.approx(20, abs=0.5)
    turned = quality.pose_from_five_points(five(nose_dx=30))
    assert turned.yaw > 25
    assert quality.pose_from_five_points(five(nose_dx=-30)).yaw < -25


def test_similarity_is_monotone_and_calibrated():
    d = np.linspace(0, 1.5, 200)
    s = similarity.similarity(d)
    assert np.all(np.diff(s) < 0) and s[0] > 99 and s[-1] < 1
    assert similarity.similarity(similarity.DISTANCE_AT_80) == pytest.approx(80)
    assert similarity.similarity(similarity.MIDPOINT) == pytest.approx(50)
    for pct in (50, 70, 80, 90, 95):
        assert similarity.similarity(similarity.distance_for(pct)) == pytest.approx(pct)


def test_thumbnail_is_square_and_inside(tmp_path):
    im = Image.new("RGB", (300, 200), (10, 20, 30))
    box = BoundingBox(0.9, 0.8, 0.2, 0.3)  # pokes outside the image
    t = thumbnails.thumbnail(im, box)
    assert t.size == (thumbnails.THUMB_SIDE, thumbnails.THUMB_SIDE)
    left, t_, r, b = thumbnails.square_crop_box(box, 300, 200)
    assert 0 <= left < r <= 300 and 0 <= t_ < b <= 200 and r - left == b - t_
    assert thumbnails.data_uri(thumbnails.thumbnail_jpeg(im, box)).startswith("data:image/jpeg;base64,")


def row(sim, **detail):
    d = FaceDetail(BoundingBox(0, 0, 0.1, 0.1), **detail)
    return MatchRow(f"f{sim}", sim, "img", "sha", d.box, d, None, None)


def test_filter_matches_threshold_and_quality():
    rows = [row(95, brightness=70, sharpness=80), row(85, brightness=20, sharpness=80),
            row(75, brightness=70, sharpness=10), row(60)]
    assert [r.similarity for r in filter_matches(rows, 80)] == [95, 85]
    q = QualityFilter(min_brightness=40)
    assert [r.similarity for r in filter_matches(rows, 50, q)] == [95, 75, 60]  # unknown brightness passes
    assert QualityFilter(max_yaw=30).reasons(FaceDetail(BoundingBox(0, 0, 1, 1), pose=Pose(yaw=-45))) == ["yaw 45 > 30"]
    counts = matches_by_threshold(rows, 50, step=10)
    assert counts.thresholds == [50, 60, 70, 80, 90, 100] and counts.counts == [4, 4, 3, 2, 1, 0]


def test_failing_sql_agrees_with_reasons(tmp_path):
    """The SQL form of the quality filter selects exactly the faces its Python form rejects."""
    import random

    from facelib import Settings, StoredFace, StoredImage, Workspace

    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    ws.create_collection("c", "local")
    cat = ws.catalog
    rng = random.Random(1)
    faces = []
    for i in range(200):
        d = FaceDetail(BoundingBox(0, 0, 0.1, 0.1), confidence=rng.choice([None, rng.uniform(50, 100)]),
                       brightness=rng.choice([None, rng.uniform(0, 100)]), sharpness=rng.uniform(0, 100),
                       pose=Pose(yaw=rng.uniform(-80, 80), pitch=rng.choice([None, rng.uniform(-40, 40)])),
                       size_px=rng.randint(20, 300), age_high=rng.choice([None, rng.randint(3, 70)]))
        faces.append(StoredFace(f"f{i}", "c", "sha", i, "indexed", (), d, None))
    cat.record_image(StoredImage("c", "sha", "x.jpg", None, None, 1, 1, 1, "JPEG", 0.0, {}), faces)
    q = QualityFilter(min_brightness=40, min_sharpness=30, min_confidence=70, min_size_px=60, max_yaw=45,
                      max_pitch=20, min_age=18)
    n, rows = cat.faces_failing("c", q, limit=1000)
    expected = {f.face_id for f in faces if q.reasons(f.detail)}
    assert n == len(expected) and {r.face_id for r in rows} == expected and 0 < n < 200
    assert cat.faces_failing("c", QualityFilter())[0] == 0


def test_default_face_is_the_largest_confident_one():
    from facelib.records import largest_face

    clear = FaceDetail(BoundingBox(0.1, 0.1, 0.2, 0.2), confidence=95.0)
    doubtful_big = FaceDetail(BoundingBox(0.4, 0.4, 0.5, 0.5), confidence=72.0)
    small_sure = FaceDetail(BoundingBox(0.8, 0.8, 0.1, 0.1), confidence=99.0)
    assert largest_face([doubtful_big, clear, small_sure]) == 1
    assert largest_face([doubtful_big]) == 0 and largest_face([]) is None
    unknown = FaceDetail(BoundingBox(0.0, 0.0, 0.6, 0.6))
    assert largest_face([clear, unknown]) == 1


def test_box_labels_scale_for_pictures_shown_small():
    from facelib.thumbnails import draw_boxes

    im = Image.new("RGB", (800, 600), (255, 255, 255))
    box = [BoundingBox(0.4, 0.4, 0.2, 0.2)]
    plain = np.asarray(draw_boxes(im, box, labels=["Mom"]))
    large = np.asarray(draw_boxes(im, box, labels=["Mom"], text_scale=2.5))

    def label_height(arr):
        above = arr[:238]  # the label sits above the box (top at 240 px)
        rows = np.flatnonzero(((above[:, :, 2] > 200) & (above[:, :, 0] < 50)).any(axis=1))  # its cyan fill
        return int(rows.max() - rows.min())

    assert label_height(large) > 1.8 * label_height(plain) > 0
