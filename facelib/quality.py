"""Face quality figures computed from pixels and landmarks (used where the engine gives none).

All scores are on 0-100 (higher is brighter / sharper). Pose angles are degrees.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .records import BoundingBox, Pose

#: Side in pixels the face crop is resized to before measuring, so scores do not depend on face size.
MEASURE_SIDE = 96
#: Laplacian variance that maps to a sharpness of 50.
SHARPNESS_HALF = 300.0


def face_crop_gray(rgb: Image.Image, box: BoundingBox) -> np.ndarray:
    """The face box as a MEASURE_SIDE x MEASURE_SIDE float32 luma array (0-255)."""
    x0, y0, x1, y1 = box.to_pixels(*rgb.size)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((MEASURE_SIDE, MEASURE_SIDE), np.float32)
    crop = rgb.crop((x0, y0, x1, y1)).convert("L").resize((MEASURE_SIDE, MEASURE_SIDE),
                                                          Image.Resampling.BILINEAR)
    return np.asarray(crop, dtype=np.float32)


def brightness(gray: np.ndarray) -> float:
    """Mean luma of the crop as 0-100 (0 black, 100 white)."""
    return float(gray.mean() / 255.0 * 100.0)


def sharpness(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian mapped to 0-100: ``100 * v / (v + SHARPNESS_HALF)``.

    Monotone in the variance; a blurred face scores low, a crisp one high.
    """
    g = gray.astype(np.float32)
    lap = (g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1])
    v = float(lap.var())
    return 100.0 * v / (v + SHARPNESS_HALF)


def pose_from_five_points(points: list[tuple[float, float]]) -> Pose:
    """Estimate head pose from dlib's 5 points, in pixels of one image.

    Points are dlib's order: subject's left eye outer/inner corner (on the image's right), right eye
    outer/inner corner, nose base. See :func:`pose_from_eyes_and_nose`.
    """
    (l0, l1, r0, r1, nose) = points[:5]
    # r: the eye on the image's left (subject's right), l: the one on the image's right.
    right_eye = ((r0[0] + r1[0]) / 2, (r0[1] + r1[1]) / 2)
    left_eye = ((l0[0] + l1[0]) / 2, (l0[1] + l1[1]) / 2)
    return pose_from_eyes_and_nose(right_eye, left_eye, nose, frontal_drop=DLIB_NOSE_BASE_DROP,
                                   nose_depth=DLIB_NOSE_BASE_DEPTH)


#: How far below the eye line the nose sits on a frontal face, in eye distances (measured on the
#: frontal portraits of faces-dev): dlib's nose base, YuNet's nose tip.
DLIB_NOSE_BASE_DROP = 0.78
YUNET_NOSE_TIP_DROP = 0.6
#: How far the nose stands out of the eyes' plane, in eye distances: a head turned by ``yaw`` moves
#: the nose sideways by ``depth * sin(yaw)`` while the eye distance shrinks by ``cos(yaw)``, so
#: ``yaw = atan(offset / (depth * eye distance))``. YuNet's nose tip: 0.6, fitted on the 33 faces of
#: the recorded Rekognition DetectFaces responses (tests/test_yaw.py: within 15 degrees of
#: Rekognition's Pose for 32 of them, mean 7 degrees; the arcsine used before read -90 for faces
#: Rekognition puts at -38 and -50). dlib's nose base sits nearer the face: 0.5 (not fitted; the
#: same figures as before for small turns, no longer saturating at 90).
YUNET_NOSE_TIP_DEPTH = 0.6
DLIB_NOSE_BASE_DEPTH = 0.5


def pose_from_eyes_and_nose(eye_image_left: tuple[float, float], eye_image_right: tuple[float, float],
                            nose: tuple[float, float], frontal_drop: float = YUNET_NOSE_TIP_DROP,
                            nose_depth: float = YUNET_NOSE_TIP_DEPTH) -> Pose:
    """Estimate head pose (degrees) from the two eye centres and the nose, in pixels of one image.

    ``eye_image_left`` is the eye on the image's left (the subject's right). Roll is the eye line's
    angle; yaw comes from the nose's sideways offset from the eye midpoint, pitch from its drop below
    the eye line against ``frontal_drop``, both relative to the eye distance (yaw: see
    ``YUNET_NOSE_TIP_DEPTH``; positive when the nose points to the image's right, as Rekognition's
    Pose). They are estimates (about +-10 degrees), good for filtering strongly turned faces.
    """
    rx, ry = eye_image_left
    lx, ly = eye_image_right
    dx, dy = lx - rx, ly - ry
    eye_dist = math.hypot(dx, dy)
    if eye_dist < 1e-6:
        return Pose()
    roll = math.degrees(math.atan2(dy, dx))
    # Express the nose in the eye-aligned frame.
    mx, my = (rx + lx) / 2, (ry + ly) / 2
    cos_r, sin_r = dx / eye_dist, dy / eye_dist
    nx, ny = nose[0] - mx, nose[1] - my
    along = nx * cos_r + ny * sin_r
    across = -nx * sin_r + ny * cos_r
    yaw = math.degrees(math.atan2(along, nose_depth * eye_dist))
    ratio = across / eye_dist
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, (ratio - frontal_drop) / frontal_drop))))
    return Pose(yaw=round(yaw, 1), pitch=round(pitch, 1), roll=round(roll, 1))
