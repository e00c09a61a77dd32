"""A workspace: one data directory with its settings, catalog database, stored files and engines.

``ws.collection(name)`` gives the :class:`~facelib.collection.Collection` handle that the pages and
the CLI hold; the workspace itself only creates, lists and deletes collections and builds engines.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from . import engines
from .collection import Collection
from .engines.base import CloudCollections, Engine, check_display_name
from .errors import CollectionExists, CollectionNotFound, InvalidParameter
from .ingest.sources import Source
from .people.store import MIGRATIONS as PEOPLE_MIGRATIONS
from .records import EngineName, FaceStatus
from .settings import Settings
from .store.access import MIGRATIONS as ACCESS_MIGRATIONS
from .store.access import AccessStore
from .store.catalog import MIGRATIONS as CATALOG_MIGRATIONS
from .store.catalog import Catalog
from .store.db import Database, Migration, disk_full
from .store.files import Files

if TYPE_CHECKING:
    from pathlib import Path

    from .engines.rekognition.ledger import CostSummary
    from .ingest.cluster import ClusterInfo


T = TypeVar("T")


def migrations() -> list[Migration]:
    """Every owner's schema steps, in version order."""
    return sorted([*CATALOG_MIGRATIONS, *PEOPLE_MIGRATIONS, *ACCESS_MIGRATIONS, *engines.migrations()],
                  key=lambda m: m.version)


class Workspace:
    """Everything under one data directory. Thread-safe; build one per process and reuse it."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(self.settings.db_path, migrations())
        self.catalog = Catalog(self.db)
        self.access = AccessStore(self.db)
        self.files = Files(self.settings.data_dir)
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
    def is_admin(self, user: str | None) -> bool:
        """``None`` is the administrator: the CLI, or the app without a login."""
        return user is None or user.lower() in self.settings.admins

    def may_use(self, name: str, user: str | None) -> bool:
        """See, search, index into and erase faces of: the owner, users it is shared with, admins."""
        return self.is_admin(user) or (user is not None and self.access.role(name, user) is not None)

    def may_manage(self, name: str, user: str | None) -> bool:
        """Delete or share: the owner and admins."""
        return self.is_admin(user) or (user is not None and self.access.role(name, user) == "owner")

    def share(self, name: str, with_user: str, user: str | None = None) -> None:
        """Let ``with_user`` use the collection (only its owner or an admin may)."""
        self._require(name, user, manage=True)
        if not with_user.strip():
            raise InvalidParameter("name the user to share with (their login e-mail)")
        self.access.share(name, with_user.strip())

    def unshare(self, name: str, with_user: str, user: str | None = None) -> None:
        self._require(name, user, manage=True)
        self.access.unshare(name, with_user)

    def members(self, name: str) -> tuple[str | None, list[str]]:
        """(owner, users it is shared with) of a collection."""
        return self.access.members(name)

    def _require(self, name: str, user: str | None, manage: bool = False) -> None:
        allowed = self.may_manage(name, user) if manage else self.may_use(name, user)
        if not allowed or not self.catalog.has_collection(name):
            if manage and self.may_use(name, user):
                raise InvalidParameter(f"only the owner of {name!r} may delete or share it")
            # the same answer as for a collection that does not exist: nothing is revealed
            raise CollectionNotFound(f"collection {name!r} does not exist")

    # -- collections -------------------------------------------------------------------------
    def collection(self, name: str, user: str | None = None) -> Collection:
        """The handle of an existing collection that ``user`` may use (:class:`CollectionNotFound`
        otherwise; ``None``: the administrator)."""
        if user is not None:
            self._require(name, user)
        return Collection(self, name, self.engine_for(name), user)

    def create_collection(self, name: str, engine: str | None = None, model: str | None = None,
                          owner: str | None = None) -> Collection:
        """Create a collection in the engine and the catalog (``model``: one of the engine's ``models``,
        default its first). ``name`` is a display name: 1-100 characters, spaces and any script."""
        check_display_name(name)
        if name in self.catalog.list_collections():
            raise CollectionExists(f"collection {name!r} exists already")
        eng = self.engine(engine)
        if name not in eng.list_collections():
            try:
                eng.create_collection(name, model)
            except CollectionExists:
                if name not in eng.list_collections():  # not made by this installation meanwhile
                    raise
        indexed_by = eng.collection_model(name)
        self.catalog.add_collection(name, eng.name, indexed_by[1] if indexed_by else None)
        if owner is not None:
            self.access.set_owner(name, owner)
        return Collection(self, name, eng, owner)

    def ensure_collection(self, name: str, engine: str | None = None, model: str | None = None,
                          owner: str | None = None) -> Collection:
        """The collection, created first (owned by ``owner``) unless it exists; an existing one
        ``owner`` may not use is :class:`CollectionNotFound`."""
        if name not in self.catalog.list_collections():
            try:
                return self.create_collection(name, engine, model, owner)
            except CollectionExists:  # another process created it meanwhile
                pass
        return self.collection(name, owner)

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
        coll = self.collection(name)
        shas = [i.sha256 for i in self.catalog.images(name)]
        indexed = [f.face_id for f in self.catalog.faces(name, status=FaceStatus.INDEXED)]
        try:
            coll.engine.delete_collection(name, indexed)
        except CollectionNotFound:
            pass
        coll.engine.forget_answers(shas)
        self.catalog.remove_collection(name)
        self.files.remove_collection_thumbs(name)
        self.files.remove_copies(s for s in shas if self.catalog.references(s) == 0)
        self.db.scrub()

    # -- sources -----------------------------------------------------------------------------
    def cluster_status(self, address: str | None = None) -> ClusterInfo:
        """Workers, threads and hosts of the Dask cluster at ``address`` (default the settings');
        :class:`~facelib.errors.ClusterUnreachable` when it cannot be used."""
        from .ingest.cluster import status

        target = address or self.settings.cluster
        if not target:
            raise InvalidParameter("no Dask cluster is set (FACESEARCH_CLUSTER or a scheduler address)")
        return status(target)

    def s3_sources(self, uri: str) -> list[Source]:
        """The images under ``s3://bucket/prefix``, through a client of the settings' profile and region."""
        from .aws import client
        from .ingest.s3 import s3_sources

        return s3_sources(uri, client("s3", self.settings), self.settings.aws_profile)

    # -- paid calls ----------------------------------------------------------------------------
    def costs(self) -> CostSummary:
        """Calls, cache hits and estimated dollars of paid engines (zeros when unused)."""
        stored = sum(self.catalog.stored_faces(name) for name in engines.PAID)
        return engines.ledger(self.db).summary(self.settings.prices, stored)

    # -- files -------------------------------------------------------------------------------
    def path(self, relative: str) -> Path:
        """Absolute path of a file stored under the data directory."""
        return self.files.path(relative)
