"""The engine interface, shaped after Rekognition's collection API so both engines fit.

Engines declare what they can do as attributes (``paid``, ``reports_age``, ``parallel``) and
optional Protocols (:class:`SupportsUsers`), so callers ask ``isinstance`` instead of ``hasattr``
or comparing engine names. Similarities are percentages 0-100 (higher is more alike);
thresholds are on the same scale; boxes are relative 0-1.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from ..errors import BudgetExceeded, InvalidParameter
from ..images import LoadedImage
from ..records import BoundingBox, CollectionInfo, EngineName, FaceDetail, ImageSearch, IndexedFace, IndexResult, Match
from ..settings import DEFAULT_THRESHOLD, Prices

#: Collection ids Rekognition accepts (its pattern, 255 characters at most; matched in full).
COLLECTION_NAME = re.compile(r"[a-zA-Z0-9_.\-]{1,255}")
#: External image ids both engines accept (Rekognition's pattern; matched in full).
EXTERNAL_ID = re.compile(r"[a-zA-Z0-9_.\-:]{1,255}")
#: Longest display name of a collection (characters).
MAX_DISPLAY_NAME = 100

Parallelism = Literal["process", "thread"]


def check_collection_name(name: str) -> str:
    """Return ``name`` or raise :class:`InvalidParameter` when it does not fit Rekognition's CollectionId pattern."""
    if not isinstance(name, str) or not COLLECTION_NAME.fullmatch(name) or name in (".", ".."):
        raise InvalidParameter(
            f"collection id {name!r} must be 1-255 characters of letters, digits, '_', '.' or '-'")
    return name


def check_display_name(name: str) -> str:
    """A collection's display name: 1-100 characters, any language, spaces inside, no control
    characters, no leading/trailing space. Returns it or raises :class:`InvalidParameter`."""
    if (not isinstance(name, str) or not name or len(name) > MAX_DISPLAY_NAME or name != name.strip()
            or any(unicodedata.category(ch)[0] == "C" for ch in name) or name in (".", "..")):
        raise InvalidParameter(f"collection name {name!r} must be 1-{MAX_DISPLAY_NAME} visible characters "
                               "(spaces inside only)")
    return name


def check_threshold(threshold: float) -> float:
    """A similarity threshold must be a percentage 0-100."""
    if not 0.0 <= float(threshold) <= 100.0:
        raise InvalidParameter(f"threshold {threshold} must be between 0 and 100")
    return float(threshold)


def check_max_faces(max_faces: int, upper: int = 4096) -> int:
    """MaxFaces must be 1..upper."""
    if not 1 <= int(max_faces) <= upper:
        raise InvalidParameter(f"max_faces {max_faces} must be between 1 and {upper}")
    return int(max_faces)


def external_image_id(sha256: str) -> str:
    """The ExternalImageId sent for an image: its sha256, which fits Rekognition's pattern."""
    if not isinstance(sha256, str) or not EXTERNAL_ID.fullmatch(sha256):
        raise InvalidParameter(f"external image id {sha256!r} does not fit [a-zA-Z0-9_.-:]+")
    return sha256


@dataclass
class Prepared:
    """What the per-image work (:meth:`Engine.preparer`) hands to :meth:`Engine.commit`.

    ``details``: every face found (boxes relative 0-1), for thumbnails. ``payload``: the engine's
    own data (the local engine's descriptors, Rekognition's IndexFaces answer); picklable.
    """

    sha256: str
    size: tuple[int, int]
    format: str
    details: list[FaceDetail]
    payload: Any = None
    thumbs: dict[BoundingBox, bytes] = field(default_factory=dict)
    #: A video's faces: when each was on screen (box -> :class:`facelib.video.analysis.Appearance`).
    appearances: dict[BoundingBox, Any] = field(default_factory=dict)
    #: Something to say in the file's outcome (e.g. where a damaged video stopped decoding).
    note: str = ""


#: The per-image work: bytes in, :class:`Prepared` out. For ``parallel == "process"`` engines it is
#: picklable and pure (no database, no client); it may keep models in a per-process cache, and may
#: say ``fork_safe = False`` when this process's state would deadlock a forked worker.
Preparer = Callable[[LoadedImage], Prepared]


def fork_safe(preparer: Preparer) -> bool:
    """Whether workers forked from this process can run ``preparer`` (True unless it says otherwise)."""
    return bool(getattr(preparer, "fork_safe", True))


def usd(dollars: float) -> str:
    """Dollars as text with the digits that matter: "$2.00", "$0.002", "$0.0015" (never "$0.00"
    for a non-zero amount)."""
    if dollars == 0 or abs(dollars) >= 0.1:
        return f"${dollars:,.2f}"
    text = f"{dollars:.6f}".rstrip("0")
    return "$" + (text + "0" if len(text.split(".")[1]) < 2 else text)


#: Dollars are counted in nano-dollars, so a thousand $0.001 calls make exactly $1.
_NANO = 1_000_000_000


class SpendLimit:
    """A dollar limit on the paid calls a job makes, whichever thread makes them.

    :meth:`charge` is called *before* each paid call (IndexFaces, SearchFaces, DetectFaces..., a
    retry too): it raises :class:`~facelib.errors.BudgetExceeded` when that call would pass the
    limit, so no call ever does; free calls (price 0) pass uncounted. :meth:`refund` gives a charge
    back for a call the service refused (an error answer is not billed). Thread-safe.
    """

    def __init__(self, dollars: float, prices: Prices) -> None:
        if not dollars >= 0:
            raise InvalidParameter(f"a spending limit must be a number of dollars >= 0, not {dollars!r}")
        self.dollars = float(dollars)
        self.prices = prices
        self._limit = round(self.dollars * _NANO)
        self._spent = 0
        self._calls = 0
        self._lock = threading.Lock()

    @property
    def spent(self) -> float:
        """Dollars charged so far (estimates from :class:`~facelib.settings.Prices`)."""
        return self._spent / _NANO

    @property
    def calls(self) -> int:
        """Paid calls charged so far."""
        return self._calls

    def charge(self, operation: str) -> None:
        """Count one call of ``operation``, or raise :class:`BudgetExceeded` (nothing counted) when it
        would pass the limit."""
        price = round(self.prices.of(operation) * _NANO)
        if price <= 0:
            return
        with self._lock:
            if self._spent + price > self._limit:
                raise BudgetExceeded(
                    f"the spending limit of {usd(self.dollars)} is reached: {usd(self._spent / _NANO)} spent on "
                    f"{self._calls} paid calls, and one more {operation} ({usd(price / _NANO)}) would pass it")
            self._spent += price
            self._calls += 1

    def refund(self, operation: str) -> None:
        """Give back one charge of ``operation`` (the service answered with an error: not billed)."""
        price = round(self.prices.of(operation) * _NANO)
        if price <= 0:
            return
        with self._lock:
            if self._calls:
                self._spent = max(0, self._spent - price)
                self._calls -= 1

    def __repr__(self) -> str:
        return f"SpendLimit({usd(self.dollars)}, spent={usd(self.spent)}, calls={self.calls})"


@runtime_checkable
class Engine(Protocol):
    """A face engine with named collections.

    ``models``: the face models a new collection may choose (the first is the default; empty when
    the service picks). ``paid``: reads are billed (cost prompts, the Live interval, UI copy). ``reports_age``: faces
    carry an age range (the age filter). ``parallel``: how the indexer runs :meth:`preparer`'s
    work: "process" (CPU-bound, a process pool) or "thread" (network-bound). ``concurrency``: how many
    images a batch works on at once by default (cores for a process pool; calls in flight for a service).
    """

    name: EngineName
    models: tuple[str, ...]
    paid: bool
    reports_age: bool
    parallel: Parallelism
    concurrency: int

    def create_collection(self, collection: str, model: str | None = None) -> None:
        """A new collection indexed by ``model`` (one of ``models``; default the engine's)."""
        ...

    def delete_collection(self, collection: str, face_ids: Sequence[str] = ()) -> None:
        """Delete the collection. An engine that may not delete it (a cloud collection imported
        from elsewhere) erases ``face_ids`` (the faces the app indexed) from it instead."""
        ...

    def list_collections(self) -> list[str]: ...

    def describe_collection(self, collection: str) -> CollectionInfo: ...

    def warm(self) -> None:
        """Load models now, before worker processes fork (nothing to do for a remote engine)."""
        ...

    def collection_model(self, collection: str) -> tuple[str, str] | None:
        """(model, version) that indexes the collection; None when the service picks and reports it."""
        ...

    def detect_faces(self, image: LoadedImage) -> list[FaceDetail]:
        """Every face in the image (no order guaranteed)."""
        ...

    def preparer(self, collection: str, *, max_faces: int) -> Preparer:
        """The per-image indexing work for ``collection`` (runs in a worker)."""
        ...

    def commit(self, collection: str, prepared: Prepared, *, external_id: str, max_faces: int) -> IndexResult:
        """Make a prepared image's faces searchable (runs in the coordinator, inside the catalog's
        transaction for engines whose index lives in the catalog database)."""
        ...

    def forget_images(self, collection: str, external_ids: set[str], keep: frozenset[str] = frozenset()) -> list[str]:
        """Delete every face indexed with one of those external ids but those in ``keep`` (recovery
        after a crash, one listing for all); returns them."""
        ...

    def forget_answers(self, sha256s: Iterable[str]) -> None:
        """Drop whatever the engine keeps about those images besides their faces (cached answers): erasure."""
        ...

    def index_faces(self, collection: str, image: LoadedImage, external_image_id: str,
                    max_faces: int = 100) -> IndexResult: ...

    def index_face_region(self, collection: str, image: LoadedImage, box: BoundingBox,
                          external_image_id: str) -> IndexedFace:
        """Index the single face inside ``box`` (relative 0-1), leaving the image's other faces alone."""
        ...

    def search_faces(self, collection: str, face_id: str, threshold: float = DEFAULT_THRESHOLD,
                     max_faces: int = 50) -> list[Match]:
        """Faces like an indexed face (itself excluded), most alike first."""
        ...

    def search_faces_by_image(self, collection: str, image: LoadedImage, threshold: float = DEFAULT_THRESHOLD,
                              max_faces: int = 50, face_index: int | None = None) -> ImageSearch:
        """Faces like one face of the image (``face_index``; default the largest)."""
        ...

    def search_region(self, collection: str, rgb: np.ndarray, box: BoundingBox, threshold: float = DEFAULT_THRESHOLD,
                      max_faces: int = 1) -> list[Match]:
        """Faces like the face in ``box`` (relative) of an RGB frame whose faces are already found
        (the Live page: no second detection on the whole frame)."""
        ...

    def list_faces(self, collection: str) -> list[str]:
        """Every face id in the collection."""
        ...

    def delete_faces(self, collection: str, face_ids: list[str]) -> list[str]:
        """Delete faces; returns the ids confirmed gone (deleted, or unknown to the engine). Raises
        :class:`~facelib.errors.ErasureIncomplete` when the engine kept some."""
        ...

    def compare_faces(self, source: LoadedImage, target: LoadedImage, threshold: float = DEFAULT_THRESHOLD) -> list[Match]:
        """Faces of ``target`` like the largest face of ``source``."""
        ...

    def spending(self, collection: str, limit: SpendLimit | None) -> AbstractContextManager[None]:
        """While the context is active, every paid call the engine makes for ``collection`` (from any
        thread: a batch's IndexFaces, grouping's SearchFaces, retries) first charges ``limit``
        (:meth:`SpendLimit.charge`, which raises :class:`~facelib.errors.BudgetExceeded` before the
        call that would pass it); answers served from a cache cost nothing. ``None``: no limit. A
        free engine does nothing."""
        ...


@runtime_checkable
class SupportsUsers(Protocol):
    """An engine whose collections may hold Users of its own (Rekognition: made by other tools or
    earlier versions; facesearch itself no longer creates them)."""

    def disassociate_faces(self, collection: str, user_id: str, face_ids: list[str]) -> list[str]: ...

    def delete_user(self, collection: str, user_id: str) -> bool: ...

    def take_freed_users(self, collection: str) -> set[str]:
        """The Users that erasures in ``collection`` freed faces from since the last ask (then forgotten)."""
        ...


@runtime_checkable
@runtime_checkable
class ReportsRetries(Protocol):
    """An engine whose client may send one IndexFaces twice (a lost answer, then a retry)."""

    def take_retried(self, collection: str) -> set[str]:
        """ExternalImageIds sent more than once since the last ask (then forgotten)."""
        ...


@runtime_checkable
class HasCache(Protocol):
    """An engine that keeps a cache of paid answers on disk (Rekognition): ``facesearch doctor``
    checks it, and with ``repair`` rebuilds it (a cache is an optimisation: nothing is lost)."""

    def check_cache(self, repair: bool = False) -> list[str]:
        """Problems found in the cache (empty: healthy); with ``repair``, unreadable entries are
        removed and an unreadable cache is moved aside and started afresh."""
        ...


@runtime_checkable
class CloudCollections(Protocol):
    """An engine whose collections live in a cloud account (Rekognition): where each one is, and
    adopting one made elsewhere."""

    def location(self, collection: str) -> tuple[str | None, str | None]:
        """(account, region) of the collection."""
        ...

    def importable(self) -> list[str]:
        """Ids of the account's collections this installation does not use yet."""
        ...

    def import_collection(self, collection: str, collection_id: str) -> None:
        """Use an existing cloud collection under a display name (never deleted in the cloud)."""
        ...


@runtime_checkable
class SupportsModels(Protocol):
    """An engine whose collections can switch to another of its ``models`` (the local engine)."""

    def set_model(self, collection: str, model: str) -> None:
        """The collection is now ``model``'s: its vectors are dropped until its images are re-indexed."""
        ...

    def model_preparer(self, model: str) -> Preparer:
        """The per-image work of ``model`` (for re-indexing a collection with it)."""
        ...


@runtime_checkable
class BoxDetector(Protocol):
    """Finds face boxes in an RGB array quickly, with no descriptors (the Live page's detector)."""

    def detect_boxes(self, arr: np.ndarray) -> list[tuple[BoundingBox, float]]:
        """(box relative 0-1, detector confidence 0-100) of every face."""
        ...
