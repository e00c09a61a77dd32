"""The ledger's table: paid Rekognition calls and cache hits per day and operation."""

from __future__ import annotations

from ...store.db import Database, Migration, script

MIGRATIONS = (
    Migration(4, "ledger: paid calls and cache hits", script("""
        CREATE TABLE IF NOT EXISTS paid_calls(
            day TEXT NOT NULL, operation TEXT NOT NULL, calls INTEGER NOT NULL DEFAULT 0,
            cache_hits INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (day, operation))""")),
)
_COLUMNS = ("calls", "cache_hits")


class LedgerStore:
    """SQL over ``paid_calls``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def bump(self, day: str, operation: str, column: str) -> None:
        if column not in _COLUMNS:
            raise ValueError(column)
        with self.db.transaction() as db:
            db.execute(f"INSERT INTO paid_calls(day, operation, {column}) VALUES (?,?,1) "
                       f"ON CONFLICT(day, operation) DO UPDATE SET {column}={column}+1", (day, operation))

    def totals(self) -> list[tuple[str, int, int]]:
        """(operation, calls, cache hits) over every day, by operation name."""
        return [(op, int(c), int(h)) for op, c, h in self.db.connect().execute(
            "SELECT operation, SUM(calls), SUM(cache_hits) FROM paid_calls GROUP BY operation ORDER BY operation")]
