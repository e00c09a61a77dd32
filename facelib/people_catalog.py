"""People in a collection: the match graph, grouping, and the analyst's corrections, in the catalog.

Similarities are percentages 0-100. The graph's edges come from the engine's SearchFaces, made
once per face and kept in the catalog (table ``match_edges``), so with Rekognition a regroup costs
paid calls only for faces never searched before. Every correction is stored as a decision
(must-link, cannot-link, not-a-face) and honoured by later regroups; names survive regroups.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .errors import FaceLibError, InvalidParameter
from .people import Decisions, Edge, choose_person, group_faces, inherit, pair
from .workspace import Workspace

MUST, CANNOT, NOT_FACE = "must", "cannot", "not_face"
#: Faces a Rekognition User can hold.
USER_MAX_FACES = 100


@dataclass(frozen=True)
class Person:
    """A person: their faces (indexed, not marked not-a-face), photos and a cover face's id."""

    person_id: int
    collection: str
    name: str | None
    hidden: bool
    face_ids: tuple[str, ...]
    photos: int
    cover_id: str

    @property
    def label(self) -> str:
        return self.name or f"Person {self.person_id}"


class People:
    """The people of one collection."""

    def __init__(self, ws: Workspace, collection: str, threshold: float | None = None) -> None:
        self.ws = ws
        self.collection = collection
        self.catalog = ws.catalog
        self.threshold = ws.settings.people_threshold if threshold is None else threshold

    # -- the graph ---------------------------------------------------------------------------
    def _unsearched(self) -> list[str]:
        """Indexed faces whose matches were never fetched, in id order."""
        return [r[0] for r in self.catalog.connect().execute(
            "SELECT face_id FROM faces WHERE collection=? AND status='indexed' AND face_id NOT IN"
            " (SELECT face_id FROM edges_done WHERE collection=?) ORDER BY face_id", (self.collection, self.collection))]

    def pending_searches(self) -> int:
        """Indexed faces whose matches were never fetched (each is one engine search)."""
        return len(self._unsearched())

    def ensure_edges(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Search every face not searched yet (at the settings' floor); returns how many were searched."""
        todo = self._unsearched()
        engine = self.ws.engine_for(self.collection)
        floor = self.ws.settings.search_floor
        for i, face_id in enumerate(todo):
            matches = engine.search_faces(self.collection, face_id, floor, self.ws.settings.search_max_faces)
            with self.catalog.transaction() as db:
                db.executemany(
                    "INSERT INTO match_edges(collection, a, b, similarity) VALUES (?,?,?,?) "
                    "ON CONFLICT(collection, a, b) DO UPDATE SET similarity=MAX(similarity, excluded.similarity)",
                    [(self.collection, *pair(face_id, m.face.face_id), m.similarity) for m in matches])
                db.execute("INSERT OR IGNORE INTO edges_done(face_id, collection) VALUES (?,?)", (face_id, self.collection))
            if progress:
                progress(i + 1, len(todo))
        return len(todo)

    def edges(self) -> list[Edge]:
        return [Edge(a, b, s) for a, b, s in self.catalog.connect().execute(
            "SELECT a, b, similarity FROM match_edges WHERE collection=?", (self.collection,))]

    # -- decisions ---------------------------------------------------------------------------
    def decisions(self) -> Decisions:
        must, cannot, not_faces = set(), set(), set()
        for kind, a, b in self.catalog.connect().execute(
                "SELECT kind, a, b FROM decisions WHERE collection=?", (self.collection,)):
            if kind == MUST:
                must.add(pair(a, b))
            elif kind == CANNOT:
                cannot.add(pair(a, b))
            elif kind == NOT_FACE:
                not_faces.add(a)
        return Decisions(frozenset(must), frozenset(cannot), frozenset(not_faces))

    def _supersede(self, db, kind: str, left: Iterable[str], right: Iterable[str]) -> None:
        """Forget earlier ``kind`` decisions between the two sets: the newest decision wins."""
        a, b = set(left), set(right)
        rows = db.execute("SELECT id, a, b FROM decisions WHERE collection=? AND kind=?", (self.collection, kind))
        stale = [(i,) for i, x, y in rows.fetchall() if (x in a and y in b) or (x in b and y in a)]
        db.executemany("DELETE FROM decisions WHERE id=?", stale)

    def _decide(self, db, kind: str, pairs: Iterable[tuple[str, str | None]]) -> None:
        now = time.time()
        db.executemany("INSERT INTO decisions(collection, kind, a, b, created_at) VALUES (?,?,?,?,?)",
                       [(self.collection, kind, a, b, now) for a, b in pairs])

    # -- reading -----------------------------------------------------------------------------
    def _faces(self) -> dict[str, tuple[str, float]]:
        """face id -> (photo sha256, cover score) for every indexed face."""
        return self.catalog.face_briefs(self.collection)

    def person_of(self) -> dict[str, int]:
        """face id -> person id for every grouped face."""
        return dict(self.catalog.connect().execute(
            "SELECT face_id, person_id FROM face_person WHERE collection=?", (self.collection,)).fetchall())

    def list(self, include_hidden: bool = False, name_filter: str = "", only: int | None = None) -> list[Person]:
        """People, largest first; hidden ones only when asked. Counts and covers come from SQL
        aggregates (the cover is the largest, sharpest face), so this stays quick at 100k faces."""
        conn = self.catalog.connect()
        stats = {}
        for pid, name, hidden, _count, photos, cover, _score in conn.execute(
                "SELECT p.person_id, p.name, p.hidden, COUNT(*), COUNT(DISTINCT f.image_sha256), f.face_id,"
                " MAX(COALESCE(f.size_px, 0) * (COALESCE(f.sharpness, 50) + 10))"
                " FROM people p JOIN face_person fp ON fp.person_id=p.person_id"
                " JOIN faces f ON f.face_id=fp.face_id AND f.status='indexed'"
                " WHERE p.collection=? AND (? IS NULL OR p.person_id=?) GROUP BY p.person_id",
                (self.collection, only, only)):
            if hidden and not include_hidden:
                continue
            if name_filter and name_filter.lower() not in (name or f"person {pid}").lower():
                continue
            stats[pid] = (name, bool(hidden), photos, cover)
        members: dict[int, list[str]] = defaultdict(list)
        for face_id, pid in conn.execute(
                "SELECT fp.face_id, fp.person_id FROM face_person fp JOIN faces f ON f.face_id=fp.face_id"
                " AND f.status='indexed' WHERE fp.collection=? AND (? IS NULL OR fp.person_id=?) ORDER BY fp.face_id",
                (self.collection, only, only)):
            if pid in stats:
                members[pid].append(face_id)
        out = [Person(pid, self.collection, name, hidden, tuple(members[pid]), photos, cover)
               for pid, (name, hidden, photos, cover) in stats.items()]
        return sorted(out, key=lambda p: (-len(p.face_ids), p.person_id))

    def cover_thumbs(self, people: Iterable[Person]) -> dict[int, str | None]:
        """person id -> thumbnail path of their cover face (fetched only for the people shown)."""
        people = list(people)
        paths = dict(self.catalog.connect().execute(
            f"SELECT face_id, thumb_path FROM faces WHERE face_id IN ({','.join('?' * len(people))})",
            [p.cover_id for p in people]).fetchall()) if people else {}
        return {p.person_id: paths.get(p.cover_id) for p in people}

    def get(self, person_id: int) -> Person:
        for p in self.list(include_hidden=True, only=person_id):
            return p
        raise InvalidParameter(f"no person {person_id} in {self.collection!r}")

    def names(self, face_ids: Iterable[str] | None = None) -> dict[str, str]:
        """face id -> person label, for tables (SQL only; just the given faces when ``face_ids``)."""
        sql = ("SELECT fp.face_id, p.person_id, p.name FROM face_person fp JOIN people p ON p.person_id=fp.person_id"
               " WHERE fp.collection=?")
        conn = self.catalog.connect()
        if face_ids is None:
            rows = conn.execute(sql, (self.collection,)).fetchall()
        else:
            ids = list(face_ids)
            rows = []
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                rows += conn.execute(sql + f" AND fp.face_id IN ({','.join('?' * len(chunk))})",
                                     (self.collection, *chunk)).fetchall()
        return {f: name or f"Person {pid}" for f, pid, name in rows}

    def count(self) -> int:
        """Visible people with at least one face."""
        return int(self.catalog.connect().execute(
            "SELECT COUNT(DISTINCT p.person_id) FROM people p JOIN face_person fp ON fp.person_id=p.person_id"
            " WHERE p.collection=? AND p.hidden=0", (self.collection,)).fetchone()[0])

    # -- grouping ----------------------------------------------------------------------------
    @staticmethod
    def _photo_of(faces: dict[str, tuple[str, float]]) -> dict[str, str]:
        return {f: sha for f, (sha, _) in faces.items()}

    def update(self, progress: Callable[[int, int], None] | None = None) -> int:
        """After indexing: fetch the new faces' matches, then place each ungrouped face (the incremental rule).

        A new face joins a person when it matches enough of that person's faces above the
        threshold (see :func:`facelib.people.choose_person`), otherwise it starts a new person.
        Returns how many faces were placed.
        """
        self.ensure_edges(progress)
        faces = self._faces()
        decisions = self.decisions()
        person_of = self.person_of()
        todo = sorted(f for f in faces if f not in person_of and f not in decisions.not_faces)
        if not todo:
            return 0
        neighbours: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for e in self.edges():
            neighbours[e.a].append((e.b, e.similarity))
            neighbours[e.b].append((e.a, e.similarity))
        size: dict[int, int] = defaultdict(int)
        for pid in person_of.values():
            size[pid] += 1
        photo = self._photo_of(faces)
        with self.catalog.transaction() as db:
            for face_id in todo:
                blocked = {pid for other, pid in person_of.items()
                           if other in faces and photo.get(other) == photo[face_id] or
                           pair(face_id, other) in decisions.cannot_link}
                pid = choose_person(neighbours[face_id], person_of, size, blocked, self.threshold)
                if pid is None:
                    pid = self._new_person(db)
                db.execute("INSERT OR REPLACE INTO face_person(face_id, person_id, collection) VALUES (?,?,?)",
                           (face_id, pid, self.collection))
                person_of[face_id] = pid
                size[pid] += 1
        return len(todo)

    def regroup(self, progress: Callable[[int, int], None] | None = None) -> list[Person]:
        """Group the whole collection again from the graph, honouring every decision; names survive."""
        self.ensure_edges(progress)
        faces = self._faces()
        groups = group_faces(faces, self.edges(), self._photo_of(faces), self.threshold, self.decisions())
        old: dict[int, set[str]] = defaultdict(set)
        for face_id, pid in self.person_of().items():
            old[pid].add(face_id)
        heirs = inherit(old, groups)
        with self.catalog.transaction() as db:
            db.execute("DELETE FROM face_person WHERE collection=?", (self.collection,))
            for gi, group in enumerate(groups):
                pid = heirs[gi] if heirs[gi] is not None else self._new_person(db)
                db.executemany("INSERT INTO face_person(face_id, person_id, collection) VALUES (?,?,?)",
                               [(f, pid, self.collection) for f in group])
            self._drop_empty(db)
        return self.list(include_hidden=True)

    def _new_person(self, db, name: str | None = None) -> int:
        cur = db.execute("INSERT INTO people(collection, name, hidden, created_at) VALUES (?,?,0,?)",
                         (self.collection, name, time.time()))
        return int(cur.lastrowid)

    # -- corrections -------------------------------------------------------------------------
    def rename(self, person_id: int, name: str) -> None:
        with self.catalog.transaction() as db:
            db.execute("UPDATE people SET name=? WHERE person_id=? AND collection=?",
                       (name.strip() or None, person_id, self.collection))

    def hide(self, person_id: int, hidden: bool = True) -> None:
        with self.catalog.transaction() as db:
            db.execute("UPDATE people SET hidden=? WHERE person_id=? AND collection=?",
                       (int(hidden), person_id, self.collection))

    def merge(self, person_ids: list[int], into: int | None = None) -> int:
        """Merge people into one (``into``, default the largest); remembered as must-links."""
        people = [self.get(p) for p in dict.fromkeys(person_ids)]
        if len(people) < 2:
            raise InvalidParameter("choose at least two people to merge")
        target = self.get(into) if into is not None else max(people, key=lambda p: len(p.face_ids))
        name = target.name or next((p.name for p in people if p.name), None)
        anchor = target.face_ids[0]
        with self.catalog.transaction() as db:
            for p in people:
                if p.person_id == target.person_id:
                    continue
                self._supersede(db, CANNOT, target.face_ids, p.face_ids)
                self._decide(db, MUST, [(anchor, p.face_ids[0])])
                db.execute("UPDATE face_person SET person_id=? WHERE person_id=?", (target.person_id, p.person_id))
                db.execute("DELETE FROM people WHERE person_id=?", (p.person_id,))
            db.execute("UPDATE people SET name=? WHERE person_id=?", (name, target.person_id))
        return target.person_id

    def split(self, face_ids: list[str], name: str | None = None) -> int:
        """Make the chosen faces a new person; remembered as must-links among them and cannot-links
        between them and the faces they leave."""
        chosen = sorted(set(face_ids))
        if not chosen:
            raise InvalidParameter("choose the faces to split off")
        person_of = self.person_of()
        left = sorted({f for f, p in person_of.items() if p in {person_of.get(c) for c in chosen}} - set(chosen))
        with self.catalog.transaction() as db:
            pid = self._new_person(db, name)
            self._supersede(db, MUST, chosen, left)
            self._supersede(db, CANNOT, chosen, chosen)
            self._decide(db, MUST, zip(chosen, chosen[1:]))
            self._decide(db, CANNOT, [(chosen[0], f) for f in left])
            db.executemany("INSERT OR REPLACE INTO face_person(face_id, person_id, collection) VALUES (?,?,?)",
                           [(f, pid, self.collection) for f in chosen])
            self._drop_empty(db)
        return pid

    def move(self, face_id: str, to_person: int) -> None:
        """Move a face to another person: cannot-links to its old person, a must-link to the new one."""
        target = self.get(to_person)
        person_of = self.person_of()
        old = person_of.get(face_id)
        with self.catalog.transaction() as db:
            if old is not None and old != to_person:
                old_faces = [f for f, p in person_of.items() if p == old and f != face_id]
                self._supersede(db, MUST, [face_id], old_faces)
                self._decide(db, CANNOT, [(face_id, f) for f in old_faces])
            self._supersede(db, CANNOT, [face_id], target.face_ids)
            self._decide(db, MUST, [(face_id, target.face_ids[0])])
            db.execute("INSERT OR REPLACE INTO face_person(face_id, person_id, collection) VALUES (?,?,?)",
                       (face_id, to_person, self.collection))
            self._drop_empty(db)

    def not_this_person(self, face_id: str) -> int:
        """The face is not who it was grouped with: it becomes a person of its own."""
        person_of = self.person_of()
        old = person_of.get(face_id)
        old_faces = [f for f, p in person_of.items() if p == old and f != face_id]
        with self.catalog.transaction() as db:
            self._supersede(db, MUST, [face_id], old_faces)
            self._decide(db, CANNOT, [(face_id, f) for f in old_faces])
            pid = self._new_person(db)
            db.execute("INSERT OR REPLACE INTO face_person(face_id, person_id, collection) VALUES (?,?,?)",
                       (face_id, pid, self.collection))
            self._drop_empty(db)
        return pid

    def not_a_face(self, face_id: str) -> None:
        """Not a face at all (a poster, a pattern): left out of every person from now on."""
        with self.catalog.transaction() as db:
            self._decide(db, NOT_FACE, [(face_id, None)])
            db.execute("DELETE FROM face_person WHERE face_id=?", (face_id,))
            self._drop_empty(db)

    def _drop_empty(self, db) -> None:
        self.catalog.drop_empty_people(db, self.collection)

    # -- questions ---------------------------------------------------------------------------
    def photos_with(self, all_of: list[int], none_of: list[int] = ()) -> list[str]:
        """sha256 of the photos where every person of ``all_of`` appears and none of ``none_of``."""
        faces = self._faces()
        people_in: dict[str, set[int]] = defaultdict(set)
        for f, p in self.person_of().items():
            if f in faces:
                people_in[faces[f][0]].add(p)
        want, avoid = set(all_of), set(none_of)
        return sorted(sha for sha, ps in people_in.items() if want <= ps and not (avoid & ps))

    def merge_suggestions(self, limit: int = 5) -> list[tuple[Person, Person, float]]:
        """Pairs of visible people whose closest faces are most alike (and may be merged)."""
        people = {p.person_id: p for p in self.list()}
        person_of = self.person_of()
        decisions = self.decisions()
        faces = self._faces()
        photos = {pid: {faces[f][0] for f in p.face_ids} for pid, p in people.items()}
        best: dict[tuple[int, int], float] = {}
        for e in self.edges():
            pa, pb = person_of.get(e.a), person_of.get(e.b)
            if pa is None or pb is None or pa == pb or pa not in people or pb not in people:
                continue
            key = (min(pa, pb), max(pa, pb))
            best[key] = max(best.get(key, 0.0), e.similarity)
        out = []
        for (pa, pb), sim in sorted(best.items(), key=lambda kv: -kv[1]):
            if photos[pa] & photos[pb]:
                continue
            if any(pair(a, b) in decisions.cannot_link for a in people[pa].face_ids for b in people[pb].face_ids):
                continue
            out.append((people[pa], people[pb], sim))
            if len(out) >= limit:
                break
        return out

    def delete_person(self, person_id: int, with_photos: bool = False) -> int:
        """Erase a person: their faces from the engine, catalog and disk, their Rekognition User,
        and with ``with_photos`` every photo they appear in. Returns how many faces went."""
        person = self.get(person_id)
        engine = self.ws.engine_for(self.collection)
        if hasattr(engine, "delete_user"):
            engine.delete_user(self.collection, f"facesearch-person-{person_id}")
        if with_photos:
            shas = {self.catalog.face(f).image_sha256 for f in person.face_ids}
            n = sum(self.ws.delete_image(self.collection, sha) for sha in sorted(shas))
        else:
            n = self.ws.delete_faces(self.collection, list(person.face_ids))
        with self.catalog.transaction() as db:
            db.execute("DELETE FROM people WHERE person_id=?", (person_id,))
        return n

    def mirror_to_rekognition(self, person_id: int) -> str:
        """Create (or reuse) a Rekognition User for a person and associate up to 100 of its faces."""
        engine = self.ws.engine_for(self.collection)
        if not hasattr(engine, "associate_user_faces"):
            raise FaceLibError("only Rekognition collections have Users")
        person = self.get(person_id)
        faces = self._faces()
        best = sorted(person.face_ids, key=lambda f: (-faces[f][1], f))
        user_id = f"facesearch-person-{person.person_id}"
        engine.associate_user_faces(self.collection, user_id, best[:USER_MAX_FACES])
        return user_id
