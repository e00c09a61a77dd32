"""The catalog database: one SQLite file (WAL) under the data directory, and its schema migrations.

Every owner (catalog, people, the local engine's store, the Rekognition ledger) declares its own
tables as :class:`Migration` steps; :class:`Database` runs the steps newer than the file's
``PRAGMA user_version`` in version order, each in one transaction, so a data directory written by
an older version opens and upgrades in place.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import CatalogDamaged


@dataclass(frozen=True)
class Migration:
    """One schema step: ``apply`` runs inside a transaction with foreign keys off; afterwards
    ``PRAGMA foreign_key_check`` must come back empty and ``user_version`` becomes ``version``."""

    version: int
    name: str
    apply: Callable[[sqlite3.Connection], None]


def script(sql: str) -> Callable[[sqlite3.Connection], None]:
    """A migration body that runs plain SQL statements (``;``-separated, no triggers)."""
    statements = [s.strip() for s in sql.split(";") if s.strip()]

    def run(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)
    return run


def rebuild(table: str, create_sql: str, columns: Sequence[str], where: str = "1",
            indexes: Iterable[str] = ()) -> Callable[[sqlite3.Connection], None]:
    """A migration body that rebuilds ``table`` with a new definition (SQLite's 12-step recipe):
    create ``<table>__new``, copy ``columns`` of the rows matching ``where``, drop, rename, re-index.
    ``create_sql`` must create ``<table>__new``."""
    cols = ", ".join(columns)

    def run(conn: sqlite3.Connection) -> None:
        conn.execute(create_sql)
        conn.execute(f"INSERT INTO {table}__new({cols}) SELECT {cols} FROM {table} WHERE {where}")
        conn.execute(f"DROP TABLE {table}")
        conn.execute(f"ALTER TABLE {table}__new RENAME TO {table}")
        for index in indexes:
            conn.execute(index)
    return run


def _enable_wal(conn: sqlite3.Connection, seconds: float = 30.0) -> None:
    """Switch the database to WAL (persistent in the file). Switching needs a moment alone with the
    file, which SQLite's busy timeout does not wait for, so retry while another process holds it."""
    deadline = time.monotonic() + seconds
    delay = 0.01
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def disk_full(exc: BaseException) -> bool:
    """Whether an error says the disk (or the file-size limit) is full: SQLite's SQLITE_FULL, ENOSPC, EFBIG."""
    import errno

    if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
        return True
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


#: ``column IN_IDS`` with :func:`ids` as its parameter: any number of ids in one parameter
#: (SQLite reads the JSON list as a table, and uses the column's index for it).
IN_IDS = "IN (SELECT value FROM json_each(?))"


def ids(values: Iterable[object]) -> str:
    """The parameter of :data:`IN_IDS`: the values as one JSON list."""
    return json.dumps(list(values), separators=(",", ":"))


def where(equal: Mapping[str, object]) -> tuple[str, list[object]]:
    """``WHERE a=? AND b=?`` over the columns whose value is not None, and its parameters: a filter
    that is not given is not in the SQL (``(? IS NULL OR col=?)`` makes SQLite scan instead of
    using the column's index)."""
    given = {column: value for column, value in equal.items() if value is not None}
    if not given:
        return "", []
    return " WHERE " + " AND ".join(f"{column}=?" for column in given), list(given.values())


#: The schema version of the last release that did not record its steps one by one: a file at or
#: under it has every step up to its ``user_version`` applied.
LEGACY_MAX = 11


class MigrationError(RuntimeError):
    """A migration step left rows that break a foreign key (nothing was changed)."""


class Database:
    """Thread-safe access to the catalog file: one connection per thread, nested transactions join."""

    def __init__(self, path: str | Path, migrations: Sequence[Migration] = ()) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.migrations = sorted(migrations, key=lambda m: m.version)
        versions = [m.version for m in self.migrations]
        if len(set(versions)) != len(versions):
            raise ValueError(f"two migrations share a version: {versions}")
        try:
            self.migrate()
        except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
            self.close()
            raise CatalogDamaged(f"the catalog {self.path.name} cannot be read ({exc}); nothing was changed: restore "
                                 "it from a backup, or move it away to start a new one") from exc

    # -- connections -------------------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        """This thread's connection (WAL, 30 s busy timeout, foreign keys on, autocommit outside
        transactions)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            _enable_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten with zeros, not left in free pages
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error). Nested use joins the outer one."""
        conn = self.connect()
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def scrub(self) -> None:
        """After an erasure: move the WAL into the database and truncate it (``wal_checkpoint(TRUNCATE)``),
        so deleted rows do not linger in the WAL file either (with ``secure_delete`` they are zeroed
        in the database itself)."""
        self.connect().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- schema ------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """The schema version of the file (``PRAGMA user_version``; 0 for a new file)."""
        return int(self.connect().execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> list[str]:
        """Run every step not applied yet, in version order, each in its own transaction; returns
        their names. Applied steps are recorded one by one (``schema_steps``), so a step numbered
        below one already applied (two owners' steps landing together) still runs. A file from
        before that record (``user_version`` at most :data:`LEGACY_MAX`) counts the steps up to its
        version as applied. Concurrent openers serialise on ``BEGIN IMMEDIATE`` and skip steps done."""
        conn = self.connect()
        with self.transaction():
            conn.execute("CREATE TABLE IF NOT EXISTS schema_steps(version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                         "applied_at REAL NOT NULL)")
            if conn.execute("SELECT COUNT(*) FROM schema_steps").fetchone()[0] == 0:
                legacy = min(self.version, LEGACY_MAX)
                conn.executemany("INSERT OR IGNORE INTO schema_steps(version, name, applied_at) VALUES (?,?,?)",
                                 [(m.version, m.name, time.time()) for m in self.migrations if m.version <= legacy])
        done: list[str] = []
        for step in self.migrations:
            if self._applied(step.version):
                continue
            conn.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction, so set it first
            try:
                with self.transaction():
                    if self._applied(step.version):
                        continue  # another process ran it while we waited for the lock
                    step.apply(conn)
                    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise MigrationError(f"migration {step.version} ({step.name}) breaks foreign keys: "
                                             f"{[tuple(r) for r in broken[:5]]}")
                    conn.execute("INSERT INTO schema_steps(version, name, applied_at) VALUES (?,?,?)",
                                 (step.version, step.name, time.time()))
                    conn.execute(f"PRAGMA user_version={max(int(step.version), self.version)}")
            finally:
                conn.execute("PRAGMA foreign_keys=ON")
            done.append(step.name)
        return done

    def _applied(self, version: int) -> bool:
        return self.connect().execute("SELECT 1 FROM schema_steps WHERE version=?", (version,)).fetchone() is not None
