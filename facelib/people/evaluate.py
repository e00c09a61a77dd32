"""Evaluating identification and grouping against labelled photos (labels.csv of faces-dev's form).

Only faces whose identity is certain are scored: photos with one labelled person and exactly one
indexed face. Photos are matched to the catalog by file name.
"""

from __future__ import annotations

import csv
import itertools
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..records import StoredFace
from ..settings import DEFAULT_THRESHOLD

if TYPE_CHECKING:
    from ..collection import Collection


def load_labels(path: str | Path) -> dict[str, tuple[str, ...]]:
    """file name -> identities (empty for photos of nobody labelled)."""
    with open(path, newline="") as f:
        return {r["file"]: tuple(x for x in (r.get("identities") or "").split(";") if x) for r in csv.DictReader(f)}


def evaluate(coll: Collection, labels_csv: str | Path, threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """Identification accuracy, grouping's pairwise precision/recall/F1, and same-photo merges."""
    labels = load_labels(labels_csv)
    faces = coll.faces()
    per_image: dict[str, list[StoredFace]] = defaultdict(list)
    for f in faces:
        per_image[f.image_sha256].append(f)
    identity: dict[str, str] = {}
    for f in faces:
        ids = labels.get(Path(f.image_name).name)
        if ids and len(ids) == 1 and len(per_image[f.image_sha256]) == 1:
            identity[f.face_id] = ids[0]

    correct = total = 0
    for face_id, who in sorted(identity.items()):
        own = coll.face(face_id).image_sha256
        rows = [r for r in coll.search_face(face_id).rows if r.image_sha256 != own]
        best = next((r for r in rows if r.similarity >= threshold), None)
        others_exist = any(v == who and k != face_id for k, v in identity.items())
        total += 1
        if best is None:
            correct += not others_exist  # nobody else to find: "no match" is right
        else:  # right when the best match's photo holds that person
            correct += who in labels.get(Path(best.image_name).name, ())

    person_of = coll.people.person_of()
    tp = fp = fn = 0
    for a, b in itertools.combinations(sorted(identity), 2):
        same_truth = identity[a] == identity[b]
        same_group = person_of.get(a) is not None and person_of.get(a) == person_of.get(b)
        tp += same_truth and same_group
        fp += (not same_truth) and same_group
        fn += same_truth and not same_group
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    same_photo = 0
    for group in per_image.values():
        for x, y in itertools.combinations(group, 2):
            same_photo += person_of.get(x.face_id) is not None and person_of.get(x.face_id) == person_of.get(y.face_id)
    return {"labelled_faces": len(identity), "identification_accuracy": round(correct / total, 4) if total else None,
            "identification_correct": correct, "identification_total": total,
            "pairs": {"true_positive": tp, "false_positive": fp, "false_negative": fn},
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "same_photo_merges": same_photo, "people": len(set(person_of.values()))}
