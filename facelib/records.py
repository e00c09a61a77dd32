"""Frozen records shared by every layer, on one scale everywhere.

- Boxes and landmark points are relative to the image: floats in 0-1 (Rekognition's form).
- Confidence, brightness, sharpness and similarity are percentages 0-100, higher is better/more alike.
- Pose angles (yaw, pitch, roll) are degrees; 0 is a frontal, upright face.
- Any figure an engine cannot tell is ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class BoundingBox:
    """A box relative to the image size: every field in 0-1 (may poke slightly outside at edges)."""

    left: float
    top: float
    width: float
    height: float

    @property
    def area(self) -> float:
        """Relative area, 0-1."""
        return max(self.width, 0.0) * max(self.height, 0.0)

    def to_pixels(self, image_width: int, image_height: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) in pixels, clipped to the image."""
        x0 = max(0, round(self.left * image_width))
        y0 = max(0, round(self.top * image_height))
        x1 = min(image_width, round((self.left + self.width) * image_width))
        y1 = min(image_height, round((self.top + self.height) * image_height))
        return x0, y0, max(x0, x1), max(y0, y1)

    @classmethod
    def from_pixels(cls, left: float, top: float, right: float, bottom: float,
                    image_width: int, image_height: int) -> BoundingBox:
        """Build from pixel edges of an image of the given size."""
        return cls(left / image_width, top / image_height,
                   (right - left) / image_width, (bottom - top) / image_height)

    def to_dict(self) -> dict[str, float]:
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BoundingBox:
        return cls(float(d["left"]), float(d["top"]), float(d["width"]), float(d["height"]))


@dataclass(frozen=True)
class Landmark:
    """A named face point, relative to the image (0-1)."""

    type: str
    x: float
    y: float


@dataclass(frozen=True)
class Pose:
    """Head pose in degrees: yaw (left/right turn), pitch (up/down), roll (tilt)."""

    yaw: float | None = None
    pitch: float | None = None
    roll: float | None = None


@dataclass(frozen=True)
class FaceDetail:
    """What an engine tells about one detected face.

    ``confidence``: detector confidence 0-100. ``brightness``/``sharpness``: 0-100.
    ``size_px``: the face box's shorter side in pixels of the original image.
    ``age_low``/``age_high``: years (Rekognition only). ``extra``: engine-specific attributes
    (emotions, gender...) kept as plain JSON.
    """

    box: BoundingBox
    confidence: float | None = None
    brightness: float | None = None
    sharpness: float | None = None
    pose: Pose = field(default_factory=Pose)
    landmarks: tuple[Landmark, ...] = ()
    age_low: int | None = None
    age_high: int | None = None
    size_px: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields (written out by hand: ``dataclasses.asdict`` deep-copies every
        landmark and was the indexer's costliest step per face)."""
        b, p = self.box, self.pose
        return {"box": {"left": b.left, "top": b.top, "width": b.width, "height": b.height},
                "confidence": self.confidence, "brightness": self.brightness, "sharpness": self.sharpness,
                "pose": {"yaw": p.yaw, "pitch": p.pitch, "roll": p.roll},
                "landmarks": [{"type": lm.type, "x": lm.x, "y": lm.y} for lm in self.landmarks],
                "age_low": self.age_low, "age_high": self.age_high, "size_px": self.size_px,
                "extra": dict(self.extra)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FaceDetail:
        return cls(
            box=BoundingBox.from_dict(d["box"]),
            confidence=d.get("confidence"),
            brightness=d.get("brightness"),
            sharpness=d.get("sharpness"),
            pose=Pose(**(d.get("pose") or {})),
            landmarks=tuple(Landmark(**lm) for lm in d.get("landmarks") or ()),
            age_low=d.get("age_low"),
            age_high=d.get("age_high"),
            size_px=d.get("size_px"),
            extra=dict(d.get("extra") or {}),
        )


@dataclass(frozen=True)
class IndexedFace:
    """A face stored in an engine's collection.

    ``image_id`` is the sha256 (hex) of the image bytes; ``external_image_id`` is what was sent to
    the engine (derived from the sha256).
    """

    face_id: str
    image_id: str
    external_image_id: str
    detail: FaceDetail


@dataclass(frozen=True)
class UnindexedFace:
    """A face the engine detected but did not index, with its reasons (e.g. ``LOW_SHARPNESS``)."""

    detail: FaceDetail
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class IndexResult:
    """Outcome of indexing one image."""

    faces: tuple[IndexedFace, ...]
    unindexed: tuple[UnindexedFace, ...] = ()
    model_version: str | None = None


@dataclass(frozen=True)
class Match:
    """A face of the collection and how alike it is to the query: similarity 0-100."""

    face: IndexedFace
    similarity: float


@dataclass(frozen=True)
class ImageSearch:
    """Result of a search by image: every face found in the query, which one was searched, matches."""

    query_faces: tuple[FaceDetail, ...]
    searched_face: int | None
    matches: tuple[Match, ...]


@dataclass(frozen=True)
class CollectionInfo:
    """What an engine says about a collection."""

    name: str
    face_count: int
    model_version: str | None = None
    created_at: str | None = None


class EngineName(StrEnum):
    """The engines a collection can live in."""

    LOCAL = "local"
    REKOGNITION = "rekognition"


class FaceStatus(StrEnum):
    """A catalog face: indexed (searchable) or rejected by the engine (kept with its reasons)."""

    INDEXED = "indexed"
    REJECTED = "rejected"


class FileStatus(StrEnum):
    """What happened to one file of a batch."""

    INDEXED = "indexed"
    NO_FACE = "no_face"
    SKIPPED = "skipped"      # the collection holds these bytes already
    ERROR = "error"


class DecisionKind(StrEnum):
    """An analyst's correction, as the people store keeps it."""

    MUST = "must"            # the two faces are one person
    CANNOT = "cannot"        # the two faces are different people
    NOT_FACE = "not_face"    # not a face at all


@dataclass(frozen=True)
class StoredImage:
    """An image of a collection as the catalog keeps it (``stored_path`` relative to the data dir)."""

    collection: str
    sha256: str
    original_name: str
    source: str | None
    stored_path: str | None
    width: int | None
    height: int | None
    bytes: int | None
    format: str | None
    added_at: float
    metadata: dict[str, Any]


@dataclass(frozen=True)
class StoredFace:
    """A face as the catalog keeps it: indexed or rejected (with ``reasons``). Paths are relative
    to the data directory."""

    face_id: str
    collection: str
    image_sha256: str
    face_index: int
    status: FaceStatus
    reasons: tuple[str, ...]
    detail: FaceDetail
    thumb_path: str | None
    image_name: str = ""
    stored_path: str | None = None



def overlap(a: BoundingBox, b: BoundingBox) -> float:
    """Intersection over union of two relative boxes, 0-1."""
    w = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
    h = min(a.top + a.height, b.top + b.height) - max(a.top, b.top)
    inter = max(w, 0.0) * max(h, 0.0)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


#: A face is a default-search candidate when its detector confidence is within this many points
#: (0-100) of the most confident face's: a large, doubtful box never beats a clear face.
CONFIDENT_WITHIN = 15.0


def largest_face(faces: list[FaceDetail] | tuple[FaceDetail, ...]) -> int | None:
    """Index of the largest *confident* face (see :data:`CONFIDENT_WITHIN`), or None when there is none.
    Faces whose confidence is unknown count as confident."""
    if not faces:
        return None
    known = [f.confidence for f in faces if f.confidence is not None]
    floor = max(known) - CONFIDENT_WITHIN if known else 0.0
    candidates = [i for i, f in enumerate(faces) if f.confidence is None or f.confidence >= floor]
    return max(candidates, key=lambda i: faces[i].box.area)
