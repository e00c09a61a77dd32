"""One indexing batch as an explicit object: admit, analyse, commit, and the rules for stopping.

The :class:`~facelib.ingest.indexer.Indexer` makes a :class:`Batch` per run and feeds it the
analysed images (from this machine's workers or a Dask cluster). The batch holds every piece of
state a run needs (what was admitted, copies met in the batch, outcomes) and these rules:

- **admit**: an image new to the collection and to the batch is marked pending (crash recovery
  erases what the engine holds for it if the process dies before its record lands); a copy of an
  image met earlier in the batch takes that image's outcome; one the collection holds is skipped.
- **stop**: a fatal error (credentials, quota, budget, a deleted collection), a cancel, or the
  first analyses all failing the same way (a system failure: one error, not N file errors) stop
  admitting new images. Work already running is waited for and committed (a paid answer the
  engine gave is never thrown away); what never started is reported "not indexed" and its
  pending mark goes; anything left pending is erased from the engine before the batch ends.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from ..engines.base import ReportsRetries, external_image_id
from ..errors import (
    BadImage,
    BudgetExceeded,
    Cancelled,
    ClusterUnreachable,
    CollectionNotFound,
    EngineAuthError,
    FaceLibError,
    InvalidParameter,
    NoFaceFound,
    QuotaExceeded,
    SystemFailure,
)
from ..images import sha256_hex
from ..records import FileStatus
from .inflight import StopFlag
from .report import BatchReport, FileOutcome, Progress, message_of
from .sources import VIDEO_SUFFIXES, FileReader, Source
from .workers import Analysed

if TYPE_CHECKING:
    from .indexer import Indexer

log = logging.getLogger(__name__)

#: Errors after which no further image can succeed: the batch stops (the rest is reported as not tried).
STOPS_BATCH = (QuotaExceeded, EngineAuthError, CollectionNotFound, BudgetExceeded, Cancelled, SystemFailure)
#: The engine refused the image for good: nothing of it was written, so its pending mark goes.
REFUSED = (BadImage, InvalidParameter, NoFaceFound)
#: The first this many analyses failing with one same error mean the system, not the files, is at fault.
SAME_FAILURES = 3


def video_limit() -> int:
    """The largest video file indexed, in bytes (``FACESEARCH_VIDEO_MAX_MB``)."""
    from ..settings import VIDEO_MAX_MB

    return int(VIDEO_MAX_MB.read() * 1024 ** 2)


class Batch:
    """One run of an :class:`Indexer` over ``sources``."""

    def __init__(self, indexer: Indexer, sources: list[Source], progress: Progress | None = None,
                 stop: StopFlag | None = None) -> None:
        self.ix = indexer
        self.catalog = indexer.catalog
        self.collection = indexer.collection
        self.sources = sources
        self.total = len(sources)
        self.progress = progress
        self.stop = stop or StopFlag()
        self.report = BatchReport(self.collection)
        self.seen: set[str] = set()  # sha256 of every file admitted in this batch
        self.admitted: dict[str, Source] = {}  # admitted and not finished: sha256 -> source
        self.finished: set[int] = set()  # id() of every source with an outcome
        self.first_outcome: dict[str, FileOutcome] = {}
        self.copies: dict[str, list[Source]] = {}  # copies met, waiting for their first copy's outcome
        self.early_failures: list[str] | None = []  # "Class: message" of the first analyses, while all failed

    # -- outcomes ------------------------------------------------------------------------------
    def _report(self, outcome: FileOutcome, src: Source | None) -> None:
        if src is not None:
            self.finished.add(id(src))
        self.report.outcomes.append(outcome)
        if self.progress:
            self.progress(len(self.report.outcomes), self.total, outcome)

    @staticmethod
    def _copy_outcome(copy: Source, first: FileOutcome) -> FileOutcome:
        if first.status == FileStatus.ERROR:
            return FileOutcome(copy.name, FileStatus.ERROR, first.sha256,
                               message=f"the same file as {first.name}, which failed: {first.message}")
        return FileOutcome(copy.name, FileStatus.SKIPPED, first.sha256,
                           message=f"the same file as {first.name}, indexed in this batch")

    def finish(self, outcome: FileOutcome, src: Source | None = None) -> None:
        """Report a file's outcome, and those of its copies met meanwhile."""
        self._report(outcome, src)
        if outcome.sha256:
            self.admitted.pop(outcome.sha256, None)
        if outcome.sha256 and outcome.status != FileStatus.SKIPPED:
            self.first_outcome[outcome.sha256] = outcome
            for copy in self.copies.pop(outcome.sha256, []):
                self._report(self._copy_outcome(copy, outcome), copy)

    # -- admitting -----------------------------------------------------------------------------
    def admit(self, src: Source, sha: str) -> bool:
        """True when the image is new to the collection and to this batch (it is then marked
        pending); otherwise its outcome is reported here (a copy, already indexed, no collection)."""
        if sha in self.seen:  # reported with its first copy's outcome
            if sha in self.first_outcome:
                self._report(self._copy_outcome(src, self.first_outcome[sha]), src)
            else:
                self.copies.setdefault(sha, []).append(src)
            return False
        if self.catalog.has_image(self.collection, sha):
            self.finish(FileOutcome(src.name, FileStatus.SKIPPED, sha, message="already indexed in this collection"), src)
            return False
        self.seen.add(sha)
        try:  # erased by recovery (under the lease) if we die mid-call
            self.catalog.mark_pending(self.collection, sha)
        except CollectionNotFound as exc:  # deleted meanwhile: read no further
            self.stop.stop(exc)
            self.finish(FileOutcome(src.name, FileStatus.ERROR, sha, message=str(exc)), src)
            return False
        self.admitted[sha] = src
        return True

    def take(self, src: Source) -> bytes | None:
        """Read and admit a source here: its bytes, or None when its outcome is reported already.
        A video file is mapped, not read (its pages are read as it is decoded)."""
        try:
            if isinstance(src.read, FileReader) and os.path.splitext(src.name.lower())[1] in VIDEO_SUFFIXES:
                data: bytes = src.read.mapped(video_limit())  # type: ignore[assignment]
            else:
                data = src.read()
        except Exception as exc:  # noqa: BLE001 - whatever a source raises is that file's outcome
            reason = getattr(exc, "strerror", None) or message_of(exc, src.name)
            self.finish(FileOutcome(src.name, FileStatus.ERROR, message=f"cannot be read: {reason}"), src)
            return None
        return data if self.admit(src, sha256_hex(data)) else None

    def readable(self, remote: Callable[[Source], bool] | None = None) -> Iterator[tuple[Source, bytes | None]]:
        """Admitted sources with their bytes; with None, those a cluster's workers read themselves.
        Ends as soon as the batch is stopped."""
        for src in self.sources:
            if self.stop.is_set():
                return
            if remote is not None and remote(src):
                yield src, None
                continue
            data = self.take(src)
            if data is not None:
                yield src, data

    # -- results -------------------------------------------------------------------------------
    def _system_failure(self, exc: Exception) -> SystemFailure | None:
        """The first :data:`SAME_FAILURES` analyses all failed with one same error: the system."""
        if self.early_failures is None:
            return None
        text = f"{exc.__class__.__name__}: {message_of(exc)}"
        if self.early_failures and self.early_failures[0] != text:
            self.early_failures = None
            return None
        self.early_failures.append(text)
        if len(self.early_failures) >= min(SAME_FAILURES, self.total):
            return SystemFailure(f"every image failed the same way, so the system is at fault, not the photos: "
                                 f"{message_of(exc)}")
        return None

    def receive(self, done: Analysed[Source]) -> None:
        """One analysed image: commit it, or report why not (and stop on a fatal error)."""
        src, data, prepared = done.item, done.data, done.result
        if done.late and not isinstance(prepared, Exception):
            assert done.sha256 is not None  # a worker read and hashed it
            if not self.admit(src, done.sha256):
                return
            if prepared is None:  # held when the batch started, erased since: not analysed
                self.catalog.clear_pending(self.collection, done.sha256)
                self.admitted.pop(done.sha256, None)
                self.finish(FileOutcome(src.name, FileStatus.SKIPPED, done.sha256,
                                        message="was in this collection when the batch started"), src)
                return
        if isinstance(prepared, Exception):
            self._failed(src, done, prepared)
            return
        if self.early_failures is not None:
            self.early_failures = None
        assert prepared is not None
        try:
            outcome = self.ix.commit(src, data, prepared)
            if prepared.note:
                outcome.message = "; ".join(m for m in (outcome.message, prepared.note) if m)
            self.finish(outcome, src)
        except CollectionNotFound as exc:
            self.finish(FileOutcome(src.name, FileStatus.ERROR, prepared.sha256, message=str(exc)), src)
            self.stop.stop(exc)
        except FaceLibError as exc:
            self.finish(FileOutcome(src.name, FileStatus.ERROR, prepared.sha256, message=message_of(exc, src.name)), src)
        except OSError as exc:  # the disk, not the photo: say so, and go on
            self.finish(FileOutcome(src.name, FileStatus.ERROR, prepared.sha256, message=f"could not be stored: {exc}"),
                        src)

    def _failed(self, src: Source, done: Analysed[Source], exc: Exception) -> None:
        sha = done.sha256
        # Refused before any call: its pending mark goes. Not a budget stop: it may have come on a
        # retry whose first attempt stored faces (they are erased with the pending mark at the end).
        if isinstance(exc, (*REFUSED, Cancelled)) and not isinstance(exc, BudgetExceeded) and not done.late and sha:
            self.catalog.clear_pending(self.collection, sha)
        # Otherwise the pending mark stays: the engine may hold part of it; it is erased before the batch ends.
        self.finish(FileOutcome(src.name, FileStatus.ERROR, sha, message=message_of(exc, src.name)), src)
        if isinstance(exc, STOPS_BATCH):
            self.stop.stop(exc)
            return
        if not isinstance(exc, REFUSED):
            system = self._system_failure(exc)
            if system is not None:
                self.stop.stop(system)

    # -- the run -------------------------------------------------------------------------------
    def run(self, stream: Iterable[Analysed[Source]]) -> BatchReport:
        """Consume the analysed images (the stream ends early once the batch is stopped, after
        the work already running has come back), then settle the books."""
        start = time.perf_counter()
        try:
            for done in stream:
                self.receive(done)
        except ClusterUnreachable as exc:  # the scheduler or every worker was lost mid-batch
            self.stop.stop(exc)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
            self._settle()
        self.report.seconds = time.perf_counter() - start
        log.info("batch into %r: %d files, %d faces indexed, %d rejected, %d errors in %.1f s%s",
                 self.collection, len(self.report.outcomes), self.report.faces_indexed, self.report.faces_rejected,
                 len(self.report.errors), self.report.seconds,
                 f"; stopped: {self.report.stopped}" if self.report.stopped else "")
        return self.report

    def _settle(self) -> None:
        """After a stop: every file gets an outcome; images admitted but never committed leave
        nothing in the engine (their answers were committed when they came back; whatever is
        still pending is erased now, under the lease, or by the next run's recovery)."""
        stopped = self.stop.reason
        # Under the lease every pending mark of the collection is this batch's.
        left = [sha for sha in self.catalog.pending(self.collection) if sha in self.seen]
        if left:
            try:
                self.ix.engine.forget_images(self.collection, {external_image_id(sha) for sha in left})
                for sha in left:
                    self.catalog.clear_pending(self.collection, sha)
            except Exception as exc:  # noqa: BLE001 - the next run's recovery (under the lease) erases them
                log.warning("could not erase %d unfinished image(s) of %r from the engine now (%s): the next "
                            "batch erases them first", len(left), self.collection, exc.__class__.__name__)
        engine = self.ix.engine
        if isinstance(engine, ReportsRetries):  # an answer lost on the wire, then sent again: keep only ours
            retried = engine.take_retried(self.collection)
            if retried:
                ours = frozenset(f.face_id for f in self.catalog.faces(self.collection, status=None))
                try:
                    gone = engine.forget_images(self.collection, retried, keep=ours)
                    if gone:
                        log.warning("erased %d face(s) of %r the engine stored for answers that were lost and "
                                    "sent again", len(gone), self.collection)
                except Exception as exc:  # noqa: BLE001 - the doctor and the next batch see it again
                    log.warning("could not reconcile %d retried image(s) of %r (%s)", len(retried), self.collection,
                                exc.__class__.__name__)
        if stopped is None:
            return
        why = "cancelled" if isinstance(stopped, Cancelled) else f"the batch stopped ({stopped})"
        for src in self.sources:
            if id(src) not in self.finished:
                self.finish(FileOutcome(src.name, FileStatus.ERROR, message=f"not indexed: {why}"), src)
        self.report.stopped = str(stopped)
