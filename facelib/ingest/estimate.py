"""What indexing a batch into a paid engine would cost, before it runs."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from PIL import Image

from ..errors import FaceLibError
from ..images import MAX_BYTES, MAX_PIXELS, MIN_SIDE, SUPPORTED_FORMATS, sha256_hex
from ..settings import Prices
from .sources import Source


@dataclass(frozen=True)
class BatchEstimate:
    """Paid calls and dollars (estimates from :class:`Prices`) for a batch: ``paid_calls``
    IndexFaces now, and ``grouping_calls`` SearchFaces when grouping then searches every face never
    searched (one each): the new faces and ``unsearched`` faces the collection held already.
    ``dollars`` covers both."""

    files: int
    already_indexed: int
    duplicates: int
    unreadable: int
    paid_calls: int
    dollars: float
    storage_per_month: float
    grouping_calls: int = 0
    index_dollars: float = 0.0
    unsearched: int = 0
    #: Videos in the batch: each costs one IndexFaces per appearance, counted here as one per
    #: :data:`VIDEO_SECONDS_PER_CALL` seconds of video (the appearances are known only once the
    #: local detector has followed the faces; the job's spending limit holds either way).
    videos: int = 0


#: Seconds of video counted as one appearance (one IndexFaces) in the pre-flight estimate.
VIDEO_SECONDS_PER_CALL = 10.0


def video_calls(src: Source) -> int | None:
    """IndexFaces an (unindexed) video is counted for, from its container's duration; None when it is
    not a video file (0 when it cannot be read: nothing will be sent)."""
    import math

    from .sources import VIDEO_SUFFIXES, FileReader

    if PurePosixPath(src.name.lower()).suffix not in VIDEO_SUFFIXES:
        return None
    try:
        import av

        target: Any = src.read.path if isinstance(src.read, FileReader) else io.BytesIO(src.read())
        with av.open(target, mode="r", metadata_errors="ignore") as container:
            seconds = float(getattr(container, "duration", 0) or 0) / 1_000_000
    except Exception:  # noqa: BLE001 - unreadable: refused before any call
        return 0
    return max(1, math.ceil(seconds / VIDEO_SECONDS_PER_CALL))


def will_be_sent(data: bytes) -> bool:
    """Whether :func:`facelib.images.decode` would let the bytes reach the service, judged from the
    header only (nothing is decoded): a supported format, at least ``MIN_SIDE`` px a side, at most
    ``MAX_PIXELS`` pixels and ``MAX_BYTES`` bytes. Anything refused before the call costs nothing."""
    if not data or len(data) > MAX_BYTES:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                return im.format in SUPPORTED_FORMATS and min(w, h) >= MIN_SIDE and w * h <= MAX_PIXELS
    except Exception:  # noqa: BLE001 - any failure (a decompression bomb too) means "never sent"
        return False


def estimate_batch(has_image: Callable[[str], bool], has_etag: Callable[[str], bool], sources: Sequence[Source],
                   prices: Prices, faces_per_image: float = 1.5, unsearched: int = 0) -> BatchEstimate:
    """One paid IndexFaces call per new image that will reach the service (:func:`will_be_sent`);
    images the collection holds already (``has_image`` of their sha256) and repeats within the
    batch cost nothing; files that cannot be read, are not images, or that decoding refuses
    (too small, too many pixels, an unsupported format) cost nothing either.

    S3 objects (``origin == "s3"``) are judged from their listing only: size, and ETag against
    the ETags of images indexed from S3 before (``has_etag``): nothing is downloaded.
    Grouping searches ``unsearched`` faces the collection holds already plus ``faces_per_image``
    faces per new image (storage counts the new faces only).
    """
    seen: set[str] = set()
    indexed = dup = bad = videos = extra = 0
    for src in sources:
        calls = video_calls(src)
        if calls is not None:  # judged by its duration (a video is never read whole here)
            videos += 1
            if calls == 0:
                bad += 1
            else:
                extra += calls - 1
            continue
        etag = src.metadata.get("etag") if src.origin == "s3" else None
        if etag:
            size = src.metadata.get("size")
            key = "etag:" + str(etag)
            if isinstance(size, int) and (size > MAX_BYTES or size == 0):
                bad += 1
            elif key in seen:
                dup += 1
            elif has_etag(str(etag)):
                indexed += 1
            seen.add(key)
            continue
        try:
            data = src.read()
        except (OSError, FaceLibError):
            bad += 1
            continue
        sha = sha256_hex(data)
        if sha in seen:
            dup += 1
        elif has_image(sha):
            indexed += 1
        elif not will_be_sent(data):
            bad += 1
        seen.add(sha)
    new = len(sources) - indexed - dup - bad
    calls = new + extra
    grouping = int(round(calls * faces_per_image)) + max(0, unsearched)
    index_dollars = calls * prices.of("IndexFaces")
    return BatchEstimate(len(sources), indexed, dup, bad, calls, index_dollars + grouping * prices.of("SearchFaces"),
                         calls * faces_per_image * prices.per_face_month, grouping, index_dollars, max(0, unsearched),
                         videos)
