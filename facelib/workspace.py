"""A workspace: one data directory with its settings, catalog database, stored files and engines.

``ws.collection(name)`` gives the :class:`~facelib.collection.Collection` handle that the pages and
the CLI hold; the workspace itself only creates, lists and deletes collections and builds engines.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from . import engines
from .collection import Collection
from .engines.base import MAX_DISPLAY_NAME, CloudCollections, Engine, check_display_name, external_image_id
from .errors import CollectionExists, CollectionNotFound, InvalidParameter
from .ingest.sources import Source
from .jobs.lease import Leases
from .jobs.spool import check_inputs
from .jobs.store import MIGRATIONS as JOBS_MIGRATIONS
from .jobs.store import Job, JobKind, JobNotFound, JobStore
from .people.store import MIGRATIONS as PEOPLE_MIGRATIONS
from .records import EngineName, FaceStatus
from .settings import Settings
from .store.access import MIGRATIONS as ACCESS_MIGRATIONS
from .store.access import SPENDER, AccessStore, SpendingStore
from .store.appearances import MIGRATIONS as APPEARANCE_MIGRATIONS
from .store.appearances import Appearances
from .store.catalog import MIGRATIONS as CATALOG_MIGRATIONS
from .store.catalog import Catalog
from .store.db import Database, Migration, disk_full
from .store.files import Files
from .store.review import MIGRATIONS as REVIEW_MIGRATIONS
from .store.watch import MIGRATIONS as WATCH_MIGRATIONS

if TYPE_CHECKING:
    from pathlib import Path

    from .engines.rekognition.ledger import CostSummary
    from .ingest.cluster import ClusterInfo


T = TypeVar("T")
log = logging.getLogger(__name__)


class SpendingAs:
    """A paid engine held for a signed-in user: every call is counted as that user's spending
    (:data:`~facelib.store.access.SPENDER`), in whichever thread makes it (an indexing pool, the
    Live page's search thread). Everything else is the engine's own."""

    def __init__(self, engine: Engine, user: str) -> None:
        self._engine = engine
        self._user = user

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._engine, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            token = SPENDER.set(self._user)
            try:
                return value(*args, **kwargs)
            finally:
                SPENDER.reset(token)
        return call

    def __repr__(self) -> str:
        return f"SpendingAs({self._engine!r})"


def migrations() -> list[Migration]:
    """Every owner's schema steps, in version order."""
    return sorted([*CATALOG_MIGRATIONS, *PEOPLE_MIGRATIONS, *ACCESS_MIGRATIONS, *JOBS_MIGRATIONS, *APPEARANCE_MIGRATIONS,
                   *WATCH_MIGRATIONS, *REVIEW_MIGRATIONS, *engines.migrations()],
                  key=lambda m: m.version)


class Workspace:
    """Everything under one data directory. Thread-safe; build one per process and reuse it."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(self.settings.db_path, migrations())
        self.catalog = Catalog(self.db)
        self.access = AccessStore(self.db)
        #: Long work as recorded jobs, and one writer per collection (see :mod:`facelib.jobs`).
        self.jobs = JobStore(self.db)
        self.leases = Leases(self.settings.data_dir)
        #: When the faces of videos were on screen.
        self.appearances = Appearances(self.db)
        self.files = Files(self.settings.data_dir, self.db)
        self.files.make_reserve()  # room for an erasure when the disk fills up
        self._engines: dict[EngineName, Engine] = {}
        self._lock = threading.Lock()
        #: Engine searches made through collections of this workspace (for the UI's counter).
        self.search_calls = 0

    # -- engines -----------------------------------------------------------------------------
    def engine(self, name: str | None = None) -> Engine:
        """The engine of that name (default the settings'), built once."""
        key = engines.engine_name(name or self.settings.engine)
        with self._lock:
            if key not in self._engines:
                self._engines[key] = engines.build(key, self.settings, self.db)
            return self._engines[key]

    def use_engine(self, engine: Engine) -> None:
        """Put a ready engine in place (e.g. a Rekognition client with other credentials, or stubbed)."""
        with self._lock:
            self._engines[engines.engine_name(engine.name)] = engine

    def engine_for(self, collection: str) -> Engine:
        """The engine a collection was created with."""
        return self.engine(self.catalog.collection_engine(collection))

    # -- collections -------------------------------------------------------------------------
    # -- who may use what (the optional login) -----------------------------------------------
    def sign_in(self, issuer: str, subject: str, email: str | None = None, email_verified: bool = False) -> str:
        """The user id of a verified ID token's issuer and subject (recorded, with the e-mail and
        whether the provider verified it). Only a verified e-mail counts: for administrators
        (``FACESEARCH_ADMINS``) and to accept a share made to it."""
        if not issuer or not subject:
            raise InvalidParameter("a sign-in needs the ID token's issuer and subject")
        return self.access.sign_in(issuer, subject, email, email_verified)

    def is_admin(self, user: str | None) -> bool:
        """``None`` is the administrator: the CLI, or the app without a login. A signed-in user is
        one when their *verified* e-mail is listed in ``FACESEARCH_ADMINS``."""
        if user is None:
            return True
        email = self.access.verified_email(user)
        return email is not None and email in self.settings.admins

    def user_label(self, user: str | None) -> str:
        """How a user is shown (their e-mail, else their id)."""
        return "administrator" if user is None else self.access.label(user)

    def may_use(self, name: str, user: str | None) -> bool:
        """See, search, index into and erase faces of: the owner, users who accepted a share, admins."""
        return self.is_admin(user) or (user is not None and self.access.role(name, user) is not None)

    def owns(self, name: str, user: str | None) -> bool:
        """Whether ``user`` (a signed-in user) is the collection's owner."""
        return user is not None and self.access.role(name, user) == "owner"

    def may_manage(self, name: str, user: str | None) -> bool:
        """Delete or share: the owner and admins."""
        return self.is_admin(user) or (user is not None and self.access.role(name, user) == "owner")

    def share(self, name: str, email: str, user: str | None = None) -> None:
        """Invite the user whose verified sign-in e-mail is ``email`` to use the collection (only its
        owner or an admin may); it is theirs to see once they accept (:meth:`accept`)."""
        self._require(name, user, manage=True)
        address = email.strip().lower()
        if "@" not in address or len(address) > 320 or any(ch.isspace() for ch in address):
            raise InvalidParameter("name the user to share with by their sign-in e-mail")
        self.access.invite(name, address)

    def unshare(self, name: str, email: str, user: str | None = None) -> None:
        """Take back a share or an invitation (by e-mail, or a user id)."""
        self._require(name, user, manage=True)
        self.access.unshare(name, email)

    def invitations(self, user: str | None) -> list[str]:
        """Collections shared with ``user``'s verified e-mail that they have not accepted yet."""
        email = self.access.verified_email(user) if user is not None else None
        return [i.collection for i in self.access.invitations(email)] if email else []

    def accept(self, name: str, user: str) -> None:
        """Accept an invitation to ``name`` (:class:`CollectionNotFound` when there is none)."""
        email = self.access.verified_email(user)
        if not email or not self.catalog.has_collection(name) or not self.access.accept(name, email, user):
            raise CollectionNotFound(f"collection {name!r} does not exist")

    def decline(self, name: str, user: str) -> None:
        email = self.access.verified_email(user)
        if email:
            self.access.decline(name, email)

    def members(self, name: str) -> tuple[str | None, list[str]]:
        """(owner, users it is shared with and e-mails invited) of a collection, as shown."""
        return self.access.members(name)

    #: Between a signed-in owner's display name and their tag in a collection's key.
    OWNER_SEP = " · "
    TAG_HEX = 10

    def _owner_tag(self, owner: str) -> str:
        import hashlib

        return hashlib.sha256(owner.encode()).hexdigest()[:self.TAG_HEX]

    def key_for(self, name: str, owner: str | None) -> str:
        """The catalog key of ``owner``'s collection shown as ``name``: every signed-in user has
        their own names (a tag of their id follows the name), so creating "Family" never tells
        anyone that another user has a "Family". The administrator's keys are the names."""
        return name if owner is None else f"{name}{self.OWNER_SEP}{self._owner_tag(owner)}"

    def display_name(self, key: str) -> str:
        """A collection as shown: its key without its owner's tag."""
        owner = self.access.owner(key)
        suffix = self.OWNER_SEP + self._owner_tag(owner) if owner else None
        return key[:-len(suffix)] if suffix and key.endswith(suffix) and len(key) > len(suffix) else key

    def _require(self, name: str, user: str | None, manage: bool = False) -> None:
        allowed = self.may_manage(name, user) if manage else self.may_use(name, user)
        if not allowed or not self.catalog.has_collection(name):
            if manage and self.may_use(name, user) and self.catalog.has_collection(name):
                raise InvalidParameter(f"only the owner of {self.display_name(name)!r} may delete or share it")
            # the same answer as for a collection that does not exist: nothing is revealed
            raise CollectionNotFound(f"collection {name!r} does not exist")

    def collection(self, name: str, user: str | None = None) -> Collection:
        """The handle of an existing collection that ``user`` may use (:class:`CollectionNotFound`
        otherwise; ``None``: the administrator)."""
        if user is not None:
            self._require(name, user)
        engine = self.engine_for(name)
        if user is not None and engine.paid:
            engine = cast(Engine, SpendingAs(engine, user))
        return Collection(self, name, engine, user)

    def create_collection(self, name: str, engine: str | None = None, model: str | None = None,
                          owner: str | None = None) -> Collection:
        """Create a collection in the engine and the catalog (``model``: one of the engine's ``models``,
        default its first). ``name`` is a display name: 1-100 characters, spaces and any script.
        With an ``owner`` (a signed-in user) the collection's key is :meth:`key_for` (the name
        plus the owner's tag): users' names never meet, so nothing tells one user what another has."""
        check_display_name(name)
        key = self.key_for(name, owner)
        if len(key) > MAX_DISPLAY_NAME:
            raise InvalidParameter(f"collection name {name!r} must be 1-{MAX_DISPLAY_NAME - len(key) + len(name)} "
                                   "characters")
        if self.catalog.has_collection(key):
            raise CollectionExists(f"you have a collection {name!r} already")
        eng = self.engine(engine)
        if key not in eng.list_collections():
            try:
                eng.create_collection(key, model)
            except CollectionExists:
                if key not in eng.list_collections():  # not made by this installation meanwhile
                    raise
        indexed_by = eng.collection_model(key)
        self.files.forget_collection_folder(key)  # a folder left by a deleted namesake is not reused
        self.catalog.add_collection(key, eng.name, indexed_by[1] if indexed_by else None)
        if owner is not None:
            self.access.set_owner(key, owner)
        return Collection(self, key, eng, owner)

    def ensure_collection(self, name: str, engine: str | None = None, model: str | None = None,
                          owner: str | None = None) -> Collection:
        """``owner``'s collection shown as ``name`` (:meth:`key_for`), created first unless it exists."""
        key = self.key_for(name, owner)
        if not self.catalog.has_collection(key):
            try:
                return self.create_collection(name, engine, model, owner)
            except CollectionExists:  # another process created it meanwhile
                pass
        return self.collection(key, owner)

    def _visible(self, user: str | None) -> Callable[[object], bool]:
        """Whether a collection name is one ``user`` may use (all of them for an administrator)."""
        if self.is_admin(user):
            return lambda name: True
        mine = self.access.visible(str(user))
        return lambda name: name in mine

    def collections(self, user: str | None = None) -> list[str]:
        """The collections ``user`` may use (every one for the administrator, ``None``)."""
        visible = self._visible(user)
        return [n for n in self.catalog.list_collections() if visible(n)]

    def engines_by_collection(self, user: str | None = None) -> dict[str, str]:
        """Every collection's engine name (one query, for pickers), of those ``user`` may use."""
        visible = self._visible(user)
        return {n: e for n, e in self.catalog.engines_by_collection().items() if visible(n)}

    def overview(self, user: str | None = None) -> list[dict[str, object]]:
        """Every collection ``user`` may use with its engine and counts (images, faces, rejected)."""
        visible = self._visible(user)
        return [r for r in self.catalog.overview() if visible(r["collection"])]

    def import_collection(self, name: str, collection_id: str, engine: str = EngineName.REKOGNITION) -> Collection:
        """Use a cloud collection made elsewhere (its id in the account) under the display name ``name``.
        It is never deleted in the cloud: deleting it here erases only the faces indexed from here."""
        check_display_name(name)
        if name in self.catalog.list_collections():
            raise CollectionExists(f"collection {name!r} exists already")
        eng = self.engine(engine)
        if not isinstance(eng, CloudCollections):
            raise InvalidParameter(f"the {eng.name} engine has no collections to import")
        eng.import_collection(name, collection_id)
        self.catalog.add_collection(name, eng.name, None)
        return Collection(self, name, eng)

    def importable(self, engine: str = EngineName.REKOGNITION) -> list[str]:
        """Ids of cloud collections of the account that could be imported (a free listing call)."""
        eng = self.engine(engine)
        return eng.importable() if isinstance(eng, CloudCollections) else []

    def delete_collection(self, name: str, user: str | None = None) -> None:
        """Delete a collection (see :meth:`_delete_collection`): its owner or an admin only; works
        on a full disk."""
        if user is not None:
            self._require(name, user, manage=True)
        self.with_room(lambda: self._delete_collection(name))

    def with_room(self, erase: Callable[[], T]) -> T:
        """Run an erasure; when it fails because the disk is full (SQLite needs room for its WAL
        even to delete), free the reserve kept for this, run it again, and put the reserve back
        if there is room. Erasure must always be possible."""
        try:
            return erase()
        except Exception as exc:  # noqa: BLE001 - only a full disk is handled, anything else is raised
            if not disk_full(exc) or not self.files.release_reserve():
                raise
        try:
            return erase()
        finally:
            self.files.make_reserve()

    def _delete_collection(self, name: str) -> None:
        """Delete a collection from the engine and the catalog, with its thumbnails and unshared copies.
        A cloud collection this installation did not create stays in the cloud, minus the faces
        indexed from here; one whose ARN or tags changed is refused (:class:`NotOwned`), and nothing
        is deleted."""
        with self.leases.hold(name, "delete"):  # a batch in flight finishes (or is waited for) first
            coll = self.collection(name)
            shas = [i.sha256 for i in self.catalog.images(name)]
            indexed = [f.face_id for f in self.catalog.faces(name, status=FaceStatus.INDEXED)]
            # Images a dead batch left pending: the engine may hold faces of theirs that no row names.
            lost = {external_image_id(sha) for sha in self.catalog.pending(name) if sha not in set(shas)}
            try:
                if lost:
                    coll.engine.forget_images(name, lost)
                coll.engine.delete_collection(name, indexed)
            except CollectionNotFound:
                pass
            coll.engine.forget_answers(shas)
            self.catalog.remove_collection(name)
            self.files.remove_collection_thumbs(name)
            self.files.remove_copies(s for s in shas if self.catalog.references(s) == 0)
            for job in self.jobs.recent(name, limit=10_000):  # spooled uploads of its jobs go too
                if job.finished:
                    from .jobs.spool import discard_spool

                    discard_spool(self, job.inputs)
            self.jobs.forget_collection(name)
            self.db.scrub()
        log.info("erased collection %r: %d image(s), %d indexed face(s)", name, len(shas), len(indexed))

    # -- jobs --------------------------------------------------------------------------------
    def submit(self, kind: JobKind, collection: str, inputs: dict[str, object], user: str | None = None) -> int:
        """Record a job for the app's runner (:class:`~facelib.jobs.runner.JobRunner`); ``user`` must
        be allowed to do it (deleting: the owner or an admin). Returns the job id."""
        if inputs.get("cluster") and not self.is_admin(user):
            raise InvalidParameter("only an administrator may choose a Dask cluster (FACESEARCH_CLUSTER sets it)")
        check_inputs(inputs, self.is_admin(user))
        if kind == JobKind.REPAIR:
            if not self.is_admin(user):
                raise InvalidParameter("only an administrator may repair the data directory")
        else:
            self._require(collection, user, manage=kind == JobKind.DELETE)
        # The collection is fixed now: a namesake created after this one is erased is not it.
        job_id = self.jobs.submit(kind, collection, user, {**inputs, "collection_created":
                                                           self.catalog.collection_created(collection)})
        log.info("job %d submitted: %s into %r by %s", job_id, kind, collection, user or "admin")
        return job_id

    def job(self, job_id: int, user: str | None = None) -> Job:
        """One job, if ``user`` may see it (its collection's users, or its submitter); the same
        "no job" for a foreign one as for a missing one."""
        try:
            job = self.jobs.get(job_id)
        except JobNotFound:
            raise JobNotFound(f"no job {job_id}") from None
        if not (self.is_admin(user) or job.owner == user or self.may_use(job.collection, user)):
            raise JobNotFound(f"no job {job_id}")
        return job

    def jobs_of(self, collection: str, user: str | None = None, limit: int = 20) -> list[Job]:
        """The jobs of a collection ``user`` may use, newest first."""
        if not self.may_use(collection, user):
            return []
        return self.jobs.recent(collection, limit)

    def cancel_job(self, job_id: int, user: str | None = None) -> None:
        """Ask a job to stop: what it did so far is kept (a queued job never starts)."""
        job = self.job(job_id, user)
        self.jobs.request_cancel(job.job_id)
        log.info("job %d: cancel asked by %s", job_id, user or "admin")

    # -- sources -----------------------------------------------------------------------------
    def cluster_status(self, address: str | None = None, user: str | None = None) -> ClusterInfo:
        """Workers, threads and hosts of the Dask cluster at ``address`` (default the settings');
        :class:`~facelib.errors.ClusterUnreachable` when it cannot be used."""
        from .ingest.cluster import status

        if not self.is_admin(user):  # connecting unpickles what the cluster sends: an administrator's choice
            raise InvalidParameter("only an administrator may choose a Dask cluster")

        target = address or self.settings.cluster
        if not target:
            raise InvalidParameter("no Dask cluster is set (FACESEARCH_CLUSTER or a scheduler address)")
        return status(target, tls=self.settings.cluster_tls)

    def s3_sources(self, uri: str) -> list[Source]:
        """The images under ``s3://bucket/prefix``, through a client of the settings' profile and region."""
        from .aws import client
        from .ingest.s3 import s3_sources

        return s3_sources(uri, client("s3", self.settings), self.settings.aws_profile)

    # -- paid calls ----------------------------------------------------------------------------
    def costs(self, user: str | None = None) -> CostSummary:
        """Calls, cache hits and estimated dollars of paid engines (zeros when unused): the whole
        installation's for an administrator (``None``), else what ``user``'s own calls cost, with
        the faces stored in the paid collections they may use."""
        if self.is_admin(user):
            stored = sum(self.catalog.stored_faces(name) for name in engines.PAID)
            return engines.ledger(self.db).summary(self.settings.prices, stored)
        from .engines.rekognition.ledger import CostSummary, OperationCost

        prices = self.settings.prices
        ops = tuple(OperationCost(op, c, h, c * prices.of(op), h * prices.of(op))
                    for op, c, h in SpendingStore(self.db).totals(str(user)))
        mine = set(self.collections(user))
        stored = sum(int(str(r["faces"])) for r in self.catalog.overview()
                     if r["collection"] in mine and r["engine"] in engines.PAID)
        return CostSummary(ops, stored, stored * prices.per_face_month)

    # -- files -------------------------------------------------------------------------------
    def path(self, relative: str) -> Path:
        """Absolute path of a file stored under the data directory."""
        return self.files.path(relative)
