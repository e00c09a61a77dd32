"""Following faces across sampled frames: one track per appearance of one face.

A detection joins the open track whose last box overlaps it most (intersection over union at
least :data:`MIN_IOU`); a track not seen for :data:`MAX_GAP` seconds ends; a scene cut (the
colour histogram of the picture changes at once) ends every track. Pure functions of boxes and
times (seconds), no pixels but a 48-number histogram per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..records import BoundingBox, overlap

#: Least overlap (IoU) between a track's last box and a detection for them to be the same face.
MIN_IOU = 0.3
#: Seconds a track may go unseen (a blink of the detector, a hand in front) before it ends.
MAX_GAP = 1.0
#: Histogram distance (L1 of normalised 16-bin RGB histograms, 0-2) above which two frames are a cut.
CUT_DISTANCE = 0.6


@dataclass
class Track:
    """One face followed over time: its detections (time s, box relative 0-1, confidence 0-100)."""

    track_id: int
    seen: list[tuple[float, BoundingBox, float]] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.seen[0][0]

    @property
    def end(self) -> float:
        return self.seen[-1][0]

    @property
    def last_box(self) -> BoundingBox:
        return self.seen[-1][1]


def histogram(rgb: np.ndarray) -> np.ndarray:
    """A frame's colour signature: 16-bin histograms of R, G and B on a subsample, normalised."""
    small = rgb[:: max(1, rgb.shape[0] // 72), :: max(1, rgb.shape[1] // 128)]
    hists = [np.bincount((small[:, :, c] >> 4).ravel(), minlength=16) for c in range(3)]
    h = np.concatenate(hists).astype(np.float64)
    out: np.ndarray = h / max(float(h.sum()) / 3.0, 1.0)
    return out


def is_cut(previous: np.ndarray | None, current: np.ndarray) -> bool:
    """Whether the picture changed at once between two sampled frames (a scene cut)."""
    if previous is None:
        return False
    return float(np.abs(previous - current).sum() / 3.0) > CUT_DISTANCE


class Tracker:
    """Greedy IoU tracker over sampled frames. ``update`` returns the tracks each detection joined
    (same order); :meth:`close` ends tracks and returns the finished ones."""

    def __init__(self, min_iou: float = MIN_IOU, max_gap: float = MAX_GAP) -> None:
        self.min_iou = min_iou
        self.max_gap = max_gap
        self.open: list[Track] = []
        self.finished: list[Track] = []
        self._next = 0

    def cut(self) -> None:
        """A scene cut: every open track ends."""
        self.finished.extend(self.open)
        self.open = []

    def update(self, t: float, detections: list[tuple[BoundingBox, float]]) -> list[Track]:
        stale = [tr for tr in self.open if t - tr.end > self.max_gap]
        if stale:
            self.finished.extend(stale)
            self.open = [tr for tr in self.open if tr not in stale]
        pairs = sorted(((overlap(tr.last_box, box), ti, di) for ti, tr in enumerate(self.open)
                        for di, (box, _) in enumerate(detections)), reverse=True)
        joined: dict[int, Track] = {}
        used: set[int] = set()
        for iou, ti, di in pairs:
            if iou < self.min_iou:
                break
            if ti in used or di in joined:
                continue
            used.add(ti)
            joined[di] = self.open[ti]
        out = []
        for di, (box, score) in enumerate(detections):
            track = joined.get(di)
            if track is None:
                track = Track(self._next)
                self._next += 1
                self.open.append(track)
            track.seen.append((t, box, score))
            out.append(track)
        return out

    def close(self) -> list[Track]:
        """End every open track; all finished tracks in order of their start."""
        self.cut()
        return sorted(self.finished, key=lambda tr: (tr.start, tr.track_id))
