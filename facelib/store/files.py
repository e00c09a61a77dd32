"""Files under the data directory: stored copies of photos and face thumbnails, one path scheme.

- Stored copies are content-addressed: ``images/<sha[:2]>/<sha><ext>`` (shared by collections).
- Thumbnails are named by collection, image and box order: ``thumbs/<collection folder>/<sha[:2]>/<sha>-<k>.jpg``,
  so the same detection writes the same files and a killed batch leaves no orphans.

Paths kept in the catalog are relative to the data directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

#: Collection names used as a folder name as they are.
SAFE_DIR = re.compile(r"[a-zA-Z0-9_.\-]{1,100}")
#: File name suffix of a stored copy, by Pillow format.
SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif",
            "MPO": ".jpg", "HEIF": ".heic"}


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

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir
        self.images_dir = data_dir / "images"
        self.thumbs_dir = data_dir / "thumbs"

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
        """A collection's thumbnail folder: its name when that is a plain file name (as always before
        display names), else an ASCII slug plus a hash of the name (spaces, any script, no path tricks)."""
        if SAFE_DIR.fullmatch(collection) and collection not in (".", ".."):
            return self.thumbs_dir / collection
        slug = re.sub(r"[^a-zA-Z0-9_.\-]+", "-", collection.encode("ascii", "ignore").decode()).strip("-.")[:40]
        return self.thumbs_dir / f"{slug or 'collection'}-{hashlib.sha256(collection.encode()).hexdigest()[:12]}"

    def thumb_path(self, collection: str, sha256: str, k: int) -> Path:
        """Where the k-th face (in box order) of an image's thumbnail lives."""
        return self.collection_dir(collection) / sha256[:2] / f"{sha256}-{k}.jpg"

    def write_thumb(self, collection: str, sha256: str, k: int, jpeg: bytes) -> str:
        path = self.thumb_path(collection, sha256, k)
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
        for rel in relative_paths:
            if rel:
                unlink(self.path(rel))

    def remove_copies(self, shas: Iterable[str]) -> None:
        """Delete the stored copies of these images (the caller checked nothing else holds them)."""
        for sha in shas:
            for p in (self.images_dir / sha[:2]).glob(sha + ".*"):
                unlink(p)

    def remove_collection_thumbs(self, collection: str) -> None:
        shutil.rmtree(self.collection_dir(collection), ignore_errors=True)

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
