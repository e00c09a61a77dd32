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
from ..images import sha256_hex
from .inflight import InFlight, StopFlag
from .s3 import S3Reader
from .sources import FileReader, Source, inside
from .workers import Analysed, prepare_job

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


def connect(address: str, timeout: float = CONNECT_TIMEOUT) -> Client:
    """A client of the scheduler at ``address`` (``tcp://host:8786``) with at least one worker that
    runs this facelib version; :class:`ClusterUnreachable` with the reason otherwise."""
    if not isinstance(address, str) or ":" not in address:
        raise ClusterUnreachable(f"{address!r} is not a Dask scheduler address (tcp://HOST:8786)")
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
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


def status(address: str, timeout: float = CONNECT_TIMEOUT) -> ClusterInfo:
    """Connect, describe the cluster, disconnect (the app's "Check the cluster")."""
    client = connect(address, timeout)
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
            return Analysed(src, data or b"", sha256_hex(data) if data else None, exc, late)
        if isinstance(value, Fetched):
            return Analysed(src, value.data, value.sha256, value.result, late=True)
        return Analysed(src, data or b"", value.sha256, value, late)

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
