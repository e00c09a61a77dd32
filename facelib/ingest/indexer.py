"""Indexing a batch of photos into a collection.

Per file: read -> sha256 (skip images the collection already holds) -> the engine's per-image work
in this machine's workers (:mod:`.workers`) or on a Dask cluster (:mod:`.cluster`) -> stored copy,
thumbnails, the engine's commit and the catalog record in one step. A bad file gives a per-file error and the batch goes on.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..engines.base import Engine, Prepared, Preparer, external_image_id
from ..errors import CollectionNotFound, InvalidParameter
from ..images import sha256_hex
from ..jobs.lease import Leases
from ..records import BoundingBox, FaceDetail, FaceStatus, FileStatus, StoredFace, StoredImage
from ..store.appearances import Appearances
from ..store.catalog import Catalog
from ..store.files import Files
from .batch import REFUSED, STOPS_BATCH, Batch
from .inflight import StopFlag
from .report import BatchReport, FileOutcome, Progress, message_of
from .sources import Source
from .workers import Analysed, prepare_all

__all__ = ["REFUSED", "STOPS_BATCH", "BatchReport", "FileOutcome", "Indexer", "Progress", "message_of"]
log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from .cluster import ClusterRunner


class Indexer:
    """Indexes batches into one collection: its catalog, files and engine.

    ``leases``: the data directory's leases; a run holds its collection's lease (one writer per
    collection), and crash recovery runs only under it. ``stop``: the flag a job's cancel sets."""

    def __init__(self, catalog: Catalog, files: Files, engine: Engine, collection: str, workers: int | None = None,
                 max_faces: int = 100, cluster: str | None = None, shared_paths: tuple[Path, ...] = (),
                 leases: Leases | None = None) -> None:
        self.catalog = catalog
        self.files = files
        self.engine = engine
        self.collection = collection
        self.workers = max(1, workers or engine.concurrency or os.cpu_count() or 1)
        self.max_faces = max_faces
        self.cluster = cluster  # a Dask scheduler's address (tcp://HOST:8786), else this machine's workers
        self.shared_paths = shared_paths  # folders the cluster's workers see at the same path
        self.leases = leases or Leases(files.root)
        #: Mutual TLS files (CA, certificate, key) for a cluster that is not on loopback.
        self.cluster_tls: tuple[Path | None, Path | None, Path | None] = (None, None, None)
        #: Put in thumbnail names: a re-index writes new files beside the ones it replaces.
        self.thumb_tag = ""

    def run(self, sources: Iterable[Source], progress: Progress | None = None, stop: StopFlag | None = None,
            kind: str = "index", job_id: int | None = None) -> BatchReport:
        """Index every source; ``progress(done, total, outcome)`` is called after each file.

        Holds the collection's lease for the whole run (a second writer waits in line). With
        ``cluster`` (a Dask scheduler's address) the per-image work runs on that cluster
        (:mod:`.cluster`); a cluster that cannot be reached raises :class:`ClusterUnreachable`
        before anything is read."""
        sources = list(sources)
        stop = stop or StopFlag()
        with self.leases.hold(self.collection, kind, job_id, should_stop=stop.is_set):
            if not self.cluster:
                return self._run(sources, progress, stop, None)
            if self.engine.parallel != "process":
                raise InvalidParameter(f"the {self.engine.name} engine works in its own service: a Dask cluster is "
                                       "for the local engine's analysis")
            from .cluster import ClusterRunner, connect

            client = connect(self.cluster, tls=self.cluster_tls)
            try:
                runner = ClusterRunner(client, self.shared_paths, self.catalog.image_shas(self.collection))
                return self._run(sources, progress, stop, runner)
            finally:
                client.close()

    def _run(self, sources: list[Source], progress: Progress | None, stop: StopFlag,
             runner: ClusterRunner | None) -> BatchReport:
        self.recover()
        batch = Batch(self, sources, progress, stop)
        preparer = self.engine.preparer(self.collection, max_faces=self.max_faces)
        stream: Iterator[Analysed[Source]]
        if runner is not None:
            stream = runner.run(batch.readable(runner.remote), preparer, batch.take, stop)
        else:
            stream = self._on_this_machine(batch.readable(), preparer, len(sources), stop)
        return batch.run(stream)

    def _on_this_machine(self, items: Iterator[tuple[Source, bytes | None]], preparer: Preparer,
                         total: int, stop: StopFlag) -> Generator[Analysed[Source], None, None]:
        """The per-image work in this machine's workers (:func:`.workers.prepare_all`)."""
        # Too few images to pay for starting a process pool: analyse them here.
        workers = 1 if self.engine.parallel == "process" and total < 3 else self.workers
        if self.engine.parallel == "thread" and workers > 1:
            # A network-bound engine bounds its own calls in flight (``workers`` of them); a few more
            # threads decode and cut thumbnails meanwhile, so no call slot waits for the CPU.
            workers += max(2 * (os.cpu_count() or 1), workers // 2)
        jobs = ((src, data or b"", src.name) for src, data in items)
        for src, data, result in prepare_all(jobs, preparer, self.engine.parallel, workers, self.engine.warm, stop):
            yield Analysed(src, data, result.sha256 if isinstance(result, Prepared) else sha256_hex(data), result)

    def recover(self) -> None:
        """Images whose engine write started but whose record never landed (the process died):
        remove what the engine may hold for them (one listing for all), so the rerun indexes each
        face once. Only under the collection's lease: no other live batch has images in flight."""
        if not self.leases.held_here(self.collection):
            raise RuntimeError("crash recovery of a collection runs only under its lease")
        pending = self.catalog.pending(self.collection)
        lost = {external_image_id(sha) for sha in pending if not self.catalog.has_image(self.collection, sha)}
        if lost:
            log.info("recovery: erasing what the engine holds for %d unfinished image(s) of %r", len(lost),
                     self.collection)
            self.engine.forget_images(self.collection, lost)
        for sha in pending:
            self.catalog.clear_pending(self.collection, sha)

    def commit(self, src: Source, data: bytes, prep: Prepared) -> FileOutcome:
        """Files first (content-addressed or deterministic names, so a rerun rewrites the same ones),
        then the engine's commit and the catalog in one SQLite transaction: a crash leaves either the
        whole image or nothing."""
        stored, wrote_copy = self.files.store_copy(prep.sha256, prep.format, data)
        thumb_of: dict[BoundingBox, str] = {}
        try:
            self._write_thumbs(prep, thumb_of)
            return self._record(src, data, prep, stored, thumb_of)
        except BaseException:
            # Nothing of the image landed (its collection was deleted meanwhile, the disk is full):
            # the files written for it go too, so files and rows stay consistent.
            self.files.remove_thumbs(thumb_of.values())
            if wrote_copy and self.catalog.references(prep.sha256, besides=self.collection) == 0:
                self.files.remove_copies([prep.sha256])
            raise

    def _record(self, src: Source, data: bytes, prep: Prepared, stored: str,
                thumb_of: dict[BoundingBox, str]) -> FileOutcome:
        coll = self.collection
        with self.catalog.transaction():
            if not self.catalog.has_collection(coll):
                raise CollectionNotFound(f"collection {coll!r} was deleted while it was being indexed")
            result = self.engine.commit(coll, prep, external_id=external_image_id(prep.sha256),
                                        max_faces=self.max_faces)
            entries: list[tuple[str, FaceStatus, FaceDetail, tuple[str, ...]]] = [
                (f.face_id, FaceStatus.INDEXED, f.detail, ()) for f in result.faces]
            entries += [(f"u-{prep.sha256[:16]}-{i}", FaceStatus.REJECTED, u.detail, u.reasons)
                        for i, u in enumerate(result.unindexed)]
            entries.sort(key=lambda e: (e[2].box.left, e[2].box.top))
            faces = [StoredFace(face_id, coll, prep.sha256, index, status, tuple(reasons), detail,
                                thumb_of.get(detail.box))
                     for index, (face_id, status, detail, reasons) in enumerate(entries)]
            self.catalog.record_image(
                StoredImage(coll, prep.sha256, src.name, src.origin, stored, prep.size[0], prep.size[1],
                            len(data), prep.format, src.added_at or time.time(), dict(src.metadata)), faces)
            if prep.appearances:  # a video: when each face was on screen (same transaction)
                Appearances(self.catalog.db).put(
                    (f.face_id, when.start_s, when.end_s, when.frame_s) for f in faces
                    if (when := prep.appearances.get(f.detail.box)) is not None)
            self.catalog.clear_pending(coll, prep.sha256)
        n_idx = len(result.faces)
        status = FileStatus.INDEXED if n_idx else FileStatus.NO_FACE
        message = "" if n_idx else ("no face found" if not result.unindexed else "faces found, none indexed")
        return FileOutcome(src.name, status, prep.sha256, n_idx, len(result.unindexed), message,
                           [f.face_id for f in result.faces])

    def _write_thumbs(self, prep: Prepared, written: dict[BoundingBox, str]) -> None:
        """Thumbnails named by collection, image and box order (the same detection gives the same
        files), each entered in ``written`` as soon as it is on disk."""
        boxes = sorted(prep.thumbs, key=lambda b: (b.left, b.top, b.width, b.height))
        for k, box in enumerate(boxes):
            written[box] = self.files.write_thumb(self.collection, prep.sha256, k, prep.thumbs[box], self.thumb_tag)


#: The name reindex used.
_message = message_of
