"""The cost ledger: paid Rekognition calls, cache hits, estimated dollars spent and saved.

Persisted in the catalog database (:mod:`.store`), so the CLI and the app show the same
figures. Dollars are estimates from :class:`facelib.settings.Prices`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ...settings import GROUP1, GROUP2, Prices
from ...store.access import SPENDER, SpendingStore
from .store import LedgerStore

#: Operations Rekognition bills per image processed (Group 1 and Group 2 of its pricing).
PRICED = GROUP1 | GROUP2


def price_of(operation: str, prices: Prices) -> float:
    """Estimated dollars for one call of ``operation`` (0 for the free collection calls)."""
    return prices.of(operation)


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

    def to_json(self) -> dict[str, Any]:
        return {"calls": self.calls, "paid_calls": self.paid_calls, "cache_hits": self.cache_hits,
                "spent_usd": round(self.spent, 6), "saved_usd": round(self.saved, 6),
                "stored_faces": self.stored_faces, "storage_usd_per_month": round(self.storage_per_month, 6),
                "operations": [o.__dict__ for o in self.operations]}


class Ledger:
    """Counts calls and cache hits per operation and day."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store

    def _bump(self, operation: str, column: str, count: int = 1) -> None:
        day = time.strftime("%Y-%m-%d", time.gmtime())
        self.store.bump(day, operation, column, count)
        who = SPENDER.get()
        if who is not None:  # a signed-in user's call: also counted as theirs (see facelib/store/access.py)
            for _ in range(count):
                SpendingStore(self.store.db).bump(day, who, operation, column)

    def record_call(self, operation: str, count: int = 1) -> None:
        """``count`` calls made to the service (paid or free): a batch writes its calls together."""
        self._bump(operation, "calls", count)

    def record_hit(self, operation: str) -> None:
        """One call answered from the cache instead."""
        self._bump(operation, "cache_hits")

    def summary(self, prices: Prices, stored_faces: int = 0) -> CostSummary:
        ops = tuple(OperationCost(op, c, h, c * price_of(op, prices), h * price_of(op, prices))
                    for op, c, h in self.store.totals())
        return CostSummary(ops, stored_faces, stored_faces * prices.per_face_month)
