"""A video's per-item work: the :class:`~facelib.engines.base.Prepared` of a video file.

The local detector follows the faces (:mod:`.analysis`); then, per appearance, its key frame:

- **local engine**: the key frame is analysed in full with the collection's model (quality
  figures, pose, descriptor): one face row per appearance;
- **a paid engine** (Rekognition): only a crop of the key frame around the face is sent to the
  engine's own per-image work (IndexFaces), so the cost is one call per appearance, not per frame;
  its boxes are mapped back to the whole frame.

Every face carries its :class:`~.analysis.Appearance` (``Prepared.appearances``, by box). A damaged
video gives the faces found before decoding stopped, and says where (``Prepared.note``).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from ..engines.base import Prepared, Preparer
from ..errors import BadImage
from ..images import decode, encode_jpeg, sha256_hex
from ..records import BoundingBox, FaceDetail, IndexResult
from ..thumbnails import square_crop_box, thumbnail_jpeg
from .analysis import Appearance, KeyFrame, follow, frame_image, match_detail

#: Frames sampled a second of video (4: a face shown for 1 s is seen 4 times).
DEFAULT_FPS = 4.0


def _setting(name: str, default: float) -> float:
    """A video setting as this process sees it (workers read the same environment)."""
    from ..settings import VARIABLES

    var = VARIABLES.get(name)
    return float(var.read()) if var is not None else default


def options() -> tuple[float, float, int]:
    """(frames a second, longest video in seconds, largest frame side in px) from the settings."""
    return (_setting("FACESEARCH_VIDEO_FPS", DEFAULT_FPS), _setting("FACESEARCH_VIDEO_MAX_SECONDS", 4 * 3600.0),
            int(_setting("FACESEARCH_VIDEO_MAX_SIDE", 1920)))


def _local_model(preparer: Preparer) -> tuple[str, str] | None:
    """(model, detector) when ``preparer`` is the local engine's (it then describes faces itself)."""
    model, detector = getattr(preparer, "model", None), getattr(preparer, "detector", None)
    if isinstance(model, str) and isinstance(detector, str) and not callable(model):
        return model, detector
    return None


def prepare_video(preparer: Preparer, data: Any, name: str) -> Prepared:
    """The Prepared of a video (``data``: its bytes, or a read-only mmap of its file)."""
    from ..engines.local.models import analyser_for

    fps, max_seconds, max_side = options()
    sha = sha256_hex(data)
    local = _local_model(preparer)
    analyser = analyser_for(*local) if local else analyser_for("sface", "hog")
    faces = follow(data, analyser.detect_boxes, fps=fps, max_seconds=max_seconds, max_side=max_side)
    reading = faces.reading
    if reading.sampled == 0:
        raise BadImage(f"no frame could be decoded{f' ({reading.stopped_why})' if reading.stopped_why else ''}")
    details: list[FaceDetail] = []
    vectors: list[Any] = []
    thumbs: dict[BoundingBox, bytes] = {}
    appearances: dict[BoundingBox, Appearance] = {}
    results: list[IndexResult] = []
    for track, key in faces.tracks:
        when = Appearance(track.start, track.end, key.t)
        if local:
            image = frame_image(key, sha, reading.format, name, reading.size)
            analysed = analyser.analyze(image)
            i = match_detail([a.detail for a in analysed], key.box)
            if i is None or analysed[i].vector is None:
                continue
            detail = analysed[i].detail
            details.append(detail)
            vectors.append(analysed[i].vector)
            thumbs[detail.box] = thumbnail_jpeg(image.rgb, detail.box)
            appearances[detail.box] = when
        else:
            result = _paid_key_frame(preparer, key, sha, reading.format, name, reading.size)
            results.append(result)
            image = frame_image(key, sha, reading.format, name, reading.size)
            for f in result.faces:
                details.append(f.detail)
                thumbs[f.detail.box] = thumbnail_jpeg(image.rgb, f.detail.box)
                appearances[f.detail.box] = when
    note = ""
    if reading.stopped_at is not None:
        note = f"decoding stopped at {reading.stopped_at:.1f} s of {reading.duration:.1f} s ({reading.stopped_why}): " \
               "the faces before it are indexed"
    elif not details:
        note = f"no face in {reading.duration:.1f} s of video"
    payload: Any = vectors if local else IndexResult(
        tuple(f for r in results for f in r.faces), tuple(u for r in results for u in r.unindexed),
        next((r.model_version for r in results if r.model_version), None))
    return Prepared(sha, reading.size, reading.format, details, payload=payload, thumbs=thumbs,
                    appearances=appearances, note=note)


def _paid_key_frame(preparer: Preparer, key: KeyFrame, sha: str, fmt: str, name: str,
                    size: tuple[int, int]) -> IndexResult:
    """The engine's own work on a crop of a key frame around the face; boxes back in frame terms."""
    image = frame_image(key, sha, fmt, name, size)
    w, h = image.rgb.size
    left, top, right, bottom = square_crop_box(key.box, w, h, margin=0.35)
    # A JPEG of the crop, named by the video's sha256 (the engine's ExternalImageId is the video's).
    crop = replace(decode(encode_jpeg(image.rgb.crop((left, top, right, bottom)), quality=92), name=name, max_side=None),
                   sha256=sha)
    prepared = preparer(crop)
    result = prepared.payload
    if not isinstance(result, IndexResult):
        raise BadImage("the engine gave no index result for a key frame")
    cw, ch = right - left, bottom - top

    def back(b: BoundingBox) -> BoundingBox:
        return BoundingBox((left + b.left * cw) / w, (top + b.top * ch) / h, b.width * cw / w, b.height * ch / h)

    faces = tuple(replace(f, detail=replace(f.detail, box=back(f.detail.box))) for f in result.faces)
    unindexed = tuple(replace(u, detail=replace(u.detail, box=back(u.detail.box))) for u in result.unindexed)
    return IndexResult(faces, unindexed, result.model_version)


def is_video_name(name: str) -> bool:
    return os.path.splitext(name.lower())[1] in {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"}
