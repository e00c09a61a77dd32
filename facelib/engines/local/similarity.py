"""Mapping a model's Euclidean descriptor distance to a similarity percentage, one calibration a model.

``similarity(d) = 100 / (1 + exp((d - midpoint) / scale))``: monotone decreasing in the distance
``d`` (0 = identical descriptors), 50 at ``midpoint``, tending to 100 at distance 0 and to 0 far
away; ``scale`` is set so that similarity 80 (Rekognition's default threshold) falls at
``distance_at_80``. Both points were calibrated on ``../shared/faces-dev`` (``python -m
bench.calibrate --model NAME``) so that a threshold means the same precision on every model: at 70
and above no different-person pair of that set matches, on either model; see the README's tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Calibration:
    """One model's mapping. Distances are Euclidean between its descriptors."""

    midpoint: float          # distance that maps to similarity 50
    distance_at_80: float    # distance that maps to similarity 80

    @property
    def scale(self) -> float:
        """Spread of the logistic, in distance units."""
        return (self.midpoint - self.distance_at_80) / math.log(4.0)

    def similarity(self, distance: float | np.ndarray) -> float | np.ndarray:
        """Similarity 0-100 for a distance (>= 0). Works on scalars and numpy arrays."""
        d = np.asarray(distance, dtype=np.float64)
        s = 100.0 / (1.0 + np.exp(np.clip((d - self.midpoint) / self.scale, -50, 50)))
        return float(s) if s.ndim == 0 else s

    def distance_for(self, similarity_pct: float) -> float:
        """The largest distance whose similarity is >= ``similarity_pct`` (strictly inside 0-100)."""
        p = min(max(float(similarity_pct), 1e-9), 100.0 - 1e-9)
        return self.midpoint + self.scale * math.log(100.0 / p - 1.0)


#: dlib's 128-D ResNet descriptors (norm about 1.4). On faces-dev: same-person distances median
#: 0.374, 95th percentile 0.660; different-person minimum 0.592, 5th percentile 0.693.
DLIB = Calibration(midpoint=0.64, distance_at_80=0.54)
#: SFace's 128-D descriptors, L2-normalised (distance = sqrt(2 - 2 cos)). On faces-dev: same-person
#: median 0.688, 95th percentile 0.938, maximum 1.065; different-person minimum 1.122, 1st
#: percentile 1.189. Placed like dlib's: 80 well inside the gap, 50 among the closest strangers.
SFACE = Calibration(midpoint=1.18, distance_at_80=1.00)
CALIBRATIONS = {"dlib": DLIB, "sface": SFACE}

# dlib's mapping under its historic names.
MIDPOINT = DLIB.midpoint
DISTANCE_AT_80 = DLIB.distance_at_80
SCALE = DLIB.scale


def similarity(distance: float | np.ndarray) -> float | np.ndarray:
    """dlib's similarity 0-100 for a distance (see :data:`DLIB`)."""
    return DLIB.similarity(distance)


def distance_for(similarity_pct: float) -> float:
    """dlib's inverse mapping (see :data:`DLIB`)."""
    return DLIB.distance_for(similarity_pct)
