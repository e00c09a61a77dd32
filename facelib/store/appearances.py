"""When the faces of a video were on screen: one row per appearance (a face row of a video).

Rows belong to their face (``ON DELETE CASCADE``): erasing the face, its image or its collection
erases its times too. Times are seconds from the start of the video.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from .db import Database, Migration, script


@dataclass(frozen=True)
class Timecode:
    """``start_s``-``end_s`` on screen, and ``frame_s``: the frame the face's thumbnail and descriptor come from."""

    start_s: float
    end_s: float
    frame_s: float

    def to_dict(self) -> dict[str, float]:
        return {"start_s": round(self.start_s, 2), "end_s": round(self.end_s, 2), "frame_s": round(self.frame_s, 2)}


MIGRATIONS = (
    Migration(61, "video: when each face of a video was on screen", script("""
CREATE TABLE IF NOT EXISTS appearances(
    face_id TEXT PRIMARY KEY REFERENCES faces(face_id) ON DELETE CASCADE,
    start_s REAL NOT NULL, end_s REAL NOT NULL, frame_s REAL NOT NULL)""")),
)


class Appearances:
    """The appearances table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, rows: Iterable[tuple[str, float, float, float]]) -> None:
        """(face id, start s, end s, frame s) rows, in the caller's transaction when there is one."""
        rows = list(rows)
        if rows:
            with self.db.transaction() as db:
                db.executemany("INSERT OR REPLACE INTO appearances(face_id, start_s, end_s, frame_s) VALUES (?,?,?,?)",
                               rows)

    def of(self, face_ids: Iterable[str]) -> dict[str, Timecode]:
        """Face id -> its time code, for those of ``face_ids`` that are appearances in a video."""
        ids = json.dumps(list(dict.fromkeys(face_ids)))
        rows = self.db.connect().execute(
            "SELECT a.face_id, a.start_s, a.end_s, a.frame_s FROM appearances a "
            "WHERE a.face_id IN (SELECT value FROM json_each(?))", (ids,))
        return {r[0]: Timecode(float(r[1]), float(r[2]), float(r[3])) for r in rows}
