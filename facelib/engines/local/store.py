"""The local engine's own tables: its collections and their faces with float32 descriptors.

The engine is a separate owner from the catalog (as Rekognition is): its rows are what it can
search. ``generation`` moves on every write, so in-memory matrices know when to reload.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable

import numpy as np

from ...errors import CollectionExists, CollectionNotFound, FaceNotFound
from ...records import FaceDetail, IndexedFace
from ...store.db import Database, Migration, rebuild, script

LEGACY = """
CREATE TABLE IF NOT EXISTS local_collections(name TEXT PRIMARY KEY, created_at REAL NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS local_faces(
    face_id TEXT PRIMARY KEY, collection TEXT NOT NULL, external_image_id TEXT NOT NULL,
    detail TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS local_faces_by_collection ON local_faces(collection, external_image_id)
"""

MIGRATIONS = (
    Migration(3, "local engine: collections and vectors", script(LEGACY)),
    Migration(7, "local engine: faces belong to their collection (foreign key, cascade)", rebuild(
        "local_faces", """CREATE TABLE local_faces__new(
            face_id TEXT PRIMARY KEY,
            collection TEXT NOT NULL REFERENCES local_collections(name) ON DELETE CASCADE,
            external_image_id TEXT NOT NULL, detail TEXT NOT NULL, vector BLOB NOT NULL)""",
        ("face_id", "collection", "external_image_id", "detail", "vector"),
        "collection IN (SELECT name FROM local_collections)",
        ["CREATE INDEX local_faces_by_collection ON local_faces(collection, external_image_id)"])),
    # Collections made before there was a second model were all dlib's.
    Migration(8, "local engine: each collection records its model", script(
        "ALTER TABLE local_collections ADD COLUMN model TEXT NOT NULL DEFAULT 'dlib';"
        "ALTER TABLE local_collections ADD COLUMN model_version TEXT NOT NULL DEFAULT 'dlib-resnet-v1'")),
)


class LocalStore:
    """SQL over the local engine's tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, collection: str, model: str, model_version: str) -> None:
        with self.db.transaction() as db:
            if db.execute("SELECT 1 FROM local_collections WHERE name=?", (collection,)).fetchone():
                raise CollectionExists(f"collection {collection!r} exists already")
            db.execute("INSERT INTO local_collections(name, created_at, model, model_version) VALUES (?,?,?,?)",
                       (collection, time.time(), model, model_version))

    def model(self, collection: str) -> tuple[str, str]:
        """(model, model version) that indexed the collection."""
        row = self.require(collection)
        return str(row["model"]), str(row["model_version"])

    def set_model(self, collection: str, model: str, model_version: str) -> None:
        """The collection is now the other model's: its vectors are dropped (re-index them)."""
        with self.db.transaction() as db:
            self.require(collection)
            db.execute("DELETE FROM local_faces WHERE collection=?", (collection,))
            db.execute("UPDATE local_collections SET model=?, model_version=?, generation=generation+1 WHERE name=?",
                       (model, model_version, collection))

    def delete(self, collection: str) -> None:
        with self.db.transaction() as db:
            db.execute("DELETE FROM local_collections WHERE name=?", (collection,))

    def names(self) -> list[str]:
        return [r[0] for r in self.db.connect().execute("SELECT name FROM local_collections ORDER BY name")]

    def require(self, collection: str) -> sqlite3.Row:
        row: sqlite3.Row | None = self.db.connect().execute(
            "SELECT * FROM local_collections WHERE name=?", (collection,)).fetchone()
        if row is None:
            raise CollectionNotFound(f"collection {collection!r} does not exist")
        return row

    def generation(self, collection: str) -> int:
        return int(self.require(collection)["generation"])

    def count(self, collection: str) -> int:
        return int(self.db.connect().execute("SELECT COUNT(*) FROM local_faces WHERE collection=?",
                                             (collection,)).fetchone()[0])

    def load_matrix(self, collection: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """All vectors of a collection, streamed from SQLite into preallocated arrays (no big
        intermediate copies): (ids as fixed-width bytes, float32 N x dim)."""
        conn = self.db.connect()
        n, width = conn.execute("SELECT COUNT(*), MAX(LENGTH(face_id)) FROM local_faces WHERE collection=?",
                                (collection,)).fetchone()
        ids = np.zeros(n, dtype=f"S{width or 36}")
        vectors = np.empty((n, dim), dtype=np.float32)
        cur = conn.execute("SELECT face_id, vector FROM local_faces WHERE collection=? ORDER BY rowid", (collection,))
        i = 0
        # Rows added after the count are left for the next load (their write moved the generation).
        while i < n and (rows := cur.fetchmany(min(10_000, n - i))):
            for face_id, blob in rows:
                ids[i] = face_id.encode("ascii")
                vectors[i] = np.frombuffer(blob, dtype=np.float32)
                i += 1
        return ids[:i], vectors[:i]

    def replace_image(self, collection: str, external_image_id: str,
                      faces: list[tuple[IndexedFace, np.ndarray]]) -> None:
        """Forget the faces indexed with that external id, then store ``faces`` (one transaction)."""
        with self.db.transaction() as db:
            self.require(collection)
            db.execute("DELETE FROM local_faces WHERE collection=? AND external_image_id=?",
                       (collection, external_image_id))
            self.insert(collection, faces)

    def insert(self, collection: str, faces: list[tuple[IndexedFace, np.ndarray]]) -> None:
        """Insert faces with their vectors and move the collection's generation."""
        with self.db.transaction() as db:
            self.require(collection)
            db.executemany("INSERT INTO local_faces(face_id, collection, external_image_id, detail, vector)"
                           " VALUES (?,?,?,?,?)",
                           [(f.face_id, collection, f.external_image_id,
                             json.dumps({"image_id": f.image_id, "detail": f.detail.to_dict()}),
                             np.asarray(v, np.float32).tobytes()) for f, v in faces])
            db.execute("UPDATE local_collections SET generation=generation+1 WHERE name=?", (collection,))

    def face_ids(self, collection: str, external_image_id: str | None = None) -> list[str]:
        self.require(collection)
        return [r[0] for r in self.db.connect().execute(
            "SELECT face_id FROM local_faces WHERE collection=? AND (? IS NULL OR external_image_id=?) ORDER BY rowid",
            (collection, external_image_id, external_image_id))]

    def delete_faces(self, collection: str, face_ids: Iterable[str]) -> list[str]:
        self.require(collection)
        deleted = []
        with self.db.transaction() as db:
            for fid in face_ids:
                if db.execute("DELETE FROM local_faces WHERE collection=? AND face_id=?", (collection, fid)).rowcount:
                    deleted.append(fid)
            db.execute("UPDATE local_collections SET generation=generation+1 WHERE name=?", (collection,))
        return deleted

    def faces(self, face_ids: list[str]) -> dict[str, IndexedFace]:
        out: dict[str, IndexedFace] = {}
        conn = self.db.connect()
        for start in range(0, len(face_ids), 500):
            chunk = face_ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for r in conn.execute(f"SELECT face_id, external_image_id, detail FROM local_faces"
                                  f" WHERE face_id IN ({marks})", chunk):
                d = json.loads(r["detail"])
                out[r["face_id"]] = IndexedFace(r["face_id"], d["image_id"], r["external_image_id"],
                                                FaceDetail.from_dict(d["detail"]))
        return out

    def vector(self, collection: str, face_id: str) -> np.ndarray:
        """The stored descriptor of a face."""
        self.require(collection)
        row = self.db.connect().execute("SELECT vector FROM local_faces WHERE collection=? AND face_id=?",
                                        (collection, face_id)).fetchone()
        if row is None:
            raise FaceNotFound(f"no face {face_id!r} in collection {collection!r}")
        return np.frombuffer(row[0], dtype=np.float32)
