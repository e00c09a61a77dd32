"""``facesearch`` (or ``python -m facelib``): batch jobs over the same Collection handle the app uses.

Commands: index, search, faces, people, evaluate, delete, costs, reindex, collections. ``--json`` prints
one JSON document on stdout; progress bars and messages go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .collection import Collection
from .engines import ENGINES
from .engines.base import usd
from .engines.local.analysis import MODELS
from .errors import FaceLibError, FaceNotFound, InvalidParameter
from .images import load_file, sha256_hex
from .ingest import expand_paths
from .settings import Settings
from .workspace import Workspace


def _workspace(args: argparse.Namespace) -> Workspace:
    settings = Settings().with_(data_dir=args.data_dir, engine=getattr(args, "engine", None),
                                detector=getattr(args, "detector", None), model=getattr(args, "model", None),
                                aws_profile=args.aws_profile, aws_region=args.aws_region,
                                budget_usd=getattr(args, "budget_usd", None),
                                cluster_shared_paths=tuple(Path(p).resolve() for p in getattr(args, "shared_path", None) or ())
                                or None)
    return Workspace(settings)


def _collection(args: argparse.Namespace) -> Collection:
    """The handle of ``args.collection`` (CollectionNotFound when it does not exist)."""
    return _workspace(args).collection(args.collection)


def _print_json(obj: object) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def cmd_index(args: argparse.Namespace) -> int:
    """Index as a job run in this process (``facesearch jobs`` and the app see it), under the
    collection's lease: a second writer waits in line, and this waits for one."""
    from tqdm import tqdm

    from .jobs.runner import run_here
    from .jobs.spool import paths_spec
    from .jobs.store import JobKind, JobState

    ws = _workspace(args)
    coll = ws.ensure_collection(args.collection, args.engine, args.model)
    if coll.paid:
        est = coll.estimate(list(expand_paths(args.paths, ws.settings)))
        print(f"pre-flight: {est.files} files, {est.already_indexed} already indexed, {est.duplicates} repeats, "
              f"{est.unreadable} unreadable: {est.paid_calls} paid IndexFaces calls, about {usd(est.index_dollars)}"
              f" (+{est.grouping_calls} SearchFaces, {usd(est.dollars - est.index_dollars)}, if grouped)",
              file=sys.stderr)
    bar = tqdm(unit="img", desc=f"indexing into {args.collection}", file=sys.stderr, disable=args.quiet)

    def progress(done: int, total: int, message: str) -> None:
        if total and bar.total != total:
            bar.total = total
        if done > bar.n:
            bar.update(done - bar.n)
        elif not total and message:
            bar.set_postfix_str(message[:60])

    inputs: dict[str, Any] = {"sources": [paths_spec(args.paths)], "workers": args.workers,
                              "max_faces": args.max_faces, "cluster": args.cluster,
                              "group": True if args.group else (False if args.no_group else None)}
    if ws.settings.budget_usd is not None:
        inputs["budget_usd"] = ws.settings.budget_usd
    job = run_here(ws, JobKind.INDEX, coll.name, inputs, on_progress=progress)
    bar.close()
    summary = job.report
    if "images" not in summary:  # refused before it started (a budget, the account, the cluster)
        print(f"error: {job.message}", file=sys.stderr)
        return 2
    for e in summary["errors"]:
        if not args.quiet and len(summary["errors"]) <= 50:
            print(f"error: {e['image']}: {e['message']}", file=sys.stderr)
    if args.json:
        _print_json({**summary, "job": job.job_id})
    else:
        s = summary["by_status"]
        print(f"{summary['images']} images in {summary['seconds']:.1f}s: {summary['faces_indexed']} faces indexed, "
              f"{summary['faces_rejected']} rejected; " + ", ".join(f"{v} {k}" for k, v in sorted(s.items())))
    if summary.get("stopped"):
        print(f"error: the batch stopped: {summary['stopped']}", file=sys.stderr)
    return 0 if job.state == JobState.DONE else 2


def cmd_jobs(args: argparse.Namespace) -> int:
    """List jobs (of a collection), show one with its report, or ask one to stop."""
    from .jobs.runner import adopt_orphans

    ws = _workspace(args)
    adopt_orphans(ws)  # a job whose process died says so (an app job goes back in line)
    if args.action in ("show", "cancel"):
        if args.job_id is None:
            raise SystemExit(f"jobs {args.action} needs a job id")
        if args.action == "cancel":
            ws.cancel_job(args.job_id)
        job = ws.job(args.job_id)
        if args.json:
            _print_json(job.to_json())
        else:
            print(f"job {job.job_id}: {job.kind} into {job.collection}: {job.state} ({job.done}/{job.total}) {job.message}")
            if job.report and args.action == "show":
                _print_json(job.report)
        return 0
    jobs = ws.jobs.recent(args.collection, limit=args.limit)
    if args.json:
        _print_json([j.to_json() | {"report": None} for j in jobs])
    else:
        for j in jobs:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created_at))
            print(f"{j.job_id:>6}  {when}  {j.kind:<8} {j.state:<11} {j.done:>5}/{j.total:<5} {j.collection}  {j.message}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    if args.person is not None:
        return cmd_search_person(args)
    if args.image is None or args.in_collection:
        raise SystemExit("search needs a photo, or --person PERSON (--in OTHER searches another collection)")
    coll = _collection(args)
    image = load_file(args.image)
    result = coll.search_image(image, face_index=args.face_index,
                               floor=min(args.threshold, coll.ws.settings.search_floor),
                               max_faces=max(args.max_faces, 1))
    doc = result.to_json(threshold=args.threshold, max_faces=args.max_faces)
    times = coll.ws.appearances.of(m["face_id"] for m in doc["matches"])
    for m in doc["matches"]:  # a face of a video: when it was on screen (seconds)
        if m["face_id"] in times:
            m.update({k: v for k, v in times[m["face_id"]].to_dict().items() if k != "frame_s"})
    if args.json:
        _print_json(doc)
    else:
        print(f"{len(doc['query_faces'])} face(s) in the query; searched face {doc['searched_face']}")
        for m in doc["matches"]:
            print(f"{m['similarity']:6.2f}%  {m['image']}  {m['face_id']}")
    return 0


def cmd_search_person(args: argparse.Namespace) -> int:
    """Every face of a person searches together (their best per-face similarity), in their
    collection or ``--in`` another one; rows as for a photo search, plus ``person``."""
    from .people.calibration import false_match_note
    from .people.person_search import resolve_person, search_person

    if args.image is not None:
        raise SystemExit("search takes a photo or --person, not both")
    ws = _workspace(args)
    coll = ws.collection(args.collection)
    target = ws.collection(args.in_collection) if args.in_collection else coll
    result = search_person(coll, resolve_person(coll, args.person), target,
                           floor=min(args.threshold, ws.settings.search_floor))
    doc = result.to_json(threshold=args.threshold, max_faces=args.max_faces)
    doc["false_matches"] = false_match_note(target, args.threshold, len(result.query_faces))
    times = ws.appearances.of(m["face_id"] for m in doc["matches"])
    for m in doc["matches"]:  # a face of a video: when it was on screen (seconds)
        if m["face_id"] in times:
            m.update({k: v for k, v in times[m["face_id"]].to_dict().items() if k != "frame_s"})
    if args.json:
        _print_json(doc)
    else:
        p = doc["person"]
        print(f"{p['name'] or 'Person ' + str(p['person_id'])} ({p['faces']} face(s), {len(doc['query_faces'])} searched) "
              f"in {doc['collection']}: {doc['paid_calls']} paid call(s); {doc['false_matches']}")
        for m in doc["matches"]:
            who = m["person"]["name"] or f"Person {m['person']['person_id']}" if m["person"] else "-"
            print(f"{m['similarity']:6.2f}%  {m['image']}  {m['face_id']}  {who}{'  (theirs)' if m['theirs'] else ''}")
    return 0


def cmd_faces(args: argparse.Namespace) -> int:
    coll = _collection(args)
    faces = coll.faces(status=None if args.all else "indexed")
    rows: list[dict[str, Any]] = [
        {"face_id": f.face_id, "image": f.image_name, "box": f.detail.box.to_dict(), "status": str(f.status),
             "reasons": list(f.reasons), "confidence": f.detail.confidence, "brightness": f.detail.brightness,
             "sharpness": f.detail.sharpness, "size_px": f.detail.size_px,
             "pose": {"yaw": f.detail.pose.yaw, "pitch": f.detail.pose.pitch, "roll": f.detail.pose.roll},
             "thumbnail": str(coll.ws.path(f.thumb_path)) if f.thumb_path else None} for f in faces]
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            b = r["box"]
            print(f"{r['face_id']}  {r['status']:8}  {r['image']}  box=({b['left']:.3f},{b['top']:.3f},"
                  f"{b['width']:.3f},{b['height']:.3f})")
    return 0


def cmd_people(args: argparse.Namespace) -> int:
    if args.action in ("review", "answer"):
        return cmd_review(args)
    coll = _collection(args)
    people = coll.people if args.threshold is None else coll.people_at(args.threshold)
    if args.regroup:
        people.regroup()
    else:
        people.update()
    faces = {f.face_id: f for f in coll.faces()}
    doc: list[dict[str, Any]] = [{"person_id": p.person_id, "name": p.name, "hidden": p.hidden,
            "faces": [{"face_id": f, "image": faces[f].image_name} for f in p.face_ids]}
           for p in people.listing(include_hidden=True)]
    if args.json:
        _print_json(doc)
    else:
        for d in doc:
            print(f"{d['person_id']:>5}  {d['name'] or '(unnamed)':<24} {len(d['faces'])} face(s)")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    """The review queue: ``people review`` prints the most useful questions; ``people answer``
    records one (same, different or skip) and updates the people at once."""
    from .people.review import Review

    coll = _collection(args)
    review = Review(coll)
    if args.action == "review":
        coll.people.update()  # new faces are grouped before they are asked about
        doc: Any = [q.to_json() for q in review.questions(limit=args.limit)]
        if not args.json:
            for q in doc:
                print(f"{q['id']}  {q['kind']:<5} {q['similarity']:6.2f}%  {q['face_a']}  {q['face_b']}  "
                      f"(worth {q['worth']})")
            return 0
    else:
        if not args.question:
            raise SystemExit("people answer needs --question ID (see `people review`)")
        if not (args.same or args.different or args.skip):
            raise SystemExit("people answer needs --same, --different or --skip")
        doc = review.answer(args.question, "same" if args.same else "different" if args.different else "skip")
        if not args.json:
            print(", ".join(f"{k}: {v}" for k, v in doc.items()))
            return 0
    _print_json(doc)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .people.evaluate import evaluate

    coll = _collection(args)
    coll.people.regroup()
    result = evaluate(coll, args.labels, threshold=args.threshold)
    if args.json:
        _print_json(result)
    else:
        print(f"identification: {result['identification_correct']}/{result['identification_total']} "
              f"({result['identification_accuracy']:.1%})")
        print(f"grouping: precision {result['precision']:.3f}, recall {result['recall']:.3f}, F1 {result['f1']:.3f}; "
              f"{result['people']} people; same-photo merges: {result['same_photo_merges']}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """Erase an image, a person or a whole collection (engine, catalog, files, cache)."""
    coll = _collection(args)
    doc: dict[str, Any]
    if args.all:
        coll.delete()
        doc = {"deleted": "collection", "collection": args.collection}
    elif args.image:
        sha = _one_image(coll, args.image)
        doc = {"deleted": "image", "sha256": sha, "faces": coll.delete_image(sha)}
    elif args.person is not None:
        n = coll.delete_person(args.person, with_photos=args.with_photos)
        doc = {"deleted": "person", "person_id": args.person, "faces": n}
    else:
        raise SystemExit("delete needs --image, --person or --all")
    if args.json:
        _print_json(doc)
    else:
        print(", ".join(f"{k}: {v}" for k, v in doc.items()))
    return 0


def _one_image(coll: Collection, given: str) -> str:
    """The sha256 of the one image ``given`` names: its sha256, its original name as indexed, its
    file name, or a file on disk with the same bytes. A name that matches several images is refused
    with every candidate (nothing is erased); none is :class:`FaceNotFound`."""
    text = given.strip()
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        candidates = [i for i in coll.images() if i.sha256 == text]
    else:
        images = coll.images()
        candidates = [i for i in images if i.original_name == text]
        if not candidates:  # the file name alone ("IMG_0001.jpg" for "trip/IMG_0001.jpg")
            candidates = [i for i in images if i.original_name.replace("\\", "/").rsplit("/", 1)[-1] == text]
        if not candidates and os.path.isfile(text):
            with open(text, "rb") as f:
                digest = sha256_hex(f.read())
            candidates = [i for i in images if i.sha256 == digest]
    shas = sorted({i.sha256 for i in candidates})
    if not shas:
        raise FaceNotFound(f"no image {given!r} in {coll.name!r}")
    if len(shas) > 1:
        listed = "; ".join(f"{i.sha256}  {i.original_name}" for i in sorted(candidates, key=lambda i: i.original_name))
        raise InvalidParameter(f"{given!r} names {len(shas)} images of {coll.name!r}; nothing was deleted. "
                               f"Give the sha256 of the one to delete: {listed}")
    return shas[0]


def cmd_costs(args: argparse.Namespace) -> int:
    summary = _workspace(args).costs()
    if args.json:
        _print_json(summary.to_json())
        return 0
    print(f"{'operation':<22}{'calls':>8}{'cache hits':>12}{'spent $':>10}{'saved $':>10}")
    for o in summary.operations:
        print(f"{o.operation:<22}{o.calls:>8}{o.cache_hits:>12}{o.spent:>10.4f}{o.saved:>10.4f}")
    print(f"{'total':<22}{summary.calls:>8}{summary.cache_hits:>12}{summary.spent:>10.4f}{summary.saved:>10.4f}")
    print(f"stored faces: {summary.stored_faces} (about ${summary.storage_per_month:.4f} a month)")
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    """Index a collection again with another model; names and decisions carry over."""
    from tqdm import tqdm

    coll = _collection(args)
    bar = tqdm(unit="img", desc=f"re-indexing {args.collection} with {args.model}", file=sys.stderr,
               disable=args.quiet)

    def progress(done: int, total: int, name: str) -> None:
        bar.total = total
        bar.update(1)

    report = coll.reindex(args.model, progress, workers=args.workers)
    bar.close()
    if not args.no_group:
        coll.people.update()
    doc = report.summary()
    if args.json:
        _print_json(doc)
    else:
        print(f"{report.images} images re-indexed with {report.model}: {report.faces_before} faces before, "
              f"{report.faces_after} after; {report.faces_carried} grouped faces, {report.people_kept} people and "
              f"{report.decisions_kept} decisions carried over")
        lost = [("images without a stored copy (dropped)", report.without_copy),
                ("images that failed", [f"{n}: {why}" for n, why in report.failed]),
                ("old faces with no new match", report.faces_unmatched),
                ("people left with no face", report.people_lost)]
        for label, items in lost:
            if items:
                print(f"{label}: {len(items)}: " + "; ".join(items[:10]) + (" …" if len(items) > 10 else ""))
        if report.decisions_lost:
            print(f"decisions that lost a face: {report.decisions_lost}")
    return 0


def cmd_collections(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    if args.action == "create":
        ws.create_collection(_need_name(args), args.engine, args.model)
        print(f"created {args.name}")
    elif args.action == "importable":
        ids = ws.importable()
        if args.json:
            _print_json(ids)
        else:
            print("\n".join(ids) if ids else "no Rekognition collection of this account and region to import")
    elif args.action == "import":
        if not args.collection_id:
            raise SystemExit("collections import NAME needs --collection-id (see `collections importable`)")
        coll = ws.import_collection(_need_name(args), args.collection_id)
        print(f"imported {args.collection_id} as {args.name} ({coll.location}); it is never deleted in AWS")
    elif args.action == "delete":
        ws.delete_collection(_need_name(args))
        print(f"deleted {args.name}")
    else:
        overview = ws.overview()
        for o in overview:  # where a cloud collection lives (from its ARN: no call)
            o["location"] = ws.collection(str(o["collection"])).location
        if args.json:
            _print_json([{"name": o.pop("collection"), **o} for o in overview])
        else:
            for o in overview:
                where = f"\t{o['location']}" if o["location"] else ""
                print(f"{o['collection']}\t{o['engine']}\t{o['images']} images\t{o['faces']} faces{where}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import check

    report = check(_workspace(args), repair=args.repair)
    if args.json:
        _print_json(report.to_json())
    else:
        for label, items in (("orphan files", report.orphan_files), ("temporary fragments", report.fragments),
                             ("missing thumbnails", report.missing_thumbnails),
                             ("missing stored copies (index those photos again)", report.missing_copies),
                             ("catalog problems", report.catalog_problems),
                             ("paid-call cache problems", report.cache_problems)):
            print(f"{len(items)} {label}" + "".join(f"\n  {i}" for i in items[:20]))
        if args.repair:
            print(f"repaired: {report.files_removed} files removed, {report.thumbnails_recut} thumbnails cut again, "
                  f"{report.thumbnails_cleared} cleared")
    left = report.missing_copies or report.catalog_problems or (not args.repair and not report.healthy)
    return 1 if left else 0


def _need_name(args: argparse.Namespace) -> str:
    if not args.name:
        raise SystemExit(f"collections {args.action} needs a NAME")
    return str(args.name)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facesearch", description="Index photos and search faces.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, engine: bool = False) -> None:
        sp.add_argument("--data-dir", help="data directory (default $FACESEARCH_DATA_DIR or ./data)")
        sp.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        sp.add_argument("--aws-profile", help="AWS profile for the rekognition engine (default: the AWS chain)")
        sp.add_argument("--aws-region", help="AWS region for the rekognition engine (default: the AWS chain)")
        if engine:
            sp.add_argument("--engine", choices=ENGINES, default=None, help="engine for a new collection")

    sp = sub.add_parser("index", help="index photos and folders into a collection")
    sp.add_argument("paths", nargs="+", metavar="PATH")
    sp.add_argument("--collection", required=True)
    sp.add_argument("--workers", type=int, default=None, help="worker processes (default: every core)")
    sp.add_argument("--max-faces", type=int, default=100, help="faces indexed per image, largest first")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--budget-usd", type=float, default=None,
                    help="refuse a Rekognition batch estimated above this many dollars ($FACESEARCH_BUDGET_USD)")
    sp.add_argument("--model", choices=MODELS, default=None,
                    help="local engine's model for a new collection: sface (default: YuNet + SFace) or dlib")
    sp.add_argument("--detector", choices=("hog", "cnn"), default=None,
                    help="dlib model's detector: hog (default, fast) or cnn (mmod: slower, finds turned faces)")
    sp.add_argument("--cluster", default=None, metavar="tcp://HOST:8786",
                    help="run the local engine's analysis on this Dask scheduler's workers (default $FACESEARCH_CLUSTER, "
                         "else this machine's process pool; '' for the pool)")
    sp.add_argument("--shared-path", action="append", metavar="FOLDER",
                    help="a folder the cluster's workers see at the same path, so they read its files themselves "
                         "(repeatable; default $FACESEARCH_CLUSTER_SHARED)")
    sp.add_argument("--no-group", action="store_true", help="do not group the new faces into people (local)")
    sp.add_argument("--group", action="store_true",
                    help="group the new faces into people with Rekognition too (one paid SearchFaces per face)")
    common(sp, engine=True)
    sp.set_defaults(func=cmd_index)

    sp = sub.add_parser("search", help="search the faces like one face of a photo, or like a person (--person)")
    sp.add_argument("image", nargs="?")
    sp.add_argument("--person", default=None, metavar="PERSON",
                    help="search with every face of this person of --collection (an id or an unambiguous name)")
    sp.add_argument("--in", dest="in_collection", default=None, metavar="OTHER",
                    help="with --person: search this other collection (same model on the local engine)")
    sp.add_argument("--collection", required=True)
    sp.add_argument("--threshold", type=float, default=Settings.default_threshold,
                    help=f"similarity 0-100 (default {Settings.default_threshold:.0f})")
    sp.add_argument("--max-faces", type=int, default=50)
    sp.add_argument("--face-index", type=int, default=None, help="which face of the photo (default the largest)")
    common(sp)
    sp.set_defaults(func=cmd_search)

    sp = sub.add_parser("faces", help="list the faces of a collection")
    sp.add_argument("--collection", required=True)
    sp.add_argument("--all", action="store_true", help="rejected faces too")
    common(sp)
    sp.set_defaults(func=cmd_faces)

    sp = sub.add_parser("people", help="group faces into people (incremental; --regroup for all); review: the "
                                       "questions that finish grouping, answer: one answer")
    sp.add_argument("action", nargs="?", choices=("list", "review", "answer"), default="list")
    sp.add_argument("--collection", required=True)
    sp.add_argument("--limit", type=int, default=20, help="review: at most this many questions")
    sp.add_argument("--question", default=None, metavar="ID", help="answer: the question's id (from review)")
    said = sp.add_mutually_exclusive_group()
    said.add_argument("--same", action="store_true", help="answer: the two faces are one person")
    said.add_argument("--different", action="store_true", help="answer: they are not the same person")
    said.add_argument("--skip", action="store_true", help="answer: do not ask again")
    sp.add_argument("--regroup", action="store_true", help="regroup the whole collection")
    sp.add_argument("--threshold", type=float, default=None, help="grouping similarity 0-100 (default 80)")
    common(sp)
    sp.set_defaults(func=cmd_people)

    sp = sub.add_parser("evaluate", help="identification and grouping scores against labelled photos")
    sp.add_argument("labels", metavar="LABELS.csv")
    sp.add_argument("--collection", required=True)
    sp.add_argument("--threshold", type=float, default=Settings.default_threshold)
    common(sp)
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("delete", help="erase an image, a person or a collection (faces are biometric data)")
    sp.add_argument("--collection", required=True)
    what = sp.add_mutually_exclusive_group(required=True)
    what.add_argument("--image", help="original path as indexed, a file, or its sha256")
    what.add_argument("--person", type=int, help="person id (see `people`)")
    what.add_argument("--all", action="store_true", help="the whole collection")
    sp.add_argument("--with-photos", action="store_true", help="with --person: also every photo they are in")
    common(sp)
    sp.set_defaults(func=cmd_delete)

    sp = sub.add_parser("costs", help="paid Rekognition calls, cache hits, dollars spent and saved")
    common(sp)
    sp.set_defaults(func=cmd_costs)

    sp = sub.add_parser("reindex", help="index a collection again with another model (names and decisions kept)")
    sp.add_argument("--collection", required=True)
    sp.add_argument("--model", choices=MODELS, required=True)
    sp.add_argument("--workers", type=int, default=None, help="worker processes (default: every core)")
    sp.add_argument("--no-group", action="store_true", help="do not group the faces into people afterwards")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    common(sp)
    sp.set_defaults(func=cmd_reindex)

    sp = sub.add_parser("doctor", help="check that files and catalog rows agree (--repair fixes what it can)")
    sp.add_argument("--repair", action="store_true", help="remove orphan files and fragments, cut missing thumbnails")
    common(sp)
    sp.set_defaults(func=cmd_doctor)

    sp = sub.add_parser("jobs", help="long work (index, re-index, regroup, erase, repair): list, show, cancel")
    sp.add_argument("action", nargs="?", choices=("list", "show", "cancel"), default="list")
    sp.add_argument("job_id", nargs="?", type=int)
    sp.add_argument("--collection", default=None, help="only this collection's jobs")
    sp.add_argument("--limit", type=int, default=50)
    common(sp)
    sp.set_defaults(func=cmd_jobs)

    sp = sub.add_parser("collections", help="list, create or delete collections")
    sp.add_argument("action", nargs="?", choices=("list", "create", "delete", "importable", "import"), default="list")
    sp.add_argument("--collection-id", help="import: the id of an existing Rekognition collection to use")
    sp.add_argument("name", nargs="?")
    sp.add_argument("--model", choices=MODELS, default=None, help="local engine's model for create (default sface)")
    common(sp, engine=True)
    sp.set_defaults(func=cmd_collections)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from .logs import startup
    from .settings import SettingError

    args = build_parser().parse_args(argv)
    try:
        startup()  # every setting checked, then logging configured
    except SettingError as exc:
        print(f"facesearch: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except FaceLibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
