"""Where facelib keeps its data and the defaults it runs with: the one module that reads
environment variables.

- ``FACESEARCH_DATA_DIR``: the data directory (default ``data/`` beside the ``facelib`` package);
  everything the app writes at run time lives below it.
- ``FACESEARCH_ALLOWED_ROOTS``: folders of this server the app may index from (``os.pathsep``-separated).
- ``FACESEARCH_ICE_SERVERS``: JSON list of WebRTC ICE servers for the Live page (default none).
- ``FACESEARCH_PRICES``: JSON object overriding :class:`Prices` fields (US dollars), e.g.
  ``{"group1": 0.0008}``.
- ``FACESEARCH_BUDGET_USD``: refuse a Rekognition batch whose estimate exceeds this many dollars.
- ``FACESEARCH_AWS_CONCURRENCY`` (default 16) and ``FACESEARCH_AWS_CALLS_PER_SECOND`` (default
  unlimited): how a Rekognition batch fans out.
- ``FACESEARCH_AWS_ENDPOINT_URL``: another Rekognition/STS endpoint (a local one in tests).
- ``FACESEARCH_UPLOAD_MAX_MB`` (default 500) and ``FACESEARCH_UPLOAD_MAX_FILES`` (default 2000): the
  Index page's limits per uploaded file and per batch of uploads.
- ``FACESEARCH_CLUSTER``: a Dask scheduler (``tcp://HOST:8786``) that runs the local engine's
  per-image analysis instead of this machine's process pool (default: none, the process pool).
- ``FACESEARCH_CLUSTER_SHARED``: folders (``os.pathsep``-separated) the cluster's workers see at the
  same path, so they read those files themselves (any file, when every worker runs on this machine).
- ``FACESEARCH_ADMINS``: with a login configured, the users (comma-separated e-mails) who see every
  collection, including those made without a login.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Rekognition's default match threshold (similarity 0-100); every model is calibrated so that it
#: means the same precision. The one literal: everything else reads this or Settings.default_threshold.
DEFAULT_THRESHOLD = 80.0
ENV_DATA_DIR = "FACESEARCH_DATA_DIR"
ENV_ALLOWED_ROOTS = "FACESEARCH_ALLOWED_ROOTS"
ENV_ICE_SERVERS = "FACESEARCH_ICE_SERVERS"
ENV_PRICES = "FACESEARCH_PRICES"
ENV_BUDGET = "FACESEARCH_BUDGET_USD"
ENV_CONCURRENCY = "FACESEARCH_AWS_CONCURRENCY"
ENV_RATE = "FACESEARCH_AWS_CALLS_PER_SECOND"
ENV_ENDPOINT = "FACESEARCH_AWS_ENDPOINT_URL"
ENV_UPLOAD_MB = "FACESEARCH_UPLOAD_MAX_MB"
ENV_ADMINS = "FACESEARCH_ADMINS"
ENV_UPLOAD_FILES = "FACESEARCH_UPLOAD_MAX_FILES"
ENV_CLUSTER = "FACESEARCH_CLUSTER"
ENV_CLUSTER_SHARED = "FACESEARCH_CLUSTER_SHARED"


def allowed_roots() -> list[Path]:
    """Folders of this server the app may index from (``$FACESEARCH_ALLOWED_ROOTS``, os.pathsep-separated)."""
    raw = os.environ.get(ENV_ALLOWED_ROOTS, "")
    return [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]


def _paths(name: str) -> tuple[Path, ...]:
    raw = os.environ.get(name, "")
    return tuple(Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip())


def ice_servers() -> list[dict[str, Any]]:
    """WebRTC ICE servers (``$FACESEARCH_ICE_SERVERS``, a JSON list); none on localhost."""
    raw = os.environ.get(ENV_ICE_SERVERS, "").strip()
    if not raw:
        return []
    value = json.loads(raw)
    if not isinstance(value, list):
        raise ValueError(f"{ENV_ICE_SERVERS} must be a JSON list of ICE servers")
    return value


def default_data_dir() -> Path:
    """``$FACESEARCH_DATA_DIR`` or ``<project>/data``."""
    return Path(os.environ.get(ENV_DATA_DIR) or PROJECT_ROOT / "data").expanduser().resolve()


#: Rekognition's price groups (its pricing page): Group 1 is billed per image for the face-collection
#: APIs, Users' included; Group 2 per image for the analysis APIs. Every other call is free.
GROUP1 = frozenset({"IndexFaces", "SearchFaces", "SearchFacesByImage", "CompareFaces", "AssociateFaces",
                    "DisassociateFaces", "SearchUsers", "SearchUsersByImage"})
GROUP2 = frozenset({"DetectFaces"})


@dataclass(frozen=True)
class Prices:
    """Estimated AWS Rekognition prices in US dollars (first pricing tier, us-east-1), overridable
    with ``$FACESEARCH_PRICES``."""

    group1: float = 0.001          # per Group 1 call (per image): IndexFaces, Search*, CompareFaces, Users' APIs
    group2: float = 0.001          # per Group 2 call (per image): DetectFaces
    per_face_month: float = 0.00001  # face metadata storage, per face per month

    def of(self, operation: str) -> float:
        """Dollars for one call of ``operation`` (0 for the free collection and listing calls)."""
        if operation in GROUP1:
            return self.group1
        if operation in GROUP2:
            return self.group2
        return 0.0

    @property
    def per_image_call(self) -> float:
        """The Group 1 price (IndexFaces, searches): what one new photo costs to index."""
        return self.group1


def prices() -> Prices:
    """:class:`Prices` with ``$FACESEARCH_PRICES`` (a JSON object of its fields) applied."""
    raw = os.environ.get(ENV_PRICES, "").strip()
    if not raw:
        return Prices()
    value = json.loads(raw)
    known = {"group1", "group2", "per_face_month"}
    if not isinstance(value, dict) or not set(value) <= known:
        raise ValueError(f"{ENV_PRICES} must be a JSON object with fields among {sorted(known)}")
    return Prices(**{k: float(v) for k, v in value.items()})


def _number(name: str, default: float | None) -> float | None:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    """Run-time settings. Similarities and thresholds are percentages 0-100."""

    data_dir: Path = field(default_factory=default_data_dir)
    engine: str = "local"
    model: str = "sface"             # local engine, new collections: "sface" (YuNet + SFace) or "dlib"
    detector: str = "hog"            # dlib model: "hog" (fast) or "cnn" (mmod, slower, finds turned faces)
    search_floor: float = 50.0       # searches fetch everything above this, thresholds filter locally
    search_max_faces: int = 1000     # MaxFaces of a search made at the floor
    default_threshold: float = DEFAULT_THRESHOLD
    people_threshold: float = DEFAULT_THRESHOLD   # similarity at which faces are grouped into one person
    suggest_threshold: float = 70.0  # "Maybe the same person?" shows pairs whose closest faces are this alike
    aws_region: str | None = None
    aws_profile: str | None = None
    prices: Prices = field(default_factory=prices)
    budget_usd: float | None = field(default_factory=lambda: _number(ENV_BUDGET, None))  # per batch
    aws_concurrency: int = field(default_factory=lambda: int(_number(ENV_CONCURRENCY, 16) or 16))
    aws_calls_per_second: float | None = field(default_factory=lambda: _number(ENV_RATE, None))
    aws_endpoint_url: str | None = field(default_factory=lambda: os.environ.get(ENV_ENDPOINT) or None)
    aws_deadline: float = 30.0       # seconds an interactive call may take, retries included
    search_cache_days: float = 7.0   # cached paid searches expire after this many days
    upload_max_mb: float = field(default_factory=lambda: _number(ENV_UPLOAD_MB, 500.0) or 500.0)  # per file
    admins: tuple[str, ...] = field(default_factory=lambda: tuple(
        a.strip().lower() for a in os.environ.get(ENV_ADMINS, "").split(",") if a.strip()))
    upload_max_files: int = field(default_factory=lambda: int(_number(ENV_UPLOAD_FILES, 2000) or 2000))
    allowed_roots: tuple[Path, ...] = field(default_factory=lambda: tuple(allowed_roots()))
    cluster: str | None = field(default_factory=lambda: os.environ.get(ENV_CLUSTER, "").strip() or None)
    cluster_shared_paths: tuple[Path, ...] = field(default_factory=lambda: _paths(ENV_CLUSTER_SHARED))
    ice_servers: tuple[dict[str, Any], ...] = field(default_factory=lambda: tuple(ice_servers()))

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().resolve())

    @property
    def samples_dir(self) -> Path:
        """The sample photos shipped with the project (``data/samples``)."""
        return PROJECT_ROOT / "data" / "samples"

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

    def with_(self, **changes: Any) -> Settings:
        """A copy with the fields that are not None changed (``data_dir`` may be a str)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
