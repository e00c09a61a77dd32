"""The offline engine: dlib analysis (:mod:`.analyser`), vectors in the catalog database
(:mod:`.store`), exact in-memory search (:mod:`.vectors`), distances mapped to similarity 0-100
(:mod:`.similarity`).
"""

from __future__ import annotations

import time
import uuid
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
from ..base import Parallelism, Prepared, check_collection_name, check_max_faces, check_threshold
from .analyser import AnalyzedFace, DlibAnalyser, analyser_for
from .similarity import distance_for, similarity
from .store import LocalStore
from .vectors import DIM, MatrixCache

MODEL_VERSION = "dlib-resnet-v1"


@dataclass(frozen=True)
class LocalPreparer:
    """The per-image work of the local engine: picklable, pure, one analyser per process and setting."""

    detector: str = "hog"

    def __call__(self, image: LoadedImage) -> Prepared:
        analysis = analyser_for(self.detector).analyze(image)
        return Prepared(image.sha256, image.original_size, image.format, [a.detail for a in analysis],
                        payload=[a.vector for a in analysis])


class LocalEngine:
    """Offline engine over dlib. ``detector``: "hog" (default) or "cnn" (mmod)."""

    name = EngineName.LOCAL
    paid = False
    reports_age = False
    parallel: Parallelism = "process"

    def __init__(self, store: LocalStore, detector: str = "hog") -> None:
        self.analyser: DlibAnalyser = analyser_for(detector)
        self.store = store
        self.detector = detector
        self._matrices = MatrixCache(lambda c: self.store.load_matrix(c, DIM), self.store.generation)

    # -- analysis ------------------------------------------------------------------------------
    def warm(self) -> None:
        """Load the models now (they load lazily otherwise)."""
        self.analyser.warm()

    def analyze(self, image: LoadedImage, describe: bool = True) -> list[AnalyzedFace]:
        return self.analyser.analyze(image, describe)

    def detect_boxes(self, arr: np.ndarray) -> list[tuple[BoundingBox, float]]:
        return self.analyser.detect_boxes(arr)

    def model_version(self) -> str | None:
        return MODEL_VERSION

    # -- collections -------------------------------------------------------------------------
    def create_collection(self, collection: str) -> None:
        check_collection_name(collection)
        self.store.create(collection)

    def delete_collection(self, collection: str) -> None:
        self.store.require(collection)
        self.store.delete(collection)
        self._matrices.drop(collection)

    def list_collections(self) -> list[str]:
        return self.store.names()

    def describe_collection(self, collection: str) -> CollectionInfo:
        row = self.store.require(collection)
        return CollectionInfo(collection, self.store.count(collection), MODEL_VERSION,
                              time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row["created_at"])))

    # -- indexing ----------------------------------------------------------------------------
    def detect_faces(self, image: LoadedImage) -> list[FaceDetail]:
        return [a.detail for a in self.analyze(image, describe=False)]

    def preparer(self, collection: str, *, max_faces: int) -> LocalPreparer:
        return LocalPreparer(self.detector)

    def commit(self, collection: str, prepared: Prepared, *, external_id: str, max_faces: int) -> IndexResult:
        faces = [AnalyzedFace(d, v) for d, v in zip(prepared.details, prepared.payload or [], strict=True)]
        return self.index_analyzed(collection, prepared.sha256, external_id, faces, max_faces)

    def index_faces(self, collection: str, image: LoadedImage, external_image_id: str,
                    max_faces: int = 100) -> IndexResult:
        return self.index_analyzed(collection, image.sha256, external_image_id, self.analyze(image), max_faces)

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
        return IndexResult(tuple(indexed), tuple(unindexed), MODEL_VERSION)

    def index_face_region(self, collection: str, image: LoadedImage, box: BoundingBox,
                          external_image_id: str) -> IndexedFace:
        """Index the one face of ``image`` that best overlaps ``box`` (relative), leaving others as they are.

        Used to index a face the engine left out ("index anyway").
        """
        faces = [f for f in self.analyze(image) if f.vector is not None]
        best = max(faces, key=lambda f: overlap(f.detail.box, box), default=None)
        if best is None or best.vector is None or overlap(best.detail.box, box) < 0.3:
            raise NoFaceFound("no face found in that part of the image any more")
        face = IndexedFace(str(uuid.uuid4()), image.sha256, external_image_id, best.detail)
        self.store.insert(collection, [(face, best.vector)])
        return face

    def forget_image(self, collection: str, external_id: str) -> list[str]:
        ids = self.store.face_ids(collection, external_id)
        return self.store.delete_faces(collection, ids) if ids else []

    def list_faces(self, collection: str) -> list[str]:
        return self.store.face_ids(collection)

    def delete_faces(self, collection: str, face_ids: list[str]) -> list[str]:
        return self.store.delete_faces(collection, face_ids)

    # -- search ------------------------------------------------------------------------------
    def vector(self, collection: str, face_id: str) -> np.ndarray:
        """The stored descriptor of a face."""
        return self.store.vector(collection, face_id)

    def search_vector(self, collection: str, vector: np.ndarray, threshold: float = DEFAULT_THRESHOLD, max_faces: int = 50,
                      exclude: str | None = None) -> list[Match]:
        """Faces whose similarity to ``vector`` is >= ``threshold`` (0-100), most alike first."""
        check_threshold(threshold)
        check_max_faces(max_faces)
        matrix = self._matrices.get(collection)
        max_d = distance_for(threshold) if threshold > 0 else float("inf")
        hits = matrix.nearest(vector, max_faces + (1 if exclude else 0), max_d)
        dist = {matrix.face_id(i): d for i, d in hits}
        ids = [f for f in dist if f != exclude][:max_faces]
        faces = self.store.faces(ids)
        return [Match(faces[f], round(float(similarity(dist[f])), 4)) for f in ids if f in faces]

    def search_faces(self, collection: str, face_id: str, threshold: float = DEFAULT_THRESHOLD,
                     max_faces: int = 50) -> list[Match]:
        check_threshold(threshold)
        check_max_faces(max_faces)
        return self.search_vector(collection, self.vector(collection, face_id), threshold, max_faces, exclude=face_id)

    def search_region(self, collection: str, rgb: np.ndarray, box: BoundingBox, threshold: float = DEFAULT_THRESHOLD,
                      max_faces: int = 1) -> list[Match]:
        return self.search_vector(collection, self.analyser.describe_box(rgb, box), threshold, max_faces)

    def search_faces_by_image(self, collection: str, image: LoadedImage, threshold: float = DEFAULT_THRESHOLD,
                              max_faces: int = 50, face_index: int | None = None) -> ImageSearch:
        self.store.require(collection)
        faces = self.analyze(image)
        details = tuple(f.detail for f in faces)
        chosen = largest_face(details) if face_index is None else face_index
        if chosen is None:
            return ImageSearch((), None, ())
        if not 0 <= chosen < len(faces):
            raise InvalidParameter(f"face index {chosen} is out of range: the image has {len(faces)} faces")
        vector = faces[chosen].vector
        assert vector is not None  # analyze() described every face
        matches = self.search_vector(collection, vector, threshold, max_faces)
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
            sim = float(similarity(float(np.linalg.norm(np.asarray(f.vector) - np.asarray(q)))))
            if sim >= threshold:
                out.append(Match(IndexedFace(f"target-{i}", target.sha256, target.sha256, f.detail), round(sim, 4)))
        return sorted(out, key=lambda m: -m.similarity)
