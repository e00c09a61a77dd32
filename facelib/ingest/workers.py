"""Running the per-image work (decode, the engine's preparer, thumbnails) in workers.

Engines that declare ``parallel == "process"`` get a process pool (their preparer is picklable and
keeps its models in a per-process cache keyed by its settings); others get threads. Results come
back as they finish (input order with one worker), with at most ``2 x workers`` images in flight.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import ctypes
import multiprocessing
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..engines.base import Parallelism, Prepared, Preparer, fork_safe
from ..images import WORK_MAX_SIDE, decode
from ..thumbnails import thumbnail_jpeg
from .inflight import InFlight, StopFlag

T = TypeVar("T")


@dataclass
class Analysed(Generic[T]):
    """One image's per-image work, done: ``result`` is its :class:`Prepared`, the exception it gave,
    or None when a worker found the collection holds it already. ``late``: the image was read (and
    hashed) by a cluster worker, so the coordinator has not admitted it yet (see
    :mod:`facelib.ingest.cluster`); ``sha256`` is None only when its bytes were never read."""

    item: T
    data: bytes
    sha256: str | None
    result: Prepared | Exception | None
    late: bool = False


def prepare_job(preparer: Preparer, data: bytes, name: str) -> Prepared:
    """Decode, run the engine's per-image work, and cut the thumbnails of every face found. A video
    (by its first bytes; ``data`` may then be a read-only mmap of its file) gives one face per
    appearance (:func:`facelib.video.prepare.prepare_video`)."""
    from ..video.frames import looks_like_video

    if looks_like_video(bytes(data[:16]), name):
        from ..video.prepare import prepare_video

        return prepare_video(preparer, data, name)
    image = decode(data, name=name, max_side=WORK_MAX_SIDE)
    prepared = preparer(image)
    prepared.thumbs = {d.box: thumbnail_jpeg(image.rgb, d.box) for d in prepared.details}
    return prepared


def _mp_context() -> multiprocessing.context.BaseContext:
    """"fork" where the platform has it, else "spawn".

    Fork (Linux's default in Python 3.11) never re-runs the caller's ``__main__``: under Streamlit
    ``__main__`` is the page script, which "spawn" would execute again in every worker. Forked
    workers also share the models the parent loaded (copy-on-write). The workers only decode,
    analyse and pickle results; they touch no lock, database or thread of the parent.
    """
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


#: libc's prctl, looked up here in the parent: a forked child must not touch the dynamic loader (a
#: lock another thread held at fork time would never be released in the child).
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Worker initializer: on Linux, ask the kernel to kill this worker when the coordinator dies
    (``PR_SET_PDEATHSIG``), so a killed batch leaves no orphan workers behind."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _attempt(fn: Callable[..., Prepared], *args: object) -> Prepared | Exception:
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - reported per file
        return exc


def prepare_all(items: Iterable[tuple[T, bytes, str]], preparer: Preparer, parallel: Parallelism, workers: int,
                warm: Callable[[], None] | None = None,
                stop: StopFlag | None = None) -> Iterator[tuple[T, bytes, Prepared | Exception]]:
    """Yield (item, bytes, Prepared or the exception) as each finishes.

    ``items``: (anything, image bytes, name). ``warm`` loads models in this process before a
    process pool forks, so workers inherit them. One worker (or one image) runs here, in order.
    ``stop``: once set, no new item is submitted, queued ones are cancelled and the ones already
    running are waited for and yielded (a paid answer the engine gave is never thrown away).
    """
    items = iter(items)
    stop = stop or StopFlag()
    if parallel == "process" and not fork_safe(preparer) and _mp_context().get_start_method() == "fork":
        workers = 1  # a forked worker would wait for ever on a thread pool it did not inherit
    if workers == 1:
        for item, data, name in items:
            if stop.is_set():
                return
            yield item, data, _attempt(prepare_job, preparer, data, name)
        return
    pool: cf.Executor
    if parallel == "process":
        if warm:
            warm()
        pool = cf.ProcessPoolExecutor(workers, mp_context=_mp_context(), initializer=_die_with_parent)
    else:
        pool = cf.ThreadPoolExecutor(workers, thread_name_prefix="index")

    side: list[cf.ThreadPoolExecutor] = []  # a video mapped from its file stays in this process

    def submit(job: tuple[T, bytes, str]) -> cf.Future[Prepared]:
        _, data, name = job
        if parallel == "process" and not isinstance(data, bytes):
            if not side:
                side.append(cf.ThreadPoolExecutor(1, thread_name_prefix="video"))
            return side[0].submit(contextvars.copy_context().run, prepare_job, preparer, data, name)
        try:
            if parallel == "thread":  # the work runs in the submitter's context (its job's spending limit)
                return pool.submit(contextvars.copy_context().run, prepare_job, preparer, data, name)
            return pool.submit(prepare_job, preparer, data, name)
        except cf.process.BrokenProcessPool:  # a worker died: carry on in this process
            done: cf.Future[Prepared] = cf.Future()
            result = _attempt(prepare_job, preparer, data, name)
            if isinstance(result, Exception):
                done.set_exception(result)
            else:
                done.set_result(result)
            return done

    # ``2 x workers`` images submitted, so workers stay busy while the caller commits.
    flight: InFlight[tuple[T, bytes, str], cf.Future[Prepared]] = InFlight(submit, lambda: 2 * workers, stop)

    def result(fut: cf.Future[Prepared]) -> Prepared | Exception:
        try:
            return fut.result()
        except Exception as exc:  # noqa: BLE001 - reported per file
            return exc

    with pool:
        try:
            flight.fill(items)
            while flight:
                done, _ = cf.wait(list(flight.pending), timeout=0.5, return_when=cf.FIRST_COMPLETED)
                if stop.is_set():
                    flight.cancel_queued()
                finished = flight.take(done)
                flight.fill(items)
                for (item, data, _), fut in finished:
                    yield item, data, result(fut)
        finally:  # the caller went away: queued work is not started
            flight.cancel_all()
            for executor in side:
                executor.shutdown(wait=True, cancel_futures=True)
