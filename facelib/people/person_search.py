"""Search by person: every face of a person searches together, in their collection or another one.

A person's faces are scored against every face of the target collection and each target face keeps
its **best per-face similarity** (the maximum over the person's faces). On ../shared/faces-dev this
beat a template (the normalised mean descriptor) and the mean of the similarities at the same
false-accept rate (``python -m bench.person_search``, README "Search by person"). Engines:

- **local**: the person's stored descriptors, each one matrix-vector product (exact search);
  another collection must use the same model.
- **Rekognition**, this collection: the person's faces' SearchFaces answers, which grouping keeps
  in the match graph, so **0 paid calls** when grouping searched them (else one SearchFaces per
  face never searched, kept for grouping too). Another collection: one SearchFacesByImage per
  query face on a crop of it (the ``max_queries`` best faces, 3 by default);
  :func:`person_search_cost` says how many before any call.

Similarities are percentages 0-100.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InvalidParameter
from ..images import load_file
from ..records import BoundingBox
from ..settings import DEFAULT_THRESHOLD
from .service import Person

if TYPE_CHECKING:
    from ..collection import Collection
    from ..records import Match

#: Query faces sent to a paid engine for a search in another collection (one call each).
PAID_QUERIES = 3
#: Query faces a free engine uses (the person's best faces first): each is one matrix product.
FREE_QUERIES = 200


@runtime_checkable
class SearchesVectors(Protocol):
    """An engine that keeps its descriptors here and searches by vector (the local engine)."""

    def vector(self, collection: str, face_id: str) -> np.ndarray: ...

    def model_of(self, collection: str) -> str: ...

    def search_vector(self, collection: str, vector: np.ndarray, threshold: float = DEFAULT_THRESHOLD,
                      max_faces: int = 50, exclude: str | None = None, model: str | None = None) -> list[Match]: ...


def template_of(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """A person's template: the mean of their descriptors, scaled to their mean norm (SFace's are
    unit vectors; dlib's are about 1.4 long), so the model's calibration applies to its distances."""
    arr = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), -1)
    mean = arr.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    out: np.ndarray = mean if norm == 0 else mean * float(np.linalg.norm(arr, axis=1).mean()) / norm
    return out


def resolve_person(coll: Collection, given: str | int) -> Person:
    """The one person ``given`` names in ``coll``: a person id, or a name (case-insensitive; whole
    name first, then a part of it; "Person 12" is person 12). Several people of that name are
    refused with every candidate; none is :class:`InvalidParameter` too."""
    people = coll.people.listing(include_hidden=True)
    text = str(given).strip()
    if text.isdigit():
        for p in people:
            if p.person_id == int(text):
                return p
    key = text.casefold()
    if not key:
        raise InvalidParameter("name the person to search: an id or a name")
    for matches in ([p for p in people if p.label.casefold() == key], [p for p in people if key in p.label.casefold()]):
        if len(matches) == 1:
            return matches[0]
        if matches:
            listed = "; ".join(f"{p.person_id} {p.label} ({len(p.face_ids)} face(s))" for p in matches[:20])
            raise InvalidParameter(f"{text!r} names {len(matches)} people of {coll.name!r}: give the id of one: {listed}")
    raise InvalidParameter(f"no person {text!r} in {coll.name!r}")


@dataclass(frozen=True)
class PersonRow:
    """One face found for the person, with what the catalog knows of it. ``person_id``/``person``:
    who that face belongs to in the searched collection (None: nobody yet); ``theirs``: it is
    already one of the person's faces; ``via``: the query face that scored it best."""

    face_id: str
    similarity: float
    image_name: str
    image_sha256: str
    box: BoundingBox
    via: str
    person_id: int | None = None
    person: str | None = None
    theirs: bool = False
    thumb_path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"face_id": self.face_id, "image": self.image_name, "box": self.box.to_dict(),
                "similarity": round(self.similarity, 2),
                "person": None if self.person_id is None else {"person_id": self.person_id, "name": self.person},
                "theirs": self.theirs}


@dataclass(frozen=True)
class PersonSearch:
    """The result of a search by person: who, where, with which faces, and the rows (most alike
    first) at ``floor`` or more. ``paid_calls``: engine calls it made that are billed."""

    person: Person
    collection: str
    searched: str
    query_faces: tuple[str, ...]
    rows: tuple[PersonRow, ...]
    floor: float
    paid_calls: int = 0
    method: str = "max"
    notes: tuple[str, ...] = field(default=())

    def to_json(self, threshold: float | None = None, max_faces: int | None = None,
                only_new: bool = False) -> dict[str, Any]:
        rows = [r for r in self.rows if (threshold is None or r.similarity >= threshold) and not (only_new and r.theirs)]
        return {"person": {"person_id": self.person.person_id, "name": self.person.name,
                           "collection": self.collection, "faces": len(self.person.face_ids)},
                "collection": self.searched, "query_faces": list(self.query_faces), "method": self.method,
                "paid_calls": self.paid_calls, "matches": [r.to_json() for r in rows[:max_faces]]}


def query_faces(coll: Collection, person: Person, limit: int) -> list[str]:
    """The person's best faces first (the cover score: large, sharp, confident), at most ``limit``."""
    briefs = coll.ws.catalog.face_briefs(coll.name)
    ranked = sorted(person.face_ids, key=lambda f: (-(briefs.get(f, ("", 0.0))[1] or 0.0), f))
    return ranked[:max(1, limit)]


def person_search_cost(coll: Collection, person: Person, target: Collection | None = None,
                       max_queries: int = PAID_QUERIES) -> int:
    """Paid calls a search of ``person`` in ``target`` (default their own collection) would make:
    0 on a free engine; in their own collection one SearchFaces per face of theirs never searched;
    in another, one SearchFacesByImage per query face."""
    target = target or coll
    if not target.paid:
        return 0
    if target.name == coll.name:
        unsearched = set(coll.people.store.unsearched())
        return sum(1 for f in person.face_ids if f in unsearched)
    return len(query_faces(coll, person, max_queries))


def search_person(coll: Collection, person: Person | str | int, target: Collection | None = None,
                  floor: float | None = None, max_faces: int | None = None,
                  max_queries: int | None = None) -> PersonSearch:
    """Search every face of ``person`` (of ``coll``) in ``target`` (default ``coll``) at ``floor``
    (default the settings' 50%); each face found keeps its best similarity over the person's faces.
    The person's own query faces are left out of the rows; their other faces are kept, marked
    ``theirs``."""
    if not isinstance(person, Person):
        person = resolve_person(coll, person)
    if not person.face_ids:
        raise InvalidParameter(f"{person.label} has no face to search with")
    target = target or coll
    s = coll.settings
    floor = s.search_floor if floor is None else float(floor)
    cap = max_faces or s.search_max_faces
    best: dict[str, tuple[float, str]] = {}
    paid = 0
    notes: list[str] = []
    engine = target.engine
    same = target.name == coll.name
    if isinstance(engine, SearchesVectors) and isinstance(coll.engine, SearchesVectors):
        queries = query_faces(coll, person, max_queries or FREE_QUERIES)
        model = coll.engine.model_of(coll.name)
        for q in queries:
            vec = coll.engine.vector(coll.name, q)
            for m in engine.search_vector(target.name, vec, floor, cap, exclude=q, model=model):
                _keep(best, m.face.face_id, m.similarity, q)
    elif same:
        queries = list(person.face_ids)
        store = coll.people.store
        todo = set(store.unsearched())
        for q in queries:
            if q in todo:  # the face's matches were never fetched: fetch and keep them (grouping needs them too)
                matches = coll.engine.search_faces(coll.name, q, s.search_floor, s.search_max_faces)
                store.add_edges(q, [(m.face.face_id, m.similarity) for m in matches])
                paid += 1
        wanted = set(queries)
        for e in store.edges():
            if e.similarity < floor:
                continue
            if e.a in wanted:
                _keep(best, e.b, e.similarity, e.a)
            if e.b in wanted:
                _keep(best, e.a, e.similarity, e.b)
    else:
        queries = query_faces(coll, person, max_queries or PAID_QUERIES)
        faces = coll.faces_by_id(queries)
        for q in queries:
            face = faces[q]
            if not face.stored_path:
                notes.append(f"face {q}: its photo has no stored copy")
                continue
            image = load_file(str(coll.ws.path(face.stored_path)))
            rgb = np.asarray(image.rgb)
            paid += 1
            for m in engine.search_region(target.name, rgb, face.detail.box, floor, min(cap, 4096)):
                _keep(best, m.face.face_id, m.similarity, q)
    for q in queries:
        best.pop(q, None)
    rows = _rows(coll, target, person, best)
    return PersonSearch(person, coll.name, target.name, tuple(queries), tuple(rows[:cap]), floor, paid, "max",
                        tuple(notes))


def _keep(best: dict[str, tuple[float, str]], face_id: str, similarity: float, via: str) -> None:
    if similarity > best.get(face_id, (-1.0, ""))[0]:
        best[face_id] = (float(similarity), via)


def _rows(coll: Collection, target: Collection, person: Person, best: dict[str, tuple[float, str]]) -> list[PersonRow]:
    stored = target.faces_by_id(best)
    labels = target.people.store.labels(best)
    theirs = set(person.face_ids) if target.name == coll.name else set()
    rows = []
    for face_id, (sim, via) in best.items():
        face = stored.get(face_id)
        if face is None:
            continue  # in the engine but not in the catalog (indexed elsewhere)
        pid, name = labels.get(face_id, (None, None))
        rows.append(PersonRow(face_id, sim, face.image_name, face.image_sha256, face.detail.box, via, pid,
                              (name or f"Person {pid}") if pid is not None else None, face_id in theirs,
                              face.thumb_path))
    return sorted(rows, key=lambda r: (-r.similarity, r.face_id))
