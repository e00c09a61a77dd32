"""The cost ledger: paid Rekognition calls, cache hits, estimated dollars spent and saved.

Persisted in the catalog database (table ``paid_calls``), so the CLI and the app show the same
figures. Dollars are estimates from :class:`facelib.settings.Prices`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .catalog import Catalog
from .errors import FaceLibError
from .settings import Prices

#: Operations Rekognition bills per image processed.
PRICED = ("IndexFaces", "SearchFaces", "SearchFacesByImage", "CompareFaces", "DetectFaces")

SCHEMA = """
CREATE TABLE IF NOT EXISTS paid_calls(
    day TEXT NOT NULL, operation TEXT NOT NULL, calls INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (day, operation));
"""


def price_of(operation: str, prices: Prices) -> float:
    """Estimated dollars for one call of ``operation`` (0 for the free collection calls)."""
    return prices.per_image_call if operation in PRICED else 0.0


@dataclass(frozen=True)
class OperationCost:
    operation: str
    calls: int
    cache_hits: int
    spent: float
    saved: float


@dataclass(frozen=True)
class CostSummary:
    operations: tuple[OperationCost, ...]
    stored_faces: int
    storage_per_month: float

    @property
    def calls(self) -> int:
        return sum(o.calls for o in self.operations)

    @property
    def paid_calls(self) -> int:
        return sum(o.calls for o in self.operations if o.operation in PRICED)

    @property
    def cache_hits(self) -> int:
        return sum(o.cache_hits for o in self.operations)

    @property
    def spent(self) -> float:
        return sum(o.spent for o in self.operations)

    @property
    def saved(self) -> float:
        return sum(o.saved for o in self.operations)

    def to_json(self) -> dict:
        return {"calls": self.calls, "paid_calls": self.paid_calls, "cache_hits": self.cache_hits,
                "spent_usd": round(self.spent, 6), "saved_usd": round(self.saved, 6),
                "stored_faces": self.stored_faces, "storage_usd_per_month": round(self.storage_per_month, 6),
                "operations": [o.__dict__ for o in self.operations]}


class Ledger:
    """Counts calls and cache hits per operation and day."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        catalog.connect().executescript(SCHEMA)

    def _bump(self, operation: str, column: str) -> None:
        day = time.strftime("%Y-%m-%d", time.gmtime())
        with self.catalog.transaction() as db:
            db.execute(f"INSERT INTO paid_calls(day, operation, {column}) VALUES (?,?,1) "
                       f"ON CONFLICT(day, operation) DO UPDATE SET {column}={column}+1", (day, operation))

    def record_call(self, operation: str) -> None:
        """One call made to the service (paid or free)."""
        self._bump(operation, "calls")

    def record_hit(self, operation: str) -> None:
        """One call answered from the cache instead."""
        self._bump(operation, "cache_hits")

    def summary(self, prices: Prices, stored_faces: int = 0) -> CostSummary:
        rows = self.catalog.connect().execute(
            "SELECT operation, SUM(calls), SUM(cache_hits) FROM paid_calls GROUP BY operation ORDER BY operation")
        ops = tuple(OperationCost(op, int(c), int(h), c * price_of(op, prices), h * price_of(op, prices))
                    for op, c, h in rows)
        return CostSummary(ops, stored_faces, stored_faces * prices.per_face_month)


@dataclass(frozen=True)
class BatchEstimate:
    """What indexing a batch with Rekognition would cost before it runs."""

    files: int
    already_indexed: int
    duplicates: int
    unreadable: int
    paid_calls: int
    dollars: float
    storage_per_month: float


def estimate_batch(catalog: Catalog, collection: str, sources: list, prices: Prices,
                   faces_per_image: float = 1.5) -> BatchEstimate:
    """Paid IndexFaces calls (one per new image) and dollars for a batch; images the collection
    holds already (same sha256) and repeats within the batch cost nothing. ``sources`` are
    :class:`facelib.pipeline.Source`. Storage assumes ``faces_per_image`` faces per new image.
    """
    from .images import sha256_hex

    seen: set[str] = set()
    indexed = dup = bad = 0
    for src in sources:
        try:
            sha = sha256_hex(src.read())
        except (OSError, FaceLibError):
            bad += 1
            continue
        if sha in seen:
            dup += 1
        elif catalog.has_image(collection, sha):
            indexed += 1
        seen.add(sha)
    new = len(sources) - indexed - dup - bad
    return BatchEstimate(len(sources), indexed, dup, bad, new, new * price_of("IndexFaces", prices),
                         new * faces_per_image * prices.per_face_month)
