"""What every offline model provides (:class:`Analyser`) and gives (:class:`AnalyzedFace`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ...errors import InvalidParameter
from ...images import LoadedImage
from ...records import BoundingBox, FaceDetail

#: The offline models, the default first.
MODELS = ("sface", "dlib")
DEFAULT_MODEL = MODELS[0]


@dataclass(frozen=True)
class AnalyzedFace:
    """A detected face and its descriptor (None when not computed)."""

    detail: FaceDetail
    vector: np.ndarray | None


class Analyser(Protocol):
    """One model's detection, quality figures and descriptors, a pure function of the pixels.

    ``model``: its name ("sface", "dlib"); ``version``: what a collection records.
    """

    model: str
    version: str

    def warm(self) -> None: ...

    def analyze(self, image: LoadedImage, describe: bool = True) -> list[AnalyzedFace]:
        """Every face: detail (box relative 0-1, scores 0-100, pose in degrees) and descriptor."""
        ...

    def detect_boxes(self, arr: np.ndarray) -> list[tuple[BoundingBox, float]]:
        """(box relative 0-1, confidence 0-100) of every face of an RGB array; no descriptors."""
        ...

    def describe_box(self, arr: np.ndarray, box: BoundingBox) -> np.ndarray:
        """The descriptor of the face in ``box`` (relative) of an RGB array."""
        ...


def check_model(model: str) -> str:
    if model not in MODELS:
        raise InvalidParameter(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    return model
