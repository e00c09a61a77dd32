"""The catalog's own tables: collections, images, faces (indexed or rejected) and pending writes.

Rekognition stores no media, so the catalog keeps each image's details and stored copy and every
face with its detail and thumbnail. Rows that belong to rows are real foreign keys with
``ON DELETE CASCADE``: deleting a collection deletes its images, their faces, and (through the
people store's keys) everything grouped from them. Boxes are relative 0-1; quality figures
0-100; pose in degrees.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager

from ..errors import CollectionExists, CollectionNotFound, FaceNotFound
from ..filters import QualityFilter
from ..records import FaceDetail, FaceStatus, StoredFace, StoredImage
from .db import IN_IDS, Database, Migration, ids, rebuild, script, where

LEGACY = """
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
CREATE TABLE IF NOT EXISTS pending(
    collection TEXT NOT NULL, sha256 TEXT NOT NULL, started_at REAL NOT NULL, PRIMARY KEY (collection, sha256))
"""

_IMAGE_COLUMNS = ("collection", "sha256", "original_name", "source", "stored_path", "width", "height", "bytes",
                  "format", "added_at", "metadata")
_FACE_COLUMNS = ("face_id", "collection", "image_sha256", "face_index", "status", "reasons", "box_left", "box_top",
                 "box_width", "box_height", "confidence", "brightness", "sharpness", "yaw", "pitch", "roll",
                 "age_low", "age_high", "size_px", "detail", "thumb_path")

_REBUILDS = (
    rebuild("images", """CREATE TABLE images__new(
        collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
        sha256 TEXT NOT NULL, original_name TEXT NOT NULL, source TEXT,
        stored_path TEXT, width INTEGER, height INTEGER, bytes INTEGER, format TEXT,
        added_at REAL NOT NULL, metadata TEXT, PRIMARY KEY (collection, sha256))""", _IMAGE_COLUMNS,
            "collection IN (SELECT name FROM collections)", ["CREATE INDEX images_by_sha ON images(sha256)"]),
    rebuild("faces", """CREATE TABLE faces__new(
        face_id TEXT PRIMARY KEY, collection TEXT NOT NULL, image_sha256 TEXT NOT NULL,
        face_index INTEGER NOT NULL, status TEXT NOT NULL CHECK (status IN ('indexed', 'rejected')),
        reasons TEXT NOT NULL DEFAULT '[]',
        box_left REAL, box_top REAL, box_width REAL, box_height REAL,
        confidence REAL, brightness REAL, sharpness REAL, yaw REAL, pitch REAL, roll REAL,
        age_low INTEGER, age_high INTEGER, size_px INTEGER, detail TEXT NOT NULL, thumb_path TEXT,
        FOREIGN KEY (collection, image_sha256) REFERENCES images(collection, sha256) ON DELETE CASCADE)""",
            _FACE_COLUMNS, "(collection, image_sha256) IN (SELECT collection, sha256 FROM images)",
            ["CREATE INDEX faces_by_collection ON faces(collection, status)",
             "CREATE INDEX faces_by_image ON faces(collection, image_sha256)"]),
    rebuild("pending", """CREATE TABLE pending__new(
        collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
        sha256 TEXT NOT NULL, started_at REAL NOT NULL, PRIMARY KEY (collection, sha256))""",
            ("collection", "sha256", "started_at"), "collection IN (SELECT name FROM collections)"),
)


def _add_foreign_keys(conn: sqlite3.Connection) -> None:
    for step in _REBUILDS:
        step(conn)


MIGRATIONS = (
    Migration(1, "catalog: collections, images, faces, pending", script(LEGACY)),
    Migration(5, "catalog: images and faces belong to their collection (foreign keys, cascade)", _add_foreign_keys),
)


#: How good a face is as a person's cover (SQL over the face columns, alias ``f``): large and sharp,
#: and a doubtful detection (confidence under 80, e.g. a book cover) only when nothing else is there.
COVER_SCORE = ("COALESCE(f.size_px, 0) * (COALESCE(f.sharpness, 50) + 10)"
               " * (CASE WHEN COALESCE(f.confidence, 100) >= 80 THEN 1.0 ELSE 0.001 END)")


def _detail_json(detail: FaceDetail) -> str:
    return json.dumps(detail.to_dict(), separators=(",", ":"))


def detail_from_json(text: str) -> FaceDetail:
    return FaceDetail.from_dict(json.loads(text))


def failing_sql(quality: QualityFilter) -> tuple[str, list[float]]:
    """An SQL condition on the face columns (alias ``f``) that holds for faces failing ``quality``
    (unknown figures pass, as in :meth:`QualityFilter.reasons`)."""
    parts: list[str] = []
    args: list[float] = []
    for column, bound in quality.lower_bounds().items():
        if bound is not None:
            parts.append(f"(f.{column} IS NOT NULL AND f.{column} < ?)")
            args.append(bound)
    for column, bound in quality.angle_bounds().items():
        if bound is not None:
            parts.append(f"(f.{column} IS NOT NULL AND ABS(f.{column}) > ?)")
            args.append(bound)
    return (" OR ".join(parts) or "0"), args


class Catalog:
    """Collections, images and faces in the catalog database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def connect(self) -> sqlite3.Connection:
        return self.db.connect()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.db.transaction()

    # -- collections -------------------------------------------------------------------------
    def add_collection(self, name: str, engine: str, model_version: str | None = None) -> None:
        with self.db.transaction() as db:
            try:
                db.execute("INSERT INTO collections(name, engine, created_at, model_version) VALUES (?,?,?,?)",
                           (name, str(engine), time.time(), model_version))
            except sqlite3.IntegrityError as exc:
                raise CollectionExists(f"collection {name!r} exists already") from exc

    def has_collection(self, name: str) -> bool:
        return self.connect().execute("SELECT 1 FROM collections WHERE name=?", (name,)).fetchone() is not None

    # -- for the doctor -----------------------------------------------------------------------
    def file_references(self) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
        """(stored copy path -> sha256, thumbnail path -> (face id, collection)) named by any row."""
        conn = self.connect()
        copies = {str(p): str(sha) for p, sha in conn.execute(
            "SELECT stored_path, sha256 FROM images WHERE stored_path IS NOT NULL")}
        thumbs = {str(p): (str(f), str(c)) for p, f, c in conn.execute(
            "SELECT thumb_path, face_id, collection FROM faces WHERE thumb_path IS NOT NULL")}
        return copies, thumbs

    def set_thumb(self, face_id: str, relative: str | None) -> None:
        with self.db.transaction() as db:
            db.execute("UPDATE faces SET thumb_path=? WHERE face_id=?", (relative, face_id))

    def integrity(self) -> list[str]:
        """SQLite's own integrity and foreign-key checks: [] when the catalog is sound."""
        conn = self.connect()
        problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check") if str(r[0]) != "ok"]
        problems += [f"row {r[1]} of {r[0]} points to a missing {r[2]} row" for r in conn.execute("PRAGMA foreign_key_check")]
        return problems

    def collection_engine(self, name: str) -> str:
        row = self.connect().execute("SELECT engine FROM collections WHERE name=?", (name,)).fetchone()
        if row is None:
            raise CollectionNotFound(f"collection {name!r} does not exist")
        return str(row["engine"])

    def list_collections(self, engine: str | None = None) -> list[str]:
        """Collection names, sorted (only those of ``engine`` when given)."""
        sql, args = where({"engine": None if engine is None else str(engine)})
        return [r["name"] for r in self.connect().execute(f"SELECT name FROM collections{sql} ORDER BY name", args)]

    def set_model_version(self, name: str, model: tuple[str, str] | None) -> None:
        """Record the (model, version) that now indexes a collection (its version is what is kept)."""
        with self.db.transaction() as db:
            db.execute("UPDATE collections SET model_version=? WHERE name=?", (model[1] if model else None, name))

    def engines_by_collection(self) -> dict[str, str]:
        """Every collection's engine name, in one query."""
        return {r[0]: r[1] for r in self.connect().execute("SELECT name, engine FROM collections ORDER BY name")}

    def remove_collection(self, name: str) -> None:
        """Forget a collection; its images, faces and everything grouped from them go by cascade
        (files are the caller's)."""
        with self.db.transaction() as db:
            db.execute("DELETE FROM collections WHERE name=?", (name,))

    # -- pending engine writes -----------------------------------------------------------------
    def mark_pending(self, collection: str, sha256: str) -> None:
        """An engine write for this image is about to start (:class:`CollectionNotFound` when the
        collection was deleted meanwhile)."""
        with self.db.transaction() as db:
            if db.execute("SELECT 1 FROM collections WHERE name=?", (collection,)).fetchone() is None:
                raise CollectionNotFound(f"collection {collection!r} was deleted while it was being indexed")
            db.execute("INSERT OR REPLACE INTO pending(collection, sha256, started_at) VALUES (?,?,?)",
                       (collection, sha256, time.time()))

    def clear_pending(self, collection: str, sha256: str) -> None:
        with self.db.transaction() as db:
            db.execute("DELETE FROM pending WHERE collection=? AND sha256=?", (collection, sha256))

    def pending(self, collection: str) -> list[str]:
        return [r[0] for r in self.connect().execute("SELECT sha256 FROM pending WHERE collection=?", (collection,))]

    # -- images and faces --------------------------------------------------------------------
    def has_image(self, collection: str, sha256: str) -> bool:
        row = self.connect().execute("SELECT 1 FROM images WHERE collection=? AND sha256=?",
                                     (collection, sha256)).fetchone()
        return row is not None

    def image_shas(self, collection: str) -> frozenset[str]:
        """The sha256 of every image the collection holds."""
        return frozenset(r[0] for r in self.connect().execute(
            "SELECT sha256 FROM images WHERE collection=?", (collection,)))

    def has_etag(self, collection: str, etag: str) -> bool:
        """Whether the collection holds an image indexed from an S3 object with that ETag."""
        row = self.connect().execute("SELECT 1 FROM images WHERE collection=? AND source='s3' AND "
                                     "json_extract(metadata, '$.etag')=? LIMIT 1", (collection, etag)).fetchone()
        return row is not None

    def record_image(self, image: StoredImage, faces: Iterable[StoredFace]) -> None:
        """Store an image and its faces in one transaction, replacing any earlier record of it
        (the earlier faces' people rows go by cascade)."""
        with self.db.transaction() as db:
            db.execute("DELETE FROM faces WHERE collection=? AND image_sha256=?", (image.collection, image.sha256))
            db.execute("DELETE FROM images WHERE collection=? AND sha256=?", (image.collection, image.sha256))
            db.execute(
                f"INSERT INTO images({', '.join(_IMAGE_COLUMNS)}) VALUES ({','.join('?' * len(_IMAGE_COLUMNS))})",
                (image.collection, image.sha256, image.original_name, image.source, image.stored_path,
                 image.width, image.height, image.bytes, image.format, image.added_at,
                 json.dumps(image.metadata)))
            db.executemany(
                f"INSERT INTO faces({', '.join(_FACE_COLUMNS)}) VALUES ({','.join('?' * len(_FACE_COLUMNS))})",
                [(f.face_id, f.collection, f.image_sha256, f.face_index, str(f.status), json.dumps(list(f.reasons)),
                  f.detail.box.left, f.detail.box.top, f.detail.box.width, f.detail.box.height,
                  f.detail.confidence, f.detail.brightness, f.detail.sharpness, f.detail.pose.yaw,
                  f.detail.pose.pitch, f.detail.pose.roll, f.detail.age_low, f.detail.age_high,
                  f.detail.size_px, _detail_json(f.detail), f.thumb_path) for f in faces])

    _FACE_SELECT = ("SELECT f.*, i.original_name AS image_name, i.stored_path AS stored_path FROM faces f"
                    " JOIN images i ON i.collection=f.collection AND i.sha256=f.image_sha256")

    @staticmethod
    def _face(row: sqlite3.Row) -> StoredFace:
        return StoredFace(face_id=row["face_id"], collection=row["collection"], image_sha256=row["image_sha256"],
                          face_index=row["face_index"], status=FaceStatus(row["status"]),
                          reasons=tuple(json.loads(row["reasons"])), detail=detail_from_json(row["detail"]),
                          thumb_path=row["thumb_path"], image_name=row["image_name"],
                          stored_path=row["stored_path"])

    def faces(self, collection: str, status: str | None = FaceStatus.INDEXED,
              image_sha256: str | None = None) -> list[StoredFace]:
        """Faces of a collection (``status`` None: indexed and rejected), in image then face order."""
        sql, args = where({"f.collection": collection, "f.status": None if status is None else str(status),
                           "f.image_sha256": image_sha256})
        return [self._face(r) for r in self.connect().execute(
            self._FACE_SELECT + sql + " ORDER BY i.added_at, f.face_index", args)]

    def face_briefs(self, collection: str) -> dict[str, tuple[str, float]]:
        """face id -> (image sha256, cover score) of every indexed face, straight from the columns
        (no JSON decoding: fast at 100k faces). The cover score is :data:`COVER_SCORE`."""
        return {r[0]: (r[1], r[2]) for r in self.connect().execute(
            f"SELECT f.face_id, f.image_sha256, {COVER_SCORE} FROM faces f"
            " WHERE f.collection=? AND f.status='indexed'", (collection,))}

    def faces_failing(self, collection: str, quality: QualityFilter, limit: int = 500,
                      status: str = FaceStatus.INDEXED) -> tuple[int, list[StoredFace]]:
        """(how many faces fail ``quality``, the first ``limit`` of them)."""
        where, args = failing_sql(quality)
        conn = self.connect()
        n = conn.execute(f"SELECT COUNT(*) FROM faces f WHERE f.collection=? AND f.status=? AND ({where})",
                         [collection, str(status), *args]).fetchone()[0]
        rows = conn.execute(self._FACE_SELECT + f" WHERE f.collection=? AND f.status=? AND ({where})"
                            " ORDER BY f.rowid LIMIT ?", [collection, str(status), *args, limit])
        return int(n), [self._face(r) for r in rows]

    def faces_by_id(self, face_ids: Iterable[str]) -> dict[str, StoredFace]:
        return {r["face_id"]: self._face(r) for r in self.connect().execute(
            self._FACE_SELECT + f" WHERE f.face_id {IN_IDS}", (ids(dict.fromkeys(face_ids)),))}

    def face(self, face_id: str) -> StoredFace:
        found = self.faces_by_id([face_id]).get(face_id)
        if found is None:
            raise FaceNotFound(f"no face {face_id!r} in the catalog")
        return found

    def thumb_paths(self, face_ids: Iterable[str]) -> dict[str, str | None]:
        """face id -> thumbnail path, for the given faces only."""
        return {r[0]: r[1] for r in self.connect().execute(
            f"SELECT face_id, thumb_path FROM faces WHERE face_id {IN_IDS}", (ids(face_ids),))}

    def sample_faces(self, collection: str, n: int, seed: int = 0,
                     status: str = FaceStatus.INDEXED) -> list[StoredFace]:
        """Up to ``n`` faces drawn at random (reproducible for one ``seed``)."""
        conn = self.connect()
        rowids = [r[0] for r in conn.execute("SELECT rowid FROM faces WHERE collection=? AND status=?",
                                             (collection, str(status)))]
        picked = random.Random(seed).sample(rowids, min(n, len(rowids)))
        if not picked:
            return []
        found = {r["rowid"]: self._face(r) for r in conn.execute(
            self._FACE_SELECT.replace("SELECT f.*", "SELECT f.rowid AS rowid, f.*") + f" WHERE f.rowid {IN_IDS}",
            (ids(picked),))}
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

    def faces_of_images(self, collection: str, shas: Iterable[str]) -> dict[str, list[StoredFace]]:
        """image sha256 -> its faces (indexed and rejected, in face order), for the given images only."""
        wanted = list(dict.fromkeys(shas))
        out: dict[str, list[StoredFace]] = {s: [] for s in wanted}
        for r in self.connect().execute(self._FACE_SELECT + f" WHERE f.collection=? AND f.image_sha256 {IN_IDS}"
                                        " ORDER BY f.face_index", (collection, ids(wanted))):
            out[r["image_sha256"]].append(self._face(r))
        return out

    def images(self, collection: str) -> list[StoredImage]:
        return [self._image(r) for r in self.connect().execute(
            "SELECT * FROM images WHERE collection=? ORDER BY added_at", (collection,))]

    def promote_face(self, old_face_id: str, new_face_id: str, detail: FaceDetail, thumb_path: str | None) -> None:
        """A rejected face was indexed after all: give it its engine id and mark it indexed."""
        with self.db.transaction() as db:
            db.execute("UPDATE faces SET face_id=?, status=?, reasons='[]', thumb_path=?, detail=?,"
                       " box_left=?, box_top=?, box_width=?, box_height=? WHERE face_id=?",
                       (new_face_id, str(FaceStatus.INDEXED), thumb_path, _detail_json(detail), detail.box.left,
                        detail.box.top, detail.box.width, detail.box.height, old_face_id))

    def remove_image(self, collection: str, sha256: str) -> list[StoredFace]:
        """Forget an image and its faces (their people rows go by cascade); returns the faces it had."""
        faces = self.faces(collection, status=None, image_sha256=sha256)
        with self.db.transaction() as db:
            db.execute("DELETE FROM images WHERE collection=? AND sha256=?", (collection, sha256))
        return faces

    def remove_faces(self, collection: str, face_ids: list[str]) -> list[StoredFace]:
        """Forget some faces (not their images); returns them as they were."""
        faces = [f for f in self.faces_by_id(face_ids).values() if f.collection == collection]
        with self.db.transaction() as db:
            db.executemany("DELETE FROM faces WHERE face_id=?", [(f.face_id,) for f in faces])
        return faces

    def references(self, sha256: str, besides: str | None = None) -> int:
        """How many collections hold this image, or are committing it now (a live batch's pending
        mark; ``besides``: not counting that collection's own mark): its stored copy stays while
        any does."""
        conn = self.connect()
        held = int(conn.execute("SELECT COUNT(*) FROM images WHERE sha256=?", (sha256,)).fetchone()[0])
        return held + int(conn.execute("SELECT COUNT(*) FROM pending WHERE sha256=? AND collection IS NOT ?",
                                       (sha256, besides)).fetchone()[0])

    def collection_created(self, name: str) -> float | None:
        """When the collection of that name was created (a job submitted for it checks it is still that one)."""
        row = self.connect().execute("SELECT created_at FROM collections WHERE name=?", (name,)).fetchone()
        return float(row[0]) if row else None

    def counts(self, collection: str) -> dict[str, int]:
        """images, faces (indexed) and rejected counts of a collection."""
        conn = self.connect()
        images = conn.execute("SELECT COUNT(*) FROM images WHERE collection=?", (collection,)).fetchone()[0]
        by_status = dict(conn.execute("SELECT status, COUNT(*) FROM faces WHERE collection=? GROUP BY status",
                                      (collection,)).fetchall())
        return {"images": int(images), "faces": int(by_status.get("indexed", 0)),
                "rejected": int(by_status.get("rejected", 0))}

    def overview(self) -> list[dict[str, object]]:
        """Every collection with its engine and counts (images, faces, rejected), in one query."""
        return [{"collection": r[0], "engine": r[1], "images": r[2], "faces": r[3], "rejected": r[4]}
                for r in self.connect().execute(
                    "SELECT c.name, c.engine,"
                    " (SELECT COUNT(*) FROM images i WHERE i.collection=c.name),"
                    " (SELECT COUNT(*) FROM faces f WHERE f.collection=c.name AND f.status='indexed'),"
                    " (SELECT COUNT(*) FROM faces f WHERE f.collection=c.name AND f.status='rejected')"
                    " FROM collections c ORDER BY c.name")]

    def stored_faces(self, engine: str) -> int:
        """Indexed faces over every collection of one engine (what Rekognition bills storage for)."""
        return int(self.connect().execute(
            "SELECT COUNT(*) FROM faces f JOIN collections c ON c.name=f.collection"
            " WHERE c.engine=? AND f.status='indexed'", (engine,)).fetchone()[0])
