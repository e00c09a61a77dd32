"""The handle pages and the CLI hold: one collection of a workspace, after sqlite-utils' ``db[name]``.

``coll = ws.collection("family")``, then ``coll.index(sources)``, ``coll.search_image(image)``,
``coll.people.rename(person_id, "Mom")``, ``coll.delete_image(sha)``. Every method batches its
queries. Similarities are percentages 0-100; boxes are relative 0-1.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from PIL import Image

from .engines.base import CloudCollections, Engine, SupportsModels, SupportsUsers, external_image_id, usd
from .errors import BadImage, BudgetExceeded, EngineAuthError, ErasureIncomplete, FaceNotFound, InvalidParameter
from .filters import QualityFilter
from .images import WORK_MAX_SIDE, LoadedImage, decode, encode_jpeg, load_file
from .ingest.estimate import BatchEstimate, estimate_batch
from .ingest.indexer import BatchReport, Indexer, Progress
from .ingest.inflight import StopFlag
from .ingest.reindex import Progress as ReindexProgress
from .ingest.reindex import ReindexReport, check_target, reindex
from .ingest.sources import VIDEO_SUFFIXES, Source
from .jobs.store import Job, JobKind
from .people.service import People, user_id
from .people.store import PeopleStore
from .records import BoundingBox, EngineName, FaceStatus, Match, StoredFace, StoredImage
from .search import SearchResult, search_by_face, search_by_image
from .store.appearances import Timecode
from .thumbnails import cached_data_uri, draw_boxes, placeholder_uri, square_crop_box

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from pathlib import Path

    from .live import LiveRecognizer
    from .records import CollectionInfo
    from .settings import Settings
    from .workspace import Workspace


class Collection:
    """One collection: its catalog rows, files, engine and people."""

    def __init__(self, workspace: Workspace, name: str, engine: Engine, user: str | None = None) -> None:
        self.ws = workspace
        self.name = name
        #: Who holds this handle (the login's user; None for the administrator).
        self.user = user
        self.engine = engine
        self._catalog = workspace.catalog
        self._files = workspace.files

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, engine={self.engine.name!s})"

    # -- what it is ----------------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        """The workspace's settings (floor, default threshold, prices...)."""
        return self.ws.settings

    @property
    def model(self) -> str | None:
        """The face model that indexes this collection ("sface", "dlib"; None when the service picks)."""
        indexed_by = self.engine.collection_model(self.name)
        return indexed_by[0] if indexed_by else None

    @property
    def models(self) -> tuple[str, ...]:
        """The models this collection's engine offers (empty when the service picks its own)."""
        return self.engine.models

    @property
    def model_version(self) -> str | None:
        indexed_by = self.engine.collection_model(self.name)
        return indexed_by[1] if indexed_by else None

    @property
    def engine_name(self) -> EngineName:
        return self.engine.name

    @property
    def analyses_here(self) -> bool:
        """The per-image analysis runs in this installation (the local engine): on this machine's
        process pool, or on a Dask cluster (``index(cluster=...)``)."""
        return self.engine.parallel == "process"

    @property
    def paid(self) -> bool:
        """Reads are billed (the UI asks before paid work and shows costs)."""
        return self.engine.paid

    @property
    def reports_age(self) -> bool:
        """Faces carry an age range (the age filter)."""
        return self.engine.reports_age

    @property
    def location(self) -> str | None:
        """"account / region" of a cloud collection (from its ARN, no call); None for an offline one."""
        if not isinstance(self.engine, CloudCollections):
            return None
        account, region = self.engine.location(self.name)
        return f"{account or '?'} / {region or '?'}"

    def counts(self) -> dict[str, int]:
        """images, faces (indexed) and rejected."""
        return self._catalog.counts(self.name)

    def describe(self) -> CollectionInfo:
        """What the engine itself says of the collection (a call to it)."""
        return self.engine.describe_collection(self.name)

    # -- indexing ------------------------------------------------------------------------------
    def index(self, sources: Iterable[Source], progress: Progress | None = None, workers: int | None = None,
              max_faces: int = 100, cluster: str | None = None, stop: StopFlag | None = None,
              job_id: int | None = None) -> BatchReport:
        """Index a batch (images the collection holds already are skipped); see :class:`Indexer`.
        On a paid engine with a budget, a batch whose estimate is over it is refused before any call.

        ``cluster``: a Dask scheduler (``tcp://HOST:8786``) for the per-image analysis; default the
        settings' (``FACESEARCH_CLUSTER``, used by engines that analyse locally), else this machine's
        process pool. "" forces the process pool. An unreachable cluster raises
        :class:`~facelib.errors.ClusterUnreachable` before anything is read.

        Runs here, holding the collection's lease (another writer waits in line); ``stop`` (a job's
        cancel) stops it with what was done kept. Pages submit a job instead (:meth:`submit_index`)."""
        sources = list(sources)
        self.check_budget(sources)
        if cluster is None and self.analyses_here:
            cluster = self.settings.cluster
        indexer = Indexer(self._catalog, self._files, self.engine, self.name, workers, max_faces,
                          cluster or None, self.settings.cluster_shared_paths, self.ws.leases)
        indexer.cluster_tls = self.settings.cluster_tls
        return indexer.run(sources, progress, stop, job_id=job_id)

    # -- jobs ----------------------------------------------------------------------------------
    def submit_index(self, specs: list[dict[str, Any]], spool: str | None = None, *, cluster: str | None = None,
                     group: bool | None = None, budget_usd: float | None = None, max_faces: int = 100) -> int:
        """Submit an index job for the app's runner: ``specs`` from :mod:`facelib.jobs.spool` (spooled
        uploads, a folder, an S3 prefix), fixed now, whatever the page does next. Returns the job id."""
        inputs: dict[str, object] = {"sources": specs, "spool": spool, "cluster": cluster, "group": group,
                                     "max_faces": max_faces}
        if budget_usd is not None:
            inputs["budget_usd"] = budget_usd
        return self.ws.submit(JobKind.INDEX, self.name, inputs, self.user)

    def submit(self, kind: JobKind, **inputs: Any) -> int:
        """Submit a re-index (``model=``), regroup or delete job for this collection; the job id."""
        return self.ws.submit(kind, self.name, inputs, self.user)

    def jobs(self, limit: int = 20) -> list[Job]:
        """This collection's jobs, newest first (running and finished, with their reports)."""
        return self.ws.jobs_of(self.name, self.user, limit)

    def busy(self) -> str | None:
        """Who is writing to this collection now (a job, a command), or None."""
        holder = self.ws.leases.holder(self.name)
        return holder.describe() if holder else None

    def estimate(self, sources: Sequence[Source]) -> BatchEstimate:
        """Paid calls and dollars that indexing ``sources`` and then grouping would cost: one
        IndexFaces per file that will really reach the service (new, decodable, within the size
        limits), and one SearchFaces per face grouping will search: the new photos' faces and every
        face of the collection never searched yet (asked of the people store, read-only). S3
        objects are judged from their listing (size, ETag), never downloaded."""
        counts = self.counts()
        per_image = counts["faces"] / counts["images"] if counts["images"] else 1.5
        return estimate_batch(lambda sha: self._catalog.has_image(self.name, sha),
                              lambda etag: self._catalog.has_etag(self.name, etag), sources, self.ws.settings.prices,
                              faces_per_image=per_image, unsearched=self.people.pending_searches())

    def check_budget(self, sources: Sequence[Source], grouping: bool = False,
                     budget: float | None = None) -> BatchEstimate | None:
        """On a paid engine with a budget (``budget``, default ``Settings.budget_usd``), the batch's
        estimate, or :class:`BudgetExceeded` when it is over: its IndexFaces, plus with ``grouping``
        every SearchFaces grouping will make. None when there is nothing to check."""
        budget = self.ws.settings.budget_usd if budget is None else budget
        if not self.paid or budget is None:
            return None
        est = self.estimate(sources)
        dollars = est.dollars if grouping else est.index_dollars
        if dollars > budget:
            what = (f"{est.paid_calls} IndexFaces and {est.grouping_calls} SearchFaces for grouping" if grouping
                    else f"{est.paid_calls} IndexFaces")
            raise BudgetExceeded(f"this batch would cost about {usd(dollars)} ({what}), over the budget of {usd(budget)}: "
                                 "index fewer photos or raise the budget (--budget-usd, FACESEARCH_BUDGET_USD)")
        return est

    def index_anyway(self, face_id: str) -> StoredFace:
        """Index a face the engine rejected (e.g. EXCEEDS_MAX_FACES, LOW_SHARPNESS) from the stored copy.

        Only that face is indexed; the image's other faces stay as they are. Returns the face as now stored.
        """
        face = self._catalog.face(face_id)
        if face.collection != self.name or face.status != FaceStatus.REJECTED:
            raise InvalidParameter(f"face {face_id!r} is not a rejected face of {self.name!r}")
        path = self._stored_copy(face.stored_path)
        if path is None:
            raise InvalidParameter("the stored copy of this image is missing: index the photo again instead")
        image = load_file(str(path))
        new = self.engine.index_face_region(self.name, image, face.detail.box, external_image_id(face.image_sha256))
        self._catalog.promote_face(face_id, new.face_id, face.detail, face.thumb_path)
        return self._catalog.face(new.face_id)

    def reindex(self, model: str, progress: ReindexProgress | None = None, workers: int | None = None) -> ReindexReport:
        """Index every stored copy again with another of the engine's ``models``; names, hidden flags and
        decisions carry over by image and box overlap (see :mod:`facelib.ingest.reindex`)."""
        if not isinstance(self.engine, SupportsModels):
            raise InvalidParameter(f"the {self.engine_name} engine has one model; its collections cannot be re-indexed")
        check_target(self.model or "", model, self.engine.models)
        engine = self.engine
        with self.ws.leases.hold(self.name, "reindex"):  # no batch may commit while the model changes
            old_thumbs = {f.thumb_path for f in self.faces(status=None)}
            indexer = Indexer(self._catalog, self._files, engine, self.name, workers, leases=self.ws.leases)
            indexer.recover()
            indexer.thumb_tag = f"{model}-"  # the old thumbnails stay untouched until the commit lands
            report = reindex(indexer, self.people.store, model, engine.model_preparer(model),
                             lambda: engine.set_model(self.name, model), progress)
            self._files.remove_thumbs(old_thumbs - {f.thumb_path for f in self.faces(status=None)})
        return report

    # -- comparing -----------------------------------------------------------------------------
    def compare(self, source: LoadedImage, target: LoadedImage, floor: float | None = None) -> list[Match]:
        """Faces of ``target`` like the largest confident face of ``source``, at ``floor`` (default the
        settings' 50%) or more, most alike first: the engine's descriptor offline, CompareFaces on
        Rekognition. Boxes are relative to ``target``."""
        return self.engine.compare_faces(source, target, self.settings.search_floor if floor is None else floor)

    def face_picture(self, face_id: str) -> LoadedImage:
        """The face alone, cut from its stored copy with a margin (to compare or search it as a photo)."""
        face = self.face(face_id)
        path = self._stored_copy(face.stored_path)
        if path is None:
            raise InvalidParameter("the stored copy of this face's photo is missing")
        try:
            image = load_file(str(path))
        except BadImage as exc:
            raise InvalidParameter("the stored copy of this face's photo is damaged: index the photo again") from exc
        box = square_crop_box(face.detail.box, *image.rgb.size, margin=0.4)
        return decode(encode_jpeg(image.rgb.crop(box), quality=92), name=f"{face.image_name}#face", max_side=None)

    # -- photos --------------------------------------------------------------------------------
    def photos(self, with_people: list[int] | None = None, without_people: list[int] | None = None,
               since: str | None = None, until: str | None = None) -> list[StoredImage]:
        """The collection's photos, newest first: only those where every person of ``with_people``
        appears and none of ``without_people``, dated (Instagram post date, else when indexed;
        ISO dates ``YYYY-MM-DD``) between ``since`` and ``until`` inclusive."""
        images = sorted(self._catalog.images(self.name), key=lambda i: -i.added_at)
        if with_people or without_people:
            keep = set(self.people.photos_with(list(with_people or []), list(without_people or [])))
            images = [i for i in images if i.sha256 in keep]
        if since or until:
            images = [i for i in images if (since or "") <= photo_date(i) <= (until or "9999")]
        return images

    def faces_of(self, images: Iterable[StoredImage]) -> dict[str, list[StoredFace]]:
        """image sha256 -> its faces, for the given photos (one query)."""
        return self._catalog.faces_of_images(self.name, (i.sha256 for i in images))

    # -- searching -----------------------------------------------------------------------------
    def search_image(self, image: LoadedImage, face_index: int | None = None, floor: float | None = None,
                     max_faces: int | None = None) -> SearchResult:
        """Search the chosen face of ``image`` (default the largest) once, at ``floor`` (default the
        settings' 50%): thresholds then filter the result locally."""
        s = self.ws.settings
        result = search_by_image(self._catalog, self.engine, self.name, image,
                                 s.search_floor if floor is None else floor, max_faces or s.search_max_faces,
                                 face_index)
        self.ws.search_calls += 1
        return result

    def search_face(self, face_id: str, floor: float | None = None, max_faces: int | None = None) -> SearchResult:
        """Search an indexed face (it is left out of its own results)."""
        s = self.ws.settings
        result = search_by_face(self._catalog, self.engine, self.name, face_id,
                                s.search_floor if floor is None else floor, max_faces or s.search_max_faces)
        self.ws.search_calls += 1
        return result

    # -- reading -------------------------------------------------------------------------------
    def faces(self, status: str | None = FaceStatus.INDEXED, image_sha256: str | None = None) -> list[StoredFace]:
        """Faces (``status`` None: indexed and rejected), in image then face order."""
        return self._catalog.faces(self.name, status, image_sha256)

    def face(self, face_id: str) -> StoredFace:
        """One face of this collection (:class:`FaceNotFound` otherwise)."""
        face = self._catalog.face(face_id)
        if face.collection != self.name:
            raise FaceNotFound(f"no face {face_id!r} in {self.name!r}")
        return face

    def faces_by_id(self, face_ids: Iterable[str]) -> dict[str, StoredFace]:
        return {k: f for k, f in self._catalog.faces_by_id(face_ids).items() if f.collection == self.name}

    def sample(self, n: int, seed: int = 0) -> list[StoredFace]:
        """Up to ``n`` indexed faces drawn at random (reproducible for one ``seed``)."""
        return self._catalog.sample_faces(self.name, n, seed)

    def failing(self, quality: QualityFilter, limit: int = 500) -> tuple[int, list[StoredFace]]:
        """(how many indexed faces ``quality`` hides, the first ``limit`` of them)."""
        return self._catalog.faces_failing(self.name, quality, limit)

    def image(self, sha256: str) -> StoredImage | None:
        return self._catalog.image(self.name, sha256)

    def images(self) -> list[StoredImage]:
        return self._catalog.images(self.name)

    def find_images(self, text: str, limit: int = 100) -> list[StoredImage]:
        """Images whose original name contains ``text`` (case-insensitive), newest first."""
        return self._catalog.find_images(self.name, text, limit)

    def has_image(self, sha256: str) -> bool:
        return self._catalog.has_image(self.name, sha256)

    def thumb_uri(self, relative: str | None) -> str:
        """A thumbnail as a data URI, for tables and pictures; a grey placeholder when the face has
        none or its file is missing or unreadable (logged: ``facesearch doctor`` repairs it)."""
        uri = cached_data_uri(str(self._files.path(relative))) if relative else None
        if uri is None:
            if relative:
                log.warning("thumbnail missing or unreadable: %s", relative)
            return placeholder_uri()
        return uri

    def photo(self, relative: str | None, boxes: list[BoundingBox], labels: list[str] | None = None,
              highlight: int | None = None, max_side: int = WORK_MAX_SIDE,
              text_scale: float = 1.0, at_s: float | None = None) -> Image.Image | None:
        """A stored copy with the boxes drawn (``highlight`` thicker; labels ``text_scale`` times the
        usual size, for grids), or None when it has no copy. A video: its frame at ``at_s`` seconds
        (default the first appearance's frame) with the box of the face shown there (``highlight``,
        else the first)."""
        path = self._stored_copy(relative)
        if path is None:
            return None
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return self._video_frame(path, boxes, labels, highlight, max_side, text_scale, at_s)
        try:
            image = load_file(str(path), max_side=max_side)
        except BadImage as exc:  # a damaged stored copy: the page says the picture is missing
            log.warning("stored copy unreadable: %s (%s)", relative, exc)
            return None
        return draw_boxes(image.rgb, boxes, labels=labels, highlight=highlight, text_scale=text_scale)

    def _video_frame(self, path: Path, boxes: list[BoundingBox], labels: list[str] | None, highlight: int | None,
                     max_side: int, text_scale: float, at_s: float | None) -> Image.Image | None:
        from .video.frames import frame_at

        k = highlight if highlight is not None and 0 <= highlight < len(boxes) else 0
        if at_s is None:
            sha = path.stem
            faces = self.faces(status=None, image_sha256=sha)
            times = self.ws.appearances.of(f.face_id for f in faces)
            by_box = {f.detail.box: times[f.face_id].frame_s for f in faces if f.face_id in times}
            at_s = by_box.get(boxes[k]) if boxes else min(by_box.values(), default=0.0)
        rgb = frame_at(str(path), at_s or 0.0, max_side)
        if rgb is None:
            return None
        shown = [boxes[k]] if boxes else []
        return draw_boxes(Image.fromarray(rgb), shown, labels=[labels[k]] if labels and shown else None,
                          highlight=0 if shown else None, text_scale=text_scale)

    def appearances(self, face_ids: Iterable[str]) -> dict[str, Timecode]:
        """Face id -> when it was on screen, for the faces of ``face_ids`` that come from videos
        (seconds: ``start_s``, ``end_s``, and ``frame_s``, its key frame)."""
        return self.ws.appearances.of(face_ids)

    def _stored_copy(self, relative: str | None) -> Path | None:
        """Where a stored copy is on disk, or None when the catalog names none or it is gone."""
        path = self._files.path(relative) if relative else None
        return path if path is not None and path.exists() else None

    # -- people --------------------------------------------------------------------------------
    @cached_property
    def people(self) -> People:
        """The people of this collection (grouping at the settings' people threshold)."""
        return self.people_at(self.ws.settings.people_threshold)

    def people_at(self, threshold: float) -> People:
        s = self.ws.settings
        return People(PeopleStore(self.ws.db, self.name), self._catalog, self.engine, threshold, s.search_floor,
                      s.search_max_faces)

    # -- erasure -------------------------------------------------------------------------------
    def delete_image(self, sha256: str) -> int:
        """Erase one image (see :meth:`_delete_image`); works on a full disk (:meth:`Workspace.with_room`)."""
        return self.ws.with_room(lambda: self._delete_image(sha256))

    def _delete_image(self, sha256: str) -> int:
        """Delete an image: its faces in the engine, the catalog (people rows by cascade), thumbnails
        and stored copy (unless another collection holds it). Returns how many faces went."""
        faces = self._catalog.faces(self.name, status=None, image_sha256=sha256)
        indexed = [f.face_id for f in faces if f.status == FaceStatus.INDEXED]
        if indexed:
            try:
                self.engine.delete_faces(self.name, indexed)
            except ErasureIncomplete as exc:  # keep the image and the faces the engine kept
                kept = set(exc.remaining)
                gone = self._catalog.remove_faces(self.name, [f for f in indexed if f not in kept])
                self._after_erasure(gone)
                raise
        self.engine.forget_answers([sha256])
        self._catalog.remove_image(self.name, sha256)
        self.people.store.drop_empty()
        self.people.store.forget_undo()  # erased faces must leave no trace, and cannot come back
        self._files.remove_thumbs(f.thumb_path for f in faces)
        if self._catalog.references(sha256) == 0:
            self._files.remove_copies([sha256])
        self.ws.db.scrub()
        return len(faces)

    def delete_faces(self, face_ids: list[str]) -> int:
        """Erase faces (see :meth:`_delete_faces`); works on a full disk (:meth:`Workspace.with_room`)."""
        return self.ws.with_room(lambda: self._delete_faces(face_ids))

    def _delete_faces(self, face_ids: list[str]) -> int:
        """Erase faces: from the engine, the catalog (and people), and their thumbnails. Images stay."""
        faces = self.faces_by_id(face_ids)
        indexed = [f for f in dict.fromkeys(face_ids) if f in faces and faces[f].status == FaceStatus.INDEXED]
        kept: set[str] = set()
        error: ErasureIncomplete | None = None
        if indexed:
            try:
                self.engine.delete_faces(self.name, indexed)
            except ErasureIncomplete as exc:  # only what the engine confirmed leaves the catalog
                kept, error = set(exc.remaining), exc
        gone = self._catalog.remove_faces(self.name, [f for f in faces if f not in kept])
        self._after_erasure(gone)
        if error is not None:
            raise error
        return len(gone)

    def _after_erasure(self, gone: list[StoredFace]) -> None:
        self.people.store.drop_empty()
        self.people.store.forget_undo()
        self._files.remove_thumbs(f.thumb_path for f in gone)
        self.ws.db.scrub()

    def delete_person(self, person_id: int, with_photos: bool = False) -> int:
        """Erase a person: their faces from the engine, catalog and disk, and with ``with_photos``
        every photo they appear in. Returns how many faces went.

        The faces go first (a face held by an engine User is freed from it on the way). Only when
        that erasure met the person's own User (made by an earlier version, which mirrored people
        as Users) is that User deleted too, so a collection without Users needs no DeleteUser
        permission; a refused DeleteUser leaves an empty User behind, logged, and the erasure stands."""
        person = self.people.get(person_id)
        if with_photos:
            shas = {f.image_sha256 for f in self.faces_by_id(person.face_ids).values()}
            n = sum(self.delete_image(sha) for sha in sorted(shas))
        else:
            n = self.delete_faces(list(person.face_ids))
        if isinstance(self.engine, SupportsUsers) and user_id(person_id) in self.engine.take_freed_users(self.name):
            try:
                self.people.forget_user(person_id)
            except EngineAuthError as exc:
                log.warning("person %d of %r: faces erased, but their empty engine User stays (%s)", person_id,
                            self.name, exc)
        self.people.store.delete_person(person_id)
        return n

    def delete(self) -> None:
        """Delete the whole collection (engine, catalog, files): its owner or an admin only."""
        self.ws.delete_collection(self.name, self.user)

    # -- live ----------------------------------------------------------------------------------
    def live(self, threshold: float | None = None, **options: Any) -> LiveRecognizer:
        """A recogniser for the Live page's frames (detection offline, searches in this collection);
        ``options`` go to :class:`~facelib.live.LiveRecognizer` (clock, executor, search_interval...)."""
        from . import engines
        from .live import LiveRecognizer

        return LiveRecognizer(self, engines.live_detector(self.ws.engine),
                              self.ws.settings.default_threshold if threshold is None else threshold, **options)


def photo_date(image: StoredImage) -> str:
    """A photo's date as ``YYYY-MM-DD``: its Instagram post date, else the day it was indexed (UTC)."""
    posted = image.metadata.get("post_date")
    if isinstance(posted, str) and len(posted) >= 10:
        return posted[:10]
    return time.strftime("%Y-%m-%d", time.gmtime(image.added_at))

