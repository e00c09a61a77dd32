"""What indexing a batch into a paid engine would cost, before it runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import FaceLibError
from ..images import sha256_hex
from ..settings import Prices
from .sources import Source


@dataclass(frozen=True)
class BatchEstimate:
    """Paid IndexFaces calls and dollars (estimates from :class:`Prices`) for a batch."""

    files: int
    already_indexed: int
    duplicates: int
    unreadable: int
    paid_calls: int
    dollars: float
    storage_per_month: float


def estimate_batch(has_image: Callable[[str], bool], sources: Sequence[Source], prices: Prices,
                   faces_per_image: float = 1.5) -> BatchEstimate:
    """One paid IndexFaces call per new image; images the collection holds already (``has_image``
    of their sha256) and repeats within the batch cost nothing. Storage assumes
    ``faces_per_image`` faces per new image.
    """
    seen: set[str] = set()
    indexed = dup = bad = 0
    for src in sources:
        try:
            sha = sha256_hex(src.read())
        except (OSError, FaceLibError):
            bad += 1
            continue
        if sha in seen:
            dup += 1
        elif has_image(sha):
            indexed += 1
        seen.add(sha)
    new = len(sources) - indexed - dup - bad
    return BatchEstimate(len(sources), indexed, dup, bad, new, new * prices.per_image_call,
                         new * faces_per_image * prices.per_face_month)
