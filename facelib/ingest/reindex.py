"""Re-indexing a local collection with another model, from its stored copies.

1. Every stored copy is analysed again with the new model, in workers (nothing is written yet).
2. In one transaction: the collection switches model (its old vectors go), every image is committed
   again (its faces replaced), and the analyst's work carries over: each old face is matched to the
   new face of the same image whose box overlaps it most (IoU >= :data:`MIN_IOU`); people keep
   their ids, names and hidden flags, decisions are rewritten onto the new face ids.
3. The report says what could not be carried over: images without a stored copy (their faces are
   dropped: no vectors of the new model exist for them), faces no new box matches, decisions that
   lost a face, and people left with no face.

The match graph is not carried (similarities differ between models): grouping searches the new
faces again on its next update.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..engines.base import Prepared, Preparer
from ..errors import FaceLibError, InvalidParameter
from ..people.store import PeopleStore
from ..records import BoundingBox, DecisionKind, FaceStatus, StoredFace, overlap
from .indexer import Indexer, _message
from .sources import Source
from .workers import prepare_all

#: Least intersection over union at which an old face is the same face as a new one. Two detectors
#: box one face differently (dlib's HOG box is tighter than YuNet's: IoU about 0.4-0.7); two faces
#: of one photo seldom overlap this much.
MIN_IOU = 0.3
Progress = Callable[[int, int, str], None]


@dataclass
class ReindexReport:
    """What a re-index did (counts) and what it could not carry over (names and ids)."""

    collection: str
    model: str
    images: int = 0
    faces_before: int = 0
    faces_after: int = 0
    faces_carried: int = 0
    people_kept: int = 0
    decisions_kept: int = 0
    without_copy: list[str] = field(default_factory=list)       # image names
    failed: list[tuple[str, str]] = field(default_factory=list)  # (image name, why)
    faces_unmatched: list[str] = field(default_factory=list)    # old face ids
    decisions_lost: int = 0
    people_lost: list[str] = field(default_factory=list)        # labels

    def summary(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items()}


def match_faces(old: list[tuple[str, BoundingBox]], new: list[tuple[str, BoundingBox]]) -> dict[str, str]:
    """Old face id -> new face id of one image: greedily by overlap, each face used once."""
    pairs = sorted(((overlap(ob, nb), oid, nid) for oid, ob in old for nid, nb in new), reverse=True)
    out: dict[str, str] = {}
    used: set[str] = set()
    for iou, oid, nid in pairs:
        if iou < MIN_IOU:
            break
        if oid not in out and nid not in used:
            out[oid] = nid
            used.add(nid)
    return out


def reindex(indexer: Indexer, people: PeopleStore, model: str, preparer: Preparer, set_model: Callable[[], None],
            progress: Progress | None = None) -> ReindexReport:
    """Re-index ``indexer``'s collection with ``model``: ``preparer`` is that model's per-image work,
    ``set_model`` switches the engine's record of the collection."""
    catalog, files, coll = indexer.catalog, indexer.files, indexer.collection
    report = ReindexReport(coll, model)
    images = catalog.images(coll)
    old_faces: dict[str, list[StoredFace]] = {}
    for f in catalog.faces(coll, status=None):
        old_faces.setdefault(f.image_sha256, []).append(f)
    report.faces_before = sum(1 for fs in old_faces.values() for f in fs if f.status == FaceStatus.INDEXED)
    person_of = people.person_of()
    labels = {pid: name for _, (pid, name) in people.labels().items()}
    decisions = people.decision_rows()

    # 1. Analyse every stored copy with the new model (no writes).
    items: list[tuple[Source, bytes, str]] = []
    for img in images:
        path = files.path(img.stored_path) if img.stored_path else None
        if path is None or not path.is_file():
            report.without_copy.append(img.original_name)
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            report.failed.append((img.original_name, f"stored copy unreadable: {exc}"))
            continue
        items.append((Source(img.original_name, _constant(data), img.source or "file", dict(img.metadata),
                          img.added_at), data, img.original_name))
    prepared: list[tuple[Source, bytes, Prepared]] = []
    for done, (src, data, result) in enumerate(
            prepare_all(items, preparer, indexer.engine.parallel, indexer.workers, indexer.engine.warm), 1):
        if isinstance(result, Exception):
            report.failed.append((src.name, _message(result, src.name)))
        else:
            prepared.append((src, data, result))
        if progress:
            progress(done, len(items), src.name)
    if not prepared and items:
        raise FaceLibError(f"no image of {coll!r} could be analysed with {model}: nothing was changed")

    # 2. Switch and commit everything in one transaction: a failure leaves the collection as it was.
    mapping: dict[str, str] = {}
    redone = {p.sha256 for _, _, p in prepared}
    with catalog.transaction():
        set_model()
        for src, data, prep in prepared:
            outcome = indexer.commit(src, data, prep)
            new = [(f.face_id, f.detail.box) for f in catalog.faces(coll, status=None, image_sha256=prep.sha256)]
            old = [(f.face_id, f.detail.box) for f in old_faces.get(prep.sha256, [])]
            mapping.update(match_faces(old, new))
            report.faces_after += outcome.faces_indexed
        for img in images:  # images that could not be redone have no vectors of the new model any more
            if img.sha256 not in redone:
                catalog.remove_image(coll, img.sha256)
        for old_id, pid in person_of.items():
            if old_id in mapping:
                people.assign([mapping[old_id]], pid)
        kept = []
        for kind, a, b in decisions:
            if a in mapping and (b is None or b in mapping):
                kept.append((kind, mapping[a], mapping[b] if b is not None else None))
            else:
                report.decisions_lost += 1
        for kind in DecisionKind:
            people.decide(kind, [(a, b) for k, a, b in kept if k == kind])
        people.drop_empty()
        people.forget_undo()  # the journal names faces that are gone now
        catalog.set_model_version(coll, indexer.engine.collection_model(coll))
    report.images = len(prepared)
    report.faces_carried = sum(1 for f in person_of if f in mapping)
    report.faces_unmatched = sorted(f for fs in old_faces.values() for f in (x.face_id for x in fs) if f not in mapping)
    report.decisions_kept = len(kept)
    surviving = {pid for f, pid in person_of.items() if f in mapping}
    report.people_kept = len(surviving)
    report.people_lost = sorted(labels.get(pid) or f"Person {pid}" for pid in set(person_of.values()) - surviving)
    return report


def _constant(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def check_target(current: str, model: str, models: tuple[str, ...]) -> None:
    if model not in models:
        raise InvalidParameter(f"unknown model {model!r}; choose one of {', '.join(models)}")
    if model == current:
        raise InvalidParameter(f"the collection is indexed with {model} already")
