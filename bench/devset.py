"""Helpers for benchmarks and evaluations over ``../shared/faces-dev`` (labels.csv)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "faces-dev"

#: Photos that are the same picture as another (byte copies or resizes): pairs among them are
#: not independent evidence, so calibration leaves them out.
SAME_PICTURE = [
    {"obama_k1.jpg", "obama_t1.jpg", "obama_240p.jpg", "obama_480p.jpg", "obama_720p.jpg", "obama_1080p.jpg"},
    {"obama_k2.jpg", "obama_t2.jpg", "rgba_32bit.png"},
    {"biden_k1.jpg", "biden_t1.jpg"},
]


@dataclass(frozen=True)
class Labelled:
    file: str
    identities: tuple[str, ...]
    n_faces_expected: int

    @property
    def path(self) -> Path:
        return DEV / "images" / self.file


def load_labels(path: Path | None = None) -> list[Labelled]:
    path = path or DEV / "labels.csv"
    with open(path, newline="") as f:
        return [Labelled(r["file"], tuple(x for x in r["identities"].split(";") if x), int(r["n_faces_expected"]))
                for r in csv.DictReader(f)]


def same_picture(a: str, b: str) -> bool:
    return a == b or any(a in g and b in g for g in SAME_PICTURE)
