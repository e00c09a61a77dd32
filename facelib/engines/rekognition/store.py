"""The Rekognition engine's tables: the ledger of paid calls, and which AWS collection (id, ARN,
region, account, face model) each of this installation's collections is."""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ...errors import CollectionNotFound
from ...store.db import Database, Migration, script

MIGRATIONS = (
    Migration(4, "ledger: paid calls and cache hits", script("""
        CREATE TABLE IF NOT EXISTS paid_calls(
            day TEXT NOT NULL, operation TEXT NOT NULL, calls INTEGER NOT NULL DEFAULT 0,
            cache_hits INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (day, operation))""")),
    # Collections made before this step used the display name as the CollectionId and may have
    # adopted an AWS collection of that name: they are kept as imported (never deleted in AWS).
    Migration(10, "rekognition: each collection's AWS id, ARN, region, account and ownership", script("""
        CREATE TABLE rekognition_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE rekognition_collections(
            name TEXT PRIMARY KEY, collection_id TEXT NOT NULL, arn TEXT, region TEXT, account TEXT,
            face_model_version TEXT, owned INTEGER NOT NULL CHECK (owned IN (0, 1)), created_at REAL NOT NULL);
        INSERT INTO rekognition_collections(name, collection_id, owned, created_at)
            SELECT name, name, 0, created_at FROM collections WHERE engine = 'rekognition';""")),
)
_COLUMNS = ("calls", "cache_hits")


@dataclass(frozen=True)
class CollectionRef:
    """One collection as AWS knows it. ``owned``: created by this installation (tagged with its id),
    so it may be deleted in AWS; imported ones never are."""

    name: str
    collection_id: str
    arn: str | None
    region: str | None
    account: str | None
    face_model_version: str | None
    owned: bool


class LedgerStore:
    """SQL over ``paid_calls``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def bump(self, day: str, operation: str, column: str, count: int = 1) -> None:
        if column not in _COLUMNS:
            raise ValueError(column)
        with self.db.transaction() as db:
            db.execute(f"INSERT INTO paid_calls(day, operation, {column}) VALUES (?,?,?) "
                       f"ON CONFLICT(day, operation) DO UPDATE SET {column}={column}+excluded.{column}",
                       (day, operation, int(count)))

    def totals(self) -> list[tuple[str, int, int]]:
        """(operation, calls, cache hits) over every day, by operation name."""
        return [(op, int(c), int(h)) for op, c, h in self.db.connect().execute(
            "SELECT operation, SUM(calls), SUM(cache_hits) FROM paid_calls GROUP BY operation ORDER BY operation")]


class CollectionStore:
    """SQL over ``rekognition_collections`` and ``rekognition_meta``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def installation(self) -> str:
        """This installation's id (12 hex digits, made once): part of every CollectionId it creates."""
        with self.db.transaction() as db:
            db.execute("INSERT OR IGNORE INTO rekognition_meta(key, value) VALUES ('installation', ?)",
                       (uuid.uuid4().hex[:12],))
            return str(db.execute("SELECT value FROM rekognition_meta WHERE key='installation'").fetchone()[0])

    def put(self, ref: CollectionRef) -> None:
        with self.db.transaction() as db:
            db.execute("INSERT OR REPLACE INTO rekognition_collections(name, collection_id, arn, region, account, "
                       "face_model_version, owned, created_at) VALUES (?,?,?,?,?,?,?,?)",
                       (ref.name, ref.collection_id, ref.arn, ref.region, ref.account, ref.face_model_version,
                        int(ref.owned), time.time()))

    def get(self, name: str) -> CollectionRef | None:
        row = self.db.connect().execute(
            "SELECT name, collection_id, arn, region, account, face_model_version, owned "
            "FROM rekognition_collections WHERE name=?", (name,)).fetchone()
        return _ref(row) if row else None

    def require(self, name: str) -> CollectionRef:
        ref = self.get(name)
        if ref is None:
            raise CollectionNotFound(f"collection {name!r} is not a Rekognition collection of this installation")
        return ref

    def by_collection_id(self, collection_id: str) -> CollectionRef | None:
        row = self.db.connect().execute(
            "SELECT name, collection_id, arn, region, account, face_model_version, owned "
            "FROM rekognition_collections WHERE collection_id=?", (collection_id,)).fetchone()
        return _ref(row) if row else None

    def names(self) -> list[str]:
        return [r[0] for r in self.db.connect().execute("SELECT name FROM rekognition_collections ORDER BY name")]

    def remove(self, name: str) -> None:
        with self.db.transaction() as db:
            db.execute("DELETE FROM rekognition_collections WHERE name=?", (name,))


def _ref(row: sqlite3.Row | tuple[object, ...]) -> CollectionRef:
    name, cid, arn, region, account, version, owned = tuple(row)
    return CollectionRef(str(name), str(cid), _text(arn), _text(region), _text(account), _text(version), bool(owned))


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def checkpoint(path: Path) -> None:
    """Move an SQLite file's WAL into it and truncate the WAL (the paid-call cache, after an erasure)."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        conn.close()


def integrity(path: Path) -> list[str]:
    """What SQLite's quick check says is wrong with a database file (empty: readable and whole;
    a missing file is whole: a cache not made yet)."""
    if not path.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            return []
        return [str(exc)]
    return [] if rows == ["ok"] else rows
