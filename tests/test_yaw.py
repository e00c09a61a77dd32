"""Head turn (yaw) from YuNet's landmarks against Rekognition's Pose on the same photos.

The recorded DetectFaces responses (../shared/rekognition-responses) give Rekognition's Pose for 33
faces of the faces-dev photos; the offline engine analyses the same photos and each of its faces is
paired with Rekognition's by the box centre. Before issue 24 the arcsine read -90 degrees for faces
Rekognition puts at -38 and -50 (so a "max 45" filter hid them): 6 faces were off by more than 15.
"""

from __future__ import annotations

import json

import pytest
from conftest import DEV, RECORDED, needs_dev, needs_recorded

from facelib import Settings, Workspace, load_file

pytestmark = [needs_dev, needs_recorded]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> list[tuple[str, float, float]]:
    """(photo, Rekognition's yaw, ours) for every face both found."""
    ws = Workspace(Settings(data_dir=tmp_path_factory.mktemp("yaw") / "data"))
    engine = ws.ensure_collection("yaw").engine
    out = []
    for path in sorted((RECORDED / "datas" / "detect-faces").glob("*.json")):
        photo = DEV / "images" / f"{path.stem}.jpg"
        if not photo.exists():
            continue
        ours = engine.detect_faces(load_file(str(photo)))
        for face in json.loads(path.read_text())["FaceDetails"]:
            bb = face["BoundingBox"]
            cx, cy = bb["Left"] + bb["Width"] / 2, bb["Top"] + bb["Height"] / 2

            def off(d, cx=cx, cy=cy) -> float:
                return abs(d.box.left + d.box.width / 2 - cx) + abs(d.box.top + d.box.height / 2 - cy)

            near = [d for d in ours if off(d) < bb["Width"] / 2]
            if near:
                out.append((path.stem, float(face["Pose"]["Yaw"]), float(min(near, key=off).pose.yaw)))
    return out


def test_yaw_has_rekognitions_sign_and_is_within_15_degrees(pairs):
    assert len(pairs) >= 30, pairs
    # Same sign for every face Rekognition sees turned by 10 degrees or more (below that the sign is noise).
    wrong_sign = [p for p in pairs if abs(p[1]) >= 10 and (p[1] > 0) != (p[2] > 0)]
    assert not wrong_sign
    far = [p for p in pairs if abs(p[1] - p[2]) > 15]
    # One face is off: brooke3, its head tilted by 27 degrees; Rekognition's own landmarks put its nose
    # as far off-centre as YuNet's (a yaw of about 18 from them), while its Pose says 2.
    assert [p[0] for p in far] in ([], ["brooke3"]), far
    assert sum(abs(r - o) for _, r, o in pairs) / len(pairs) < 8
    assert all(abs(o) < 89 for _, _, o in pairs)  # no saturated readings
