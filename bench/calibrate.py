"""Calibrate a local model's distance -> similarity mapping on ../shared/faces-dev.

Faces from photos with exactly one labelled person and one detected face are labelled; every pair
of labelled faces from different pictures is a same-person or different-person pair. Prints the
distance distributions, the precision/recall at similarity thresholds 70/80/90/95 under the
model's current mapping (facelib.engines.local.similarity), and the distance with the best F1.

    python -m bench.calibrate [--model sface|dlib]
"""

from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np

from bench.devset import DEV, load_labels, same_picture
from facelib.engines.local.analysis import MODELS, Analyser
from facelib.engines.local.models import analyser_for
from facelib.engines.local.similarity import CALIBRATIONS
from facelib.images import load_file


def labelled_vectors(analyser: Analyser) -> list[tuple[str, str, np.ndarray]]:
    out = []
    for item in load_labels():
        if len(item.identities) != 1:
            continue
        faces = analyser.analyze(load_file(str(item.path)))
        if len(faces) == 1:
            out.append((item.file, item.identities[0], faces[0].vector))
    return out


def pairs(vectors):
    same, diff = [], []
    for (fa, ia, va), (fb, ib, vb) in itertools.combinations(vectors, 2):
        if same_picture(fa, fb):
            continue
        d = float(np.linalg.norm(va - vb))
        (same if ia == ib else diff).append(d)
    return np.array(same), np.array(diff)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=MODELS, default=MODELS[0])
    args = ap.parse_args()
    if not DEV.exists():
        sys.exit(f"{DEV} is absent: nothing to calibrate on")
    similarity = CALIBRATIONS[args.model].similarity
    vecs = labelled_vectors(analyser_for(args.model))
    same, diff = pairs(vecs)
    print(f"model {args.model}: labelled faces: {len(vecs)}; same-person pairs: {len(same)}; different-person pairs: {len(diff)}")
    for name, arr in (("same", same), ("different", diff)):
        q = np.percentile(arr, [0, 5, 25, 50, 75, 95, 100])
        print(f"{name:>9} distance percentiles 0/5/25/50/75/95/100: " + " ".join(f"{x:.3f}" for x in q))
    print("\n| threshold | precision | recall | false matches | missed |")
    print("|---|---|---|---|---|")
    for t in (70, 80, 90, 95):
        tp = int((similarity(same) >= t).sum())
        fp = int((similarity(diff) >= t).sum())
        prec = tp / (tp + fp) if tp + fp else 1.0
        print(f"| {t} | {prec:.3f} | {tp / len(same):.3f} | {fp} of {len(diff)} | {len(same) - tp} of {len(same)} |")
    best = max(np.linspace(0.2, 1.6, 281),
               key=lambda d: 2 * (same <= d).sum() / (len(same) + (same <= d).sum() + (diff <= d).sum()))
    print(f"\ndistance with the best F1: {best:.3f}")


if __name__ == "__main__":
    main()
