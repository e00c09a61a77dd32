"""The per-image work (decode, detect, quality, describe, thumbnails) on a Dask distributed cluster.

This process is the one coordinator: it submits a bounded number of tasks (:data:`IN_FLIGHT_PER_THREAD`
per worker thread), takes results as they finish and commits them to the catalog itself (the
:class:`~facelib.ingest.indexer.Indexer`), so the catalog has one writer and commits stay
idempotent by sha256.

Where the bytes come from:

- **S3 objects** (:class:`~facelib.ingest.s3.S3Reader`) and **files under a path the workers share**
  (:class:`~facelib.ingest.sources.FileReader` under ``Settings.cluster_shared_paths``, or any local
  file when every worker runs on this machine): the worker reads them itself, hashes them and skips
  the images the collection already holds (their sha256 set: one task's result, fetched once per
  worker), so a rerun costs a read per known photo, not an analysis. A new image's bytes come back with its result
  (the coordinator keeps the stored copy).
- **Everything else** (uploads, zip members, files the workers cannot see): the coordinator reads
  and hashes them and sends the bytes with the task. A worker that cannot read a file it was given
  hands it back and the coordinator sends it instead.

Faults: Dask re-runs a lost worker's tasks on the others (each result reaches this process once;
the indexer checks the sha256 before committing); a task that killed ``allowed-failures`` workers is
that file's error; no worker for :data:`NO_WORKER_GRACE` seconds, or a lost scheduler, stops the batch
with :class:`~facelib.errors.ClusterUnreachable` and the usual full report. Unreachable at the start:
the same error before anything is read.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from distributed import Client, Future, wait
from distributed.diagnostics.plugin import WorkerPlugin

from ..engines.base import Prepared, Preparer
from ..errors import BadImage, ClusterUnreachable, FaceLibError
from ..images import MAX_BYTES, sha256_hex
from ..records import BoundingBox, FaceDetail
from .inflight import InFlight, StopFlag
from .s3 import S3Reader
from .sources import FileReader, Source, inside
from .workers import Analysed, prepare_job

log = logging.getLogger(__name__)

#: Tasks kept in flight per worker thread: enough to keep every thread busy while results travel.
IN_FLIGHT_PER_THREAD = 2
#: Seconds the batch waits with no worker in the cluster before it stops.
NO_WORKER_GRACE = 60.0
#: Seconds to wait for the scheduler (and a first worker) when connecting.
CONNECT_TIMEOUT = 10.0


class NotOnWorker(FaceLibError):
    """A worker could not read a file it was asked to read itself: the coordinator sends the bytes."""


@dataclass(frozen=True)
class ClusterInfo:
    """What a cluster offers: its scheduler's address, workers, threads, and the workers' hosts."""

    address: str
    workers: int
    threads: int
    hosts: tuple[str, ...]

    @property
    def on_this_machine(self) -> bool:
        """Every worker listens on a loopback address, so it sees this machine's files."""
        return bool(self.hosts) and all(_loopback(h) for h in self.hosts)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _facelib_version() -> str:
    """The installed facesearch version (run on every worker at connect time, and here)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("facesearch")
    except PackageNotFoundError:
        return "not installed"


def code_digest() -> str:
    """SHA-256 over facelib's own source files (names and bytes): the code, not a version string."""
    import hashlib

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _dask_version() -> str:
    import distributed

    return str(distributed.__version__)


def _check_code(client: Client, address: str) -> None:
    """The scheduler (recent Dask unpickles task graphs there) and every worker run this very facelib
    code and this Dask: one clear error before anything is read, else every photo would fail alike."""
    ours = (code_digest(), _dask_version())
    try:
        theirs = {"the scheduler": tuple(client.run_on_scheduler(lambda: (code_digest(), _dask_version())))}
    except Exception as exc:  # noqa: BLE001 - a scheduler without facesearch cannot unpickle the call
        raise ClusterUnreachable(
            f"the Dask scheduler at {address} cannot run facesearch ({exc.__class__.__name__}): start it where "
            "facesearch is installed (see the README's cluster recipe)") from exc
    try:
        theirs.update({f"worker {w}": tuple(v) for w, v in client.run(lambda: (code_digest(), _dask_version())).items()})
    except Exception as exc:  # noqa: BLE001
        raise ClusterUnreachable(f"the workers of {address} cannot run facesearch ({exc.__class__.__name__}: {exc})") from exc
    for who, (digest, dask) in theirs.items():
        if dask != ours[1]:
            raise ClusterUnreachable(f"{who} of {address} runs Dask {dask}, this process {ours[1]}: install the same "
                                     "Dask everywhere")
        if digest != ours[0]:
            raise ClusterUnreachable(f"{who} of {address} runs other facesearch code than this process: install the "
                                     "same facesearch (the same commit) on the scheduler and every worker")


TLS = tuple[Path | None, Path | None, Path | None]


def security(address: str, tls: TLS = (None, None, None)) -> Any:
    """Dask's ``Security`` for ``address``: a scheduler on this machine's loopback may be plain
    ``tcp://``; any other needs mutual TLS (``tls://``, ``FACESEARCH_CLUSTER_TLS_CA``/``_CERT``/``_KEY``),
    because what a cluster sends back is unpickled here: only a cluster that proves who it is
    may run this coordinator's batches. :class:`ClusterUnreachable` otherwise."""
    from distributed.security import Security

    if not isinstance(address, str) or "://" not in address:
        raise ClusterUnreachable(f"{address!r} is not a Dask scheduler address (tcp://HOST:8786 or tls://HOST:8786)")
    scheme, host = address.split("://", 1)[0], urlsplit(address).hostname or ""
    ca, cert, key = tls
    if scheme == "tls":
        if not (ca and cert and key):
            raise ClusterUnreachable("a tls:// cluster needs FACESEARCH_CLUSTER_TLS_CA, FACESEARCH_CLUSTER_TLS_CERT and "
                                     "FACESEARCH_CLUSTER_TLS_KEY")
        return Security(tls_ca_file=str(ca), tls_client_cert=str(cert), tls_client_key=str(key), require_encryption=True)
    if scheme == "tcp" and _loopback(host):
        return Security()
    raise ClusterUnreachable(f"the Dask scheduler at {address} is not on this machine: connect to it with mutual TLS "
                             "(tls://HOST:8786 and FACESEARCH_CLUSTER_TLS_CA/_CERT/_KEY; see the README), never plain tcp")


def connect(address: str, timeout: float = CONNECT_TIMEOUT, tls: TLS = (None, None, None)) -> Client:
    """A client of the scheduler at ``address`` (``tcp://127.0.0.1:8786``, or ``tls://HOST:8786``
    with ``tls``) whose scheduler and workers run this facelib code; :class:`ClusterUnreachable`
    with the reason otherwise."""
    sec = security(address, tls)
    try:
        client = Client(address, timeout=timeout, set_as_default=False, security=sec)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterUnreachable(f"cannot reach the Dask scheduler at {address} ({exc})") from exc
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (TimeoutError, OSError) as exc:
            raise ClusterUnreachable(f"the Dask scheduler at {address} has no worker (waited {timeout:.0f} s)") from exc
        try:
            versions = client.run(_facelib_version)
        except Exception as exc:  # noqa: BLE001 - a worker that cannot import facelib fails to unpickle the call
            raise ClusterUnreachable(f"the workers of {address} cannot run facesearch ({exc.__class__.__name__}: {exc}):"
                                     " install this project on every worker") from exc
        ours = _facelib_version()
        wrong = {w: v for w, v in versions.items() if v != ours}
        if wrong:
            raise ClusterUnreachable(f"workers of {address} run facesearch {sorted(set(wrong.values()))}, this is "
                                     f"{ours}: install the same version on every worker")
        _check_code(client, address)
    except BaseException:
        client.close()
        raise
    return client


def describe(client: Client) -> ClusterInfo:
    """Workers, threads and hosts of the client's cluster now."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    hosts = tuple(sorted({urlsplit(addr).hostname or "" for addr in workers}))
    return ClusterInfo(str(getattr(client.scheduler, "address", "")), len(workers),
                       sum(int(w.get("nthreads", 1)) for w in workers.values()), hosts)


def status(address: str, timeout: float = CONNECT_TIMEOUT, tls: TLS = (None, None, None)) -> ClusterInfo:
    """Connect, describe the cluster, disconnect (the app's "Check the cluster", an administrator's)."""
    client = connect(address, timeout, tls)
    try:
        return describe(client)
    finally:
        client.close()


class WarmModels(WorkerPlugin):
    """Loads (and checks by sha256) a preparer's models on every worker when the batch starts and
    on workers that join later, so no task pays for it; they stay in the worker's per-process
    cache (:func:`facelib.engines.local.models.analyser_for`) for every later task and batch."""

    def __init__(self, preparer: Preparer) -> None:
        self.preparer = preparer

    def setup(self, worker: Any) -> None:
        warm = getattr(self.preparer, "warm", None)
        if callable(warm):
            warm()


class BadAnswer(FaceLibError):
    """A worker's answer that is not what the task returns (wrong kind, shape or size)."""


#: The most faces, thumbnail bytes and pixels a worker's answer may carry for one image.
MAX_FACES_ANSWER = 2_000
MAX_THUMB_BYTES = 2 * 1024 ** 2
MAX_SIDE_ANSWER = 200_000


def check_answer(prep: object, sha256: str) -> Prepared:
    """A worker's :class:`Prepared` for the image whose bytes hash to ``sha256`` (computed here),
    or :class:`BadAnswer`: its sha256 must be that one, its format a short word, its size, faces
    and thumbnails within bounds and of the right types."""
    if not isinstance(prep, Prepared):
        raise BadAnswer(f"an answer of type {type(prep).__name__}")
    if prep.sha256 != sha256:
        raise BadAnswer("its sha256 is not the sha256 of the image's bytes")
    if not (isinstance(prep.format, str) and prep.format.isalnum() and len(prep.format) <= 10):
        raise BadAnswer("an image format that is not a short word")
    size = prep.size
    if not (isinstance(size, tuple) and len(size) == 2 and all(isinstance(v, int) and 0 < v <= MAX_SIDE_ANSWER
                                                                for v in size)):
        raise BadAnswer("an image size out of bounds")
    if not isinstance(prep.details, list) or len(prep.details) > MAX_FACES_ANSWER or not all(
            isinstance(d, FaceDetail) and isinstance(d.box, BoundingBox) for d in prep.details):
        raise BadAnswer("faces of the wrong shape or too many")
    if not isinstance(prep.thumbs, dict) or len(prep.thumbs) > len(prep.details) or not all(
            isinstance(b, BoundingBox) and isinstance(t, bytes) and len(t) <= MAX_THUMB_BYTES
            for b, t in prep.thumbs.items()):
        raise BadAnswer("thumbnails of the wrong shape, too many or too large")
    return prep


def _short_error(exc: Exception) -> Exception:
    """A task's error as this process reports it (its text bounded: a worker chooses it)."""
    text = str(exc)
    return exc if len(text) <= 2000 else FaceLibError(text[:2000] + " …")


# -- the tasks (run on the workers) ------------------------------------------------------------------
def _value(x: frozenset[str]) -> frozenset[str]:
    """A value as a task's result (kept with its lineage, unlike scattered data)."""
    return x


def analyse_sent(preparer: Preparer, data: bytes, name: str) -> Prepared:
    """The per-image work on bytes the coordinator sent."""
    return prepare_job(preparer, data, name)


@dataclass
class Fetched:
    """A worker-read image: its sha256, and (unless the collection holds it already) its bytes and
    the analysis or the error it gave."""

    sha256: str
    data: bytes = b""
    result: Prepared | Exception | None = None  # None: already in the collection, not analysed


def analyse_fetched(preparer: Preparer, read: Callable[[], bytes], name: str, known: frozenset[str]) -> Fetched:
    """Read the image here (``read``: a picklable reader), skip it when ``known`` holds its sha256,
    else analyse it. A read that fails raises :class:`NotOnWorker` (the coordinator reads it)."""
    try:
        data = read()
    except Exception as exc:  # noqa: BLE001 - whatever stops this worker, the coordinator tries itself
        raise NotOnWorker(f"{name}: the worker could not read it ({exc})") from None
    sha = sha256_hex(data)
    if sha in known:
        return Fetched(sha)
    try:
        return Fetched(sha, data, prepare_job(preparer, data, name))
    except Exception as exc:  # noqa: BLE001 - reported per file, with the sha256
        return Fetched(sha, data, exc)


# -- the coordinator ---------------------------------------------------------------------------------
class ClusterRunner:
    """Runs a batch's per-image work on the cluster of ``client``.

    ``shared``: folders the workers see at the same path; every local file counts as shared when
    all workers run on this machine. ``known``: sha256 of the images the collection holds.
    """

    def __init__(self, client: Client, shared: tuple[Path, ...] = (), known: frozenset[str] = frozenset()) -> None:
        self.client = client
        self.info = describe(client)
        self.shared = tuple(Path(os.path.realpath(p)) for p in shared)
        self.known = known
        self._batch = uuid.uuid4().hex[:8]

    def remote(self, src: Source) -> bool:
        """Whether workers read this source themselves (else the coordinator sends its bytes)."""
        if isinstance(src.read, S3Reader):
            return True
        if isinstance(src.read, FileReader):
            if self.info.on_this_machine:
                return True
            return inside(os.path.realpath(src.read.path), self.shared)
        return False

    def limit(self) -> int:
        """Tasks kept in flight: :data:`IN_FLIGHT_PER_THREAD` per worker thread, at least 2."""
        return max(2, IN_FLIGHT_PER_THREAD * self.info.threads)

    def run(self, items: Iterator[tuple[Source, bytes | None]], preparer: Preparer,
            take: Callable[[Source], bytes | None], stop: StopFlag | None = None) -> Generator[Analysed[Source], None, None]:
        """Yield each item's :class:`Analysed` as it finishes. ``items``: (source, bytes) for images the
        coordinator read and admitted, (source, None) for images the workers read (admitted late,
        when their result arrives). ``take(source)``: read and admit here, for a worker that could not.
        ``stop``: once set, nothing more is submitted and the tasks not yet finished are cancelled."""
        client = self.client
        stop = stop or StopFlag()
        try:
            client.register_plugin(WarmModels(preparer), name=f"facesearch-warm-{repr(preparer)}")
            # A task, not scattered data: if every worker holding it dies, the scheduler computes it again.
            known = client.submit(_value, self.known, key=f"facesearch-{self._batch}-known")
        except (OSError, CancelledError) as exc:
            raise ClusterUnreachable(f"lost the Dask scheduler at {self.info.address} ({exc})") from exc
        counter = itertools.count()

        def submit(item: tuple[Source, bytes | None]) -> Future[Any]:
            src, data = item
            key = f"facesearch-{self._batch}-{next(counter)}"
            if data is None:
                return client.submit(analyse_fetched, preparer, src.read, src.name, known, key=key, retries=0)
            return client.submit(analyse_sent, preparer, data, src.name, key=key, retries=0)

        flight: InFlight[tuple[Source, bytes | None], Future[Any]] = InFlight(submit, self.limit, stop)
        try:
            flight.fill(items)
            alone_since: float | None = None
            finished = 0
            while flight:
                if stop.is_set():  # the local analysis has nothing worth waiting for: drop the rest
                    flight.cancel_all()
                    return
                try:
                    with client.as_current():  # wait() takes the current client; this one is nobody's default
                        done, _ = wait(list(flight.pending), timeout=5, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    alone_since = self._check_workers(alone_since)
                    continue
                alone_since = None
                results = []
                for (src, data), fut in flight.take(done):
                    outcome = self._outcome(fut, src, data)
                    fut.release()
                    if outcome is None:  # the worker could not read it: read it here and send it
                        local = take(src)
                        if local is not None:
                            flight.add((src, local))
                    else:
                        results.append(outcome)
                finished += len(results)
                if finished % 32 < len(results):  # workers may have joined or left
                    self.info = describe(client)
                flight.fill(items)
                yield from results
        except OSError as exc:
            raise ClusterUnreachable(f"lost the Dask scheduler at {self.info.address} ({exc})") from exc
        except CancelledError as exc:
            raise ClusterUnreachable(f"the Dask cluster at {self.info.address} dropped the batch's work ({exc})") from exc
        finally:  # stopped early or done: nothing of this batch stays queued on the cluster
            flight.cancel_all()

    def _outcome(self, fut: Future[Any], src: Source, data: bytes | None) -> Analysed[Source] | None:
        """A finished task as the coordinator's own record: a worker's answer is data, checked for
        shape and size, and every sha256 is computed here from the bytes (a path is never built
        from what a worker says)."""
        late = data is None
        try:
            value = fut.result()
        except NotOnWorker:
            return None
        except CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the task's own error, or KilledWorker: that file's outcome
            if exc.__class__.__name__ == "KilledWorker":
                exc = BadImage(f"{src.name}: the analysis crashed the workers that ran it ({exc}): not indexed")
            return Analysed(src, data or b"", sha256_hex(data) if data else None, _short_error(exc), late)
        try:
            if isinstance(value, Fetched) and late:
                if not isinstance(value.data, bytes) or len(value.data) > MAX_BYTES:
                    raise BadAnswer("the image bytes are missing or too large")
                if not value.data:  # the worker says the collection holds it: check that claim here
                    if value.sha256 not in self.known:
                        raise BadAnswer("it named an image the collection does not hold")
                    return Analysed(src, b"", value.sha256, None, late=True)
                sha = sha256_hex(value.data)
                result = value.result if isinstance(value.result, Exception) else check_answer(value.result, sha)
                return Analysed(src, value.data, sha, _short_error(result) if isinstance(result, Exception) else result,
                                late=True)
            if late or data is None:
                raise BadAnswer("an answer of the wrong kind")
            return Analysed(src, data, sha256_hex(data), check_answer(value, sha256_hex(data)), late)
        except BadAnswer as exc:
            log.warning("a worker's answer for one image was refused: %s", exc)
            return Analysed(src, data or b"", sha256_hex(data) if data else None,
                            BadImage(f"{src.name}: the cluster's answer was refused ({exc})"), late)

    def _check_workers(self, alone_since: float | None) -> float | None:
        """After a wait with nothing finished: None while workers exist; the time the cluster lost
        its last worker otherwise; ClusterUnreachable after :data:`NO_WORKER_GRACE` seconds alone."""
        try:
            self.info = describe(self.client)
        except OSError as exc:
            raise ClusterUnreachable(f"lost the Dask scheduler at {self.info.address} ({exc})") from exc
        if self.info.workers:
            return None
        now = time.monotonic()
        if alone_since is not None and now - alone_since > NO_WORKER_GRACE:
            raise ClusterUnreachable(f"the Dask cluster at {self.info.address} has had no worker for "
                                     f"{NO_WORKER_GRACE:.0f} s")
        return alone_since or now
