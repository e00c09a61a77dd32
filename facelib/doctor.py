"""Check (and repair) that the files under the data directory and the catalog's rows agree.

``facesearch doctor`` reports; ``facesearch doctor --repair`` fixes what can be fixed:

- **orphan files** (a stored copy or thumbnail no row names, e.g. left by a collection deleted
  while it was being indexed): deleted;
- **fragments** (``.*.tmp`` left by a write that died: a full disk, a killed process): deleted;
- **missing thumbnails** (a face row whose thumbnail file is gone): cut again from the stored
  copy when there is one, else the row is cleared (pages show a placeholder);
- **missing stored copies** (an image row whose copy is gone): reported; the photo must be
  indexed again (nothing can bring the bytes back);
- **catalog problems** (SQLite's integrity and foreign-key checks): reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BadImage
from .images import load_file
from .thumbnails import thumbnail_jpeg

if TYPE_CHECKING:
    from .jobs.lease import Holder
    from .workspace import Workspace


@dataclass
class DoctorReport:
    """What was found (relative paths, face ids) and, with ``repair``, what was done."""

    orphan_files: list[str] = field(default_factory=list)
    fragments: list[str] = field(default_factory=list)
    missing_thumbnails: list[str] = field(default_factory=list)
    missing_copies: list[str] = field(default_factory=list)
    catalog_problems: list[str] = field(default_factory=list)
    #: Problems of the paid-call cache (with ``repair``: unreadable entries removed, an unreadable
    #: cache moved aside and started afresh; nothing is lost, it is only an optimisation).
    cache_problems: list[str] = field(default_factory=list)
    thumbnails_recut: int = 0
    thumbnails_cleared: int = 0
    files_removed: int = 0
    repaired: bool = False

    @property
    def healthy(self) -> bool:
        return not (self.orphan_files or self.fragments or self.missing_thumbnails or self.missing_copies
                    or self.catalog_problems or self.cache_problems)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy}


def check(ws: Workspace, repair: bool = False, on_wait: Callable[[Holder | None], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> DoctorReport:
    """Compare the files on disk with the catalog's rows; with ``repair``, fix what can be fixed.

    A repair holds every collection's lease (taken in one order; ``on_wait`` is told who it waits
    for), so no batch, re-index or erasure is writing while files are judged orphans or missing."""
    if not repair:
        return _check(ws, repair)
    with ws.leases.hold_all(ws.catalog.list_collections(), "repair", on_wait=on_wait, should_stop=should_stop):
        return _check(ws, repair)


def _check(ws: Workspace, repair: bool) -> DoctorReport:
    report = DoctorReport(repaired=repair)
    report.catalog_problems = ws.catalog.integrity()
    report.cache_problems = _check_cache(ws, repair)
    # Files first, rows after: a batch marks its image pending before it writes the image's files,
    # and clears the mark only once its row names them. So a file listed here is either named by a
    # row or has its image pending when the rows are read next (even in a collection created after
    # this check began): only files neither names are orphans.
    on_disk = list(ws.files.stored_files())
    copies, thumbs = ws.catalog.file_references()
    named = set(copies) | set(thumbs)
    in_flight = {sha for name in ws.catalog.list_collections() for sha in ws.catalog.pending(name)}
    report.orphan_files = sorted(p for p in on_disk
                                 if p not in named and Path(p).name.split(".")[0].split("-")[0] not in in_flight)
    report.fragments = sorted(ws.files.relative(p) for p in ws.files.fragments())
    report.missing_copies = sorted(p for p in copies if not ws.path(p).is_file())
    report.missing_thumbnails = sorted(p for p in thumbs if not ws.path(p).is_file())
    if not repair:
        return report
    for rel in report.orphan_files + report.fragments:
        try:
            ws.path(rel).unlink()
            report.files_removed += 1
        except FileNotFoundError:
            pass
    for rel in report.missing_thumbnails:
        face_id, collection = thumbs[rel]
        face = ws.catalog.face(face_id)
        copy = ws.path(face.stored_path) if face.stored_path else None
        try:
            if copy is None or not copy.is_file():
                raise BadImage("no stored copy")
            image = load_file(str(copy))
            ws.files.path(rel).parent.mkdir(parents=True, exist_ok=True)
            from .store.files import atomic_write

            atomic_write(ws.path(rel), thumbnail_jpeg(image.rgb, face.detail.box))
            report.thumbnails_recut += 1
        except BadImage:
            ws.catalog.set_thumb(face_id, None)
            report.thumbnails_cleared += 1
    return report


def _check_cache(ws: Workspace, repair: bool) -> list[str]:
    """The paid-call cache's problems, when there is a cache (no engine is built otherwise)."""
    from .engines.base import HasCache
    from .errors import FaceLibError

    if not ws.settings.cache_dir.exists():
        return []
    try:
        engine = ws.engine("rekognition")
    except FaceLibError as exc:  # no AWS configuration here: the cache cannot be opened the engine's way
        return [f"paid-call cache not checked: {exc}"]
    return engine.check_cache(repair) if isinstance(engine, HasCache) else []
