"""Calibrate the local engine's distance -> similarity mapping on ../shared/faces-dev.

Faces from photos with exactly one labelled person and one detected face are labelled; every pair
of labelled faces from different pictures is a same-person or different-person pair. Prints the
distance distributions, the precision/recall at similarity thresholds 70/80/90/95 under the
current mapping (facelib.similarity), and the distance that would give the best F1.

    python -m bench.calibrate
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

from bench.devset import DEV, load_labels, same_picture
from facelib.catalog import Catalog
from facelib.engines.local import LocalEngine
from facelib.images import load_file
from facelib.similarity import similarity


def labelled_vectors(engine: LocalEngine) -> list[tuple[str, str, np.ndarray]]:
    out = []
    for item in load_labels():
        if len(item.identities) != 1:
            continue
        faces = engine.analyze(load_file(str(item.path)))
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
    if not DEV.exists():
        sys.exit(f"{DEV} is absent: nothing to calibrate on")
    import tempfile

    engine = LocalEngine(Catalog(Path(tempfile.mkdtemp()) / "c.sqlite3"))
    vecs = labelled_vectors(engine)
    same, diff = pairs(vecs)
    print(f"labelled faces: {len(vecs)}; same-person pairs: {len(same)}; different-person pairs: {len(diff)}")
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
    best = max(np.linspace(0.3, 0.8, 101),
               key=lambda d: 2 * (same <= d).sum() / (len(same) + (same <= d).sum() + (diff <= d).sum()))
    print(f"\ndistance with the best F1: {best:.3f}")


if __name__ == "__main__":
    main()
