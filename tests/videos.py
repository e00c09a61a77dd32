"""Videos made in the tests (PyAV, MPEG-4 Part 2 in MP4): real face photos moving in and out of a
scene, a scene cut, an empty stretch; and helpers to damage them."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from conftest import FIXTURES
from PIL import Image


@dataclass(frozen=True)
class Shot:
    """From ``start`` to ``end`` seconds: a background colour and, optionally, one face photo (a
    fixture's name) moving from ``x0`` to ``x1`` (relative left edge)."""

    start: float
    end: float
    background: tuple[int, int, int]
    face: str | None = None
    x0: float = 0.1
    x1: float = 0.5


def face_patch(name: str, height: int) -> Image.Image:
    im = Image.open(FIXTURES / name).convert("RGB")
    k = height / im.height
    return im.resize((max(1, int(im.width * k)), height))


def make_video(path: Path, shots: list[Shot], size: tuple[int, int] = (640, 480), fps: int = 25,
               codec: str = "mpeg4") -> Path:
    import av

    w, h = size
    duration = max(s.end for s in shots)
    patches = {s.face: face_patch(s.face, int(h * 0.8)) for s in shots if s.face}
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.bit_rate = 2_000_000
        for i in range(int(duration * fps)):
            t = i / fps
            shot = next(s for s in shots if s.start <= t < s.end)
            frame = Image.new("RGB", (w, h), shot.background)
            if shot.face:
                p = (t - shot.start) / max(shot.end - shot.start, 1e-6)
                x = int((shot.x0 + (shot.x1 - shot.x0) * p) * w)
                frame.paste(patches[shot.face], (x, int(h * 0.1)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(frame), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


SCENES = [  # (start, end): 0-1 s empty, Obama 1-4 s, cut, Biden 4-7 s, 7-9 s empty
    Shot(0, 1, (40, 60, 80)),
    Shot(1, 4, (40, 60, 80), "obama.jpg", 0.05, 0.35),
    Shot(4, 7, (200, 180, 120), "biden.jpg", 0.3, 0.1),
    Shot(7, 9, (200, 180, 120)),
]


def truncated(data: bytes, keep: float) -> bytes:
    """The first ``keep`` (0-1) of a file: a download cut short."""
    return data[: int(len(data) * keep)]


def to_bytes(path: Path) -> bytes:
    return io.BytesIO(path.read_bytes()).getvalue()
