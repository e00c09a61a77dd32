"""Indexing a batch of photos into a collection.

Per file: read -> sha256 (skip images the collection already holds) -> decode -> engine detect +
index -> stored copy, thumbnails and catalog record in one step. A bad file gives a per-file
error and the batch goes on. The local engine analyses in a process pool (every core); other
engines (network-bound) use threads.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .catalog import INDEXED, REJECTED, StoredFace, StoredImage
from .engines.base import external_image_id
from .errors import FaceLibError
from .images import WORK_MAX_SIDE, LoadedImage, decode, sha256_hex
from .records import BoundingBox, FaceDetail, IndexResult
from .sources import Source, bytes_source, expand_paths, file_source  # noqa: F401 - re-exported
from .thumbnails import thumbnail_jpeg
from .workspace import Workspace

INDEXED_STATUS, NO_FACE, SKIPPED, ERROR = "indexed", "no_face", "skipped", "error"


@dataclass
class FileOutcome:
    """What happened to one file: status is indexed, no_face, skipped (already indexed) or error."""

    name: str
    status: str
    sha256: str | None = None
    faces_indexed: int = 0
    faces_rejected: int = 0
    message: str = ""
    face_ids: list[str] = field(default_factory=list)


@dataclass
class BatchReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def faces_indexed(self) -> int:
        return sum(o.faces_indexed for o in self.outcomes)

    @property
    def faces_rejected(self) -> int:
        return sum(o.faces_rejected for o in self.outcomes)

    @property
    def errors(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == ERROR]

    def summary(self) -> dict:
        """The CLI's JSON: images, faces_indexed, faces_rejected, errors, plus per-status counts."""
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return {"images": len(self.outcomes), "faces_indexed": self.faces_indexed,
                "faces_rejected": self.faces_rejected,
                "errors": [{"image": o.name, "message": o.message} for o in self.errors],
                "by_status": counts, "seconds": round(self.seconds, 3),
                "files": [asdict(o) for o in self.outcomes]}


# -- work done in a worker ------------------------------------------------------------------
@dataclass
class _Prepared:
    """What a worker sends back: the image's facts, the engine's answer and thumbnails by box."""

    sha256: str
    size: tuple[int, int]
    format: str
    analysis: list | None = None          # local engine: list[AnalyzedFace]
    result: IndexResult | None = None     # other engines: the IndexFaces answer
    thumbs: dict[BoundingBox, bytes] = field(default_factory=dict)


def _thumbs(image: LoadedImage, details: Iterable[FaceDetail]) -> dict[BoundingBox, bytes]:
    return {d.box: thumbnail_jpeg(image.rgb, d.box) for d in details}


_WORKER_ENGINE = None


def _init_worker(detector: str) -> None:
    global _WORKER_ENGINE
    from .engines.local import LocalEngine

    _WORKER_ENGINE = LocalEngine(None, detector=detector)  # type: ignore[arg-type]


def _warm_models(detector: str) -> None:
    """Load the models in this process before forking, so workers inherit them."""
    if _WORKER_ENGINE is None:
        _init_worker(detector)
    _WORKER_ENGINE.warm()  # type: ignore[union-attr]


def _analyze_job(data: bytes, name: str, detector: str) -> _Prepared:
    if _WORKER_ENGINE is None:
        _init_worker(detector)
    image = decode(data, name=name, max_side=WORK_MAX_SIDE)
    analysis = _WORKER_ENGINE.analyze(image)  # type: ignore[union-attr]
    return _Prepared(image.sha256, image.original_size, image.format, analysis=analysis,
                     thumbs=_thumbs(image, [a.detail for a in analysis]))


def _index_job(ws: Workspace, engine, collection: str, data: bytes, name: str, max_faces: int) -> _Prepared:
    image = decode(data, name=name, max_side=WORK_MAX_SIDE)
    ws.catalog.mark_pending(collection, image.sha256)  # cleaned up on the next run if we die mid-call
    result = engine.index_faces(collection, image, external_image_id(image.sha256), max_faces)
    details = [f.detail for f in result.faces] + [u.detail for u in result.unindexed]
    return _Prepared(image.sha256, image.original_size, image.format, result=result,
                     thumbs=_thumbs(image, details))


class Indexer:
    """Indexes batches into one collection of a workspace."""

    def __init__(self, workspace: Workspace, collection: str, workers: int | None = None,
                 max_faces: int = 100) -> None:
        self.ws = workspace
        self.collection = collection
        self.engine = workspace.engine_for(collection)
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.max_faces = max_faces

    def run(self, sources: Iterable[Source],
            progress: Callable[[int, int, FileOutcome], None] | None = None) -> BatchReport:
        """Index every source; ``progress(done, total, outcome)`` is called after each file."""
        sources = list(sources)
        total = len(sources)
        self._recover()
        report = BatchReport()
        start = time.perf_counter()
        seen: set[str] = set()
        done = 0

        def finish(outcome: FileOutcome) -> None:
            nonlocal done
            done += 1
            report.outcomes.append(outcome)
            if progress:
                progress(done, total, outcome)

        def readable() -> Iterator[tuple[Source, bytes]]:
            for src in sources:
                try:
                    data = src.read()
                except (OSError, FaceLibError) as exc:
                    finish(FileOutcome(src.name, ERROR, message=f"cannot be read: {getattr(exc, 'strerror', None) or exc}"))
                    continue
                sha = sha256_hex(data)
                if sha in seen or self.ws.catalog.has_image(self.collection, sha):
                    finish(FileOutcome(src.name, SKIPPED, sha, message="already indexed in this collection"))
                    continue
                seen.add(sha)
                yield src, data

        for src, data, prepared in self._prepare_all(readable(), small=total < 3):
            if isinstance(prepared, BaseException):
                finish(FileOutcome(src.name, ERROR, sha256_hex(data), message=_message(prepared)))
                continue
            try:
                finish(self._commit(src, data, prepared))
            except FaceLibError as exc:
                finish(FileOutcome(src.name, ERROR, prepared.sha256, message=_message(exc)))
            except OSError as exc:  # the disk, not the photo: say so, and go on
                finish(FileOutcome(src.name, ERROR, prepared.sha256, message=f"could not be stored: {exc}"))
        report.seconds = time.perf_counter() - start
        return report

    def _recover(self) -> None:
        """Images whose engine call started but whose record never landed (the process died):
        remove what the engine may hold for them, so the rerun indexes each face once."""
        for sha in self.ws.catalog.pending(self.collection):
            if not self.ws.catalog.has_image(self.collection, sha) and hasattr(self.engine, "delete_by_external_id"):
                self.engine.delete_by_external_id(self.collection, external_image_id(sha))
            self.ws.catalog.clear_pending(self.collection, sha)

    # -- stages --------------------------------------------------------------------------------
    def _prepare_all(self, items: Iterator[tuple[Source, bytes]],
                     small: bool) -> Iterator[tuple[Source, bytes, object]]:
        """Yield (source, bytes, _Prepared or exception) in input order, at most 2 x workers in flight."""
        detector = self.ws.settings.detector
        local = hasattr(self.engine, "index_analyzed")
        if local and (self.workers == 1 or small):
            for src, data in items:
                yield src, data, _call(_analyze_job, data, src.name, detector)
            return
        pool: cf.Executor
        if local:
            _warm_models(detector)
            pool = cf.ProcessPoolExecutor(self.workers, mp_context=_mp_context(),
                                          initializer=_init_worker, initargs=(detector,))

            def submit(src: Source, data: bytes) -> cf.Future:
                try:
                    return pool.submit(_analyze_job, data, src.name, detector)
                except cf.process.BrokenProcessPool:  # a worker died: carry on in this process
                    done: cf.Future = cf.Future()
                    result = _call(_analyze_job, data, src.name, detector)
                    if isinstance(result, BaseException):
                        done.set_exception(result)
                    else:
                        done.set_result(result)
                    return done
        else:
            pool = cf.ThreadPoolExecutor(self.workers)

            def submit(src: Source, data: bytes) -> cf.Future:
                return pool.submit(_index_job, self.ws, self.engine, self.collection, data, src.name, self.max_faces)
        window: deque[tuple[Source, bytes, cf.Future]] = deque()
        with pool:
            for src, data in items:
                window.append((src, data, submit(src, data)))
                if len(window) >= 2 * self.workers:
                    yield self._collect(window.popleft())
            while window:
                yield self._collect(window.popleft())

    @staticmethod
    def _collect(entry: tuple[Source, bytes, cf.Future]) -> tuple[Source, bytes, object]:
        src, data, fut = entry
        try:
            return src, data, fut.result()
        except Exception as exc:  # noqa: BLE001 - reported per file
            return src, data, exc

    def _commit(self, src: Source, data: bytes, prep: _Prepared) -> FileOutcome:
        """Files first (content-addressed or deterministic names, so a rerun rewrites the same ones),
        then the engine's local index and the catalog in one SQLite transaction: a crash leaves
        either the whole image or nothing."""
        ws, coll = self.ws, self.collection
        stored = self._store_copy(data, prep)
        thumb_of = self._write_thumbs(prep)
        with ws.catalog.transaction():
            result = prep.result
            if result is None:  # the local engine: its vectors live in the same database
                result = self.engine.index_analyzed(coll, prep.sha256, external_image_id(prep.sha256),  # type: ignore[attr-defined]
                                                    prep.analysis or [], self.max_faces)
            entries = [(f.face_id, INDEXED, f.detail, ()) for f in result.faces]
            entries += [(f"u-{prep.sha256[:16]}-{i}", REJECTED, u.detail, u.reasons)
                        for i, u in enumerate(result.unindexed)]
            entries.sort(key=lambda e: (e[2].box.left, e[2].box.top))
            faces = [StoredFace(face_id, coll, prep.sha256, index, status, tuple(reasons), detail,
                                thumb_of.get(detail.box))
                     for index, (face_id, status, detail, reasons) in enumerate(entries)]
            ws.catalog.record_image(
                StoredImage(coll, prep.sha256, src.name, src.origin, stored, prep.size[0], prep.size[1],
                            len(data), prep.format, time.time(), dict(src.metadata)), faces)
            ws.catalog.clear_pending(coll, prep.sha256)
        n_idx = len(result.faces)
        status = INDEXED_STATUS if n_idx else NO_FACE
        message = "" if n_idx else ("no face found" if not result.unindexed else "faces found, none indexed")
        return FileOutcome(src.name, status, prep.sha256, n_idx, len(result.unindexed), message,
                           [f.face_id for f in result.faces])

    def _write_thumbs(self, prep: _Prepared) -> dict[BoundingBox, str]:
        """Thumbnails named by collection, image and box order: the same detection gives the same files."""
        out: dict[BoundingBox, str] = {}
        boxes = sorted(prep.thumbs, key=lambda b: (b.left, b.top, b.width, b.height))
        for k, box in enumerate(boxes):
            path = self.ws.thumb_path(self.collection, prep.sha256, k)
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(path, prep.thumbs[box])
            out[box] = self.ws.relative(path)
        return out

    def _store_copy(self, data: bytes, prep: _Prepared) -> str:
        ext = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif",
               "MPO": ".jpg", "HEIF": ".heic"}.get(prep.format, ".img")
        folder = self.ws.settings.images_dir / prep.sha256[:2]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{prep.sha256}{ext}"
        if not path.exists():
            _atomic_write(path, data)
        return self.ws.relative(path)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file unique to this process and thread, then rename over ``path``
    (two processes writing the same file both succeed, and no reader sees half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _mp_context() -> multiprocessing.context.BaseContext:
    """"fork" where the platform has it, else "spawn".

    Fork (Linux's default in Python 3.11) never re-runs the caller's ``__main__``: under Streamlit
    ``__main__`` is the page script, which "spawn" would execute again in every worker. Forked
    workers also share the models the parent loaded (copy-on-write). The workers only decode,
    run dlib and pickle results; they touch no lock, database or thread of the parent.
    """
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _call(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - reported per file
        return exc


def _message(exc: BaseException) -> str:
    if isinstance(exc, FaceLibError):
        return str(exc)
    return f"{exc.__class__.__name__}: {exc}"


def index_paths(workspace: Workspace, collection: str, paths: Iterable[str | Path], workers: int | None = None,
                progress: Callable[[int, int, FileOutcome], None] | None = None) -> BatchReport:
    """Index files and folders (recursively) into ``collection``, creating it if needed."""
    workspace.ensure_collection(collection)
    return Indexer(workspace, collection, workers).run(expand_paths(paths), progress)


def index_anyway(ws: Workspace, collection: str, face_id: str) -> StoredFace:
    """Index a face the engine rejected (e.g. EXCEEDS_MAX_FACES, LOW_SHARPNESS) from the stored copy.

    Only that face is indexed; the image's other faces stay as they are. Returns the face as now stored.
    """
    from .errors import InvalidParameter
    from .images import load_file

    face = ws.catalog.face(face_id)
    if face.collection != collection or face.status != REJECTED:
        raise InvalidParameter(f"face {face_id!r} is not a rejected face of {collection!r}")
    if not face.stored_path or not ws.path(face.stored_path).exists():
        raise InvalidParameter("the stored copy of this image is missing: index the photo again instead")
    image = load_file(str(ws.path(face.stored_path)))
    new = ws.engine_for(collection).index_face_region(collection, image, face.detail.box,
                                                      external_image_id(face.image_sha256))
    ws.catalog.promote_face(face_id, new.face_id, face.detail, face.thumb_path)
    return ws.catalog.face(new.face_id)
