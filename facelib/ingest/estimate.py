"""What indexing a batch into a paid engine would cost, before it runs."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image

from ..errors import FaceLibError
from ..images import MAX_BYTES, sha256_hex
from ..settings import Prices
from .sources import Source


@dataclass(frozen=True)
class BatchEstimate:
    """Paid calls and dollars (estimates from :class:`Prices`) for a batch: ``paid_calls``
    IndexFaces now, and ``grouping_calls`` SearchFaces if the new faces are then grouped into
    people (one each). ``dollars`` covers both."""

    files: int
    already_indexed: int
    duplicates: int
    unreadable: int
    paid_calls: int
    dollars: float
    storage_per_month: float
    grouping_calls: int = 0
    index_dollars: float = 0.0


def _opens(data: bytes) -> bool:
    """Whether Pillow recognises the bytes as an image (the header only: nothing is decoded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                return bool(im.format) and im.width > 0 and im.height > 0
    except Exception:  # noqa: BLE001 - any failure means "cannot be indexed"
        return False


def estimate_batch(has_image: Callable[[str], bool], has_etag: Callable[[str], bool], sources: Sequence[Source],
                   prices: Prices, faces_per_image: float = 1.5) -> BatchEstimate:
    """One paid IndexFaces call per new image that can be decoded; images the collection holds
    already (``has_image`` of their sha256) and repeats within the batch cost nothing; files that
    cannot be read or are not images cost nothing either (they never reach the service).

    S3 objects (``origin == "s3"``) are judged from their listing only: size, and ETag against
    the ETags of images indexed from S3 before (``has_etag``): nothing is downloaded.
    Grouping and storage assume ``faces_per_image`` faces per new image.
    """
    seen: set[str] = set()
    indexed = dup = bad = 0
    for src in sources:
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
        elif not _opens(data):
            bad += 1
        seen.add(sha)
    new = len(sources) - indexed - dup - bad
    grouping = int(round(new * faces_per_image))
    index_dollars = new * prices.of("IndexFaces")
    return BatchEstimate(len(sources), indexed, dup, bad, new, index_dollars + grouping * prices.of("SearchFaces"),
                         new * faces_per_image * prices.per_face_month, grouping, index_dollars)
