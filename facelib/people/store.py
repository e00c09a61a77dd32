"""The people tables: persons, face -> person, analyst decisions and the match graph.

Every row belongs to a catalog row (a collection or a face) by a foreign key with
``ON DELETE CASCADE``, so erasing a face or a collection in the catalog erases what was grouped
from it without this module being asked. Similarities are percentages 0-100.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..records import DecisionKind
from ..store.catalog import COVER_SCORE
from ..store.db import IN_IDS, Database, Migration, ids, rebuild, script, where
from .grouping import Decisions, Edge, pair

LEGACY = """
CREATE TABLE IF NOT EXISTS people(
    person_id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, name TEXT,
    hidden INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS face_person(
    face_id TEXT PRIMARY KEY, person_id INTEGER NOT NULL, collection TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS face_person_by_person ON face_person(person_id);
CREATE INDEX IF NOT EXISTS face_person_by_collection ON face_person(collection, person_id);
CREATE TABLE IF NOT EXISTS decisions(
    id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, kind TEXT NOT NULL,
    a TEXT NOT NULL, b TEXT, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS decisions_by_collection ON decisions(collection);
CREATE TABLE IF NOT EXISTS match_edges(
    collection TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL, similarity REAL NOT NULL,
    PRIMARY KEY (collection, a, b));
CREATE TABLE IF NOT EXISTS edges_done(face_id TEXT PRIMARY KEY, collection TEXT NOT NULL)
"""

_FACE = "REFERENCES faces(face_id) ON DELETE CASCADE ON UPDATE CASCADE"
_COLLECTION = "REFERENCES collections(name) ON DELETE CASCADE"
_REBUILDS = (
    rebuild("people", f"""CREATE TABLE people__new(
        person_id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL {_COLLECTION}, name TEXT,
        hidden INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL)""",
            ("person_id", "collection", "name", "hidden", "created_at"),
            "collection IN (SELECT name FROM collections)",
            ["CREATE INDEX people_by_collection ON people(collection)"]),
    rebuild("face_person", f"""CREATE TABLE face_person__new(
        face_id TEXT PRIMARY KEY {_FACE},
        person_id INTEGER NOT NULL REFERENCES people(person_id) ON DELETE CASCADE,
        collection TEXT NOT NULL {_COLLECTION})""", ("face_id", "person_id", "collection"),
            "face_id IN (SELECT face_id FROM faces) AND person_id IN (SELECT person_id FROM people)",
            ["CREATE INDEX face_person_by_person ON face_person(person_id)",
             "CREATE INDEX face_person_by_collection ON face_person(collection, person_id)"]),
    rebuild("decisions", f"""CREATE TABLE decisions__new(
        id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL {_COLLECTION},
        kind TEXT NOT NULL CHECK (kind IN ('must', 'cannot', 'not_face')),
        a TEXT NOT NULL {_FACE}, b TEXT {_FACE}, created_at REAL NOT NULL)""",
            ("id", "collection", "kind", "a", "b", "created_at"),
            "a IN (SELECT face_id FROM faces) AND (b IS NULL OR b IN (SELECT face_id FROM faces))",
            ["CREATE INDEX decisions_by_collection ON decisions(collection, kind)",
             "CREATE INDEX decisions_by_a ON decisions(a)", "CREATE INDEX decisions_by_b ON decisions(b)"]),
    rebuild("match_edges", f"""CREATE TABLE match_edges__new(
        collection TEXT NOT NULL {_COLLECTION}, a TEXT NOT NULL {_FACE}, b TEXT NOT NULL {_FACE},
        similarity REAL NOT NULL, PRIMARY KEY (collection, a, b))""", ("collection", "a", "b", "similarity"),
            "a IN (SELECT face_id FROM faces) AND b IN (SELECT face_id FROM faces)",
            ["CREATE INDEX match_edges_by_a ON match_edges(a)", "CREATE INDEX match_edges_by_b ON match_edges(b)"]),
    rebuild("edges_done", f"""CREATE TABLE edges_done__new(
        face_id TEXT PRIMARY KEY {_FACE}, collection TEXT NOT NULL {_COLLECTION})""", ("face_id", "collection"),
            "face_id IN (SELECT face_id FROM faces)"),
)


def _add_foreign_keys(conn: sqlite3.Connection) -> None:
    for step in _REBUILDS:
        step(conn)


MIGRATIONS = (
    Migration(2, "people: persons, decisions, match graph", script(LEGACY)),
    Migration(6, "people: rows belong to faces and collections (foreign keys, cascade)", _add_foreign_keys),
    Migration(9, "people: the last correction, to undo it", script(f"""
        CREATE TABLE people_undo(collection TEXT PRIMARY KEY {_COLLECTION}, label TEXT NOT NULL,
            created_at REAL NOT NULL, snapshot TEXT NOT NULL)""")),
    # "Person 142" was the only person of a new collection: ids count across collections. A person's
    # number counts within its collection (numbered in id order for the people already there).
    Migration(110, "people: each person's number within its collection", script("""
        ALTER TABLE people ADD COLUMN number INTEGER;
        UPDATE people SET number = (SELECT COUNT(*) FROM people q WHERE q.collection=people.collection
                                    AND q.person_id<=people.person_id);
        CREATE INDEX people_number ON people(collection, number)""")),
)


@dataclass(frozen=True)
class PersonRow:
    """A person's aggregate row: counts and the cover face (largest, sharpest)."""

    person_id: int
    name: str | None
    hidden: bool
    photos: int
    cover_id: str
    number: int | None = None


class PeopleStore:
    """SQL over the people tables of one collection."""

    def __init__(self, db: Database, collection: str) -> None:
        self.db = db
        self.collection = collection
        self._journal: dict[str, Any] | None = None

    # -- the graph ---------------------------------------------------------------------------
    def unsearched(self) -> list[str]:
        """Indexed faces whose matches were never fetched, in id order."""
        return [r[0] for r in self.db.connect().execute(
            "SELECT face_id FROM faces WHERE collection=? AND status='indexed' AND face_id NOT IN"
            " (SELECT face_id FROM edges_done WHERE collection=?) ORDER BY face_id", (self.collection, self.collection))]

    def add_edges(self, face_id: str, matches: Iterable[tuple[str, float]]) -> None:
        """Keep a face's matches (other face id, similarity) and mark it searched, in one transaction.
        Matches with faces the catalog no longer holds are dropped."""
        with self.db.transaction() as db:
            db.executemany(
                "INSERT INTO match_edges(collection, a, b, similarity) SELECT ?, ?, ?, ?"
                " WHERE EXISTS (SELECT 1 FROM faces WHERE face_id=?) "
                "ON CONFLICT(collection, a, b) DO UPDATE SET similarity=MAX(similarity, excluded.similarity)",
                [(self.collection, *pair(face_id, other), sim, other) for other, sim in matches])
            db.execute("INSERT OR IGNORE INTO edges_done(face_id, collection) VALUES (?,?)", (face_id, self.collection))

    def edges(self) -> list[Edge]:
        return [Edge(a, b, s) for a, b, s in self.db.connect().execute(
            "SELECT a, b, similarity FROM match_edges WHERE collection=?", (self.collection,))]

    # -- decisions ---------------------------------------------------------------------------
    def decisions(self) -> Decisions:
        must, cannot, not_faces = set(), set(), set()
        for kind, a, b in self.db.connect().execute(
                "SELECT kind, a, b FROM decisions WHERE collection=?", (self.collection,)):
            if kind == DecisionKind.MUST:
                must.add(pair(a, b))
            elif kind == DecisionKind.CANNOT:
                cannot.add(pair(a, b))
            elif kind == DecisionKind.NOT_FACE:
                not_faces.add(a)
        return Decisions(frozenset(must), frozenset(cannot), frozenset(not_faces))

    def decision_rows(self) -> list[tuple[DecisionKind, str, str | None]]:
        """Every decision as (kind, face a, face b or None), oldest first."""
        return [(DecisionKind(k), a, b) for k, a, b in self.db.connect().execute(
            "SELECT kind, a, b FROM decisions WHERE collection=? ORDER BY id", (self.collection,))]

    def supersede(self, kind: DecisionKind, left: Iterable[str], right: Iterable[str]) -> None:
        """Forget earlier ``kind`` decisions between the two sets: the newest decision wins."""
        a, b = set(left), set(right)
        with self.db.transaction() as db:
            rows = db.execute("SELECT id, a, b FROM decisions WHERE collection=? AND kind=?",
                              (self.collection, str(kind))).fetchall()
            stale = [(i,) for i, x, y in rows if (x in a and y in b) or (x in b and y in a)]
            if self._journal is not None and stale:
                self._journal["decisions"] += [list(r) for r in db.execute(
                    f"SELECT id, kind, a, b, created_at FROM decisions WHERE id {IN_IDS}", (ids(i for (i,) in stale),))]
            db.executemany("DELETE FROM decisions WHERE id=?", stale)

    def decide(self, kind: DecisionKind, pairs: Iterable[tuple[str, str | None]]) -> None:
        now = time.time()
        with self.db.transaction() as db:
            db.executemany("INSERT INTO decisions(collection, kind, a, b, created_at) VALUES (?,?,?,?,?)",
                           [(self.collection, str(kind), a, b, now) for a, b in pairs])

    # -- people ------------------------------------------------------------------------------
    def person_of(self) -> dict[str, int]:
        """face id -> person id for every grouped face."""
        return dict(self.db.connect().execute(
            "SELECT face_id, person_id FROM face_person WHERE collection=?", (self.collection,)).fetchall())

    def person_rows(self, only: int | None = None) -> list[PersonRow]:
        """Every person with at least one indexed face (or just ``only``), from SQL aggregates."""
        sql, args = where({"p.collection": self.collection, "p.person_id": only})
        return [PersonRow(pid, name, bool(hidden), photos, cover, number)
                for pid, name, hidden, photos, cover, _, number in self.db.connect().execute(
                    "SELECT p.person_id, p.name, p.hidden, COUNT(DISTINCT f.image_sha256), f.face_id,"
                    f" MAX({COVER_SCORE}), p.number"
                    " FROM people p JOIN face_person fp ON fp.person_id=p.person_id"
                    " JOIN faces f ON f.face_id=fp.face_id AND f.status='indexed'" + sql + " GROUP BY p.person_id",
                    args)]

    def members(self, only: int | None = None) -> dict[int, list[str]]:
        """person id -> their indexed faces' ids, sorted."""
        out: dict[int, list[str]] = defaultdict(list)
        sql, args = where({"fp.collection": self.collection, "fp.person_id": only})
        for face_id, pid in self.db.connect().execute(
                "SELECT fp.face_id, fp.person_id FROM face_person fp JOIN faces f ON f.face_id=fp.face_id"
                " AND f.status='indexed'" + sql + " ORDER BY fp.face_id", args):
            out[pid].append(face_id)
        return out

    def labels(self, face_ids: Iterable[str] | None = None) -> dict[str, tuple[int, str | None]]:
        """face id -> (person id, name), for every grouped face or just the given ones."""
        sql = "SELECT fp.face_id, p.person_id, p.name FROM face_person fp JOIN people p ON p.person_id=fp.person_id"
        conn = self.db.connect()
        if face_ids is None:
            rows = conn.execute(sql + " WHERE fp.collection=?", (self.collection,)).fetchall()
        else:  # by the face ids' key ("+" keeps SQLite from reading every row of the collection instead)
            rows = conn.execute(sql + f" WHERE fp.face_id {IN_IDS} AND +fp.collection=?",
                                (ids(face_ids), self.collection)).fetchall()
        return {f: (pid, name) for f, pid, name in rows}

    def visible_count(self) -> int:
        """Visible people with at least one face."""
        return int(self.db.connect().execute(
            "SELECT COUNT(DISTINCT p.person_id) FROM people p JOIN face_person fp ON fp.person_id=p.person_id"
            " WHERE p.collection=? AND p.hidden=0", (self.collection,)).fetchone()[0])

    def numbers(self, person_ids: Iterable[int] | None = None) -> dict[int, int]:
        """person id -> its number within the collection ("Person 3")."""
        rows = self.db.connect().execute("SELECT person_id, number FROM people WHERE collection=?", (self.collection,))
        wanted = None if person_ids is None else set(person_ids)
        return {pid: int(n if n is not None else pid) for pid, n in rows if wanted is None or pid in wanted}

    def new_person(self, name: str | None = None) -> int:
        """A new person, numbered after the collection's highest number."""
        with self.db.transaction() as db:
            cur = db.execute("INSERT INTO people(collection, name, hidden, created_at, number) VALUES (?,?,0,?,"
                             " (SELECT COALESCE(MAX(number), 0) + 1 FROM people WHERE collection=?))",
                             (self.collection, name, time.time(), self.collection))
            return int(cur.lastrowid or 0)

    def assign(self, face_ids: Iterable[str], person_id: int) -> None:
        with self.db.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO face_person(face_id, person_id, collection) VALUES (?,?,?)",
                           [(f, person_id, self.collection) for f in face_ids])

    def unassign(self, face_ids: Iterable[str]) -> None:
        with self.db.transaction() as db:
            db.executemany("DELETE FROM face_person WHERE face_id=?", [(f,) for f in face_ids])

    def clear_assignments(self) -> None:
        with self.db.transaction() as db:
            db.execute("DELETE FROM face_person WHERE collection=?", (self.collection,))

    def reassign_person(self, from_person: int, to_person: int) -> None:
        """Every face of ``from_person`` now belongs to ``to_person``; ``from_person`` goes."""
        with self.db.transaction() as db:
            db.execute("UPDATE face_person SET person_id=? WHERE person_id=?", (to_person, from_person))
            db.execute("DELETE FROM people WHERE person_id=?", (from_person,))

    def set_name(self, person_id: int, name: str | None) -> None:
        with self.db.transaction() as db:
            db.execute("UPDATE people SET name=? WHERE person_id=? AND collection=?", (name, person_id, self.collection))

    def set_hidden(self, person_id: int, hidden: bool) -> None:
        with self.db.transaction() as db:
            db.execute("UPDATE people SET hidden=? WHERE person_id=? AND collection=?",
                       (int(hidden), person_id, self.collection))

    def delete_person(self, person_id: int) -> None:
        with self.db.transaction() as db:
            db.execute("DELETE FROM people WHERE person_id=? AND collection=?", (person_id, self.collection))

    def drop_empty(self) -> None:
        """Forget the people of the collection that no face belongs to any more."""
        with self.db.transaction() as db:
            db.execute("DELETE FROM people WHERE collection=? AND person_id NOT IN"
                       " (SELECT person_id FROM face_person WHERE collection=?)", (self.collection, self.collection))

    # -- undo ----------------------------------------------------------------------------------
    @contextmanager
    def journal(self, label: str, person_ids: Iterable[int | None]) -> Iterator[None]:
        """Record what a correction touching ``person_ids`` changes, so :meth:`undo` can put it back.
        Only the last correction is kept. Runs inside the caller's transaction; a journal opened inside
        another one is part of it (the outer correction is what an undo takes back)."""
        if self._journal is not None:
            yield
            return
        pids = sorted({p for p in person_ids if p is not None})
        with self.db.transaction() as conn:
            snap = self._snapshot(conn, pids)
            self._journal = snap
            try:
                yield
            finally:
                self._journal = None
            conn.execute("INSERT OR REPLACE INTO people_undo(collection, label, created_at, snapshot) VALUES (?,?,?,?)",
                         (self.collection, label, time.time(), json.dumps(snap)))

    @staticmethod
    def _snapshot(conn: sqlite3.Connection, pids: list[int]) -> dict[str, Any]:
        return {
            "people": [list(r) for r in conn.execute(
                f"SELECT person_id, name, hidden, created_at, number FROM people WHERE person_id {IN_IDS}",
                (ids(pids),))],
            "links": [list(r) for r in conn.execute(
                f"SELECT face_id, person_id FROM face_person WHERE person_id {IN_IDS}", (ids(pids),))],
            "max_person": conn.execute("SELECT COALESCE(MAX(person_id), 0) FROM people").fetchone()[0],
            "max_decision": conn.execute("SELECT COALESCE(MAX(id), 0) FROM decisions").fetchone()[0],
            "decisions": []}

    def last_correction(self) -> str | None:
        """What :meth:`undo` would undo (None when nothing)."""
        row = self.db.connect().execute("SELECT label FROM people_undo WHERE collection=?",
                                        (self.collection,)).fetchone()
        return None if row is None else str(row[0])

    def forget_undo(self) -> None:
        """Nothing can be undone any more (people changed another way, or faces were erased)."""
        with self.db.transaction() as db:
            db.execute("DELETE FROM people_undo WHERE collection=?", (self.collection,))

    def undo(self) -> str | None:
        """Put back the people, links and decisions the last correction changed; returns its label."""
        with self.db.transaction() as db:
            row = db.execute("SELECT label, snapshot FROM people_undo WHERE collection=?",
                             (self.collection,)).fetchone()
            if row is None:
                return None
            label, snap = str(row[0]), json.loads(row[1])
            pids = sorted({p[0] for p in snap["people"]})
            faces = sorted({link[0] for link in snap["links"]})
            created = [r[0] for r in db.execute("SELECT person_id FROM people WHERE collection=? AND person_id>?",
                                                (self.collection, snap["max_person"]))]
            for ids, column in ((pids + created, "person_id"), (faces, "face_id")):
                db.executemany(f"DELETE FROM face_person WHERE {column}=?", [(i,) for i in ids])
            db.executemany("DELETE FROM people WHERE person_id=?", [(p,) for p in created])
            db.execute("DELETE FROM decisions WHERE collection=? AND id>?", (self.collection, snap["max_decision"]))
            db.executemany("INSERT OR REPLACE INTO people(person_id, collection, name, hidden, created_at, number)"
                           " VALUES (?,?,?,?,?,?)",  # a journal from before numbers has no number: its id stands in
                           [(p, self.collection, n, h, c, (rest or [p])[0]) for p, n, h, c, *rest in snap["people"]])
            db.executemany("INSERT OR IGNORE INTO decisions(id, collection, kind, a, b, created_at)"
                           " SELECT ?,?,?,?,?,? WHERE EXISTS (SELECT 1 FROM faces WHERE face_id=?)",
                           [(i, self.collection, k, a, b, t, a) for i, k, a, b, t in snap["decisions"]])
            db.executemany("INSERT INTO face_person(face_id, person_id, collection) SELECT ?,?,?"
                           " WHERE EXISTS (SELECT 1 FROM faces WHERE face_id=?)",
                           [(f, p, self.collection, f) for f, p in snap["links"]])
            db.execute("DELETE FROM people_undo WHERE collection=?", (self.collection,))
        return label

