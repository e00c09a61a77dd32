"""Watchlists: named lists of people (of any collection) attached to a collection, checked against
every face an index job adds to it; each hit is an alert (person, face, photo or video time,
similarity, when).

A watched person is kept by id with **anchor faces** (their faces when added), so a regroup that
gives them another id finds them again (the person now holding most anchors). Faces present
when a list is made are marked checked: only faces indexed later alert, each face checked once.

How a face is checked, per engine (similarity 0-100, at the list's threshold, default 80):

- **local**: every watched person searches the collection with all their faces
  (:func:`~facelib.people.person_search.search_person`) and the new faces among the hits alert;
  a person of another collection must be of the same model.
- **Rekognition**, a person of this collection: the new faces' SearchFaces answers in the match
  graph, which grouping fetched already: **0 extra paid calls** after grouping; without
  grouping, one SearchFaces per new face (kept for grouping, which then pays nothing more).
- **Rekognition**, a person of another collection: the person is a Rekognition **User** there
  (CreateUser, free; AssociateFaces, one call per 100 faces, only for faces not yet associated),
  and each new face is one SearchUsersByImage on a crop of it.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ..engines.base import SpendLimit
from ..errors import InvalidParameter
from ..images import load_file
from ..records import BoundingBox
from ..settings import DEFAULT_THRESHOLD
from ..store.watch import WatchedPerson, Watchlist, WatchStore
from .person_search import SearchesVectors, resolve_person, search_person
from .service import Person, user_id

if TYPE_CHECKING:
    from ..collection import Collection
    from ..workspace import Workspace

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Alert:
    """A watched person seen in a new face. ``start_s``/``end_s``: when, for a face of a video."""

    alert_id: int
    watchlist: str
    collection: str
    face_id: str
    image_name: str
    image_sha256: str
    box: BoundingBox | None
    source: str
    person_id: int
    person: str
    similarity: float
    created_at: float
    job_id: int | None = None
    start_s: float | None = None
    end_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.alert_id, "watchlist": self.watchlist, "face_id": self.face_id,
                               "image": self.image_name, "person": {"person_id": self.person_id, "name": self.person,
                                                                    "collection": self.source},
                               "similarity": round(self.similarity, 2),
                               "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created_at)),
                               "job": self.job_id}
        if self.start_s is not None:
            out.update(start_s=self.start_s, end_s=self.end_s)
        return out


@runtime_checkable
class UserSearch(Protocol):
    """An engine with Users that a face can be searched against (Rekognition)."""

    def create_user(self, collection: str, user_id: str) -> bool: ...

    def associate_faces(self, collection: str, user_id: str, face_ids: list[str]) -> list[str]: ...

    def search_users_region(self, collection: str, rgb: np.ndarray, box: BoundingBox,
                            threshold: float = DEFAULT_THRESHOLD, max_users: int = 10) -> list[tuple[str, float]]: ...


#: Faces a Rekognition User may hold.
USER_MAX_FACES = 100


class Watchlists:
    """The watchlists of one collection: ``Watchlists(ws, "family")`` or :func:`watchlists`."""

    def __init__(self, coll: Collection) -> None:
        self.coll = coll
        self.ws: Workspace = coll.ws
        self.store = WatchStore(coll.ws.db)

    def lists(self) -> list[Watchlist]:
        return self.store.lists(self.coll.name)

    def get(self, name: str) -> Watchlist:
        for w in self.lists():
            if w.name == name:
                return w
        raise InvalidParameter(f"no watchlist {name!r} on {self.coll.name!r}")

    def create(self, name: str, threshold: float | None = None) -> Watchlist:
        """A new, empty list; the collection's faces indexed until now are not checked against it."""
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidParameter("a watchlist needs a name of 1-100 characters")
        thr = self.ws.settings.default_threshold if threshold is None else float(threshold)
        if not 0 < thr <= 100:
            raise InvalidParameter(f"threshold {thr} must be above 0 and at most 100")
        self.store.create(self.coll.name, name, thr)
        return self.get(name)

    def delete(self, name: str) -> None:
        self.store.delete(self.get(name).watchlist_id)

    def add(self, name: str, person: Person | str | int, source: Collection | None = None) -> WatchedPerson:
        """Watch ``person`` (of ``source``, default this collection: an id, a name or a Person)."""
        lst = self.get(name)
        source = source or self.coll
        p = person if isinstance(person, Person) else resolve_person(source, person)
        if not p.face_ids:
            raise InvalidParameter(f"{p.label} has no face to watch for")
        if source.engine_name != self.coll.engine_name:
            raise InvalidParameter(f"{source.name!r} and {self.coll.name!r} use different engines: a person of one "
                                   "cannot be looked for in the other")
        if source.model != self.coll.model:
            raise InvalidParameter(f"{source.name!r} uses the {source.model} model and {self.coll.name!r} the "
                                   f"{self.coll.model} model: a person of one cannot be looked for in the other")
        self.store.add(lst.watchlist_id, source.name, p.person_id, p.label, p.face_ids)
        return next(w for w in self.get(name).people if w.source == source.name and w.person_id == p.person_id)

    def remove(self, name: str, person_id: int, source: str | None = None) -> None:
        if not self.store.remove(self.get(name).watchlist_id, source or self.coll.name, person_id):
            raise InvalidParameter(f"person {person_id} is not on the watchlist {name!r}")

    def alerts(self, limit: int = 200, alert_ids: list[int] | None = None) -> list[Alert]:
        """The newest alerts first (``alert_ids``: just those)."""
        rows = self.store.alerts(self.coll.name, limit, alert_ids)
        faces = self.coll.faces_by_id(r[3] for r in rows)
        times = self.ws.appearances.of(r[3] for r in rows)
        out = []
        for aid, lname, coll, face_id, source, pid, label, sim, at, job in rows:
            f = faces.get(face_id)
            t = times.get(face_id)
            out.append(Alert(aid, lname, coll, face_id, f.image_name if f else "", f.image_sha256 if f else "",
                             f.detail.box if f else None, source, pid, label, sim, at, job,
                             t.start_s if t else None, t.end_s if t else None))
        return out

    # -- checking ------------------------------------------------------------------------------
    def resolve(self, watched: WatchedPerson) -> Person | None:
        """The watched person as they are now: by id, else the person holding most of their anchors."""
        source = self.ws.collection(watched.source)
        people = source.people
        try:
            return people.get(watched.person_id)
        except InvalidParameter:
            pass
        owners: dict[int, int] = defaultdict(int)
        person_of = people.person_of()
        for f in watched.anchors:
            if f in person_of:
                owners[person_of[f]] += 1
        if not owners:
            return None
        return people.get(max(owners, key=lambda p: (owners[p], -p)))

    def check(self, job_id: int | None = None, limit: SpendLimit | None = None) -> list[Alert]:
        """Check every face of the collection not checked yet against every list; record and return
        the alerts. Faces are marked checked only once every list was checked (a budget stop in
        between checks them again next time; an alert is never recorded twice). ``limit``: the job's
        spending limit, which the calls made in the watched people's collections are charged to too."""
        lists = [w for w in self.lists() if w.people]
        new = self.store.unchecked(self.coll.name)
        if not new:
            return []
        if not lists:
            self.store.mark_checked(self.coll.name, new)
            return []
        fresh = set(new)
        rows: list[tuple[int, str, str, int, str, int, str, float, int | None]] = []
        for lst in lists:
            for watched in lst.people:
                person = self.resolve(watched)
                if person is None:
                    log.warning("watchlist %r: person %d of %r is gone (erased)", lst.name, watched.person_id,
                                watched.source)
                    continue
                with self.ws.engine_for(person.collection).spending(person.collection, limit):
                    hits = self._hits(person, fresh, lst.threshold)
                for face_id, sim in hits.items():
                    rows.append((lst.watchlist_id, self.coll.name, face_id, watched.watched_id, watched.source,
                                 person.person_id, person.label, sim, job_id))
        ids_ = self.store.record(rows)
        self.store.mark_checked(self.coll.name, new)
        if ids_:
            log.info("collection %r: %d watchlist alert(s) among %d new face(s)", self.coll.name, len(ids_), len(new))
        return self.alerts(limit=len(ids_), alert_ids=ids_) if ids_ else []

    def _hits(self, person: Person, fresh: set[str], threshold: float) -> dict[str, float]:
        """face id -> similarity of the new faces like ``person`` at ``threshold`` or more."""
        source = self.ws.collection(person.collection)
        coll = self.coll
        if isinstance(coll.engine, SearchesVectors) or source.name == coll.name:
            if source.name == coll.name and not isinstance(coll.engine, SearchesVectors):
                self._search_new(fresh)  # Rekognition: the new faces' own searches (grouping's, if it ran)
            known = replace(person, face_ids=tuple(f for f in person.face_ids if f not in fresh))
            if not known.face_ids:
                return {}
            result = search_person(source, known, coll, floor=min(threshold, coll.settings.search_floor))
            return {r.face_id: r.similarity for r in result.rows if r.face_id in fresh and r.similarity >= threshold}
        engine = source.engine
        if not isinstance(engine, UserSearch):
            log.warning("the %s engine cannot look for a person of %r in %r", engine.name, source.name, coll.name)
            return {}
        user = self._sync_user(source, person, engine)
        out: dict[str, float] = {}
        faces = coll.faces_by_id(sorted(fresh))
        for face_id in sorted(fresh):
            face = faces.get(face_id)
            if face is None or not face.stored_path:
                continue
            rgb = np.asarray(load_file(str(self.ws.path(face.stored_path))).rgb)
            for uid, sim in engine.search_users_region(source.name, rgb, face.detail.box, threshold, 10):
                if uid == user and sim >= threshold:
                    out[face_id] = sim
        return out

    def _search_new(self, fresh: set[str]) -> None:
        """Fetch the SearchFaces answers of new faces grouping has not searched (kept in the match
        graph, so grouping pays nothing for them later)."""
        store = self.coll.people.store
        s = self.ws.settings
        for face_id in store.unsearched():
            if face_id in fresh:
                matches = self.coll.engine.search_faces(self.coll.name, face_id, s.search_floor, s.search_max_faces)
                store.add_edges(face_id, [(m.face.face_id, m.similarity) for m in matches])

    def _sync_user(self, source: Collection, person: Person, engine: UserSearch) -> str:
        """The person's User in ``source``, made and given their best faces not in it yet."""
        user = user_id(person.person_id)
        have = self.store.user_faces(source.name, user)
        if not have:
            engine.create_user(source.name, user)
        briefs = self.ws.catalog.face_briefs(source.name)
        best = sorted(person.face_ids, key=lambda f: (-(briefs.get(f, ("", 0.0))[1] or 0.0), f))
        room = max(0, USER_MAX_FACES - len(have))
        todo = [f for f in best if f not in have][:room]
        if todo:
            self.store.keep_user_faces(source.name, user, engine.associate_faces(source.name, user, todo))
        return user


def watch_calls_per_face(coll: Collection) -> int:
    """Paid calls each new face of ``coll`` costs its watchlists beyond grouping's SearchFaces: one
    SearchUsersByImage per other paid collection whose people are watched (0 on the local engine)."""
    if not coll.paid:
        return 0
    sources = {p.source for w in Watchlists(coll).lists() for p in w.people}
    return len(sources - {coll.name})
