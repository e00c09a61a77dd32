"""The offline engine: two models (:mod:`.sface`, the default, and :mod:`.dlib`), vectors in the
catalog database (:mod:`.store`), exact in-memory search (:mod:`.vectors`), distances mapped to
similarity 0-100 by each model's calibration (:mod:`.similarity`).

A collection records the model (name and version) that indexed it, and only that model searches
it: queries are described with the collection's model, and a vector of another model is refused.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np

from ...errors import InvalidParameter, NoFaceFound
from ...images import LoadedImage
from ...records import (
    BoundingBox,
    CollectionInfo,
    EngineName,
    FaceDetail,
    ImageSearch,
    IndexedFace,
    IndexResult,
    Match,
    UnindexedFace,
    largest_face,
    overlap,
)
from ...settings import DEFAULT_THRESHOLD
from ..base import Parallelism, Prepared, SpendLimit, check_display_name, check_max_faces, check_threshold
from .analysis import DEFAULT_MODEL, MODELS, Analyser, AnalyzedFace, check_model
from .models import analyser_for
from .similarity import CALIBRATIONS
from .store import LocalStore
from .vectors import DIM, MatrixCache, check_fits


@dataclass(frozen=True)
class LocalPreparer:
    """The per-image work of the local engine: picklable, pure, one analyser per process and setting."""

    model: str = DEFAULT_MODEL
    detector: str = "hog"

    @property
    def fork_safe(self) -> bool:
        """False when a forked worker would deadlock: dlib's CNN detector already ran in this process."""
        if self.model != "dlib" or self.detector != "cnn":
            return True
        from .dlib import cnn_ran_here

        return not cnn_ran_here()

    def warm(self) -> None:
        """Load (and check) this setting's models in this process now."""
        analyser_for(self.model, self.detector).warm()

    def __call__(self, image: LoadedImage) -> Prepared:
        analysis = analyser_for(self.model, self.detector).analyze(image)
        return Prepared(image.sha256, image.original_size, image.format, [a.detail for a in analysis],
                        payload=[a.vector for a in analysis])


class LocalEngine:
    """Offline engine. ``model``: what new collections are indexed with ("sface" or "dlib");
    ``detector``: dlib's detector ("hog" or "cnn")."""

    name = EngineName.LOCAL
    models: tuple[str, ...] = MODELS
    paid = False
    reports_age = False
    parallel: Parallelism = "process"
    concurrency: int = os.cpu_count() or 1  # one worker process per core

    def __init__(self, store: LocalStore, model: str = DEFAULT_MODEL, detector: str = "hog") -> None:
        self.model = check_model(model)
        self.detector = detector
        self.analyser: Analyser = analyser_for(model, detector)
        self.store = store
        self._matrices = MatrixCache(self._load_matrix, self.store.generation)

    def _load_matrix(self, collection: str) -> tuple[np.ndarray, np.ndarray]:
        """A collection's ids and vectors for exact search, refused when they would not fit in memory."""
        check_fits(collection, self.store.count(collection))
        return self.store.load_matrix(collection, DIM)

    # -- models --------------------------------------------------------------------------------
    def model_of(self, collection: str) -> str:
        """The model that indexed the collection (the only one that searches it)."""
        return self.store.model(collection)[0]

    def analyser_of(self, collection: str) -> Analyser:
        return analyser_for(self.model_of(collection), self.detector)

    def warm(self) -> None:
        """Load the default model now (it loads lazily otherwise)."""
        self.analyser.warm()

    def analyze(self, image: LoadedImage, describe: bool = True) -> list[AnalyzedFace]:
        """Faces of an image with the default model."""
        return self.analyser.analyze(image, describe)

    def detect_boxes(self, arr: np.ndarray) -> list[tuple[BoundingBox, float]]:
        """Face boxes of an RGB frame with the default model's detector (YuNet for sface): Live's detector."""
        return self.analyser.detect_boxes(arr)

    def collection_model(self, collection: str) -> tuple[str, str] | None:
        return self.store.model(collection)

    # -- collections -------------------------------------------------------------------------
    def create_collection(self, collection: str, model: str | None = None) -> None:
        """A new collection of ``model`` (default: the engine's)."""
        check_display_name(collection)
        analyser = analyser_for(check_model(model or self.model), self.detector)
        self.store.create(collection, analyser.model, analyser.version)

    def set_model(self, collection: str, model: str) -> None:
        """Switch a collection to another model: its vectors go (re-index its images afterwards)."""
        analyser = analyser_for(check_model(model), self.detector)
        self.store.set_model(collection, analyser.model, analyser.version)
        self._matrices.drop(collection)

    def delete_collection(self, collection: str, face_ids: Sequence[str] = ()) -> None:
        self.store.require(collection)
        self.store.delete(collection)
        self._matrices.drop(collection)

    def list_collections(self) -> list[str]:
        return self.store.names()

    def describe_collection(self, collection: str) -> CollectionInfo:
        row = self.store.require(collection)
        return CollectionInfo(collection, self.store.count(collection), str(row["model_version"]),
                              time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row["created_at"])))

    # -- indexing ----------------------------------------------------------------------------
    def detect_faces(self, image: LoadedImage) -> list[FaceDetail]:
        return [a.detail for a in self.analyze(image, describe=False)]

    def preparer(self, collection: str, *, max_faces: int) -> LocalPreparer:
        return self.model_preparer(self.model_of(collection))

    def model_preparer(self, model: str) -> LocalPreparer:
        return LocalPreparer(check_model(model), self.detector)

    def commit(self, collection: str, prepared: Prepared, *, external_id: str, max_faces: int) -> IndexResult:
        faces = [AnalyzedFace(d, v) for d, v in zip(prepared.details, prepared.payload or [], strict=True)]
        return self.index_analyzed(collection, prepared.sha256, external_id, faces, max_faces)

    def index_faces(self, collection: str, image: LoadedImage, external_image_id: str,
                    max_faces: int = 100) -> IndexResult:
        faces = self.analyser_of(collection).analyze(image)
        return self.index_analyzed(collection, image.sha256, external_image_id, faces, max_faces)

    def index_analyzed(self, collection: str, image_id: str, external_image_id: str,
                       faces: list[AnalyzedFace], max_faces: int = 100) -> IndexResult:
        """Store analysed faces; the ``max_faces`` largest are indexed, the rest unindexed.

        Re-indexing the same ``external_image_id`` replaces its earlier faces (so a crashed batch
        can be rerun without duplicates).
        """
        check_max_faces(max_faces, 100)
        order = sorted(range(len(faces)), key=lambda i: -faces[i].detail.box.area)
        keep = set(order[:max_faces])
        indexed, unindexed, rows = [], [], []
        for i, f in enumerate(faces):
            if i in keep and f.vector is not None:
                face = IndexedFace(str(uuid.uuid4()), image_id, external_image_id, f.detail)
                indexed.append(face)
                rows.append((face, f.vector))
            else:
                unindexed.append(UnindexedFace(f.detail, ("EXCEEDS_MAX_FACES",)))
        self.store.replace_image(collection, external_image_id, rows)
        return IndexResult(tuple(indexed), tuple(unindexed), self.store.model(collection)[1])

    def index_face_region(self, collection: str, image: LoadedImage, box: BoundingBox,
                          external_image_id: str) -> IndexedFace:
        """Index the one face of ``image`` that best overlaps ``box`` (relative), leaving others as they are.

        Used to index a face the engine left out ("index anyway").
        """
        faces = [f for f in self.analyser_of(collection).analyze(image) if f.vector is not None]
        best = max(faces, key=lambda f: overlap(f.detail.box, box), default=None)
        if best is None or best.vector is None or overlap(best.detail.box, box) < 0.3:
            raise NoFaceFound("no face found in that part of the image any more")
        face = IndexedFace(str(uuid.uuid4()), image.sha256, external_image_id, best.detail)
        self.store.insert(collection, [(face, best.vector)])
        return face

    def forget_images(self, collection: str, external_ids: set[str], keep: frozenset[str] = frozenset()) -> list[str]:
        ids = [fid for ext in sorted(external_ids) for fid in self.store.face_ids(collection, ext) if fid not in keep]
        return self.store.delete_faces(collection, ids) if ids else []

    def forget_answers(self, sha256s: Iterable[str]) -> None:
        """Nothing is cached outside the catalog's own rows."""

    def spending(self, collection: str, limit: SpendLimit | None) -> AbstractContextManager[None]:
        """Nothing is paid: no call is ever charged."""
        return nullcontext()

    def list_faces(self, collection: str) -> list[str]:
        return self.store.face_ids(collection)

    def delete_faces(self, collection: str, face_ids: list[str]) -> list[str]:
        """Every id is gone afterwards (one transaction), deleted now or unknown already."""
        self.store.delete_faces(collection, face_ids)
        self._matrices.forget(collection, face_ids)  # no erased vector stays in memory (issue 22)
        return list(dict.fromkeys(face_ids))

    # -- search ------------------------------------------------------------------------------
    def vector(self, collection: str, face_id: str) -> np.ndarray:
        """The stored descriptor of a face."""
        return self.store.vector(collection, face_id)

    def search_vector(self, collection: str, vector: np.ndarray, threshold: float = DEFAULT_THRESHOLD, max_faces: int = 50,
                      exclude: str | None = None, model: str | None = None) -> list[Match]:
        """Faces whose similarity to ``vector`` is >= ``threshold`` (0-100), most alike first.

        ``model``: the model that made ``vector``; a collection indexed by another is refused.
        """
        check_threshold(threshold)
        check_max_faces(max_faces)
        own = self.model_of(collection)
        if model is not None and model != own:
            raise InvalidParameter(f"collection {collection!r} was indexed with the {own} model; a {model} "
                                   f"descriptor cannot search it (re-index it with {model}, or search with {own})")
        if np.asarray(vector).size != DIM:
            raise InvalidParameter(f"a descriptor of {np.asarray(vector).size} numbers cannot search {DIM}-D vectors")
        calibration = CALIBRATIONS[own]
        matrix = self._matrices.get(collection)
        max_d = calibration.distance_for(threshold) if threshold > 0 else float("inf")
        hits = matrix.nearest(vector, max_faces + (1 if exclude else 0), max_d)
        dist = {matrix.face_id(i): d for i, d in hits}
        ids = [f for f in dist if f != exclude][:max_faces]
        faces = self.store.faces(ids)
        return [Match(faces[f], round(float(calibration.similarity(dist[f])), 4)) for f in ids if f in faces]

    def search_faces(self, collection: str, face_id: str, threshold: float = DEFAULT_THRESHOLD,
                     max_faces: int = 50) -> list[Match]:
        check_threshold(threshold)
        check_max_faces(max_faces)
        return self.search_vector(collection, self.vector(collection, face_id), threshold, max_faces, exclude=face_id)

    def search_region(self, collection: str, rgb: np.ndarray, box: BoundingBox, threshold: float = DEFAULT_THRESHOLD,
                      max_faces: int = 1) -> list[Match]:
        analyser = self.analyser_of(collection)
        return self.search_vector(collection, analyser.describe_box(rgb, box), threshold, max_faces,
                                  model=analyser.model)

    def search_faces_by_image(self, collection: str, image: LoadedImage, threshold: float = DEFAULT_THRESHOLD,
                              max_faces: int = 50, face_index: int | None = None) -> ImageSearch:
        analyser = self.analyser_of(collection)
        faces = analyser.analyze(image)
        details = tuple(f.detail for f in faces)
        chosen = largest_face(details) if face_index is None else face_index
        if chosen is None:
            return ImageSearch((), None, ())
        if not 0 <= chosen < len(faces):
            raise InvalidParameter(f"face index {chosen} is out of range: the image has {len(faces)} faces")
        vector = faces[chosen].vector
        assert vector is not None  # analyze() described every face
        matches = self.search_vector(collection, vector, threshold, max_faces, model=analyser.model)
        return ImageSearch(details, chosen, tuple(matches))

    def compare_faces(self, source: LoadedImage, target: LoadedImage, threshold: float = DEFAULT_THRESHOLD) -> list[Match]:
        check_threshold(threshold)
        src = self.analyze(source)
        chosen = largest_face([f.detail for f in src])
        if chosen is None:
            return []
        q = src[chosen].vector
        out = []
        for i, f in enumerate(self.analyze(target)):
            sim = float(CALIBRATIONS[self.model].similarity(float(np.linalg.norm(np.asarray(f.vector) - np.asarray(q)))))
            if sim >= threshold:
                out.append(Match(IndexedFace(f"target-{i}", target.sha256, target.sha256, f.detail), round(sim, 4)))
        return sorted(out, key=lambda m: -m.similarity)
