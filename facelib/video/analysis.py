"""A video's faces as appearances: sampled frames -> detections -> tracks -> one face per track.

Each track (one face followed until it leaves, is lost for a second, or a scene cut) is summarised
by its best frame (largest x most confident x sharpest detection): that frame is analysed in full
(quality figures, pose, descriptor), so an appearance is searched, filtered and grouped exactly
like a face of a photo, and carries when it was on screen (``start_s``-``end_s``, seconds) and the
time of the frame it was taken from. Only the best frame of each open track is kept in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..images import LoadedImage
from ..records import BoundingBox, FaceDetail, overlap
from .frames import Frame, Reading, sample_frames
from .tracking import Track, Tracker, histogram, is_cut

log = logging.getLogger(__name__)

#: Frames are searched for faces at most this many pixels on their longer side (as the Live page
#: does): a face smaller than about 20 px there is not followed; key frames are analysed in full.
DETECT_SIDE = 480
#: A track needs this many detections (at 4 fps: half a second on screen) to become an appearance.
MIN_DETECTIONS = 2


@dataclass(frozen=True)
class Appearance:
    """When a face was on screen: ``start_s`` to ``end_s`` (seconds from the start of the video), and
    ``frame_s``, the time of the frame its thumbnail and descriptor come from."""

    start_s: float
    end_s: float
    frame_s: float

    def to_dict(self) -> dict[str, float]:
        return {"start_s": round(self.start_s, 2), "end_s": round(self.end_s, 2), "frame_s": round(self.frame_s, 2)}


@dataclass
class KeyFrame:
    """A track's best frame so far."""

    score: float
    t: float
    rgb: np.ndarray
    box: BoundingBox


@dataclass
class VideoFaces:
    """What a video holds: its reading (size, duration, where decoding stopped) and one entry per
    appearance: (track, its key frame)."""

    reading: Reading
    tracks: list[tuple[Track, KeyFrame]] = field(default_factory=list)


def sharpness(rgb: np.ndarray, box: BoundingBox) -> float:
    """Variance of a Laplacian of the face crop's grey levels (higher is sharper)."""
    h, w = rgb.shape[:2]
    x0, y0 = max(0, int(box.left * w)), max(0, int(box.top * h))
    x1, y1 = min(w, int((box.left + box.width) * w)), min(h, int((box.top + box.height) * h))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return 0.0
    g = rgb[y0:y1, x0:x1].mean(axis=2)
    lap = g[1:-1, 1:-1] * 4 - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(lap.var())


def _small(rgb: np.ndarray) -> np.ndarray:
    """The frame at :data:`DETECT_SIDE` px on its longer side (unchanged when smaller)."""
    h, w = rgb.shape[:2]
    if max(h, w) <= DETECT_SIDE:
        return rgb
    k = DETECT_SIDE / max(h, w)
    return np.asarray(Image.fromarray(rgb).resize((max(1, round(w * k)), max(1, round(h * k))), Image.Resampling.BILINEAR))


def key_score(rgb: np.ndarray, box: BoundingBox, confidence: float) -> float:
    """How good a frame is for a track: face area x detector confidence x sharpness (all > 0)."""
    return float(box.area * max(confidence, 1.0) * (1.0 + sharpness(rgb, box)) ** 0.5)


def follow(data: bytes, detect: Callable[[np.ndarray], list[tuple[BoundingBox, float]]], fps: float = 4.0,
           max_seconds: float = 4 * 3600.0, max_side: int = 1920) -> VideoFaces:
    """Sample ``data`` at ``fps``, detect faces on each frame (``detect``: RGB array -> (box, confidence
    0-100)), follow them, and keep each track's best frame."""
    reading = Reading()
    tracker = Tracker()
    best: dict[int, KeyFrame] = {}
    result = VideoFaces(reading)
    done_ids: set[int] = set()
    previous: np.ndarray | None = None

    def settle() -> None:  # tracks that ended: keep their key frame with them, nothing else
        for tr in tracker.finished:
            if tr.track_id in done_ids:
                continue
            done_ids.add(tr.track_id)
            key = best.pop(tr.track_id, None)
            if key is not None and len(tr.seen) >= MIN_DETECTIONS:
                result.tracks.append((tr, key))

    frames: Iterator[Frame] = sample_frames(data, reading, fps=fps, max_seconds=max_seconds, max_side=max_side)
    for frame in frames:
        hist = histogram(frame.rgb)
        if is_cut(previous, hist):
            tracker.cut()
        previous = hist
        detections = detect(_small(frame.rgb))  # boxes are relative: the same on the full frame
        for (box, confidence), track in zip(detections, tracker.update(frame.t, detections), strict=True):
            score = key_score(frame.rgb, box, confidence)
            held = best.get(track.track_id)
            if held is None or score > held.score:
                best[track.track_id] = KeyFrame(score, frame.t, frame.rgb, box)
        settle()
    tracker.close()
    settle()
    result.tracks.sort(key=lambda tk: (tk[0].start, tk[0].track_id))
    return result


def frame_image(key: KeyFrame, sha256: str, fmt: str, name: str, original: tuple[int, int]) -> LoadedImage:
    """A key frame as an image of the video (its sha256 and format), for the engine's analysis."""
    return LoadedImage(b"", sha256, Image.fromarray(key.rgb), original, fmt, name)


def match_detail(details: list[FaceDetail], box: BoundingBox) -> int | None:
    """Which of a frame's analysed faces is the track's (the best overlap, at least a third)."""
    scored = [(overlap(d.box, box), i) for i, d in enumerate(details)]
    best = max(scored, default=(0.0, -1))
    return best[1] if best[0] >= 0.3 else None
