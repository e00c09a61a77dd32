"""The catalog: SQLite (WAL) under the data directory, the app's record of everything indexed.

Rekognition stores no media, so the catalog keeps each image's details and stored copy, every face
(indexed or rejected, with its detail and thumbnail) and, for the local engine, the vectors.
Boxes are relative 0-1; quality figures 0-100; pose in degrees.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import CollectionExists, CollectionNotFound, FaceNotFound
from .records import FaceDetail

SCHEMA = """
CREATE TABLE IF NOT EXISTS collections(
    name TEXT PRIMARY KEY, engine TEXT NOT NULL, created_at REAL NOT NULL, model_version TEXT);
CREATE TABLE IF NOT EXISTS images(
    collection TEXT NOT NULL, sha256 TEXT NOT NULL, original_name TEXT NOT NULL, source TEXT,
    stored_path TEXT, width INTEGER, height INTEGER, bytes INTEGER, format TEXT,
    added_at REAL NOT NULL, metadata TEXT,
    PRIMARY KEY (collection, sha256));
CREATE TABLE IF NOT EXISTS faces(
    face_id TEXT PRIMARY KEY, collection TEXT NOT NULL, image_sha256 TEXT NOT NULL,
    face_index INTEGER NOT NULL, status TEXT NOT NULL, reasons TEXT NOT NULL DEFAULT '[]',
    box_left REAL, box_top REAL, box_width REAL, box_height REAL,
    confidence REAL, brightness REAL, sharpness REAL, yaw REAL, pitch REAL, roll REAL,
    age_low INTEGER, age_high INTEGER, size_px INTEGER, detail TEXT NOT NULL, thumb_path TEXT);
CREATE INDEX IF NOT EXISTS faces_by_collection ON faces(collection, status);
CREATE INDEX IF NOT EXISTS faces_by_image ON faces(collection, image_sha256);
CREATE TABLE IF NOT EXISTS local_collections(name TEXT PRIMARY KEY, created_at REAL NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS local_faces(
    face_id TEXT PRIMARY KEY, collection TEXT NOT NULL, external_image_id TEXT NOT NULL,
    detail TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS local_faces_by_collection ON local_faces(collection, external_image_id);
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
CREATE TABLE IF NOT EXISTS edges_done(face_id TEXT PRIMARY KEY, collection TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending(
    collection TEXT NOT NULL, sha256 TEXT NOT NULL, started_at REAL NOT NULL, PRIMARY KEY (collection, sha256));
"""

#: Tables keyed by face id that must forget a face when it goes.
FACE_TABLES = (("face_person", "face_id"), ("edges_done", "face_id"), ("match_edges", "a"), ("match_edges", "b"),
               ("decisions", "a"), ("decisions", "b"))

INDEXED = "indexed"
REJECTED = "rejected"


@dataclass(frozen=True)
class StoredImage:
    """An image of a collection as the catalog keeps it."""

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
    metadata: dict


@dataclass(frozen=True)
class StoredFace:
    """A face as the catalog keeps it: ``status`` is "indexed" or "rejected" (with ``reasons``)."""

    face_id: str
    collection: str
    image_sha256: str
    face_index: int
    status: str
    reasons: tuple[str, ...]
    detail: FaceDetail
    thumb_path: str | None
    image_name: str = ""
    stored_path: str | None = None


def _detail_json(detail: FaceDetail) -> str:
    return json.dumps(detail.to_dict(), separators=(",", ":"))


def detail_from_json(text: str) -> FaceDetail:
    return FaceDetail.from_dict(json.loads(text))


def _enable_wal(conn: sqlite3.Connection, seconds: float = 30.0) -> None:
    """Switch the database to WAL (persistent in the file). Switching needs a moment alone with the
    file, which SQLite's busy timeout does not wait for, so retry while another process holds it."""
    deadline = time.monotonic() + seconds
    delay = 0.01
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


class Catalog:
    """Thread-safe access to the catalog database (one SQLite connection per thread)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.connect().executescript(SCHEMA)

    # -- connections -------------------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        """This thread's connection (WAL, 30 s busy timeout, autocommit outside transactions)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            _enable_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error). Nested use joins the outer one."""
        conn = self.connect()
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- collections -------------------------------------------------------------------------
    def add_collection(self, name: str, engine: str, model_version: str | None = None) -> None:
        with self.transaction() as db:
            try:
                db.execute("INSERT INTO collections(name, engine, created_at, model_version) VALUES (?,?,?,?)",
                           (name, engine, time.time(), model_version))
            except sqlite3.IntegrityError as exc:
                raise CollectionExists(f"collection {name!r} exists already") from exc

    def collection_engine(self, name: str) -> str:
        row = self.connect().execute("SELECT engine FROM collections WHERE name=?", (name,)).fetchone()
        if row is None:
            raise CollectionNotFound(f"collection {name!r} does not exist")
        return str(row["engine"])

    def list_collections(self, engine: str | None = None) -> list[str]:
        sql, args = "SELECT name FROM collections", ()
        if engine:
            sql, args = sql + " WHERE engine=?", (engine,)
        return [r["name"] for r in self.connect().execute(sql + " ORDER BY name", args)]

    def remove_collection(self, name: str) -> None:
        """Forget a collection and all its images and faces (files are the caller's)."""
        with self.transaction() as db:
            db.execute("DELETE FROM faces WHERE collection=?", (name,))
            db.execute("DELETE FROM images WHERE collection=?", (name,))
            db.execute("DELETE FROM collections WHERE name=?", (name,))
            for table in ("people", "face_person", "decisions", "match_edges", "edges_done", "pending"):
                db.execute(f"DELETE FROM {table} WHERE collection=?", (name,))

    # -- images and faces --------------------------------------------------------------------
    def mark_pending(self, collection: str, sha256: str) -> None:
        """An engine write for this image is about to start."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO pending(collection, sha256, started_at) VALUES (?,?,?)",
                       (collection, sha256, time.time()))

    def clear_pending(self, collection: str, sha256: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM pending WHERE collection=? AND sha256=?", (collection, sha256))

    def pending(self, collection: str) -> list[str]:
        return [r[0] for r in self.connect().execute("SELECT sha256 FROM pending WHERE collection=?", (collection,))]

    def has_image(self, collection: str, sha256: str) -> bool:
        row = self.connect().execute("SELECT 1 FROM images WHERE collection=? AND sha256=?",
                                     (collection, sha256)).fetchone()
        return row is not None

    def record_image(self, image: StoredImage, faces: Iterable[StoredFace]) -> None:
        """Store an image and its faces in one transaction, replacing any earlier record of it."""
        with self.transaction() as db:
            old = [r[0] for r in db.execute("SELECT face_id FROM faces WHERE collection=? AND image_sha256=?",
                                            (image.collection, image.sha256))]
            self._forget_faces(db, old)
            db.execute("DELETE FROM faces WHERE collection=? AND image_sha256=?", (image.collection, image.sha256))
            db.execute(
                "INSERT OR REPLACE INTO images(collection, sha256, original_name, source, stored_path, width,"
                " height, bytes, format, added_at, metadata) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (image.collection, image.sha256, image.original_name, image.source, image.stored_path,
                 image.width, image.height, image.bytes, image.format, image.added_at,
                 json.dumps(image.metadata)))
            db.executemany(
                "INSERT OR REPLACE INTO faces(face_id, collection, image_sha256, face_index, status, reasons,"
                " box_left, box_top, box_width, box_height, confidence, brightness, sharpness, yaw, pitch,"
                " roll, age_low, age_high, size_px, detail, thumb_path)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(f.face_id, f.collection, f.image_sha256, f.face_index, f.status, json.dumps(list(f.reasons)),
                  f.detail.box.left, f.detail.box.top, f.detail.box.width, f.detail.box.height,
                  f.detail.confidence, f.detail.brightness, f.detail.sharpness, f.detail.pose.yaw,
                  f.detail.pose.pitch, f.detail.pose.roll, f.detail.age_low, f.detail.age_high,
                  f.detail.size_px, _detail_json(f.detail), f.thumb_path) for f in faces])

    _FACE_SELECT = ("SELECT f.*, i.original_name AS image_name, i.stored_path AS stored_path FROM faces f"
                    " JOIN images i ON i.collection=f.collection AND i.sha256=f.image_sha256")

    @staticmethod
    def _face(row: sqlite3.Row) -> StoredFace:
        return StoredFace(face_id=row["face_id"], collection=row["collection"], image_sha256=row["image_sha256"],
                          face_index=row["face_index"], status=row["status"],
                          reasons=tuple(json.loads(row["reasons"])), detail=detail_from_json(row["detail"]),
                          thumb_path=row["thumb_path"], image_name=row["image_name"],
                          stored_path=row["stored_path"])

    def faces(self, collection: str, status: str | None = INDEXED, image_sha256: str | None = None) -> list[StoredFace]:
        """Faces of a collection (``status`` None: indexed and rejected), in image then face order."""
        sql, args = self._FACE_SELECT + " WHERE f.collection=?", [collection]
        if status:
            sql += " AND f.status=?"
            args.append(status)
        if image_sha256:
            sql += " AND f.image_sha256=?"
            args.append(image_sha256)
        return [self._face(r) for r in self.connect().execute(sql + " ORDER BY i.added_at, f.face_index", args)]

    def face_briefs(self, collection: str) -> dict[str, tuple[str, float]]:
        """face id -> (image sha256, cover score) of every indexed face, straight from the columns
        (no JSON decoding: fast at 100k faces). The cover score favours large, sharp faces."""
        return {r[0]: (r[1], r[2]) for r in self.connect().execute(
            "SELECT face_id, image_sha256, COALESCE(size_px, 0) * (COALESCE(sharpness, 50) + 10) FROM faces"
            " WHERE collection=? AND status='indexed'", (collection,))}

    def faces_where(self, collection: str, where: str, args: Iterable[object], limit: int = 500,
                    status: str = INDEXED) -> tuple[int, list[StoredFace]]:
        """(how many faces match, the first ``limit`` of them) for an SQL condition on the face columns."""
        conn = self.connect()
        args = list(args)
        n = conn.execute(f"SELECT COUNT(*) FROM faces f WHERE f.collection=? AND f.status=? AND ({where})",
                         [collection, status, *args]).fetchone()[0]
        rows = conn.execute(self._FACE_SELECT + f" WHERE f.collection=? AND f.status=? AND ({where})"
                            " ORDER BY f.rowid LIMIT ?", [collection, status, *args, limit])
        return int(n), [self._face(r) for r in rows]

    def faces_by_id(self, face_ids: Iterable[str]) -> dict[str, StoredFace]:
        ids = list(dict.fromkeys(face_ids))
        out: dict[str, StoredFace] = {}
        conn = self.connect()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for r in conn.execute(self._FACE_SELECT + f" WHERE f.face_id IN ({marks})", chunk):
                out[r["face_id"]] = self._face(r)
        return out

    def face(self, face_id: str) -> StoredFace:
        found = self.faces_by_id([face_id]).get(face_id)
        if found is None:
            raise FaceNotFound(f"no face {face_id!r} in the catalog")
        return found

    def sample_faces(self, collection: str, n: int, seed: int = 0, status: str = INDEXED) -> list[StoredFace]:
        """Up to ``n`` faces drawn at random (reproducible for one ``seed``)."""
        conn = self.connect()
        rowids = [r[0] for r in conn.execute("SELECT rowid FROM faces WHERE collection=? AND status=?",
                                             (collection, status))]
        picked = random.Random(seed).sample(rowids, min(n, len(rowids)))
        if not picked:
            return []
        marks = ",".join("?" * len(picked))
        found = {r["rowid"]: self._face(r) for r in conn.execute(
            self._FACE_SELECT.replace("SELECT f.*", "SELECT f.rowid AS rowid, f.*") + f" WHERE f.rowid IN ({marks})",
            picked)}
        return [found[i] for i in picked if i in found]

    def image(self, collection: str, sha256: str) -> StoredImage | None:
        row = self.connect().execute("SELECT * FROM images WHERE collection=? AND sha256=?",
                                     (collection, sha256)).fetchone()
        return self._image(row) if row else None

    @staticmethod
    def _image(row: sqlite3.Row) -> StoredImage:
        return StoredImage(collection=row["collection"], sha256=row["sha256"], original_name=row["original_name"],
                           source=row["source"], stored_path=row["stored_path"], width=row["width"],
                           height=row["height"], bytes=row["bytes"], format=row["format"],
                           added_at=row["added_at"], metadata=json.loads(row["metadata"] or "{}"))

    def find_images(self, collection: str, text: str, limit: int = 100) -> list[StoredImage]:
        """Images whose original name contains ``text`` (case-insensitive), newest first."""
        return [self._image(r) for r in self.connect().execute(
            "SELECT * FROM images WHERE collection=? AND original_name LIKE ? ESCAPE '\\' ORDER BY added_at DESC"
            " LIMIT ?", (collection, "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",
                         limit))]

    def images(self, collection: str) -> list[StoredImage]:
        return [self._image(r) for r in self.connect().execute(
            "SELECT * FROM images WHERE collection=? ORDER BY added_at", (collection,))]

    def promote_face(self, old_face_id: str, new_face_id: str, detail: FaceDetail, thumb_path: str | None) -> None:
        """A rejected face was indexed after all: give it its engine id and mark it indexed."""
        with self.transaction() as db:
            self._forget_faces(db, [old_face_id])
            db.execute("UPDATE faces SET face_id=?, status=?, reasons='[]', thumb_path=?, detail=?,"
                       " box_left=?, box_top=?, box_width=?, box_height=? WHERE face_id=?",
                       (new_face_id, INDEXED, thumb_path, _detail_json(detail), detail.box.left, detail.box.top,
                        detail.box.width, detail.box.height, old_face_id))

    def remove_image(self, collection: str, sha256: str) -> list[StoredFace]:
        """Forget an image and its faces; returns the faces it had (for the engine and files)."""
        faces = self.faces(collection, status=None, image_sha256=sha256)
        with self.transaction() as db:
            db.execute("DELETE FROM faces WHERE collection=? AND image_sha256=?", (collection, sha256))
            db.execute("DELETE FROM images WHERE collection=? AND sha256=?", (collection, sha256))
            self._forget_faces(db, [f.face_id for f in faces])
            self.drop_empty_people(db, collection)
        return faces

    def remove_faces(self, collection: str, face_ids: list[str]) -> list[StoredFace]:
        """Forget some faces (not their images); returns them as they were."""
        faces = [f for f in self.faces_by_id(face_ids).values() if f.collection == collection]
        with self.transaction() as db:
            db.executemany("DELETE FROM faces WHERE face_id=?", [(f.face_id,) for f in faces])
            self._forget_faces(db, [f.face_id for f in faces])
            self.drop_empty_people(db, collection)
        return faces

    @staticmethod
    def drop_empty_people(db: sqlite3.Connection, collection: str) -> None:
        """Forget the people of a collection that no face belongs to any more."""
        db.execute("DELETE FROM people WHERE collection=? AND person_id NOT IN"
                   " (SELECT person_id FROM face_person WHERE collection=?)", (collection, collection))

    @staticmethod
    def _forget_faces(db: sqlite3.Connection, face_ids: list[str]) -> None:
        for table, column in FACE_TABLES:
            db.executemany(f"DELETE FROM {table} WHERE {column}=?", [(f,) for f in face_ids])

    def references(self, sha256: str) -> int:
        """How many collections hold this image."""
        return int(self.connect().execute("SELECT COUNT(*) FROM images WHERE sha256=?", (sha256,)).fetchone()[0])

    def counts(self, collection: str) -> dict[str, int]:
        """images, faces (indexed) and rejected counts of a collection."""
        conn = self.connect()
        images = conn.execute("SELECT COUNT(*) FROM images WHERE collection=?", (collection,)).fetchone()[0]
        by_status = dict(conn.execute("SELECT status, COUNT(*) FROM faces WHERE collection=? GROUP BY status",
                                      (collection,)).fetchall())
        return {"images": int(images), "faces": int(by_status.get(INDEXED, 0)),
                "rejected": int(by_status.get(REJECTED, 0))}
