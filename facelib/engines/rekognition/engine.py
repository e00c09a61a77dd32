"""AWS Rekognition engine (clients come from :mod:`facelib.aws`; shapes and errors: :mod:`.shapes`).

- **Collections are this installation's.** A collection's CollectionId is
  ``facesearch-<installation>-<slug>-<hash>`` (the display name may hold spaces and unicode), it
  is created with tags naming the installation, and its ARN, region, account and face model are
  kept (:class:`.store.CollectionStore`). An AWS collection made elsewhere is used only after an
  explicit :meth:`RekognitionEngine.import_collection` and is never deleted in AWS. A collection
  whose ARN or tags do not match is never deleted either. A client pointed at another region or
  account than a collection's ARN is refused (:class:`WrongAccount`).
- **Paid reads are memoized** (:class:`.cache.PaidCallCache`) under keys holding region, account
  and CollectionId; cached searches are checked against the collection's current face count (one
  free DescribeCollection) and expire. DescribeCollection and ListFaces are free and never cached;
  live crops are never cached. Writes invalidate the collection's cached reads. Every call and
  cache hit is counted in the :class:`.ledger.Ledger`.
- **Erasure is confirmed.** :meth:`RekognitionEngine.delete_faces` disassociates faces that belong
  to a User and deletes them again; it returns only the ids AWS confirmed gone.
- **Retries are botocore's own** (standard mode): interactive calls on one client with a deadline,
  batches on their own client (:func:`facelib.aws.client`), with an optional calls-per-second
  limit (botocore's token bucket). A batch finds the account's quota itself: its calls in flight
  grow while nothing is throttled and shrink when something is (:mod:`.pace`); a throttled
  IndexFaces is sent again, never a photo's error.
- **Money is bounded**: inside :meth:`RekognitionEngine.spending` every paid call made for that
  collection first charges the job's :class:`~facelib.engines.base.SpendLimit` (cached answers
  are free).
- **Logs** (logger ``facelib.engines.rekognition.engine``): one INFO line per batch, per spending
  limit and per erasure (collection, counts, dollars); cache hits at DEBUG. Never an image, a
  vector, a face's attributes or a credential.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import re
import threading
import time
import unicodedata
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError
from botocore.retries.bucket import Clock, TokenBucket
from PIL import Image, ImageDraw

from ...errors import (
    BadImage,
    CollectionExists,
    CollectionNotFound,
    ErasureIncomplete,
    FaceLibError,
    InvalidParameter,
    NoFaceFound,
    NotOwned,
    SearchMismatch,
    UserNotFound,
    WrongAccount,
)
from ...images import LoadedImage, decode, encode_jpeg
from ...records import (
    BoundingBox,
    CollectionInfo,
    EngineName,
    FaceDetail,
    ImageSearch,
    IndexedFace,
    IndexResult,
    Match,
    UnindexedFace,
    largest_face,
    overlap,
)
from ...settings import DEFAULT_THRESHOLD, Prices, prices
from ...thumbnails import square_crop_box
from ..base import (
    Parallelism,
    Prepared,
    Preparer,
    SpendLimit,
    check_display_name,
    check_max_faces,
    check_threshold,
    external_image_id,
    usd,
)
from .cache import PaidCallCache, Scope, make_key, scope_tag
from .ledger import Ledger
from .pace import THROTTLE_CODES, Pacer, Throttled
from .shapes import LIST_PAGE, PREP_VERSION, box_of, error_code, face_detail, indexed_face, map_error, prepare_image, snake
from .store import CollectionRef, CollectionStore

#: The face attributes asked for: the app shows box, confidence, pose, quality, landmarks and age.
ATTRIBUTES = ["DEFAULT", "AGE_RANGE"]
TAG_INSTALLATION = "facesearch:installation"
TAG_APP = "facesearch:app"
#: How much the face Rekognition searched (or indexed) must overlap the one asked for (IoU 0-1).
MATCH_IOU = 0.3
DELETE_PAGE = 4096
USER_PAGE = 100
#: Operations whose cached answers hold no collection: erasing any photo evicts all of them (a face
#: cut from a photo and compared has its own hash, so it cannot be found by the photo's).
UNSCOPED_ON_ERASURE = ("CompareFaces",)
log = logging.getLogger(__name__)
_ARN = re.compile(r"arn:[^:]+:rekognition:(?P<region>[^:]*):(?P<account>\d*):collection/(?P<id>.+)")


def collection_id_for(installation: str, name: str) -> str:
    """The CollectionId of a display name: installation-namespaced, ASCII, unique by a name hash."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-zA-Z0-9_.\-]+", "-", ascii_name).strip("-.")[:80] or "collection"
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"facesearch-{installation}-{slug}-{digest}"


def parse_arn(arn: str | None) -> tuple[str | None, str | None]:
    """(region, account) of a collection ARN, (None, None) when it is not one."""
    m = _ARN.fullmatch(arn or "")
    return (m["region"], m["account"]) if m else (None, None)


def _from_crop(b: BoundingBox, px: tuple[int, int, int, int], size: tuple[int, int]) -> BoundingBox:
    """A box relative to a crop (pixel box ``px`` of a ``size`` picture) as relative to the picture."""
    x0, y0, x1, y1 = px
    w, h = size
    cw, ch = x1 - x0, y1 - y0
    return BoundingBox((x0 + b.left * cw) / w, (y0 + b.top * ch) / h, b.width * cw / w, b.height * ch / h)


def _matches(response: dict[str, Any]) -> list[Match]:
    """The FaceMatches of a search answer, in its order (most alike first)."""
    return [Match(indexed_face(m["Face"]), float(m["Similarity"])) for m in response.get("FaceMatches", [])]


def _searched_another_face(response: dict[str, Any], px: tuple[int, int, int, int], size: tuple[int, int],
                           target: BoundingBox) -> bool:
    """Whether the face Rekognition says it searched (``SearchedFaceBoundingBox``, relative to the
    crop ``px`` of a ``size`` picture) misses ``target`` (IoU under :data:`MATCH_IOU`); an answer
    that names none cannot be checked."""
    searched = response.get("SearchedFaceBoundingBox")
    return searched is not None and overlap(_from_crop(box_of(searched), px, size), target) < MATCH_IOU


_settings_prices = prices
#: Seconds between a batch's ledger writes (its calls are counted together, not one transaction each).
LEDGER_EVERY = 1.0


class BatchRun:
    """What the threads of one indexing batch share: the :class:`.pace.Pacer` (calls in flight), the
    IndexFaces calls not yet written to the ledger, and the collection's cached reads.

    Calls reach the ledger together, every :data:`LEDGER_EVERY` seconds and whenever no call is in
    flight (a transaction per call held the catalog's write lock against the batch's commits).
    Cached reads are invalidated when the batch starts and whenever its calls stop (in between,
    every cached search is checked against the face count, which only grows); one INFO line then
    says what those calls cost."""

    def __init__(self, engine: RekognitionEngine, ref: CollectionRef) -> None:
        self.engine = engine
        self.ref = ref
        self.collection = ref.name
        self.scope = engine._scope(ref)
        scope = self.scope
        self.pacer = engine.new_pacer()
        self._lock = threading.Lock()
        self._unrecorded = 0
        self._answered = 0  # since the last INFO line
        self._throttled = 0  # the pacer's count at the last INFO line
        self._written = time.monotonic()
        engine.cache.invalidate(scope)

    def send(self, params: dict[str, Any], data: bytes) -> dict[str, Any]:
        """One IndexFaces on the batch client, paced; throttled calls are sent again."""
        engine = self.engine
        answered = False
        try:
            response = self.pacer.run(lambda: engine._invoke(engine.batch_client, "IndexFaces", self.collection,
                                                             {**params, "Image": {"Bytes": data}}, True))
            answered = True
            return response
        finally:
            self._after(answered)

    def _after(self, answered: bool) -> None:
        now = time.monotonic()
        with self._lock:
            self._unrecorded += answered
            self._answered += answered
            idle = self.pacer.in_flight == 0
            due = self._unrecorded if idle or now - self._written >= LEDGER_EVERY else 0
            self._unrecorded -= due
            if due:
                self._written = now
            summary = (self._answered, self.pacer.throttled - self._throttled) if idle else None
            if idle:
                self._answered, self._throttled = 0, self.pacer.throttled
        if due:
            self.engine.ledger.record_call("IndexFaces", due)
        if summary is not None:
            self.engine.cache.invalidate(self.scope)
            calls, throttled = summary
            if calls or throttled:
                log.info("collection %r: batch of %d IndexFaces calls (%d throttled and sent again), about %s; calls "
                         "in flight now %.0f (peak %.0f)", self.collection, calls, throttled,
                         usd(calls * self.engine._price("IndexFaces")), self.pacer.limit, self.pacer.peak)

    def close(self) -> None:
        """The batch is over (its preparer was let go of): whatever is left is written."""
        with self._lock:
            pending = self._unrecorded or self._answered
        if pending and self.pacer.in_flight == 0:
            self._after(False)


def crop_alone(image: LoadedImage, box: BoundingBox, others: Sequence[BoundingBox] = (),
               margin: float = 0.4) -> tuple[LoadedImage, tuple[int, int, int, int]]:
    """A picture of one face (with margin) with every other face in it painted over, to send alone,
    and its pixel box in ``image.rgb``."""
    w, h = image.rgb.size
    px = square_crop_box(box, w, h, margin=margin)
    crop = image.rgb.crop(px)
    if others:
        draw = ImageDraw.Draw(crop)
        for o in others:
            grow_w, grow_h = o.width * 0.1 * w, o.height * 0.1 * h
            draw.rectangle((o.left * w - px[0] - grow_w, o.top * h - px[1] - grow_h,
                            (o.left + o.width) * w - px[0] + grow_w, (o.top + o.height) * h - px[1] + grow_h),
                           fill=(128, 128, 128))
        # The chosen face itself is never painted over, however close a neighbour is.
        own = (round(box.left * w), round(box.top * h), round((box.left + box.width) * w),
               round((box.top + box.height) * h))
        crop.paste(image.rgb.crop(own), (own[0] - px[0], own[1] - px[1]))
    return decode(encode_jpeg(crop, quality=92), name=f"{image.name}#face", max_side=None), px


#: The spending limits of the job running in this context, by collection (see ``spending``).
_LIMITS: contextvars.ContextVar[Mapping[str, SpendLimit]] = contextvars.ContextVar(
    "facesearch_spend_limits", default=MappingProxyType({}))



class _Call:
    """One logical paid call in flight in this context: botocore may send it more than once."""

    __slots__ = ("collection", "external_id", "limit", "operation", "sent")

    def __init__(self, operation: str, collection: str | None, limit: SpendLimit | None, external_id: str | None) -> None:
        self.operation, self.collection, self.limit, self.external_id = operation, collection, limit, external_id
        self.sent = 0


_CALL: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("facesearch_rekognition_call", default=None)

class RekognitionEngine:
    """Engine over AWS Rekognition clients (real, or wrapped in a Stubber / pointed at a local
    endpoint for tests). ``client``: interactive calls; ``batch_client``: indexing batches;
    ``sts``: who the credentials are (the account in cache keys and checks)."""

    name = EngineName.REKOGNITION
    models: tuple[str, ...] = ()  # the service picks its face model
    paid = True
    reports_age = True
    parallel: Parallelism = "thread"
    concurrency: int = 64  # the most calls a batch keeps in flight (the pacer's ceiling)

    def __init__(self, client: Any, cache: PaidCallCache, ledger: Ledger, collections: CollectionStore, sts: Any,
                 *, batch_client: Any = None, concurrency: int = 16, calls_per_second: float | None = None,
                 search_ttl: float = 7 * 86400.0, max_concurrency: int | None = None,
                 prices: Prices | None = None) -> None:
        self.client = client
        self.batch_client = batch_client if batch_client is not None else client
        self.cache = cache
        self.ledger = ledger
        self.collections = collections
        self.sts = sts
        #: Calls in flight a batch starts with (Settings.aws_concurrency).
        self.start_concurrency = max(1, int(concurrency))
        # The ceiling: as given, else the batch client's connection pool (facelib.aws sizes it to
        # facelib.aws.ceiling(settings)); never under the start.
        pool = int(getattr(self.batch_client.meta.config, "max_pool_connections", 0) or 0)
        self.concurrency = max(self.start_concurrency, int(max_concurrency or pool or self.start_concurrency))
        self.search_ttl = search_ttl
        self._account: str | None = None
        self._freed_users: dict[str, set[str]] = {}
        self._users_lock = threading.Lock()
        self._retried: dict[str, set[str]] = {}
        for c in {id(self.client): self.client, id(self.batch_client): self.batch_client}.values():
            c.meta.events.register("before-send.rekognition", self._on_send)
        self.prices = prices or _settings_prices()
        if calls_per_second:
            bucket = TokenBucket(float(calls_per_second), Clock())

            def throttle(**_: Any) -> None:
                bucket.acquire()  # every attempt, retries included, waits for a token
            self.batch_client.meta.events.register("before-send.rekognition", throttle)

    # -- identity ------------------------------------------------------------------------------
    @property
    def region(self) -> str:
        return str(self.client.meta.region_name)

    @property
    def account(self) -> str:
        """The AWS account of the credentials (STS GetCallerIdentity, free, asked once)."""
        if self._account is None:
            try:
                self._account = str(self.sts.get_caller_identity()["Account"])
            except (ClientError, BotoCoreError) as exc:
                raise map_error(exc, "GetCallerIdentity") from exc
        return self._account

    def _scope(self, ref: CollectionRef | None = None) -> Scope:
        return (self.region, self.account, ref.collection_id if ref else "")

    def _ref(self, name: str) -> CollectionRef:
        """The collection's AWS identity, checked against the client's region and account."""
        ref = self.collections.require(name)
        if ref.arn is None:  # made before ARNs were kept: learn it now (free)
            r = self._invoke(self.client, "DescribeCollection", name, {"CollectionId": ref.collection_id})
            region, account = parse_arn(r.get("CollectionARN"))
            ref = replace(ref, arn=r.get("CollectionARN"), region=region or self.region, account=account,
                          face_model_version=r.get("FaceModelVersion"))
            self.collections.put(ref)
        if ref.region and ref.region != self.region or ref.account and ref.account != self.account:
            raise WrongAccount(
                f"collection {name!r} lives in AWS account {ref.account} region {ref.region}, but the client is "
                f"account {self.account} region {self.region}: choose that profile and region (--aws-profile, "
                "--aws-region, or AWS_PROFILE/AWS_REGION)")
        return ref

    def location(self, name: str) -> tuple[str | None, str | None]:
        """(account, region) a collection lives in (from its ARN; no call)."""
        ref = self.collections.get(name)
        return (ref.account, ref.region) if ref else (None, None)

    # -- money -------------------------------------------------------------------------------
    @contextmanager
    def _spending(self, collection: str, limit: SpendLimit | None) -> Iterator[None]:
        # The limit belongs to the job's context (its thread, and the batch's worker threads, which
        # run in a copy of it): another actor's calls into the same collection are not charged to it.
        current = dict(_LIMITS.get())
        if limit is None:
            current.pop(collection, None)
        else:
            current[collection] = limit
        token = _LIMITS.set(current)
        try:
            yield
        finally:
            _LIMITS.reset(token)
            if limit is not None:
                log.info("collection %r: %d paid calls charged, %s of a %s limit", collection, limit.calls,
                         usd(limit.spent), usd(limit.dollars))

    def spending(self, collection: str, limit: SpendLimit | None) -> AbstractContextManager[None]:
        """While active, every paid call made for ``collection`` (any thread) first charges ``limit``
        (:class:`~facelib.errors.BudgetExceeded` before the call that would pass it); cached
        answers are free. Nested uses restore the outer limit."""
        return self._spending(collection, limit)

    def _price(self, operation: str) -> float:
        return self.prices.of(operation)

    def _limit(self, collection: str | None) -> SpendLimit | None:
        if collection is None:
            return None
        return _LIMITS.get().get(collection)

    # -- plumbing ------------------------------------------------------------------------------
    def _invoke(self, client: Any, operation: str, collection: str | None, params: dict[str, Any],
                paced: bool = False) -> dict[str, Any]:
        """The service call itself, with errors mapped to facelib's (not counted, not cached). A paid
        call made for a collection under :meth:`spending` is charged first, and given back when
        the service answers with an error (not billed). ``paced``: a throttled call raises
        :class:`.pace.Throttled` (the batch's pacer sends it again)."""
        limit = self._limit(collection)
        if limit is not None:
            limit.charge(operation)
        token = _CALL.set(_Call(operation, collection, limit, params.get("ExternalImageId")))
        try:
            response: dict[str, Any] = getattr(client, snake(operation))(**params)
        except ClientError as exc:
            if limit is not None:
                limit.refund(operation)
            if paced and error_code(exc) in THROTTLE_CODES:
                raise Throttled(operation) from exc
            raise map_error(exc, operation, collection) from exc
        except BotoCoreError as exc:  # no answer: it may have been billed, so the charge stays
            raise map_error(exc, operation, collection) from exc
        finally:
            _CALL.reset(token)
        response.pop("ResponseMetadata", None)
        return response

    def _on_send(self, **_: Any) -> None:
        """botocore sends a request (a first attempt or a retry): a retry is one more paid call, so
        it is charged too (before it is sent); a retried IndexFaces may have stored faces whose
        answer never arrived, so its image is noted for the batch to reconcile (:meth:`take_retried`)."""
        call = _CALL.get()
        if call is None:
            return
        call.sent += 1
        if call.sent == 1:
            return
        if call.operation == "IndexFaces" and call.collection and call.external_id:
            with self._users_lock:
                self._retried.setdefault(call.collection, set()).add(str(call.external_id))
        if call.limit is not None:
            call.limit.charge(call.operation)

    def take_retried(self, collection: str) -> set[str]:
        """ExternalImageIds of IndexFaces calls that were sent more than once since the last ask (the
        engine may hold faces of an answer that was lost): the batch keeps only the faces it recorded."""
        with self._users_lock:
            return self._retried.pop(collection, set())

    def _call(self, operation: str, collection: str | None = None, client: Any = None, paced: bool = False,
              **params: Any) -> dict[str, Any]:
        """One uncached call, counted in the ledger."""
        response = self._invoke(client or self.client, operation, collection, params, paced)
        self.ledger.record_call(operation)
        return response

    def _cached(self, operation: str, scope: Scope, image_sha256: Any, params: dict[str, Any],
                key_params: dict[str, Any], face_count: int | None = None, name: str | None = None) -> dict[str, Any]:
        """A memoized read: served from the cache when the same call was made before (free)."""
        gen = self.cache.generation(scope) if scope[2] else None
        key = make_key(operation, scope, gen, face_count, image_sha256, **key_params)

        def hit() -> None:
            log.debug("%s answered from the cache", operation)
            self.ledger.record_hit(operation)
        return self.cache.get_or_call(key, lambda: self._invoke(self.client, operation, name, params),
                                      tag=scope_tag(scope) if scope[2] else None,
                                      expire=self.search_ttl if face_count is not None else None,
                                      on_hit=hit, on_call=lambda: self.ledger.record_call(operation))

    def _with_image(self, image: LoadedImage, send: Callable[[bytes], dict[str, Any]]) -> dict[str, Any]:
        """``send(bytes)``; when the service refuses the original bytes as a format it cannot read
        (CMYK, 16-bit), once more re-encoded as 8-bit RGB JPEG."""
        data = prepare_image(image)
        try:
            return send(data)
        except BadImage as exc:
            if data is image.data and error_code(exc.__cause__ or exc) == "InvalidImageFormatException":
                return send(prepare_image(image, reencode=True))
            raise

    def _face_count(self, ref: CollectionRef) -> int:
        """The collection's current face count (DescribeCollection: free, never cached)."""
        r = self._call("DescribeCollection", ref.name, CollectionId=ref.collection_id)
        return int(r.get("FaceCount", 0))

    # -- collections ---------------------------------------------------------------------------
    def _tags(self) -> dict[str, str]:
        return {TAG_APP: "facesearch", TAG_INSTALLATION: self.collections.installation()}

    def create_collection(self, collection: str, model: str | None = None) -> None:
        """CreateCollection under this installation's namespaced id, tagged; the ARN is kept."""
        check_display_name(collection)
        if model is not None:
            raise InvalidParameter("Rekognition collections use the service's face model; no model can be chosen")
        if self.collections.get(collection) is not None:
            raise CollectionExists(f"collection {collection!r} exists already")
        cid = collection_id_for(self.collections.installation(), collection)
        try:
            r = self._call("CreateCollection", collection, CollectionId=cid, Tags=self._tags())
            arn, version = r.get("CollectionArn"), r.get("FaceModelVersion")
        except CollectionExists:  # ours only if its tags say so (a crash after CreateCollection)
            r = self._call("DescribeCollection", collection, CollectionId=cid)
            arn, version = r.get("CollectionARN"), r.get("FaceModelVersion")
            if not self._tagged_ours(arn):
                raise CollectionExists(f"an AWS collection {cid!r} exists and is not this installation's: "
                                       "import it explicitly to use it") from None
        region, account = parse_arn(arn)
        ref = CollectionRef(collection, cid, arn, region or self.region, account or self.account, version, True)
        self.collections.put(ref)
        self.cache.invalidate(self._scope(ref))

    def _tagged_ours(self, arn: str | None) -> bool:
        if not arn:
            return False
        tags = self._call("ListTagsForResource", None, ResourceArn=arn).get("Tags", {})
        return bool(tags.get(TAG_INSTALLATION) == self.collections.installation())

    def importable(self) -> list[str]:
        """AWS collections of this account and region that this installation does not use yet."""
        ids: list[str] = []
        kwargs: dict[str, Any] = {"MaxResults": 1000}
        while True:
            page = self._call("ListCollections", None, **kwargs)
            ids.extend(i for i in page.get("CollectionIds", []) if self.collections.by_collection_id(i) is None)
            if not page.get("NextToken"):
                return ids
            kwargs["NextToken"] = page["NextToken"]

    def import_collection(self, collection: str, collection_id: str) -> None:
        """Use an existing AWS collection under a display name. It stays someone else's: deleting
        the app's collection erases only the faces the app indexed into it."""
        check_display_name(collection)
        if self.collections.get(collection) is not None:
            raise CollectionExists(f"collection {collection!r} exists already")
        if self.collections.by_collection_id(collection_id) is not None:
            raise CollectionExists(f"AWS collection {collection_id!r} is imported already")
        r = self._call("DescribeCollection", collection, CollectionId=collection_id)
        region, account = parse_arn(r.get("CollectionARN"))
        self.collections.put(CollectionRef(collection, collection_id, r.get("CollectionARN"), region or self.region,
                                           account or self.account, r.get("FaceModelVersion"), False))

    def delete_collection(self, collection: str, face_ids: Sequence[str] = ()) -> None:
        """DeleteCollection, only for a collection this installation created whose ARN and tags still
        say so (:class:`NotOwned` otherwise). An imported one keeps existing in AWS: only
        ``face_ids`` (those the app indexed) are erased from it."""
        ref = self._ref(collection)
        if not ref.owned:
            if face_ids:
                self._erase(collection, list(face_ids))
            self.collections.remove(collection)
            return
        try:
            r = self._call("DescribeCollection", collection, CollectionId=ref.collection_id)
        except CollectionNotFound:  # gone already
            self.collections.remove(collection)
            return
        if r.get("CollectionARN") != ref.arn or not self._tagged_ours(ref.arn):
            raise NotOwned(f"refusing to delete AWS collection {ref.collection_id!r}: its ARN or tags are not the "
                           "ones this installation created it with")
        try:
            self._call("DeleteCollection", collection, CollectionId=ref.collection_id)
        except CollectionNotFound:
            pass
        finally:
            self.cache.invalidate(self._scope(ref))
        self.collections.remove(collection)

    def list_collections(self) -> list[str]:
        """This installation's Rekognition collections (display names)."""
        return self.collections.names()

    def describe_collection(self, collection: str) -> CollectionInfo:
        """DescribeCollection, asked every time (free, never cached)."""
        ref = self._ref(collection)
        r = self._call("DescribeCollection", collection, CollectionId=ref.collection_id)
        created = r.get("CreationTimestamp")
        return CollectionInfo(collection, int(r.get("FaceCount", 0)), r.get("FaceModelVersion"),
                              created.isoformat() if isinstance(created, datetime) else created)

    # -- faces ---------------------------------------------------------------------------------
    def detect_faces(self, image: LoadedImage, collection: str | None = None) -> list[FaceDetail]:
        """DetectFaces (cached by image; evicted when the image is erased: :meth:`forget_answers`).
        ``collection``: the collection the answer is for (its spending limit is charged)."""
        scope = self._scope()
        r = self._with_image(image, lambda data: self._cached(
            "DetectFaces", scope, (image.sha256, PREP_VERSION), {"Image": {"Bytes": data}, "Attributes": ATTRIBUTES},
            {"Attributes": ATTRIBUTES}, name=collection))
        return [face_detail(d, image.original_size) for d in r.get("FaceDetails", [])]

    def forget_answers(self, sha256s: Iterable[str]) -> None:
        """Drop every cached answer about those images, and every cached comparison (a face cut from
        one of them has a hash of its own), in one pass over the cache; never fails the erasure."""
        gone = self.cache.forget_images(sha256s, UNSCOPED_ON_ERASURE)
        log.info("erasure: %d cached answers evicted", gone)

    def check_cache(self, repair: bool = False) -> list[str]:
        """The paid-call cache's problems (``facesearch doctor``); with ``repair``, unreadable entries
        are removed and an unreadable cache is moved aside and started afresh."""
        return self.cache.check(repair)

    def new_pacer(self) -> Pacer:
        """A batch's limiter of calls in flight: starts at ``start_concurrency``, at most ``concurrency``."""
        return Pacer(self.start_concurrency, self.concurrency)

    def index_faces(self, collection: str, image: LoadedImage, external_image_id_: str,
                    max_faces: int = 100, *, batch: bool = False, run: BatchRun | None = None) -> IndexResult:
        """IndexFaces with the attributes the app shows and no quality filter (the app filters at view time).

        ``batch``: on the batch client, paced by ``run`` (the batch's, shared by its threads; else
        one of its own): a throttled call is sent again after a pause, as often as needed."""
        check_max_faces(max_faces, 100)
        ext = external_image_id(external_image_id_)
        ref = run.ref if run is not None else self._ref(collection)  # a batch checked it once, at its start
        params: dict[str, Any] = {"CollectionId": ref.collection_id, "ExternalImageId": ext,
                                  "DetectionAttributes": ATTRIBUTES, "MaxFaces": max_faces, "QualityFilter": "NONE"}
        if batch:
            own = run is None
            batch_run = run or BatchRun(self, ref)
            try:
                r = self._with_image(image, lambda data: batch_run.send(params, data))
            finally:
                if own:
                    batch_run.close()
        else:
            try:
                r = self._with_image(image, lambda data: self._call("IndexFaces", collection, **params,
                                                                     Image={"Bytes": data}))
            finally:
                self.cache.invalidate(self._scope(ref))
        size = image.original_size
        faces = tuple(IndexedFace(rec["Face"]["FaceId"], image.sha256, ext,
                                  face_detail({**rec.get("FaceDetail", {}), "Confidence": rec["Face"].get("Confidence")},
                                              size))
                      for rec in r.get("FaceRecords", []))
        unindexed = tuple(UnindexedFace(face_detail(u.get("FaceDetail", {}), size), tuple(u.get("Reasons", [])))
                          for u in r.get("UnindexedFaces", []))
        return IndexResult(faces, unindexed, r.get("FaceModelVersion"))

    def warm(self) -> None:
        """Nothing to load: the models are the service's."""

    def collection_model(self, collection: str) -> tuple[str, str] | None:
        return None  # the service picks it; IndexFaces and DescribeCollection report its version

    def preparer(self, collection: str, *, max_faces: int) -> Preparer:
        """IndexFaces itself is the per-image work (network-bound: run in ``concurrency`` threads on
        the batch client)."""
        run = BatchRun(self, self._ref(collection))  # the collection is checked (region, account) once, here

        def prepare(image: LoadedImage) -> Prepared:
            result = self.index_faces(collection, image, external_image_id(image.sha256), max_faces, batch=True,
                                      run=run)
            details = [f.detail for f in result.faces] + [u.detail for u in result.unindexed]
            return Prepared(image.sha256, image.original_size, image.format, details, payload=result)
        weakref.finalize(prepare, run.close)  # when the batch lets go of it
        return prepare

    def commit(self, collection: str, prepared: Prepared, *, external_id: str, max_faces: int) -> IndexResult:
        result: IndexResult = prepared.payload
        return result

    def index_face_region(self, collection: str, image: LoadedImage, box: BoundingBox,
                          external_image_id_: str, *, others: Sequence[BoundingBox] | None = None) -> IndexedFace:
        """IndexFaces on a crop of that one face (MaxFaces=1), the box mapped back to the full image.

        Every other face of the image is painted over in the crop, as for a search (Rekognition
        indexes the largest face it sees): ``others`` when the caller knows them (the catalog's
        boxes: free), else the image's DetectFaces answer (cached by image). When the face indexed
        is still not the one asked for, it is deleted again (:class:`SearchMismatch`)."""
        ext = external_image_id(external_image_id_)
        ref = self._ref(collection)
        if others is None:
            others = [f.box for f in self.detect_faces(image, collection) if overlap(f.box, box) < MATCH_IOU]
        crop, px = crop_alone(image, box, [o for o in others if o != box])
        try:
            r = self._call("IndexFaces", collection, CollectionId=ref.collection_id, Image={"Bytes": prepare_image(crop)},
                           ExternalImageId=ext, DetectionAttributes=ATTRIBUTES, MaxFaces=1, QualityFilter="NONE")
        finally:
            self.cache.invalidate(self._scope(ref))
        records = r.get("FaceRecords", [])
        if not records:
            raise NoFaceFound("Rekognition found no face to index in that part of the image")
        rec = records[0]
        d = face_detail({**rec.get("FaceDetail", {}), "Confidence": rec["Face"].get("Confidence")})
        size = image.rgb.size
        mapped = _from_crop(d.box, px, size)
        if overlap(mapped, box) < MATCH_IOU:
            self._erase(collection, [rec["Face"]["FaceId"]])
            raise SearchMismatch("Rekognition indexed another face than the one chosen; it was deleted again")
        ow, oh = image.original_size
        detail = replace(d, box=mapped, landmarks=tuple(
            replace(lm, x=(px[0] + lm.x * (px[2] - px[0])) / size[0], y=(px[1] + lm.y * (px[3] - px[1])) / size[1])
            for lm in d.landmarks), size_px=int(round(min(mapped.width * ow, mapped.height * oh))))
        return IndexedFace(rec["Face"]["FaceId"], image.sha256, ext, detail)

    # -- Users (made elsewhere or by earlier versions: the app no longer creates them) ------------
    def disassociate_faces(self, collection: str, user_id: str, face_ids: list[str]) -> list[str]:
        """DisassociateFaces (100 a call); returns the ids no longer in the User."""
        ref = self._ref(collection)
        done: list[str] = []
        for start in range(0, len(face_ids), USER_PAGE):
            chunk = face_ids[start:start + USER_PAGE]
            try:
                r = self._call("DisassociateFaces", collection, CollectionId=ref.collection_id, UserId=user_id,
                               FaceIds=chunk)
            except UserNotFound:
                done.extend(chunk)
                continue
            done.extend(f["FaceId"] for f in r.get("DisassociatedFaces", []))
            done.extend(u["FaceId"] for u in r.get("UnsuccessfulFaceDisassociations", [])
                        if "FACE_NOT_FOUND" in u.get("Reasons", []))
        return done

    def delete_user(self, collection: str, user_id: str) -> bool:
        """DeleteUser (its faces stay, unassociated); False when there was no such User."""
        ref = self._ref(collection)
        try:
            self._call("DeleteUser", collection, CollectionId=ref.collection_id, UserId=user_id)
        except UserNotFound:
            return False
        return True

    # -- Users of watched and searched people (issue 27) -----------------------------------------
    def create_user(self, collection: str, user_id: str) -> bool:
        """CreateUser (free); False when the User exists already."""
        ref = self._ref(collection)
        try:
            self._call("CreateUser", collection, CollectionId=ref.collection_id, UserId=user_id)
        except InvalidParameter as exc:
            if "ConflictException" in str(exc):
                return False
            raise
        return True

    def associate_faces(self, collection: str, user_id: str, face_ids: list[str]) -> list[str]:
        """AssociateFaces (one Group 1 call per 100 faces); returns the ids now in the User. The
        analyst's grouping decides: ``UserMatchThreshold`` 0, so no face is refused for looking unlike
        the User's others (a face that belongs to another User is)."""
        ref = self._ref(collection)
        done: list[str] = []
        for start in range(0, len(face_ids), USER_PAGE):
            r = self._call("AssociateFaces", collection, CollectionId=ref.collection_id, UserId=user_id,
                           FaceIds=face_ids[start:start + USER_PAGE], UserMatchThreshold=0.0)
            done.extend(f["FaceId"] for f in r.get("AssociatedFaces", []))
        return done

    def search_users_region(self, collection: str, rgb: np.ndarray, box: BoundingBox,
                            threshold: float = DEFAULT_THRESHOLD, max_users: int = 10) -> list[tuple[str, float]]:
        """(UserId, similarity) of the Users like the face in ``box`` (relative) of an RGB picture: one
        SearchUsersByImage on a crop around it (never cached: each new face is checked once); a
        crop whose searched face is not that face gives nothing."""
        threshold, max_users = check_threshold(threshold), check_max_faces(max_users)
        ref = self._ref(collection)
        frame = Image.fromarray(rgb)
        px = square_crop_box(box, frame.width, frame.height, margin=0.4)
        crop = decode(encode_jpeg(frame.crop(px), quality=90), "face.jpg", None)
        try:
            r = self._call("SearchUsersByImage", collection, CollectionId=ref.collection_id,
                           Image={"Bytes": prepare_image(crop)}, UserMatchThreshold=threshold, MaxUsers=max_users)
        except NoFaceFound:
            return []
        searched = (r.get("SearchedFace") or {}).get("FaceDetail", {}).get("BoundingBox")
        if _searched_another_face({"SearchedFaceBoundingBox": searched} if searched else {}, px, frame.size, box):
            return []
        return [(str(m["User"]["UserId"]), float(m["Similarity"])) for m in r.get("UserMatches", [])
                if m.get("User", {}).get("UserStatus", "ACTIVE") == "ACTIVE"]

    # -- erasure -------------------------------------------------------------------------------
    def delete_faces(self, collection: str, face_ids: list[str]) -> list[str]:
        """DeleteFaces; faces that belong to a User are disassociated and deleted again. Returns the
        ids AWS confirmed gone (deleted, or not found); :class:`ErasureIncomplete` when some remain."""
        return self._erase(collection, face_ids)

    def take_freed_users(self, collection: str) -> set[str]:
        """The Users that erasures in ``collection`` freed faces from since the last ask (then forgotten)."""
        with self._users_lock:
            return self._freed_users.pop(collection, set())

    def _erase(self, collection: str, face_ids: list[str]) -> list[str]:
        """Linear in the number of ids, :data:`DELETE_PAGE` (4,096) a DeleteFaces call. A failure half
        way (a refused permission, the service unreachable) still reports the ids AWS confirmed
        gone before it, through :class:`ErasureIncomplete` (``remaining``: the others), so the
        catalog lets go of exactly those."""
        wanted = list(dict.fromkeys(face_ids))
        if not wanted:
            return []
        ref = self._ref(collection)
        gone: set[str] = set()
        calls = 0
        users: set[str] = set()
        failure: Exception | None = None
        try:
            pending = wanted
            for attempt in range(2):  # the second pass deletes faces freed from their Users
                by_user: dict[str, list[str]] = {}
                for start in range(0, len(pending), DELETE_PAGE):
                    r = self._call("DeleteFaces", collection, CollectionId=ref.collection_id,
                                   FaceIds=pending[start:start + DELETE_PAGE])
                    calls += 1
                    gone.update(r.get("DeletedFaces", []))
                    for u in r.get("UnsuccessfulFaceDeletions", []):
                        reasons = u.get("Reasons", [])
                        if "FACE_NOT_FOUND" in reasons:
                            gone.add(u["FaceId"])
                        elif "ASSOCIATED_TO_AN_EXISTING_USER" in reasons and u.get("UserId"):
                            by_user.setdefault(u["UserId"], []).append(u["FaceId"])
                if not by_user or attempt == 1:
                    break
                for user, ids in by_user.items():
                    self.disassociate_faces(collection, user, ids)
                    users.add(user)
                pending = [f for ids in by_user.values() for f in ids]
        except (FaceLibError, ClientError, BotoCoreError) as exc:
            failure = exc
        finally:
            if users:
                with self._users_lock:
                    self._freed_users.setdefault(collection, set()).update(users)
            self.cache.invalidate(self._scope(ref))
            self.cache.scrub()
        remaining = [f for f in wanted if f not in gone]
        done = [f for f in wanted if f in gone]
        if failure is not None and not done:
            raise failure
        log.info("collection %r: erased %d of %d faces (%d DeleteFaces calls, %d Users freed from)%s", collection,
                 len(done), len(wanted), calls, len(users), f"; stopped: {failure.__class__.__name__}" if failure else "")
        if failure is not None:
            raise ErasureIncomplete(f"the erasure stopped after {len(done)} of {len(wanted)} faces: {failure}; the "
                                    "others are kept so it can be retried", remaining) from failure
        if remaining:
            raise ErasureIncomplete(f"Rekognition did not delete {len(remaining)} of {len(wanted)} faces; they are "
                                    "kept so the erasure can be retried", remaining)
        return done

    def forget_images(self, collection: str, external_ids: set[str], keep: frozenset[str] = frozenset()) -> list[str]:
        """Delete every face indexed with one of those ExternalImageIds (recovery after a crash), but
        the face ids in ``keep`` (those the catalog records): one listing for all of them."""
        if not external_ids:
            return []
        ids = [f["FaceId"] for f in self._face_records(collection)
               if f.get("ExternalImageId") in external_ids and f["FaceId"] not in keep]
        return self._erase(collection, ids) if ids else []

    def list_faces(self, collection: str) -> list[str]:
        return [f["FaceId"] for f in self._face_records(collection)]

    def _face_records(self, collection: str) -> Iterator[dict[str, Any]]:
        """Every Face record of the collection, ListFaces page by page (free, never cached)."""
        ref = self._ref(collection)
        params: dict[str, Any] = {"CollectionId": ref.collection_id, "MaxResults": LIST_PAGE}
        while True:
            page = self._call("ListFaces", collection, **params)
            yield from page.get("Faces", [])
            if not page.get("NextToken"):
                return
            params["NextToken"] = page["NextToken"]

    # -- search --------------------------------------------------------------------------------
    def search_faces(self, collection: str, face_id: str, threshold: float = DEFAULT_THRESHOLD,
                     max_faces: int = 50) -> list[Match]:
        """SearchFaces, cached while the collection's face count stays the same."""
        threshold, max_faces = check_threshold(threshold), check_max_faces(max_faces)
        ref = self._ref(collection)
        params = {"CollectionId": ref.collection_id, "FaceId": face_id, "FaceMatchThreshold": threshold,
                  "MaxFaces": max_faces}
        r = self._cached("SearchFaces", self._scope(ref), None, params,
                         {"FaceId": face_id, "FaceMatchThreshold": threshold, "MaxFaces": max_faces},
                         self._face_count(ref), collection)
        return _matches(r)

    def search_faces_by_image(self, collection: str, image: LoadedImage, threshold: float = DEFAULT_THRESHOLD,
                              max_faces: int = 50, face_index: int | None = None) -> ImageSearch:
        """DetectFaces for every face of the query, then SearchFacesByImage on the chosen one.

        With several faces the chosen one is cropped and the others painted over, so Rekognition
        (which searches the largest face it sees) cannot search a neighbour; the face it reports
        searching must overlap the chosen one (:class:`SearchMismatch` otherwise).
        """
        threshold, max_faces = check_threshold(threshold), check_max_faces(max_faces)
        ref = self._ref(collection)
        faces = tuple(self.detect_faces(image, collection))
        chosen = largest_face(faces) if face_index is None else face_index
        if chosen is None:
            return ImageSearch((), None, ())
        if not 0 <= chosen < len(faces):
            raise InvalidParameter(f"face index {chosen} is out of range: the image has {len(faces)} faces")
        target = faces[chosen].box
        if len(faces) == 1:
            query, px = image, (0, 0, *image.rgb.size)
        else:
            query, px = crop_alone(image, target, [f.box for i, f in enumerate(faces) if i != chosen])
        scope = self._scope(ref)
        count = self._face_count(ref)
        try:
            r = self._with_image(query, lambda data: self._cached(
                "SearchFacesByImage", scope, (query.sha256, PREP_VERSION),
                {"CollectionId": ref.collection_id, "Image": {"Bytes": data}, "FaceMatchThreshold": threshold,
                 "MaxFaces": max_faces}, {"FaceMatchThreshold": threshold, "MaxFaces": max_faces}, count, collection))
        except NoFaceFound:
            return ImageSearch(faces, chosen, ())
        if _searched_another_face(r, px, image.rgb.size, target):
            raise SearchMismatch("Rekognition searched another face than the one chosen; pick the face again "
                                 "or crop the photo to it")
        return ImageSearch(faces, chosen, tuple(_matches(r)))

    def search_region(self, collection: str, rgb: np.ndarray, box: BoundingBox, threshold: float = DEFAULT_THRESHOLD,
                      max_faces: int = 1) -> list[Match]:
        """One SearchFacesByImage on a crop of that face of the frame (the local detector found it:
        no DetectFaces), never cached; a crop whose searched face is off-centre gives no match."""
        threshold, max_faces = check_threshold(threshold), check_max_faces(max_faces)
        ref = self._ref(collection)
        frame = Image.fromarray(rgb)
        px = square_crop_box(box, frame.width, frame.height, margin=0.4)
        crop = decode(encode_jpeg(frame.crop(px), quality=90), "live.jpg", None)
        try:
            r = self._call("SearchFacesByImage", collection, CollectionId=ref.collection_id,
                           Image={"Bytes": prepare_image(crop)}, FaceMatchThreshold=threshold, MaxFaces=max_faces)
        except NoFaceFound:
            return []
        return [] if _searched_another_face(r, px, frame.size, box) else _matches(r)

    def compare_faces(self, source: LoadedImage, target: LoadedImage, threshold: float = DEFAULT_THRESHOLD) -> list[Match]:
        """CompareFaces, cached by both images (every cached comparison goes when any photo is
        erased). Bytes refused as a format the service cannot read (a CMYK source or target) are
        re-encoded once; no face in either image is an empty answer."""
        check_threshold(threshold)
        scope = self._scope()

        def send(src: bytes, dst: bytes) -> dict[str, Any]:
            return self._cached("CompareFaces", scope, (source.sha256, target.sha256, PREP_VERSION),
                                {"SourceImage": {"Bytes": src}, "TargetImage": {"Bytes": dst},
                                 "SimilarityThreshold": threshold}, {"SimilarityThreshold": threshold})
        try:
            src, dst = prepare_image(source), prepare_image(target)
            try:
                r = send(src, dst)
            except BadImage as exc:
                as_is = src is source.data or dst is target.data
                if not as_is or error_code(exc.__cause__ or exc) != "InvalidImageFormatException":
                    raise
                r = send(prepare_image(source, reencode=True), prepare_image(target, reencode=True))
        except NoFaceFound:
            return []
        out = []
        for i, m in enumerate(r.get("FaceMatches", [])):
            detail = face_detail(m["Face"], target.original_size)
            out.append(Match(IndexedFace(f"target-{i}", target.sha256, target.sha256, detail), float(m["Similarity"])))
        return sorted(out, key=lambda m: -m.similarity)


__all__ = ["ATTRIBUTES", "RekognitionEngine", "collection_id_for", "crop_alone", "parse_arn"]
