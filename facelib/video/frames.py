"""Reading stored video: which files are video, and frames sampled at a steady rate with PyAV.

Frames are decoded in order and only the sampled ones are converted to pixels (``sample_fps``
a second, by presentation time), so memory holds one frame at a time whatever the length. A
damaged or truncated file yields what could be decoded and says where it stopped.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import BadImage

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"}
#: Container formats PyAV names for the suffixes above, and the format recorded for each.
_FORMATS = {"mov,mp4,m4a,3gp,3g2,mj2": "MP4", "matroska,webm": "MKV", "avi": "AVI"}


def looks_like_video(data: bytes, name: str = "") -> bool:
    """Whether the bytes are a video container (by their first bytes; the name is a hint only)."""
    head = data[:16]
    if head[4:8] == b"ftyp" and head[8:12] not in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"avif"):
        return True  # ISO BMFF: MP4/MOV (not HEIF/AVIF photos)
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska/WebM
        return True
    return head[:4] == b"RIFF" and head[8:12] == b"AVI "


@dataclass
class Frame:
    """One sampled frame: its time in seconds from the start and its pixels (HxWx3 RGB uint8)."""

    t: float
    rgb: np.ndarray


@dataclass
class Reading:
    """What reading a video found out: duration (s, from the container), frame size, format, the
    sampled frame count, and when decoding stopped early, where (``stopped_at`` s) and why."""

    duration: float = 0.0
    size: tuple[int, int] = (0, 0)
    format: str = "MP4"
    sampled: int = 0
    stopped_at: float | None = None
    stopped_why: str = ""
    notes: list[str] = field(default_factory=list)


def sample_frames(data: bytes, reading: Reading, fps: float = 4.0, max_seconds: float = 4 * 3600.0,
                  max_side: int = 1920, work_side: int = 960) -> Iterator[Frame]:
    """Frames of the video ``data``, ``fps`` a second (0.25 s apart at 4 fps), each at most
    ``work_side`` px on its longer side. Refused (:class:`BadImage`) when it is not a video PyAV
    reads, when its frames are larger than ``max_side`` on a side or longer than ``max_seconds``;
    a decoding error part-way ends the frames and is noted in ``reading``."""
    import av

    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise BadImage(f"not a readable video ({exc.__class__.__name__})") from exc
    with container:
        if not container.streams.video:
            raise BadImage("a container without a video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        w, h = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
        if not w or not h:
            raise BadImage("a video stream without a frame size")
        if max(w, h) > max_side:
            raise BadImage(f"{w}x{h} video is over the {max_side} px per side this installation reads "
                           "(FACESEARCH_VIDEO_MAX_SIDE)")
        reading.size = (w, h)
        reading.format = _FORMATS.get(container.format.name, container.format.name.split(",")[0].upper()[:10])
        if container.duration:
            reading.duration = float(container.duration) / 1_000_000
        elif stream.duration and stream.time_base:
            reading.duration = float(stream.duration * stream.time_base)
        if reading.duration > max_seconds:
            raise BadImage(f"{reading.duration / 60:.0f} min of video is over the {max_seconds / 60:.0f} min this "
                           "installation reads (FACESEARCH_VIDEO_MAX_SECONDS)")
        scale = min(1.0, work_side / max(w, h))
        size = (max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2))
        step = 1.0 / fps
        next_t = 0.0
        last_t = 0.0
        start: float | None = None
        try:
            for frame in container.decode(stream):
                if frame.pts is None or frame.time is None:
                    continue
                if start is None:
                    start = float(frame.time)
                t = float(frame.time) - start
                last_t = t
                if t > max_seconds:
                    reading.notes.append(f"only the first {max_seconds / 60:.0f} min were read")
                    break
                if t + 1e-6 < next_t:
                    continue
                next_t = t + step
                rgb = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
                reading.sampled += 1
                yield Frame(t, rgb)
        except (av.FFmpegError, ValueError, OSError, EOFError) as exc:  # damaged or truncated: keep what was read
            reading.stopped_at = last_t
            reading.stopped_why = f"{exc.__class__.__name__}"
            log.info("video decoding stopped at %.1f s (%s)", last_t, exc.__class__.__name__)
        if reading.duration and reading.stopped_at is None and last_t + 2.0 < reading.duration and reading.sampled:
            reading.stopped_at, reading.stopped_why = last_t, "the file ends early (truncated)"
        if not reading.duration:
            reading.duration = last_t


def frame_at(path: str, t: float, max_side: int = 1600) -> np.ndarray | None:
    """The frame shown at ``t`` seconds of the video file ``path`` (RGB, at most ``max_side`` px), or
    None when it cannot be read."""
    import av

    try:
        with av.open(path, mode="r", metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            if stream.time_base:
                container.seek(int(max(0.0, t - 1.0) / stream.time_base), stream=stream, backward=True)
            start = float(stream.start_time * stream.time_base) if stream.start_time and stream.time_base else 0.0
            for frame in container.decode(stream):
                if frame.time is not None and float(frame.time) - start + 1e-3 >= t:
                    w, h = frame.width, frame.height
                    k = min(1.0, max_side / max(w, h))
                    out: np.ndarray = frame.to_ndarray(format="rgb24", width=max(2, int(w * k)), height=max(2, int(h * k)))
                    return out
    except (av.FFmpegError, ValueError, OSError, IndexError, EOFError) as exc:
        log.info("no frame at %.1f s (%s)", t, exc.__class__.__name__)
    return None
