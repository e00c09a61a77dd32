"""The watchlist tables (:mod:`facelib.people.watchlists`): lists attached to a collection, the
people watched (with anchor faces), faces already checked, alerts, and the faces each Rekognition
User was given. Rows belong to their collection and faces (``ON DELETE CASCADE``): erasing a face
erases its alerts.

A data directory whose schema is already past this step's version (a newer owner's migration ran
first: ``PRAGMA user_version`` only grows) gets the tables when first used (:func:`ensure`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidParameter
from .db import IN_IDS, Database, Migration, ids, script

_COLLECTION = "REFERENCES collections(name) ON DELETE CASCADE"
_FACE = "REFERENCES faces(face_id) ON DELETE CASCADE ON UPDATE CASCADE"
SCHEMA = f"""
    CREATE TABLE IF NOT EXISTS watchlists(id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL {_COLLECTION},
        name TEXT NOT NULL, threshold REAL NOT NULL, created_at REAL NOT NULL, UNIQUE(collection, name));
    CREATE TABLE IF NOT EXISTS watched(id INTEGER PRIMARY KEY AUTOINCREMENT,
        watchlist_id INTEGER NOT NULL REFERENCES watchlists(id) ON DELETE CASCADE,
        source TEXT NOT NULL {_COLLECTION}, person_id INTEGER NOT NULL, label TEXT NOT NULL,
        added_at REAL NOT NULL, UNIQUE(watchlist_id, source, person_id));
    CREATE TABLE IF NOT EXISTS watched_anchors(watched_id INTEGER NOT NULL REFERENCES watched(id) ON DELETE CASCADE,
        face_id TEXT NOT NULL {_FACE}, PRIMARY KEY (watched_id, face_id));
    CREATE INDEX IF NOT EXISTS watched_anchors_by_face ON watched_anchors(face_id);
    CREATE TABLE IF NOT EXISTS watch_checked(face_id TEXT PRIMARY KEY {_FACE}, collection TEXT NOT NULL {_COLLECTION});
    CREATE TABLE IF NOT EXISTS alerts(id INTEGER PRIMARY KEY AUTOINCREMENT,
        watchlist_id INTEGER NOT NULL REFERENCES watchlists(id) ON DELETE CASCADE,
        collection TEXT NOT NULL {_COLLECTION}, face_id TEXT NOT NULL {_FACE},
        watched_id INTEGER NOT NULL REFERENCES watched(id) ON DELETE CASCADE,
        source TEXT NOT NULL, person_id INTEGER NOT NULL, label TEXT NOT NULL,
        similarity REAL NOT NULL, job_id INTEGER, created_at REAL NOT NULL, UNIQUE(watched_id, face_id));
    CREATE INDEX IF NOT EXISTS alerts_by_collection ON alerts(collection, created_at);
    CREATE INDEX IF NOT EXISTS alerts_by_face ON alerts(face_id);
    CREATE TABLE IF NOT EXISTS rekognition_user_faces(collection TEXT NOT NULL {_COLLECTION}, user_id TEXT NOT NULL,
        face_id TEXT NOT NULL {_FACE}, PRIMARY KEY (collection, user_id, face_id))"""
MIGRATIONS = (Migration(70, "watchlists: lists of people attached to a collection, anchors, checked faces, alerts",
                        script(SCHEMA)),)

_ensured: set[tuple[str, str]] = set()
_ensure_lock = threading.Lock()


def ensure(db: Database, table: str, body: Callable[[sqlite3.Connection], None]) -> None:
    """Create an owner's tables (``body``: its migration's, idempotent) when ``table`` is missing:
    a data directory at a newer schema version skipped that older-numbered step. Once per file."""
    key = (str(db.path), table)
    if key in _ensured:
        return
    with _ensure_lock:
        conn = db.connect()
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone() is None:
            with db.transaction() as tx:
                body(tx)
        _ensured.add(key)


@dataclass(frozen=True)
class WatchedPerson:
    watched_id: int
    source: str
    person_id: int
    label: str
    anchors: tuple[str, ...]


@dataclass(frozen=True)
class Watchlist:
    watchlist_id: int
    collection: str
    name: str
    threshold: float
    people: tuple[WatchedPerson, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.watchlist_id, "name": self.name, "collection": self.collection, "threshold": self.threshold,
                "people": [{"person_id": p.person_id, "name": p.label, "collection": p.source} for p in self.people]}


class WatchStore:
    """SQL over the watchlist tables."""

    def __init__(self, db: Database) -> None:
        self.db = db
        ensure(db, "rekognition_user_faces", script(SCHEMA))

    def create(self, collection: str, name: str, threshold: float) -> int:
        now = time.time()
        with self.db.transaction() as db:
            if db.execute("SELECT 1 FROM watchlists WHERE collection=? AND name=?", (collection, name)).fetchone():
                raise InvalidParameter(f"{collection!r} has a watchlist {name!r} already")
            cur = db.execute("INSERT INTO watchlists(collection, name, threshold, created_at) VALUES (?,?,?,?)",
                             (collection, name, threshold, now))
            db.execute("INSERT OR IGNORE INTO watch_checked(face_id, collection) SELECT face_id, collection FROM faces"
                       " WHERE collection=? AND status='indexed'", (collection,))
            return int(cur.lastrowid or 0)

    def delete(self, watchlist_id: int) -> None:
        with self.db.transaction() as db:
            db.execute("DELETE FROM watchlists WHERE id=?", (watchlist_id,))

    def lists(self, collection: str) -> list[Watchlist]:
        conn = self.db.connect()
        anchors: dict[int, list[str]] = defaultdict(list)
        for wid, face in conn.execute(
                "SELECT a.watched_id, a.face_id FROM watched_anchors a JOIN watched w ON w.id=a.watched_id"
                " JOIN watchlists l ON l.id=w.watchlist_id WHERE l.collection=? ORDER BY a.face_id", (collection,)):
            anchors[wid].append(face)
        people: dict[int, list[WatchedPerson]] = defaultdict(list)
        for wid, lid, source, pid, label in conn.execute(
                "SELECT w.id, w.watchlist_id, w.source, w.person_id, w.label FROM watched w JOIN watchlists l"
                " ON l.id=w.watchlist_id WHERE l.collection=? ORDER BY w.id", (collection,)):
            people[lid].append(WatchedPerson(wid, source, pid, label, tuple(anchors[wid])))
        return [Watchlist(lid, collection, name, thr, tuple(people[lid])) for lid, name, thr in conn.execute(
            "SELECT id, name, threshold FROM watchlists WHERE collection=? ORDER BY name", (collection,))]

    def add(self, watchlist_id: int, source: str, person_id: int, label: str, faces: Iterable[str]) -> None:
        with self.db.transaction() as db:
            db.execute("INSERT INTO watched(watchlist_id, source, person_id, label, added_at) VALUES (?,?,?,?,?)"
                       " ON CONFLICT(watchlist_id, source, person_id) DO UPDATE SET label=excluded.label",
                       (watchlist_id, source, person_id, label, time.time()))
            wid = db.execute("SELECT id FROM watched WHERE watchlist_id=? AND source=? AND person_id=?",
                             (watchlist_id, source, person_id)).fetchone()[0]
            db.executemany("INSERT OR IGNORE INTO watched_anchors(watched_id, face_id) VALUES (?,?)",
                           [(wid, f) for f in faces])

    def remove(self, watchlist_id: int, source: str, person_id: int) -> bool:
        with self.db.transaction() as db:
            return db.execute("DELETE FROM watched WHERE watchlist_id=? AND source=? AND person_id=?",
                              (watchlist_id, source, person_id)).rowcount > 0

    def unchecked(self, collection: str) -> list[str]:
        return [r[0] for r in self.db.connect().execute(
            "SELECT face_id FROM faces WHERE collection=? AND status='indexed' AND face_id NOT IN"
            " (SELECT face_id FROM watch_checked WHERE collection=?) ORDER BY face_id", (collection, collection))]

    def mark_checked(self, collection: str, face_ids: Iterable[str]) -> None:
        with self.db.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO watch_checked(face_id, collection) SELECT ?, ? WHERE EXISTS"
                           " (SELECT 1 FROM faces WHERE face_id=?)", [(f, collection, f) for f in face_ids])

    def record(self, rows: Iterable[tuple[int, str, str, int, str, int, str, float, int | None]]) -> list[int]:
        """Alerts (watchlist, collection, face, watched, source, person, label, similarity, job); their ids
        (an alert already recorded for that face and watched person is not repeated)."""
        out = []
        now = time.time()
        with self.db.transaction() as db:
            for lid, coll, face, wid, source, pid, label, sim, job in rows:
                cur = db.execute(
                    "INSERT OR IGNORE INTO alerts(watchlist_id, collection, face_id, watched_id, source, person_id,"
                    " label, similarity, job_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (lid, coll, face, wid, source, pid, label, sim, job, now))
                if cur.rowcount:
                    out.append(int(cur.lastrowid or 0))
        return out

    def alerts(self, collection: str, limit: int = 200, alert_ids: list[int] | None = None
               ) -> list[tuple[Any, ...]]:
        sql = ("SELECT a.id, l.name, a.collection, a.face_id, a.source, a.person_id, a.label, a.similarity,"
               " a.created_at, a.job_id FROM alerts a JOIN watchlists l ON l.id=a.watchlist_id WHERE a.collection=?")
        args: list[Any] = [collection]
        if alert_ids is not None:
            sql += f" AND a.id {IN_IDS}"
            args.append(ids(alert_ids))
        return [tuple(r) for r in self.db.connect().execute(sql + " ORDER BY a.created_at DESC, a.id DESC LIMIT ?",
                                                             (*args, limit))]

    def user_faces(self, collection: str, user: str) -> set[str]:
        return {r[0] for r in self.db.connect().execute(
            "SELECT face_id FROM rekognition_user_faces WHERE collection=? AND user_id=?", (collection, user))}

    def keep_user_faces(self, collection: str, user: str, face_ids: Iterable[str]) -> None:
        with self.db.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO rekognition_user_faces(collection, user_id, face_id) SELECT ?,?,?"
                           " WHERE EXISTS (SELECT 1 FROM faces WHERE face_id=?)",
                           [(collection, user, f, f) for f in face_ids])
