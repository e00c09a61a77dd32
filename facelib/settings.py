"""Where facelib keeps its data and the defaults it runs with.

The data directory is ``$FACESEARCH_DATA_DIR`` when set, else ``data/`` beside the ``facelib``
package. Everything the app writes at run time lives below it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_DATA_DIR = "FACESEARCH_DATA_DIR"
ENV_ALLOWED_ROOTS = "FACESEARCH_ALLOWED_ROOTS"


def allowed_roots() -> list[Path]:
    """Folders of this server the app may index from (``$FACESEARCH_ALLOWED_ROOTS``, os.pathsep-separated)."""
    raw = os.environ.get(ENV_ALLOWED_ROOTS, "")
    return [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]


def default_data_dir() -> Path:
    """``$FACESEARCH_DATA_DIR`` or ``<project>/data``."""
    return Path(os.environ.get(ENV_DATA_DIR) or PROJECT_ROOT / "data").expanduser().resolve()


@dataclass(frozen=True)
class Prices:
    """Estimated AWS Rekognition prices in US dollars."""

    per_image_call: float = 0.001   # IndexFaces, SearchFaces*, CompareFaces, DetectFaces: per image
    per_face_month: float = 0.00001  # face metadata storage, per face per month


@dataclass(frozen=True)
class Settings:
    """Run-time settings. Similarities and thresholds are percentages 0-100."""

    data_dir: Path = field(default_factory=default_data_dir)
    engine: str = "local"
    detector: str = "hog"            # local engine: "hog" (fast) or "cnn" (mmod, slower, finds turned faces)
    search_floor: float = 50.0       # searches fetch everything above this, thresholds filter locally
    search_max_faces: int = 1000     # MaxFaces of a search made at the floor
    default_threshold: float = 80.0
    people_threshold: float = 80.0   # similarity at which faces are grouped into one person
    aws_region: str | None = None
    aws_profile: str | None = None
    prices: Prices = field(default_factory=Prices)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().resolve())

    @property
    def db_path(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def thumbs_dir(self) -> Path:
        return self.data_dir / "thumbs"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    def with_(self, **changes: object) -> "Settings":
        """A copy with some fields changed (``data_dir`` may be a str)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
