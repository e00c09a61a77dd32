"""Files under the data directory: stored copies of photos and face thumbnails, one path scheme.

- Stored copies are content-addressed: ``images/<sha[:2]>/<sha><ext>`` (shared by collections).
- Thumbnails are named by collection, image and box order: ``thumbs/<collection folder>/<sha[:2]>/<sha>-<k>.jpg``,
  so the same detection writes the same files and a killed batch leaves no orphans.
- A collection's folder is its own: a random id kept in ``collection_folders`` (UNIQUE), never
  derived from its display name, so two collections can never share one (deleting one once
  erased the thumbnails of another whose name slugged to the same folder). Folders named by the
  older scheme stay where they are (migration 101), except the second of two collections that
  shared one: its thumbnails are copied to a folder of its own.

Paths kept in the catalog are relative to the data directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..thumbnails import forget_thumbnails
from .db import Database, Migration

#: Collection names the old scheme used as a folder name as they are.
SAFE_DIR = re.compile(r"[a-zA-Z0-9_.\-]{1,100}")
#: File name suffix of a stored copy, by Pillow format.
SUFFIXES = {"MP4": ".mp4", "MKV": ".mkv", "AVI": ".avi",
            "JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif",
            "MPO": ".jpg", "HEIF": ".heic"}


def legacy_folder(collection: str) -> str:
    """The folder name the code before migration 101 derived from a collection's name: the name
    itself when a plain file name, else an ASCII slug plus 12 hex digits of its hash. Two names
    could give one folder ("Family Trip" and "Family-Trip-<those 12 digits>")."""
    if SAFE_DIR.fullmatch(collection) and collection not in (".", ".."):
        return collection
    slug = re.sub(r"[^a-zA-Z0-9_.\-]+", "-", collection.encode("ascii", "ignore").decode()).strip("-.")[:40]
    return f"{slug or 'collection'}-{hashlib.sha256(collection.encode()).hexdigest()[:12]}"


def new_folder() -> str:
    """A fresh folder name: ``c-`` and 24 random hex digits (cannot be a collection name's slug)."""
    return f"c-{secrets.token_hex(12)}"


def _data_dir(conn: sqlite3.Connection) -> Path | None:
    row = next((r for r in conn.execute("PRAGMA database_list") if r[1] == "main"), None)
    return Path(row[2]).parent if row and row[2] else None


def _own_folders(conn: sqlite3.Connection) -> None:
    """Version 101: every collection gets a folder of its own. Existing collections keep the
    folder the old scheme gave them; when two had the same one, the second (by name) gets a new
    folder, its thumbnails are copied there (the catalog rows follow), and files only it used are
    removed from the shared folder. Nothing is lost: a failed copy leaves the old path in place."""
    conn.execute("CREATE TABLE collection_folders(collection TEXT PRIMARY KEY, folder TEXT NOT NULL UNIQUE)")
    root = _data_dir(conn)
    taken: set[str] = set()
    moved: list[tuple[str, str]] = []  # (old relative path, new relative path)
    for (name,) in conn.execute("SELECT name FROM collections ORDER BY name").fetchall():
        folder = legacy_folder(str(name))
        if folder in taken:
            fresh = new_folder()
            for face_id, rel in conn.execute("SELECT face_id, thumb_path FROM faces WHERE collection=? AND "
                                             "thumb_path IS NOT NULL", (name,)).fetchall():
                old = Path(str(rel))
                if root is None or old.parts[:2] != ("thumbs", folder):
                    continue
                new = Path("thumbs", fresh, *old.parts[2:])
                try:
                    (root / new).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(root / old, root / new)
                except OSError:
                    continue  # missing already: the doctor reports it; the row keeps its old path
                conn.execute("UPDATE faces SET thumb_path=? WHERE face_id=?", (str(new), face_id))
                moved.append((str(old), str(new)))
            folder = fresh
        taken.add(folder)
        conn.execute("INSERT INTO collection_folders(collection, folder) VALUES (?,?)", (name, folder))
    for was, _ in moved:
        if conn.execute("SELECT 1 FROM faces WHERE thumb_path=?", (was,)).fetchone() is None and root is not None:
            unlink(root / was)




def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file unique to this process and thread, then rename over ``path``
    (two processes writing the same file both succeed, and no reader sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:  # a full disk (or a kill signal) leaves no fragment behind to keep it full
        unlink(tmp)
        raise


def unlink(p: Path) -> None:
    try:
        p.unlink()
    except FileNotFoundError:
        pass


class Files:
    """The stored copies and thumbnails below one data directory."""

    def __init__(self, data_dir: Path, db: Database | None = None) -> None:
        self.root = data_dir
        self.images_dir = data_dir / "images"
        self.thumbs_dir = data_dir / "thumbs"
        #: The catalog holding ``collection_folders`` (None: folders by the old name scheme, for tools).
        self.db = db

    # -- room for erasure on a full disk -------------------------------------------------------
    RESERVE = ".reserve"
    RESERVE_BYTES = 8 * 1024 ** 2

    def make_reserve(self) -> bool:
        """Keep :data:`RESERVE_BYTES` of real (not sparse) space under the data directory, given back
        when an erasure finds the disk full; False when there is no room for it now."""
        path = self.root / self.RESERVE
        if path.exists() and path.stat().st_size >= self.RESERVE_BYTES:
            return True
        try:
            atomic_write(path, b"\0" * self.RESERVE_BYTES)
        except OSError:
            return False
        return True

    def release_reserve(self) -> bool:
        """Give the reserve back to the disk; False when there was none."""
        try:
            (self.root / self.RESERVE).unlink()
        except FileNotFoundError:
            return False
        return True

    def path(self, relative: str) -> Path:
        """Absolute path of a file stored under the data directory."""
        return self.root / relative

    def relative(self, path: Path) -> str:
        return os.path.relpath(path, self.root)

    def collection_dir(self, collection: str) -> Path:
        """A collection's thumbnail folder: its own random name, given the first time it is asked
        for (see the module's notes); never shared with another collection."""
        if self.db is None:
            return self.thumbs_dir / legacy_folder(collection)
        conn = self.db.connect()
        row = conn.execute("SELECT folder FROM collection_folders WHERE collection=?", (collection,)).fetchone()
        if row is None:
            with self.db.transaction() as db:
                db.execute("INSERT OR IGNORE INTO collection_folders(collection, folder) VALUES (?,?)",
                           (collection, new_folder()))
            row = conn.execute("SELECT folder FROM collection_folders WHERE collection=?", (collection,)).fetchone()
        return self.thumbs_dir / str(row[0])

    def forget_collection_folder(self, collection: str) -> None:
        """A new collection of a deleted one's name starts with a new, empty folder."""
        if self.db is not None:
            with self.db.transaction() as db:
                db.execute("DELETE FROM collection_folders WHERE collection=?", (collection,))

    def thumb_path(self, collection: str, sha256: str, k: int, tag: str = "") -> Path:
        """Where the k-th face (in box order) of an image's thumbnail lives; ``tag`` keeps the
        thumbnails of a re-index apart from the ones it replaces until it commits."""
        return self.collection_dir(collection) / sha256[:2] / f"{sha256}-{tag}{k}.jpg"

    def write_thumb(self, collection: str, sha256: str, k: int, jpeg: bytes, tag: str = "") -> str:
        path = self.thumb_path(collection, sha256, k, tag)
        atomic_write(path, jpeg)
        return self.relative(path)

    def store_copy(self, sha256: str, image_format: str, data: bytes) -> tuple[str, bool]:
        """The stored copy of an image (written once; content-addressed), as a relative path, and
        whether this call wrote it (False when it was there already)."""
        path = self.images_dir / sha256[:2] / f"{sha256}{SUFFIXES.get(image_format, '.img')}"
        if path.exists():
            return self.relative(path), False
        atomic_write(path, data)
        return self.relative(path), True

    def remove_thumbs(self, relative_paths: Iterable[str | None]) -> None:
        """Delete thumbnails, and drop them from this process's cache of thumbnails."""
        paths = [self.path(rel) for rel in relative_paths if rel]
        for p in paths:
            unlink(p)
        forget_thumbnails(str(p) for p in paths)

    def remove_copies(self, shas: Iterable[str]) -> None:
        """Delete the stored copies of these images (the caller checked nothing else holds them)."""
        for sha in shas:
            for p in (self.images_dir / sha[:2]).glob(sha + ".*"):
                unlink(p)

    def remove_collection_thumbs(self, collection: str) -> None:
        """Delete the collection's thumbnail folder (its own: see :meth:`collection_dir`) and forget it."""
        folder = self.collection_dir(collection)
        shutil.rmtree(folder, ignore_errors=True)
        forget_thumbnails(under=str(folder))
        self.forget_collection_folder(collection)

    # -- what is on disk (for the doctor) ------------------------------------------------------
    def stored_files(self) -> Iterator[str]:
        """Every stored copy and thumbnail on disk, as relative paths (temporary fragments excluded)."""
        for top in (self.images_dir, self.thumbs_dir):
            for p in top.rglob("*"):
                if p.is_file() and not p.name.endswith(".tmp"):
                    yield self.relative(p)

    def fragments(self) -> list[Path]:
        """Temporary files left by writes that died (a full disk, a killed process)."""
        return [p for p in self.root.rglob(".*.tmp") if p.is_file()]


MIGRATIONS = (Migration(101, "files: each collection's thumbnail folder is its own (not derived from its name)",
                        _own_folders),)
