"""What a threshold means for a collection's size: "about N false matches expected among M faces".

Per model, the distances between faces of different people on ../shared/faces-dev (every pair of
faces from two labelled photos that cannot show one person: 1,331 pairs for sface, 1,179 for dlib)
are fitted with a logistic distribution (same mean and spread; its tails are heavier than a
normal's, so the estimate errs high: at the 50% floor sface's fit says 1.3% of strangers, the dev
pairs 0.5%; at 80 dlib's says 0.29%, the dev pairs 0 of 1,179). A search then expects
``false_accept_rate(threshold) x faces`` strangers at or above the threshold, and a search by
person with k query faces at most k times that. Rekognition publishes no such curve: None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..collection import Collection


@dataclass(frozen=True)
class StrangerDistances:
    """Mean and standard deviation of different-person descriptor distances (dev set)."""

    mean: float
    sd: float

    def false_accept_rate(self, distance: float) -> float:
        """The share of different-person pairs at ``distance`` or closer (logistic fit)."""
        s = self.sd * math.sqrt(3.0) / math.pi
        return 1.0 / (1.0 + math.exp(min(700.0, (self.mean - distance) / s)))


#: Measured with the script in the README ("Search by person, watchlists, review").
STRANGERS = {"sface": StrangerDistances(1.3330, 0.0641), "dlib": StrangerDistances(0.8535, 0.0974)}


def false_accept_rate(model: str | None, threshold: float) -> float | None:
    """The chance that one face of a stranger reaches ``threshold`` (0-100) on ``model``; None when
    the model has no calibration (Rekognition)."""
    from ..engines.local.similarity import CALIBRATIONS

    if model not in STRANGERS or model not in CALIBRATIONS:
        return None
    return STRANGERS[model].false_accept_rate(CALIBRATIONS[model].distance_for(threshold))


def expected_false_matches(model: str | None, threshold: float, faces: int, queries: int = 1) -> float | None:
    """Strangers expected at or above ``threshold`` when ``queries`` faces search ``faces`` faces."""
    rate = false_accept_rate(model, threshold)
    return None if rate is None else rate * max(0, faces) * max(1, queries)


def false_match_note(coll: Collection, threshold: float, queries: int = 1) -> str:
    """"about N false matches expected among M faces" for a search of ``coll`` at ``threshold``."""
    faces = coll.counts()["faces"]
    n = expected_false_matches(coll.model, threshold, faces, queries)
    if n is None:
        return f"{faces:,} faces; this engine publishes no false-match rate for a threshold"
    shown = f"{n:.0f}" if n >= 10 else f"{n:.1f}" if n >= 0.1 else "fewer than 0.1"
    return f"about {shown} false match{'es' if shown != '1' else ''} expected among {faces:,} faces"
