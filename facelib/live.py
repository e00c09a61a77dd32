"""Labelling faces in a live video stream (the Live page's frame callback runs this).

Every frame: faces are detected on a downscaled copy (dlib HOG, offline and free whatever the
collection's engine), matched to the faces of the previous frames (IoU tracking), boxed and
labelled with the best match so far. Searches run in a background thread, at most once per
``search_interval`` seconds per tracked face (1 s on the local engine, 5 s on Rekognition, where
each search is a paid call), so the video path never waits for a search. Similarity is 0-100.
"""

from __future__ import annotations

import concurrent.futures as cf
import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from .engines.base import BoxDetector
from .errors import FaceLibError
from .records import BoundingBox, overlap
from .settings import DEFAULT_THRESHOLD
from .thumbnails import draw_boxes

if TYPE_CHECKING:
    from .collection import Collection

#: Long side, in pixels, of the copy of each frame that detection runs on.
DETECT_SIDE = 480
#: A track is dropped when its face has not been seen for this long (seconds).
TRACK_TTL = 1.0
#: Seconds between two searches of one followed face: free engines, paid engines.
SEARCH_INTERVAL = {False: 1.0, True: 5.0}


@dataclass
class Track:
    """A face followed across frames."""

    track_id: int
    box: BoundingBox
    last_seen: float
    label: str | None = None
    similarity: float | None = None
    last_search: float = float("-inf")
    searching: bool = False


@dataclass
class LiveStats:
    frames: int = 0
    searches: int = 0
    frame_ms: list[float] = field(default_factory=list)


class LiveRecognizer:
    """Thread-safe: ``process`` runs in the video thread, ``snapshot`` in the page's."""

    def __init__(self, collection: Collection, detector: BoxDetector, threshold: float = DEFAULT_THRESHOLD,
                 detect_side: int = DETECT_SIDE, search_interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic, executor: cf.Executor | None = None) -> None:
        self.coll = collection
        self.collection = collection.name
        self.detector = detector
        self.threshold = threshold
        self.detect_side = detect_side
        self.paid = collection.paid
        self.search_interval = search_interval if search_interval is not None else SEARCH_INTERVAL[self.paid]
        self.clock = clock
        self.executor = executor or cf.ThreadPoolExecutor(1, thread_name_prefix="live-search")
        self.stats = LiveStats()
        self._spent_before = collection.ws.costs().spent if self.paid else 0.0
        self.tracks: list[Track] = []
        self.last_frame: np.ndarray | None = None
        self._next_id = 1
        self._lock = threading.Lock()

    # -- the video thread ------------------------------------------------------------------------
    def process(self, rgb: np.ndarray) -> np.ndarray:
        """Detect, track, schedule searches, and return the frame with boxes and labels drawn."""
        start = time.perf_counter()
        now = self.clock()
        h, w = rgb.shape[:2]
        scale = min(1.0, self.detect_side / max(h, w))
        small = rgb if scale == 1.0 else np.asarray(
            Image.fromarray(rgb).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR))
        boxes = [b for b, _ in self.detector.detect_boxes(small)]
        with self._lock:
            self._update_tracks(boxes, now)
            due = [t for t in self.tracks if t.last_seen == now and not t.searching
                   and now - t.last_search >= self.search_interval]
            for t in due:
                t.searching = True
                t.last_search = now
            tracks = [(t.box, self._caption(t)) for t in self.tracks if t.last_seen == now]
        for t in due:
            self.executor.submit(self._search, t, rgb.copy())
        out = draw_boxes(Image.fromarray(rgb), [b for b, _ in tracks], labels=[c for _, c in tracks])
        with self._lock:
            self.last_frame = rgb
            self.stats.frames += 1
            self.stats.frame_ms.append(1000 * (time.perf_counter() - start))
            del self.stats.frame_ms[:-100]
        return np.asarray(out)

    def _update_tracks(self, boxes: list[BoundingBox], now: float) -> None:
        free = list(self.tracks)
        for box in boxes:
            best = max(free, key=lambda t: overlap(t.box, box), default=None)
            if best is not None and overlap(best.box, box) >= 0.3:
                best.box, best.last_seen = box, now
                free.remove(best)
            else:
                self.tracks.append(Track(self._next_id, box, now))
                self._next_id += 1
        self.tracks = [t for t in self.tracks if now - t.last_seen <= TRACK_TTL]

    @staticmethod
    def _caption(t: Track) -> str:
        if t.label is None:
            return "searching…" if t.searching else "?"
        return f"{t.label} {t.similarity:.0f}%" if t.similarity is not None else t.label

    # -- the search thread -----------------------------------------------------------------------
    def _search(self, track: Track, frame: np.ndarray) -> None:
        label, sim = "unknown", None
        try:
            hit = self._best_match(frame, track.box)
            if hit is not None:
                face_id, image_name, sim = hit
                label = self.coll.people.names([face_id]).get(face_id) or image_name.rsplit("/", 1)[-1]
        except FaceLibError as exc:
            label = f"error: {exc}"[:60]
        with self._lock:
            track.label, track.similarity, track.searching = label, sim, False
            self.stats.searches += 1

    def _best_match(self, frame: np.ndarray, box: BoundingBox) -> tuple[str, str, float] | None:
        matches = self.coll.engine.search_region(self.collection, frame, box, self.threshold, 1)
        if not matches:
            return None
        match = matches[0]
        stored = self.coll.faces_by_id([match.face.face_id]).get(match.face.face_id)
        return match.face.face_id, stored.image_name if stored else match.face.external_image_id, match.similarity

    # -- the page ----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """What the page shows: current faces and their labels, frames, searches, timing, cost."""
        with self._lock:
            ms = sorted(self.stats.frame_ms)
            faces = [{"track": t.track_id, "label": t.label, "similarity": t.similarity} for t in self.tracks]
            snap = {"faces": faces, "frames": self.stats.frames, "searches": self.stats.searches,
                    "frame_ms_p50": ms[len(ms) // 2] if ms else None}
        # What this stream spent in paid calls (cache hits are free), from the ledger.
        snap["dollars"] = max(0.0, self.coll.ws.costs().spent - self._spent_before) if self.paid else 0.0
        return snap

    def frozen_jpeg(self) -> bytes | None:
        """The last frame as JPEG bytes (to search it on the Search page)."""
        with self._lock:
            frame = self.last_frame
        if frame is None:
            return None
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, "JPEG", quality=92)
        return buf.getvalue()

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
