"""Searching a collection by image or by face, joined with the catalog for display.

Searches are made once at a low floor (``Settings.search_floor``, default 50%) with a large
MaxFaces; :func:`filter_matches` then applies the threshold and quality filters locally, so moving
a slider never calls the engine again. Similarities are percentages 0-100.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .engines.base import Engine
from .errors import FaceNotFound
from .filters import NO_FILTER, QualityFilter
from .images import LoadedImage
from .records import BoundingBox, FaceDetail, Match, StoredFace
from .store.catalog import Catalog


def not_found(face_id: str) -> str:
    """The one answer for a face id that is not in the collection asked, whether it exists elsewhere or not."""
    return f"no face {face_id.strip()[:64]!r} in this collection"


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

    def to_json(self) -> dict[str, Any]:
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

    def to_json(self, threshold: float | None = None, max_faces: int | None = None) -> dict[str, Any]:
        rows = [r for r in self.rows if threshold is None or r.similarity >= threshold][:max_faces]
        return {"query_faces": [{"box": d.box.to_dict(), "confidence": d.confidence} for d in self.query_faces],
                "searched_face": self.searched_face, "matches": [r.to_json() for r in rows]}




def _rows(catalog: Catalog, matches: Sequence[Match]) -> tuple[MatchRow, ...]:
    stored: dict[str, StoredFace] = catalog.faces_by_id(m.face.face_id for m in matches)
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


def search_by_image(catalog: Catalog, engine: Engine, collection: str, image: LoadedImage, floor: float,
                    max_faces: int, face_index: int | None = None) -> SearchResult:
    """Search the chosen face of ``image`` (default the largest) at ``floor`` (0-100)."""
    found = engine.search_faces_by_image(collection, image, floor, max_faces, face_index)
    return SearchResult(found.query_faces, found.searched_face, _rows(catalog, found.matches), floor)


def search_by_face(catalog: Catalog, engine: Engine, collection: str, face_id: str, floor: float,
                   max_faces: int) -> SearchResult:
    """Search an indexed face of ``collection`` (it is left out of its own results). A face of
    another collection is :class:`FaceNotFound` with the very words of a face that does not exist."""
    try:
        face: StoredFace | None = catalog.face(face_id)
    except FaceNotFound:
        face = None
    if face is None or face.collection != collection:
        raise FaceNotFound(not_found(face_id))
    matches = engine.search_faces(collection, face_id, floor, max_faces)
    return SearchResult((face.detail,), 0, _rows(catalog, matches), floor, query_face_id=face_id)


def filter_matches(rows: Sequence[MatchRow], threshold: float,
                   quality: QualityFilter = NO_FILTER) -> list[MatchRow]:
    """Rows at or above ``threshold`` (0-100) whose face passes ``quality``. Pure and fast."""
    return [r for r in rows if r.similarity >= threshold and quality.passes(r.detail)]


@dataclass
class MatchCounts:
    """How many matches each threshold would keep (for the matches-vs-threshold chart)."""

    thresholds: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)


def matches_by_threshold(rows: Sequence[MatchRow], floor: float,
                         quality: QualityFilter = NO_FILTER, step: float = 1.0) -> MatchCounts:
    sims = sorted((r.similarity for r in rows if quality.passes(r.detail)), reverse=True)
    out = MatchCounts()
    t = float(floor)
    while t <= 100.0 + 1e-9:
        out.thresholds.append(round(t, 2))
        out.counts.append(sum(1 for s in sims if s >= t))
        t += step
    return out
