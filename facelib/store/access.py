"""Who may use which collection (the optional login): an owner and the users it is shared with.

Users are the login's e-mail (or subject) strings. A collection with no owner row was made
without a login (the CLI, or the app before a login was configured): only administrators see it.
"""

from __future__ import annotations

from .db import Database, Migration, script

MIGRATIONS = (
    Migration(11, "access: each collection's owner and the users it is shared with", script("""
        CREATE TABLE collection_access(
            collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
            user TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('owner', 'shared')),
            PRIMARY KEY (collection, user));
        CREATE INDEX collection_access_by_user ON collection_access(user);""")),
)


class AccessStore:
    """SQL over ``collection_access``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def set_owner(self, collection: str, user: str) -> None:
        with self.db.transaction() as db:
            db.execute("DELETE FROM collection_access WHERE collection=? AND role='owner'", (collection,))
            db.execute("INSERT OR REPLACE INTO collection_access(collection, user, role) VALUES (?,?, 'owner')",
                       (collection, user))

    def share(self, collection: str, user: str) -> None:
        with self.db.transaction() as db:
            db.execute("INSERT OR IGNORE INTO collection_access(collection, user, role) VALUES (?,?, 'shared')",
                       (collection, user))

    def unshare(self, collection: str, user: str) -> None:
        with self.db.transaction() as db:
            db.execute("DELETE FROM collection_access WHERE collection=? AND user=? AND role='shared'",
                       (collection, user))

    def role(self, collection: str, user: str) -> str | None:
        row = self.db.connect().execute("SELECT role FROM collection_access WHERE collection=? AND user=?",
                                        (collection, user)).fetchone()
        return str(row[0]) if row else None

    def visible(self, user: str) -> set[str]:
        """Collections the user owns or is shared."""
        return {str(r[0]) for r in self.db.connect().execute(
            "SELECT collection FROM collection_access WHERE user=?", (user,))}

    def members(self, collection: str) -> tuple[str | None, list[str]]:
        """(owner, users it is shared with)."""
        rows = self.db.connect().execute("SELECT user, role FROM collection_access WHERE collection=? ORDER BY user",
                                         (collection,)).fetchall()
        owner = next((str(u) for u, r in rows if r == "owner"), None)
        return owner, [str(u) for u, r in rows if r == "shared"]
