"""The engine interface, shaped after Rekognition's collection API so both engines fit.

Similarities are percentages 0-100 (higher is more alike); thresholds are on the same scale.
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

from ..errors import InvalidParameter
from ..images import LoadedImage
from ..records import BoundingBox, CollectionInfo, FaceDetail, ImageSearch, IndexedFace, IndexResult, Match

#: Collection names both engines accept (Rekognition's pattern, 255 characters at most).
COLLECTION_NAME = re.compile(r"^[a-zA-Z0-9_.\-]{1,255}$")
#: External image ids both engines accept (Rekognition's pattern).
EXTERNAL_ID = re.compile(r"^[a-zA-Z0-9_.\-:]{1,255}$")


def check_collection_name(name: str) -> str:
    """Return ``name`` or raise :class:`InvalidParameter` when it does not fit Rekognition's pattern."""
    if not isinstance(name, str) or not COLLECTION_NAME.match(name) or name in (".", ".."):
        raise InvalidParameter(
            f"collection name {name!r} must be 1-255 characters of letters, digits, '_', '.' or '-'")
    return name


def check_threshold(threshold: float) -> float:
    """A similarity threshold must be a percentage 0-100."""
    if not 0.0 <= float(threshold) <= 100.0:
        raise InvalidParameter(f"threshold {threshold} must be between 0 and 100")
    return float(threshold)


def check_max_faces(max_faces: int, upper: int = 4096) -> int:
    """MaxFaces must be 1..upper."""
    if not 1 <= int(max_faces) <= upper:
        raise InvalidParameter(f"max_faces {max_faces} must be between 1 and {upper}")
    return int(max_faces)


def external_image_id(sha256: str) -> str:
    """The ExternalImageId sent for an image: its sha256, which fits Rekognition's pattern."""
    if not EXTERNAL_ID.match(sha256):
        raise InvalidParameter(f"external image id {sha256!r} does not fit [a-zA-Z0-9_.-:]+")
    return sha256


@runtime_checkable
class Engine(Protocol):
    """A face engine with named collections."""

    name: str

    def create_collection(self, collection: str) -> None: ...

    def delete_collection(self, collection: str) -> None: ...

    def list_collections(self) -> list[str]: ...

    def describe_collection(self, collection: str) -> CollectionInfo: ...

    def detect_faces(self, image: LoadedImage) -> list[FaceDetail]:
        """Every face in the image, largest first is not guaranteed."""
        ...

    def index_faces(self, collection: str, image: LoadedImage, external_image_id: str,
                    max_faces: int = 100) -> IndexResult: ...

    def search_faces(self, collection: str, face_id: str, threshold: float = 80.0,
                     max_faces: int = 50) -> list[Match]:
        """Faces like an indexed face (itself excluded), most alike first."""
        ...

    def search_faces_by_image(self, collection: str, image: LoadedImage, threshold: float = 80.0,
                              max_faces: int = 50, face_index: int | None = None) -> ImageSearch:
        """Faces like one face of the image (``face_index``; default the largest)."""
        ...

    def list_faces(self, collection: str) -> list[str]:
        """Every face id in the collection."""
        ...

    def delete_faces(self, collection: str, face_ids: list[str]) -> list[str]:
        """Delete faces; returns the ids deleted."""
        ...

    def compare_faces(self, source: LoadedImage, target: LoadedImage, threshold: float = 80.0) -> list[Match]:
        """Faces of ``target`` like the largest face of ``source``."""
        ...

    def index_face_region(self, collection: str, image: LoadedImage, box: BoundingBox,
                          external_image_id: str) -> IndexedFace:
        """Index the single face inside ``box`` (relative 0-1), leaving the image's other faces alone."""
        ...


def overlap(a: BoundingBox, b: BoundingBox) -> float:
    """Intersection over union of two relative boxes, 0-1."""
    w = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
    h = min(a.top + a.height, b.top + b.height) - max(a.top, b.top)
    inter = max(w, 0.0) * max(h, 0.0)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def largest_face(faces: list[FaceDetail] | tuple[FaceDetail, ...]) -> int | None:
    """Index of the face with the largest box, or None when there is none."""
    if not faces:
        return None
    return max(range(len(faces)), key=lambda i: faces[i].box.area)
