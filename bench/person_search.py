"""Search by person vs the best single-photo search, on ../shared/faces-dev (issue 27).

Index the dev photos, then for every identity with at least 4 distinct pictures and every choice of
3 of them as the person's confirmed photos, score every other labelled face of the collection with:

- ``single``: one confirmed photo's search (each of the 3 on its own); ``best single``: of those 3,
  the one that finds the most (an oracle choice, which favours the baseline);
- ``max``: the best per-face similarity over the 3 (what SearchFaces/SearchFacesByImage give);
- ``template``: one search with the normalised mean of the 3 descriptors (the local engine's
  person template; the same calibration maps its distance to a similarity);
- ``mean``: the mean of the 3 similarities.

Positives are faces of that identity in other pictures (copies and resizes of a confirmed photo
left out); negatives are faces of other identities. Only faces whose identity is certain count
(photos with one labelled person and one detected face). Each method's threshold is set on the
pooled negatives to a false-accept rate (0, i.e. above every stranger, and 1%), and at the fixed
threshold 80; recall is pooled over every trial.

    python -m bench.person_search [--model sface|dlib] [--data-dir /tmp/ps]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.devset import DEV, load_labels, same_picture


def main() -> None:
    from facelib import Settings, Workspace, expand_paths
    from facelib.engines.local.similarity import CALIBRATIONS
    from facelib.people.person_search import template_of

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=("sface", "dlib"), default="sface")
    ap.add_argument("--data-dir", default="/tmp/person-search-bench")
    ap.add_argument("--k", type=int, default=3, help="confirmed photos per person")
    args = ap.parse_args()
    if not DEV.exists():
        sys.exit(f"{DEV} is absent")
    ws = Workspace(Settings(data_dir=Path(args.data_dir) / args.model))
    name = f"dev-{args.model}"
    coll = ws.ensure_collection(name, model=args.model)
    if not coll.counts()["faces"]:
        coll.index(expand_paths([DEV / "images"], ws.settings), workers=1)
    labels = {item.file: item for item in load_labels()}
    faces = coll.faces()
    per_photo: dict[str, list[str]] = defaultdict(list)
    for f in faces:
        per_photo[f.image_name.rsplit("/", 1)[-1]].append(f.face_id)
    certain = {ids[0]: (photo, who) for photo, ids in per_photo.items()
               for who in [labels[photo].identities] if len(who) == 1 and len(ids) == 1}
    engine = coll.engine
    # strangers too: every face of a labelled photo that does not hold the person (multi-face photos included)
    photo_of = {f: p for p, ids in per_photo.items() for f in ids}
    vec = {f: np.asarray(engine.vector(name, f), dtype=np.float64) for f in photo_of}  # type: ignore[attr-defined]
    cover = coll.ws.catalog.face_briefs(name)
    sim = CALIBRATIONS[args.model].similarity
    by_person: dict[str, list[str]] = defaultdict(list)
    for f, (_, who) in sorted(certain.items(), key=lambda kv: kv[1][0]):
        by_person[who[0]].append(f)

    scores: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    best_single_trials = []
    trials = 0
    for who, fids in sorted(by_person.items()):
        # distinct pictures only (a copy or resize is not a second photo of the person)
        distinct: list[str] = []
        for f in fids:
            if not any(same_picture(certain[f][0], certain[g][0]) for g in distinct):
                distinct.append(f)
        if len(distinct) < args.k + 1:
            continue
        for chosen in itertools.combinations(distinct, args.k):
            trials += 1
            photos = [certain[c][0] for c in chosen]
            targets = [t for t in certain if t not in chosen and not any(same_picture(certain[t][0], p) for p in photos)]
            targets += [t for t, p in photo_of.items() if t not in certain and labels[p].identities
                        and who not in labels[p].identities]
            truth = [t in certain and certain[t][1][0] == who for t in targets]
            singles = np.array([[float(sim(np.linalg.norm(vec[c] - vec[t]))) for t in targets] for c in chosen])
            tmpl = template_of([vec[c] for c in chosen])
            t_scores = [float(sim(np.linalg.norm(tmpl - vec[t]))) for t in targets]
            for i in range(args.k):
                scores[f"single#{i}"] += list(zip(singles[i], truth, strict=True))
            scores["max"] += list(zip(singles.max(axis=0), truth, strict=True))
            scores["mean"] += list(zip(singles.mean(axis=0), truth, strict=True))
            scores["template"] += list(zip(t_scores, truth, strict=True))
            best_single_trials.append((singles, truth))
            top = max(range(args.k), key=lambda i: cover[chosen[i]][1])  # the sharpest, largest of the 3
            scores["cover"] += list(zip(singles[top], truth, strict=True))

    def threshold_at(pairs: list[tuple[float, bool]], far: float) -> float:
        neg = sorted((s for s, t in pairs if not t), reverse=True)
        allowed = int(far * len(neg))
        return (neg[allowed] + 1e-6) if allowed < len(neg) else 0.0

    def recall(pairs: list[tuple[float, bool]], thr: float) -> tuple[int, int, int]:
        tp = sum(1 for s, t in pairs if t and s >= thr)
        fp = sum(1 for s, t in pairs if not t and s >= thr)
        return tp, sum(1 for _, t in pairs if t), fp

    single_pool = [p for i in range(args.k) for p in scores[f"single#{i}"]]
    print(f"model {args.model}: {len(certain)} faces of certain identity, {trials} trials of {args.k} confirmed photos")
    print("\n| method | recall at FAR 0 | recall at FAR 1% | recall at 80 (false accepts) |")
    print("|---|---|---|---|")
    rows = {f"one photo (any of the {args.k})": single_pool, f"the best-quality photo of the {args.k}": scores["cover"],
            f"max over the {args.k}": scores["max"],
            f"mean of the {args.k}": scores["mean"], "template (mean descriptor)": scores["template"]}
    for label, pairs in rows.items():
        cells = []
        for far in (0.0, 0.01):
            tp, pos, _ = recall(pairs, threshold_at(pairs, far))
            cells.append(f"{tp}/{pos} ({tp / pos:.3f})")
        tp, pos, fp = recall(pairs, 80.0)
        cells.append(f"{tp}/{pos} ({tp / pos:.3f}), {fp}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    # the best single photo of each trial, at the single-photo threshold of the same FAR
    for far in (0.0, 0.01):
        thr = threshold_at(single_pool, far)
        tp = pos = 0
        for singles, truth in best_single_trials:
            found = [(singles[i] >= thr) & np.array(truth) for i in range(args.k)]
            tp += max(int(x.sum()) for x in found)
            pos += sum(truth)
        print(f"best single photo of each trial at FAR {far:.0%} (threshold {thr:.1f}): {tp}/{pos} ({tp / pos:.3f})")
    tp = pos = 0
    for singles, truth in best_single_trials:
        tp += max(int(((singles[i] >= 80) & np.array(truth)).sum()) for i in range(args.k))
        pos += sum(truth)
    print(f"best single photo of each trial at 80: {tp}/{pos} ({tp / pos:.3f})")


if __name__ == "__main__":
    main()
