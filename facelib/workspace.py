"""A workspace: one data directory with its catalog, stored files and engines.

It is the facade the CLI and the app use: collections, engines per collection, files on disk.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .catalog import Catalog, StoredFace
from .engines.base import Engine, check_collection_name
from .errors import CollectionExists, CollectionNotFound, InvalidParameter
from .settings import Settings

if TYPE_CHECKING:
    from .ledger import CostSummary

ENGINES = ("local", "rekognition")


class Workspace:
    """Everything under one data directory. Thread-safe; build one per process and reuse it."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog(self.settings.db_path)
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()
        #: Engine searches made through :mod:`facelib.search` by this process (for the UI's counter).
        self.search_calls = 0

    # -- engines -----------------------------------------------------------------------------
    def engine(self, name: str | None = None) -> Engine:
        """The engine of that name ("local" or "rekognition"), built once."""
        name = name or self.settings.engine
        with self._lock:
            if name not in self._engines:
                self._engines[name] = self._build_engine(name)
            return self._engines[name]

    def _build_engine(self, name: str) -> Engine:
        if name == "local":
            from .engines.local import LocalEngine

            return LocalEngine(self.catalog, detector=self.settings.detector)
        if name == "rekognition":
            from .engines.rekognition import RekognitionEngine  # type: ignore[import-not-found]

            return RekognitionEngine.from_settings(self.settings, self.catalog)
        raise InvalidParameter(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")

    def use_engine(self, engine: Engine) -> None:
        """Put a ready engine in place (e.g. a Rekognition client with other credentials, or stubbed)."""
        with self._lock:
            self._engines[engine.name] = engine

    def engine_for(self, collection: str) -> Engine:
        """The engine a collection was created with."""
        return self.engine(self.catalog.collection_engine(collection))

    # -- collections -------------------------------------------------------------------------
    def create_collection(self, name: str, engine: str | None = None) -> None:
        """Create a collection in the engine and the catalog."""
        check_collection_name(name)
        engine_name = engine or self.settings.engine
        eng = self.engine(engine_name)
        if name not in eng.list_collections():
            try:
                eng.create_collection(name)
            except CollectionExists:
                pass
        self.catalog.add_collection(name, engine_name)

    def ensure_collection(self, name: str, engine: str | None = None) -> None:
        """Create the collection unless it exists."""
        if name not in self.catalog.list_collections():
            try:
                self.create_collection(name, engine)
            except CollectionExists:  # another process created it meanwhile
                pass

    def collections(self) -> list[str]:
        return self.catalog.list_collections()

    def delete_collection(self, name: str) -> None:
        """Delete a collection from the engine and the catalog, with its thumbnails and unshared copies."""
        engine = self.engine_for(name)
        images = self.catalog.images(name)
        faces = self.catalog.faces(name, status=None)
        try:
            engine.delete_collection(name)
        except CollectionNotFound:
            pass
        self.catalog.remove_collection(name)
        self._remove_files(faces, [i.sha256 for i in images])
        shutil.rmtree(self.settings.thumbs_dir / name, ignore_errors=True)

    def delete_image(self, collection: str, sha256: str) -> int:
        """Delete an image from a collection: its faces in the engine, thumbnails and stored copy.

        Returns how many faces went.
        """
        engine = self.engine_for(collection)
        faces = self.catalog.faces(collection, status=None, image_sha256=sha256)
        indexed = [f.face_id for f in faces if f.status == "indexed"]
        if indexed:
            engine.delete_faces(collection, indexed)
        self.catalog.remove_image(collection, sha256)
        self._remove_files(faces, [sha256])
        return len(faces)

    def delete_faces(self, collection: str, face_ids: list[str]) -> int:
        """Erase faces: from the engine, the catalog (and people), and their thumbnails. Images stay."""
        faces = self.catalog.faces_by_id(face_ids)
        indexed = [f for f, s in faces.items() if s.status == "indexed" and s.collection == collection]
        if indexed:
            self.engine_for(collection).delete_faces(collection, indexed)
        gone = self.catalog.remove_faces(collection, list(faces))
        self._remove_files(gone, [])
        return len(gone)

    def _remove_files(self, faces: list[StoredFace], shas: list[str]) -> None:
        for f in faces:
            if f.thumb_path:
                _unlink(self.path(f.thumb_path))
        for sha in shas:
            if self.catalog.references(sha) == 0:
                for p in (self.settings.images_dir / sha[:2]).glob(sha + ".*"):
                    _unlink(p)

    # -- paid calls ----------------------------------------------------------------------------
    def costs(self) -> "CostSummary":
        """Calls, cache hits and estimated dollars of the Rekognition engine (zeros when unused)."""
        from .ledger import Ledger

        stored = sum(self.catalog.counts(c)["faces"] for c in self.catalog.list_collections("rekognition"))
        return Ledger(self.catalog).summary(self.settings.prices, stored)

    # -- files -------------------------------------------------------------------------------
    def path(self, relative: str) -> Path:
        """Absolute path of a file stored under the data directory."""
        return self.settings.data_dir / relative

    def thumb_path(self, collection: str, sha256: str, k: int) -> Path:
        """Where the k-th face (in box order) of an image's thumbnail lives."""
        return self.settings.thumbs_dir / collection / sha256[:2] / f"{sha256}-{k}.jpg"

    def relative(self, path: Path) -> str:
        return os.path.relpath(path, self.settings.data_dir)


def _unlink(p: Path) -> None:
    try:
        p.unlink()
    except FileNotFoundError:
        pass
