"""Indexing a batch of photos into a collection.

Per file: read -> sha256 (skip images the collection already holds) -> the engine's per-image work
in this machine's workers (:mod:`.workers`) or on a Dask cluster (:mod:`.cluster`) -> stored copy,
thumbnails, the engine's commit and the catalog record in one step. A bad file gives a per-file error and the batch goes on.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engines.base import Engine, Prepared, Preparer, external_image_id
from ..errors import (
    BadImage,
    ClusterUnreachable,
    CollectionNotFound,
    EngineAuthError,
    FaceLibError,
    InvalidParameter,
    NoFaceFound,
    QuotaExceeded,
)
from ..images import sha256_hex
from ..records import BoundingBox, FaceDetail, FaceStatus, FileStatus, StoredFace, StoredImage
from ..store.catalog import Catalog
from ..store.files import Files
from .sources import Source
from .workers import Analysed, prepare_all

if TYPE_CHECKING:
    from .cluster import ClusterRunner


@dataclass
class FileOutcome:
    """What happened to one file: status is indexed, no_face, skipped (already indexed) or error."""

    name: str
    status: FileStatus
    sha256: str | None = None
    faces_indexed: int = 0
    faces_rejected: int = 0
    message: str = ""
    face_ids: list[str] = field(default_factory=list)


@dataclass
class BatchReport:
    """Every file's outcome, in the order they finished; ``collection`` they went into."""

    collection: str = ""
    outcomes: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str = ""  # why the batch stopped early (a quota, the credentials), else ""

    @property
    def faces_indexed(self) -> int:
        return sum(o.faces_indexed for o in self.outcomes)

    @property
    def faces_rejected(self) -> int:
        return sum(o.faces_rejected for o in self.outcomes)

    @property
    def errors(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == FileStatus.ERROR]

    def summary(self) -> dict[str, Any]:
        """The CLI's JSON: images, faces_indexed, faces_rejected, errors, plus per-status counts."""
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[str(o.status)] = counts.get(str(o.status), 0) + 1
        return {"images": len(self.outcomes), "faces_indexed": self.faces_indexed,
                "faces_rejected": self.faces_rejected,
                "errors": [{"image": o.name, "message": o.message} for o in self.errors],
                "by_status": counts, "seconds": round(self.seconds, 3), "stopped": self.stopped,
                "files": [{**asdict(o), "status": str(o.status)} for o in self.outcomes]}


Progress = Callable[[int, int, FileOutcome], None]
#: Errors after which no further image can succeed: the batch stops (the rest is reported as not tried).
STOPS_BATCH = (QuotaExceeded, EngineAuthError, CollectionNotFound)
#: The engine refused the image for good: nothing of it was written, so its pending mark goes.
REFUSED = (BadImage, InvalidParameter, NoFaceFound)


class Indexer:
    """Indexes batches into one collection: its catalog, files and engine."""

    def __init__(self, catalog: Catalog, files: Files, engine: Engine, collection: str, workers: int | None = None,
                 max_faces: int = 100, cluster: str | None = None, shared_paths: tuple[Path, ...] = ()) -> None:
        self.catalog = catalog
        self.files = files
        self.engine = engine
        self.collection = collection
        self.workers = max(1, workers or engine.concurrency or os.cpu_count() or 1)
        self.max_faces = max_faces
        self.cluster = cluster  # a Dask scheduler's address (tcp://HOST:8786), else this machine's workers
        self.shared_paths = shared_paths  # folders the cluster's workers see at the same path

    def run(self, sources: Iterable[Source], progress: Progress | None = None) -> BatchReport:
        """Index every source; ``progress(done, total, outcome)`` is called after each file.

        With ``cluster`` (a Dask scheduler's address) the per-image work runs on that cluster
        (:mod:`.cluster`); a cluster that cannot be reached raises :class:`ClusterUnreachable`
        before anything is read."""
        sources = list(sources)
        if not self.cluster:
            return self._run(sources, progress, None)
        if self.engine.parallel != "process":
            raise InvalidParameter(f"the {self.engine.name} engine works in its own service: a Dask cluster is "
                                   "for the local engine's analysis")
        from .cluster import ClusterRunner, connect

        client = connect(self.cluster)
        try:
            runner = ClusterRunner(client, self.shared_paths, self.catalog.image_shas(self.collection))
            return self._run(sources, progress, runner)
        finally:
            client.close()

    def _run(self, sources: list[Source], progress: Progress | None, runner: ClusterRunner | None) -> BatchReport:
        total = len(sources)
        self._recover()
        report = BatchReport(self.collection)
        start = time.perf_counter()
        seen: set[str] = set()  # sha256 of every file admitted in this batch

        finished: set[int] = set()
        #: Copies met in this batch, by sha256, waiting for their first copy's outcome.
        copies: dict[str, list[Source]] = {}

        def report_one(outcome: FileOutcome, src: Source | None) -> None:
            if src is not None:
                finished.add(id(src))
            report.outcomes.append(outcome)
            if progress:
                progress(len(report.outcomes), total, outcome)

        first_outcome: dict[str, FileOutcome] = {}

        def copy_outcome(copy: Source, first: FileOutcome) -> FileOutcome:
            if first.status == FileStatus.ERROR:
                return FileOutcome(copy.name, FileStatus.ERROR, first.sha256,
                                   message=f"the same file as {first.name}, which failed: {first.message}")
            return FileOutcome(copy.name, FileStatus.SKIPPED, first.sha256,
                               message=f"the same file as {first.name}, indexed in this batch")

        def finish(outcome: FileOutcome, src: Source | None = None) -> None:
            report_one(outcome, src)
            if outcome.sha256 and outcome.status != FileStatus.SKIPPED:
                first_outcome[outcome.sha256] = outcome
                for copy in copies.pop(outcome.sha256, []):
                    report_one(copy_outcome(copy, outcome), copy)

        gone: list[CollectionNotFound] = []

        def admit(src: Source, sha: str) -> bool:
            """True when the image is new to the collection and to this batch (it is then marked
            pending); otherwise its outcome is reported here (a copy, already indexed, no collection)."""
            if sha in seen:  # reported with its first copy's outcome
                if sha in first_outcome:
                    report_one(copy_outcome(src, first_outcome[sha]), src)
                else:
                    copies.setdefault(sha, []).append(src)
                return False
            if self.catalog.has_image(self.collection, sha):
                finish(FileOutcome(src.name, FileStatus.SKIPPED, sha, message="already indexed in this collection"), src)
                return False
            seen.add(sha)
            try:  # cleaned up on the next run if we die mid-call
                self.catalog.mark_pending(self.collection, sha)
            except CollectionNotFound as exc:  # deleted meanwhile: read no further
                gone.append(exc)
                finish(FileOutcome(src.name, FileStatus.ERROR, sha, message=str(exc)), src)
                return False
            return True

        def take(src: Source) -> bytes | None:
            """Read and admit a source here: its bytes, or None when its outcome is reported already."""
            try:
                data = src.read()
            except Exception as exc:  # noqa: BLE001 - whatever a source raises is that file's outcome
                reason = getattr(exc, "strerror", None) or _message(exc, src.name)
                finish(FileOutcome(src.name, FileStatus.ERROR, message=f"cannot be read: {reason}"), src)
                return None
            return data if admit(src, sha256_hex(data)) else None

        def readable() -> Iterator[tuple[Source, bytes | None]]:
            """Admitted sources with their bytes; with None, those the cluster's workers read themselves."""
            for src in sources:
                if gone:
                    return
                if runner is not None and runner.remote(src):
                    yield src, None
                    continue
                data = take(src)
                if data is not None:
                    yield src, data

        preparer = self.engine.preparer(self.collection, max_faces=self.max_faces)
        stream: Generator[Analysed[Source], None, None] = (
            runner.run(readable(), preparer, take) if runner else self._on_this_machine(readable(), preparer, total))
        stopped: Exception | None = None
        with contextlib.closing(stream):  # closing the generator cancels queued work
            try:
                for done in stream:
                    src, data, prepared = done.item, done.data, done.result
                    if done.late and not isinstance(prepared, Exception):
                        assert done.sha256 is not None  # a worker read and hashed it
                        if not admit(src, done.sha256):
                            if gone:
                                break
                            continue
                        if prepared is None:  # held when the batch started, erased since: not analysed
                            self.catalog.clear_pending(self.collection, done.sha256)
                            finish(FileOutcome(src.name, FileStatus.SKIPPED, done.sha256,
                                               message="was in this collection when the batch started"), src)
                            continue
                    if isinstance(prepared, Exception):
                        if isinstance(prepared, REFUSED) and not done.late and done.sha256:
                            self.catalog.clear_pending(self.collection, done.sha256)
                        # Otherwise the pending mark stays: the engine may hold part of it; the next run cleans up.
                        finish(FileOutcome(src.name, FileStatus.ERROR, done.sha256, message=_message(prepared, src.name)),
                               src)
                        if isinstance(prepared, STOPS_BATCH):
                            stopped = prepared
                            break
                        continue
                    assert prepared is not None
                    try:
                        finish(self.commit(src, data, prepared), src)
                    except CollectionNotFound as exc:
                        finish(FileOutcome(src.name, FileStatus.ERROR, prepared.sha256, message=str(exc)), src)
                        stopped = exc
                        break
                    except FaceLibError as exc:
                        finish(FileOutcome(src.name, FileStatus.ERROR, prepared.sha256, message=_message(exc, src.name)),
                               src)
                    except OSError as exc:  # the disk, not the photo: say so, and go on
                        finish(FileOutcome(src.name, FileStatus.ERROR, prepared.sha256,
                                           message=f"could not be stored: {exc}"), src)
            except ClusterUnreachable as exc:  # the scheduler or every worker was lost mid-batch
                stopped = exc
        if stopped is None and gone:
            stopped = gone[0]
        if stopped is not None:
            for src in sources:
                if id(src) not in finished:
                    finish(FileOutcome(src.name, FileStatus.ERROR, message=f"not indexed: the batch stopped ({stopped})"), src)
            report.stopped = str(stopped)
        report.seconds = time.perf_counter() - start
        return report

    def _on_this_machine(self, items: Iterator[tuple[Source, bytes | None]], preparer: Preparer,
                         total: int) -> Generator[Analysed[Source], None, None]:
        """The per-image work in this machine's workers (:func:`.workers.prepare_all`)."""
        # Too few images to pay for starting a process pool: analyse them here.
        workers = 1 if self.engine.parallel == "process" and total < 3 else self.workers
        if self.engine.parallel == "thread" and workers > 1:
            # A network-bound engine bounds its own calls in flight (``workers`` of them); a few more
            # threads decode and cut thumbnails meanwhile, so no call slot waits for the CPU.
            workers += max(2 * (os.cpu_count() or 1), workers // 2)
        jobs = ((src, data or b"", src.name) for src, data in items)
        for src, data, result in prepare_all(jobs, preparer, self.engine.parallel, workers, self.engine.warm):
            yield Analysed(src, data, result.sha256 if isinstance(result, Prepared) else sha256_hex(data), result)

    def _recover(self) -> None:
        """Images whose engine write started but whose record never landed (the process died):
        remove what the engine may hold for them (one listing for all), so the rerun indexes each
        face once."""
        pending = self.catalog.pending(self.collection)
        lost = {external_image_id(sha) for sha in pending if not self.catalog.has_image(self.collection, sha)}
        if lost:
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
            if wrote_copy and self.catalog.references(prep.sha256) == 0:
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
            written[box] = self.files.write_thumb(self.collection, prep.sha256, k, prep.thumbs[box])


def _message(exc: BaseException, name: str = "") -> str:
    """What went wrong, for a file's outcome (which names the file already: its name is not repeated)."""
    text = str(exc) if isinstance(exc, FaceLibError) else f"{exc.__class__.__name__}: {exc}"
    for prefix in (name, name.rsplit("/", 1)[-1]):
        if prefix and text.startswith(prefix + ": "):
            return text[len(prefix) + 2:]
    return text
