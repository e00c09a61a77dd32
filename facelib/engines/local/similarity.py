"""Mapping dlib's Euclidean descriptor distance to a similarity percentage.

``similarity(d) = 100 / (1 + exp((d - MIDPOINT) / SCALE))``: monotone decreasing in the distance
``d`` (0 = identical descriptors), 50 at ``MIDPOINT``, tending to 100 at distance 0 and to 0 far
away. MIDPOINT and SCALE were calibrated on ``../shared/faces-dev`` (``bench/calibrate.py``) so
that a threshold of 80 (Rekognition's default) falls at :data:`DISTANCE_AT_80`, where that set
showed few false matches and most true ones; see the README's calibration table.
"""

from __future__ import annotations

import math

import numpy as np

#: Distance that maps to similarity 50.
MIDPOINT = 0.64
#: Distance at which the similarity is 80 (the default threshold).
DISTANCE_AT_80 = 0.54
#: Spread of the logistic, in distance units; set so that similarity(DISTANCE_AT_80) == 80.
SCALE = (MIDPOINT - DISTANCE_AT_80) / math.log(4.0)


def similarity(distance: float | np.ndarray) -> float | np.ndarray:
    """Similarity 0-100 for a Euclidean distance (>= 0). Works on scalars and numpy arrays."""
    d = np.asarray(distance, dtype=np.float64)
    s = 100.0 / (1.0 + np.exp(np.clip((d - MIDPOINT) / SCALE, -50, 50)))
    return float(s) if s.ndim == 0 else s


def distance_for(similarity_pct: float) -> float:
    """Inverse of :func:`similarity`: the largest distance whose similarity is >= ``similarity_pct``.

    ``similarity_pct`` must be strictly between 0 and 100.
    """
    p = min(max(float(similarity_pct), 1e-9), 100.0 - 1e-9)
    return MIDPOINT + SCALE * math.log(100.0 / p - 1.0)
