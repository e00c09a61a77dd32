"""Where facelib keeps its data and the defaults it runs with: the one module that reads
environment variables.

Every variable is declared once below with :func:`var` (its name, what values it allows, its
default and one line on what it does); :class:`Settings` reads its fields from them. A value
that is not allowed is refused with a :class:`SettingError` naming the variable, the value and
what is allowed: never replaced by the default. The README's table of variables is
``python -m facelib.settings``. To add one::

    JOB_WORKERS = var("FACESEARCH_JOB_WORKERS", integer(1, 64), 2, "threads that run queued jobs")
    ...
    job_workers: int = field(default_factory=JOB_WORKERS.read)      # in Settings
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

from .errors import FaceLibError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Rekognition's default match threshold (similarity 0-100); every model is calibrated so that it
#: means the same precision. The one literal: everything else reads this or Settings.default_threshold.
DEFAULT_THRESHOLD = 80.0

T = TypeVar("T")


class SettingError(FaceLibError, ValueError):
    """An environment variable holds a value that is not allowed (the message names the variable,
    the value and what is allowed, on one line)."""

    def __init__(self, name: str, value: str, allowed: str, secret: bool = False) -> None:
        self.name, self.value, self.allowed = name, value, allowed
        shown = "(hidden)" if secret else repr(value)
        super().__init__(f"{name}={shown} is not allowed: expected {allowed}")


# -- what a value may be --------------------------------------------------------------------------
@dataclass(frozen=True)
class Kind(Generic[T]):
    """How a variable's text becomes a value: ``parse`` raises ValueError (or TypeError) when the
    text is not ``allowed``, the words an error shows."""

    allowed: str
    parse: Callable[[str], T]


def _range(lo: float | None, hi: float | None, above: bool) -> str:
    if lo is not None and hi is not None:
        return f" from {lo:g} to {hi:g}"
    if lo is not None:
        return f" {'above' if above else 'at least'} {lo:g}"
    return "" if hi is None else f" at most {hi:g}"


def _bounded(x: float, lo: float | None, hi: float | None, above: bool) -> None:
    if not math.isfinite(x) or (lo is not None and (x <= lo if above else x < lo)) or (hi is not None and x > hi):
        raise ValueError(x)


def integer(lo: int | None = None, hi: int | None = None) -> Kind[int]:
    """A whole number within [lo, hi] ("2.5" and "1e3" are refused)."""

    def parse(text: str) -> int:
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(text)
        n = int(text)
        _bounded(n, lo, hi, False)
        return n

    return Kind(f"a whole number{_range(lo, hi, False)}", parse)


def number(lo: float | None = None, hi: float | None = None, *, above: bool = False) -> Kind[float]:
    """A finite decimal number within [lo, hi] (above ``lo`` when ``above``)."""

    def parse(text: str) -> float:
        x = float(text)
        _bounded(x, lo, hi, above)
        return x

    return Kind(f"a number{_range(lo, hi, above)}", parse)


def optional(kind: Kind[T]) -> Kind[T | None]:
    """``kind``, with the variable unset or empty meaning None."""
    return Kind(kind.allowed, kind.parse)


TEXT: Kind[str] = Kind("any text", str)


def choice(*options: str) -> Kind[str]:
    def parse(text: str) -> str:
        if text.lower() not in options:
            raise ValueError(text)
        return text.lower()

    return Kind("one of " + ", ".join(options), parse)


def url(*schemes: str) -> Kind[str]:
    def parse(text: str) -> str:
        if not re.fullmatch(rf"(?:{'|'.join(schemes)})://[^\s/]+(?:/\S*)?", text):
            raise ValueError(text)
        return text

    return Kind(" or ".join(f"a {s}:// address" for s in schemes), parse)


def _path(text: str) -> Path:
    return Path(text).expanduser().resolve()


PATH: Kind[Path] = Kind("a folder path", _path)
FILE: Kind[Path] = Kind("a file path", _path)
PATHS: Kind[tuple[Path, ...]] = Kind(
    f"folder paths separated by {os.pathsep!r}", lambda text: tuple(_path(p) for p in text.split(os.pathsep) if p.strip())
)
EMAILS: Kind[tuple[str, ...]] = Kind(
    "comma-separated e-mail addresses", lambda text: tuple(a.strip().lower() for a in text.split(",") if a.strip())
)


def _json_list(text: str) -> tuple[dict[str, Any], ...]:
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(text)
    return tuple(value)


JSON_DICTS: Kind[tuple[dict[str, Any], ...]] = Kind("a JSON list of objects", _json_list)


# -- the variables ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Var(Generic[T]):
    """One environment variable: its name, kind, default and what it does (the README's table)."""

    name: str
    kind: Kind[T]
    default: T
    doc: str
    secret: bool = False  # never shown: not in errors, not in logs
    default_text: str = ""  # the default as the README shows it ("" : the default's repr)

    def read(self, environ: Mapping[str, str] | None = None) -> T:
        """The variable's value (its default when unset or empty); :class:`SettingError` when the
        value is not allowed."""
        raw = (os.environ if environ is None else environ).get(self.name, "").strip()
        if not raw:
            return self.default
        try:
            return self.kind.parse(raw)
        except (ValueError, TypeError) as exc:
            raise SettingError(self.name, raw, self.kind.allowed, self.secret) from exc


#: Every variable facelib reads, by name, in declaration order.
VARIABLES: dict[str, Var[Any]] = {}


def var(name: str, kind: Kind[T], default: T, doc: str, *, secret: bool = False, default_text: str = "") -> Var[T]:
    """Declare a variable (names are unique and start with ``FACESEARCH_``)."""
    if not name.startswith("FACESEARCH_") or name in VARIABLES:
        raise ValueError(f"{name}: variables are named FACESEARCH_* and declared once")
    v = Var(name, kind, default, doc, secret, default_text)
    VARIABLES[name] = v
    return v


DATA_DIR = var(
    "FACESEARCH_DATA_DIR",
    PATH,
    PROJECT_ROOT / "data",
    "the data directory: everything the app writes at run time lives below it",
    default_text="`data/` beside `facelib/`",
)
ALLOWED_ROOTS = var(
    "FACESEARCH_ALLOWED_ROOTS",
    PATHS,
    (),
    "folders of this server the app may index from (the Index page's server folder)",
    default_text="none",
)
ICE_SERVERS = var(
    "FACESEARCH_ICE_SERVERS",
    JSON_DICTS,
    (),
    'WebRTC ICE servers of the Live page, e.g. `[{"urls": "stun:host:3478"}]` (may hold TURN credentials: never logged)',
    secret=True,
    default_text="none (localhost)",
)
PRICES = var(
    "FACESEARCH_PRICES",
    TEXT,
    "",
    "a JSON object overriding Rekognition prices in dollars: `group1`, `group2`, `per_face_month`",
    default_text="us-east-1, first tier",
)
BUDGET_USD = var(
    "FACESEARCH_BUDGET_USD",
    optional(number(0)),
    None,
    "refuse a Rekognition batch whose estimate exceeds this many dollars",
    default_text="no limit",
)
AWS_CONCURRENCY = var("FACESEARCH_AWS_CONCURRENCY", integer(1), 16, "Rekognition calls in flight when a batch starts")
AWS_MAX_CONCURRENCY = var("FACESEARCH_AWS_MAX_CONCURRENCY", optional(integer(1)), None,
                          "the most Rekognition calls a batch keeps in flight while it finds the account's quota",
                          default_text="4 x FACESEARCH_AWS_CONCURRENCY")
AWS_CALLS_PER_SECOND = var(
    "FACESEARCH_AWS_CALLS_PER_SECOND",
    optional(number(0, above=True)),
    None,
    "at most this many Rekognition calls a second in a batch",
    default_text="no limit",
)
AWS_ENDPOINT_URL = var(
    "FACESEARCH_AWS_ENDPOINT_URL",
    optional(url("http", "https")),
    None,
    "another Rekognition/STS/S3 endpoint (a local one in tests)",
    default_text="AWS's",
)
UPLOAD_MAX_MB = var("FACESEARCH_UPLOAD_MAX_MB", number(0, above=True), 500.0, "the Index page's limit per uploaded file, in MB")
UPLOAD_MAX_FILES = var("FACESEARCH_UPLOAD_MAX_FILES", integer(1), 2000, "the Index page's limit of files per batch of uploads")
CLUSTER = var(
    "FACESEARCH_CLUSTER",
    optional(TEXT),
    None,
    "a Dask scheduler (`tcp://HOST:8786`) that runs the local engine's per-image analysis",
    default_text="none: this machine's process pool",
)
CLUSTER_SHARED = var(
    "FACESEARCH_CLUSTER_SHARED",
    PATHS,
    (),
    "folders the cluster's workers see at the same path (they read those files themselves)",
    default_text="none",
)
CLUSTER_TLS_CA = var(
    "FACESEARCH_CLUSTER_TLS_CA",
    optional(FILE),
    None,
    "the CA certificate (PEM) a cluster's scheduler and workers are signed by: required for a cluster "
    "not on loopback (mutual TLS, `tls://HOST:8786`)",
    default_text="none: loopback clusters only",
)
CLUSTER_TLS_CERT = var("FACESEARCH_CLUSTER_TLS_CERT", optional(FILE), None,
                       "this coordinator's TLS certificate (PEM) for the cluster", default_text="none")
CLUSTER_TLS_KEY = var("FACESEARCH_CLUSTER_TLS_KEY", optional(FILE), None,
                      "this coordinator's TLS private key (PEM) for the cluster", default_text="none")
VIDEO_FPS = var("FACESEARCH_VIDEO_FPS", number(0.5, 30.0), 4.0,
                "frames a second sampled from a video (4: a face on screen for 1 s is seen 4 times)")
VIDEO_MAX_SECONDS = var("FACESEARCH_VIDEO_MAX_SECONDS", number(1.0), 4 * 3600.0,
                        "the longest video indexed, in seconds (longer ones are refused)", default_text="14400 (4 h)")
VIDEO_MAX_SIDE = var("FACESEARCH_VIDEO_MAX_SIDE", integer(64), 1920,
                     "the largest video frame side indexed, in pixels (larger videos are refused)")
VIDEO_MAX_MB = var("FACESEARCH_VIDEO_MAX_MB", number(1.0), 8192.0,
                   "the largest video file indexed, in MB (read from its file, never held in memory)")
ADMINS = var("FACESEARCH_ADMINS", EMAILS, (), "with a login configured, the users who see every collection", default_text="none")
LOG_LEVEL = var(
    "FACESEARCH_LOG_LEVEL",
    choice("debug", "info", "warning", "error"),
    "info",
    "the level of facelib's and the pages' log lines (other libraries log warnings and up)",
)
LOG_FORMAT = var(
    "FACESEARCH_LOG_FORMAT",
    choice("text", "json"),
    "text",
    "log lines on stderr: `text` (time level logger: message) or `json` (one object a line)",
)

# The names earlier code used.
ENV_DATA_DIR, ENV_ALLOWED_ROOTS, ENV_ICE_SERVERS, ENV_PRICES = (v.name for v in (DATA_DIR, ALLOWED_ROOTS, ICE_SERVERS, PRICES))
ENV_BUDGET, ENV_CONCURRENCY, ENV_RATE, ENV_ENDPOINT = (
    v.name for v in (BUDGET_USD, AWS_CONCURRENCY, AWS_CALLS_PER_SECOND, AWS_ENDPOINT_URL)
)
ENV_UPLOAD_MB, ENV_UPLOAD_FILES, ENV_ADMINS = UPLOAD_MAX_MB.name, UPLOAD_MAX_FILES.name, ADMINS.name
ENV_CLUSTER, ENV_CLUSTER_SHARED = CLUSTER.name, CLUSTER_SHARED.name


def check(environ: Mapping[str, str] | None = None) -> None:
    """Read every variable; one :class:`SettingError` for every value that is not allowed (its
    message lists them all, on one line). The app and the CLI call this before anything else."""
    errors: list[SettingError] = []
    for v in VARIABLES.values():
        try:
            v.read(environ)
        except SettingError as exc:
            errors.append(exc)
    try:
        prices(environ)
    except SettingError as exc:
        errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        first = errors[0]
        combined = SettingError(first.name, first.value, first.allowed)
        combined.args = ("; ".join(str(e) for e in errors),)
        raise combined


def describe(environ: Mapping[str, str] | None = None) -> str:
    """The variables set in the environment, as ``NAME=value`` (secret ones as ``NAME=(hidden)``)."""
    env = os.environ if environ is None else environ
    return (
        ", ".join(
            f"{v.name}={'(hidden)' if v.secret else env[v.name].strip()}"
            for v in VARIABLES.values()
            if env.get(v.name, "").strip()
        )
        or "none set"
    )


def markdown_table() -> str:
    """The README's table of every variable."""
    rows = ["| variable | allowed | default | what it does |", "| --- | --- | --- | --- |"]
    for v in VARIABLES.values():
        default = v.default_text or f"`{v.default}`"
        rows.append(f"| `{v.name}` | {v.kind.allowed} | {default} | {v.doc} |")
    return "\n".join(rows)


def allowed_roots() -> list[Path]:
    """Folders of this server the app may index from (``$FACESEARCH_ALLOWED_ROOTS``, os.pathsep-separated)."""
    return list(ALLOWED_ROOTS.read())


def ice_servers() -> list[dict[str, Any]]:
    """WebRTC ICE servers (``$FACESEARCH_ICE_SERVERS``, a JSON list); none on localhost."""
    return list(ICE_SERVERS.read())


def default_data_dir() -> Path:
    """``$FACESEARCH_DATA_DIR`` or ``<project>/data``."""
    return DATA_DIR.read()


#: Rekognition's price groups (its pricing page): Group 1 is billed per image for the face-collection
#: APIs, Users' included; Group 2 per image for the analysis APIs. Every other call is free.
GROUP1 = frozenset(
    {
        "IndexFaces",
        "SearchFaces",
        "SearchFacesByImage",
        "CompareFaces",
        "AssociateFaces",
        "DisassociateFaces",
        "SearchUsers",
        "SearchUsersByImage",
    }
)
GROUP2 = frozenset({"DetectFaces"})


@dataclass(frozen=True)
class Prices:
    """Estimated AWS Rekognition prices in US dollars (first pricing tier, us-east-1), overridable
    with ``$FACESEARCH_PRICES``."""

    group1: float = 0.001  # per Group 1 call (per image): IndexFaces, Search*, CompareFaces, Users' APIs
    group2: float = 0.001  # per Group 2 call (per image): DetectFaces
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


_PRICE_FIELDS = ("group1", "group2", "per_face_month")


def prices(environ: Mapping[str, str] | None = None) -> Prices:
    """:class:`Prices` with ``$FACESEARCH_PRICES`` (a JSON object of its fields) applied."""
    raw = PRICES.read(environ)
    if not raw:
        return Prices()
    allowed = f"a JSON object of numbers of at least 0 with keys among {', '.join(_PRICE_FIELDS)}"
    try:
        value = json.loads(raw)
        if not isinstance(value, dict) or not set(value) <= set(_PRICE_FIELDS):
            raise ValueError(raw)
        parsed = {k: number(0).parse(str(v)) for k, v in value.items()}
    except (ValueError, TypeError) as exc:
        raise SettingError(PRICES.name, raw, allowed) from exc
    return Prices(**parsed)


@dataclass(frozen=True)
class Settings:
    """Run-time settings. Similarities and thresholds are percentages 0-100."""

    data_dir: Path = field(default_factory=DATA_DIR.read)
    engine: str = "local"
    model: str = "sface"  # local engine, new collections: "sface" (YuNet + SFace) or "dlib"
    detector: str = "hog"  # dlib model: "hog" (fast) or "cnn" (mmod, slower, finds turned faces)
    search_floor: float = 50.0  # searches fetch everything above this, thresholds filter locally
    search_max_faces: int = 1000  # MaxFaces of a search made at the floor
    default_threshold: float = DEFAULT_THRESHOLD
    people_threshold: float = DEFAULT_THRESHOLD  # similarity at which faces are grouped into one person
    suggest_threshold: float = 70.0  # "Maybe the same person?" shows pairs whose closest faces are this alike
    aws_region: str | None = None
    aws_profile: str | None = None
    prices: Prices = field(default_factory=prices)
    budget_usd: float | None = field(default_factory=BUDGET_USD.read)  # per batch
    aws_concurrency: int = field(default_factory=AWS_CONCURRENCY.read)
    aws_max_concurrency: int | None = field(default_factory=AWS_MAX_CONCURRENCY.read)
    aws_calls_per_second: float | None = field(default_factory=AWS_CALLS_PER_SECOND.read)
    aws_endpoint_url: str | None = field(default_factory=AWS_ENDPOINT_URL.read)
    aws_deadline: float = 30.0  # seconds an interactive call may take, retries included
    search_cache_days: float = 7.0  # cached paid searches expire after this many days
    upload_max_mb: float = field(default_factory=UPLOAD_MAX_MB.read)  # per file
    admins: tuple[str, ...] = field(default_factory=ADMINS.read)
    upload_max_files: int = field(default_factory=UPLOAD_MAX_FILES.read)
    allowed_roots: tuple[Path, ...] = field(default_factory=ALLOWED_ROOTS.read)
    cluster: str | None = field(default_factory=CLUSTER.read)
    cluster_shared_paths: tuple[Path, ...] = field(default_factory=CLUSTER_SHARED.read)
    #: Mutual TLS with a cluster that is not on loopback: CA, this coordinator's certificate and key.
    cluster_tls: tuple[Path | None, Path | None, Path | None] = field(
        default_factory=lambda: (CLUSTER_TLS_CA.read(), CLUSTER_TLS_CERT.read(), CLUSTER_TLS_KEY.read()))
    ice_servers: tuple[dict[str, Any], ...] = field(default_factory=ICE_SERVERS.read)

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


if __name__ == "__main__":  # the README's table
    print(markdown_table())
