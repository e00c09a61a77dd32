"""Searching a collection by image or by face, joined with the catalog for display.

Searches are made once at a low floor (``Settings.search_floor``, default 50%) with a large
MaxFaces; :func:`filter_matches` then applies the threshold and quality filters locally, so moving
a slider never calls the engine again. Similarities are percentages 0-100.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .catalog import StoredFace
from .images import LoadedImage
from .records import BoundingBox, FaceDetail, Match
from .workspace import Workspace


@dataclass(frozen=True)
class MatchRow:
    """One search hit with what the catalog knows of it."""

    face_id: str
    similarity: float
    image_name: str
    image_sha256: str
    box: BoundingBox
    detail: FaceDetail
    thumb_path: str | None
    stored_path: str | None

    def to_json(self) -> dict:
        return {"face_id": self.face_id, "image": self.image_name, "box": self.box.to_dict(),
                "similarity": round(self.similarity, 2)}


@dataclass(frozen=True)
class SearchResult:
    """Every face found in the query, which was searched, and the hits above ``floor``."""

    query_faces: tuple[FaceDetail, ...]
    searched_face: int | None
    rows: tuple[MatchRow, ...]
    floor: float
    query_face_id: str | None = None

    def to_json(self, threshold: float | None = None, max_faces: int | None = None) -> dict:
        rows = [r for r in self.rows if threshold is None or r.similarity >= threshold][:max_faces]
        return {"query_faces": [{"box": d.box.to_dict(), "confidence": d.confidence} for d in self.query_faces],
                "searched_face": self.searched_face, "matches": [r.to_json() for r in rows]}


@dataclass(frozen=True)
class QualityFilter:
    """View-time filters. Each bound is inclusive; None means no bound.

    brightness/sharpness/confidence: minimum 0-100; min_size_px: face side in pixels;
    max_yaw/max_pitch: largest absolute angle in degrees; min_age: lowest age (Rekognition only;
    faces with no age pass).
    """

    min_brightness: float | None = None
    min_sharpness: float | None = None
    min_confidence: float | None = None
    min_size_px: int | None = None
    max_yaw: float | None = None
    max_pitch: float | None = None
    min_age: int | None = None

    def failing_sql(self) -> tuple[str, list[float]]:
        """An SQL condition on the catalog's face columns that holds for faces failing this filter
        (unknown figures pass, as in :meth:`reasons`)."""
        parts: list[str] = []
        args: list[float] = []
        for column, bound in (("brightness", self.min_brightness), ("sharpness", self.min_sharpness),
                              ("confidence", self.min_confidence), ("size_px", self.min_size_px),
                              ("age_high", self.min_age)):
            if bound is not None:
                parts.append(f"(f.{column} IS NOT NULL AND f.{column} < ?)")
                args.append(bound)
        for column, bound in (("yaw", self.max_yaw), ("pitch", self.max_pitch)):
            if bound is not None:
                parts.append(f"(f.{column} IS NOT NULL AND ABS(f.{column}) > ?)")
                args.append(bound)
        return (" OR ".join(parts) or "0"), args

    def passes(self, d: FaceDetail) -> bool:
        return not self.reasons(d)

    def reasons(self, d: FaceDetail) -> list[str]:
        """Why a face fails this filter (empty when it passes). Unknown figures pass."""
        out = []

        def low(value: float | None, bound: float | None, label: str) -> None:
            if bound is not None and value is not None and value < bound:
                out.append(f"{label} {value:.0f} < {bound:.0f}")

        def high(value: float | None, bound: float | None, label: str) -> None:
            if bound is not None and value is not None and abs(value) > bound:
                out.append(f"{label} {abs(value):.0f} > {bound:.0f}")

        low(d.brightness, self.min_brightness, "brightness")
        low(d.sharpness, self.min_sharpness, "sharpness")
        low(d.confidence, self.min_confidence, "confidence")
        low(d.size_px, self.min_size_px, "size")
        high(d.pose.yaw, self.max_yaw, "yaw")
        high(d.pose.pitch, self.max_pitch, "pitch")
        low(d.age_high, self.min_age, "age")
        return out


NO_FILTER = QualityFilter()


def _rows(ws: Workspace, matches: list[Match] | tuple[Match, ...]) -> tuple[MatchRow, ...]:
    stored: dict[str, StoredFace] = ws.catalog.faces_by_id(m.face.face_id for m in matches)
    rows = []
    for m in matches:
        s = stored.get(m.face.face_id)
        if s is None:  # in the engine but not in the catalog (indexed elsewhere): show what the engine says
            rows.append(MatchRow(m.face.face_id, m.similarity, m.face.external_image_id, m.face.image_id,
                                 m.face.detail.box, m.face.detail, None, None))
        else:
            rows.append(MatchRow(s.face_id, m.similarity, s.image_name, s.image_sha256, s.detail.box, s.detail,
                                 s.thumb_path, s.stored_path))
    return tuple(sorted(rows, key=lambda r: -r.similarity))


def search_by_image(ws: Workspace, collection: str, image: LoadedImage, face_index: int | None = None,
                    floor: float | None = None, max_faces: int | None = None) -> SearchResult:
    """Search the chosen face of ``image`` (default the largest) at ``floor`` (default settings')."""
    floor = ws.settings.search_floor if floor is None else floor
    max_faces = max_faces or ws.settings.search_max_faces
    found = ws.engine_for(collection).search_faces_by_image(collection, image, floor, max_faces, face_index)
    ws.search_calls += 1
    return SearchResult(found.query_faces, found.searched_face, _rows(ws, found.matches), floor)


def search_by_face(ws: Workspace, collection: str, face_id: str, floor: float | None = None,
                   max_faces: int | None = None) -> SearchResult:
    """Search an indexed face (it is left out of its own results)."""
    floor = ws.settings.search_floor if floor is None else floor
    max_faces = max_faces or ws.settings.search_max_faces
    face = ws.catalog.face(face_id)
    matches = ws.engine_for(collection).search_faces(collection, face_id, floor, max_faces)
    ws.search_calls += 1
    return SearchResult((face.detail,), 0, _rows(ws, matches), floor, query_face_id=face_id)


def filter_matches(rows: tuple[MatchRow, ...] | list[MatchRow], threshold: float,
                   quality: QualityFilter = NO_FILTER) -> list[MatchRow]:
    """Rows at or above ``threshold`` (0-100) whose face passes ``quality``. Pure and fast."""
    return [r for r in rows if r.similarity >= threshold and quality.passes(r.detail)]


@dataclass
class MatchCounts:
    """How many matches each threshold would keep (for the matches-vs-threshold chart)."""

    thresholds: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)


def matches_by_threshold(rows: tuple[MatchRow, ...] | list[MatchRow], floor: float,
                         quality: QualityFilter = NO_FILTER, step: float = 1.0) -> MatchCounts:
    sims = sorted((r.similarity for r in rows if quality.passes(r.detail)), reverse=True)
    out = MatchCounts()
    t = float(floor)
    while t <= 100.0 + 1e-9:
        out.thresholds.append(round(t, 2))
        out.counts.append(sum(1 for s in sims if s >= t))
        t += step
    return out
