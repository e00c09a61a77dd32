"""The review queue's table (:mod:`facelib.people.review`): questions dismissed with "skip", kept
by each face's photo and box (not its id), so a dismissal outlives a re-index with another model.
Rows go with their collection and with either photo (``ON DELETE CASCADE``)."""

from __future__ import annotations

import json
import time

from ..records import BoundingBox
from .db import Database, Migration, script
from .watch import ensure

SCHEMA = """
    CREATE TABLE IF NOT EXISTS review_dismissed(id INTEGER PRIMARY KEY AUTOINCREMENT,
        collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
        sha_a TEXT NOT NULL, box_a TEXT NOT NULL, sha_b TEXT NOT NULL, box_b TEXT NOT NULL,
        created_at REAL NOT NULL,
        FOREIGN KEY (collection, sha_a) REFERENCES images(collection, sha256) ON DELETE CASCADE,
        FOREIGN KEY (collection, sha_b) REFERENCES images(collection, sha256) ON DELETE CASCADE);
    CREATE INDEX IF NOT EXISTS review_dismissed_by_a ON review_dismissed(collection, sha_a);
    CREATE INDEX IF NOT EXISTS review_dismissed_by_b ON review_dismissed(collection, sha_b)"""
MIGRATIONS = (Migration(71, "review queue: questions dismissed with 'skip', by each face's photo and box",
                        script(SCHEMA)),)


class ReviewStore:
    def __init__(self, db: Database, collection: str) -> None:
        self.db = db
        self.collection = collection
        ensure(db, "review_dismissed", script(SCHEMA))

    def dismiss(self, sha_a: str, box_a: BoundingBox, sha_b: str, box_b: BoundingBox) -> None:
        with self.db.transaction() as db:
            db.execute("INSERT INTO review_dismissed(collection, sha_a, box_a, sha_b, box_b, created_at)"
                       " VALUES (?,?,?,?,?,?)", (self.collection, sha_a, json.dumps(box_a.to_dict()), sha_b,
                                                  json.dumps(box_b.to_dict()), time.time()))

    def dismissed(self) -> list[tuple[str, BoundingBox, str, BoundingBox]]:
        return [(a, BoundingBox.from_dict(json.loads(ba)), b, BoundingBox.from_dict(json.loads(bb)))
                for a, ba, b, bb in self.db.connect().execute(
                    "SELECT sha_a, box_a, sha_b, box_b FROM review_dismissed WHERE collection=?", (self.collection,))]
