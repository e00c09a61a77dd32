"""Who may use which collection (the optional login): users, owners, shares and invitations.

A user is the issuer and subject of a verified ID token (``"<issuer>#<subject>"``: an issuer URL
never holds a ``#``), never an e-mail: e-mails change hands, and a provider may hand out addresses
it has not verified. The e-mail is kept beside the user only to show it, to let an
administrator in (``FACESEARCH_ADMINS``) and to match invitations, and only when the provider
says it is verified.

A collection's owner and the users who accepted it are rows of ``collection_access``. Sharing by
e-mail makes an *invitation* (``collection_invites``): the collection is nobody's until the
signed-in user with that verified e-mail accepts it. A collection with no owner row was made
without a login (the CLI, or the app before a login was configured): only administrators see it.
"""

from __future__ import annotations

import sqlite3
import time
from contextvars import ContextVar
from dataclasses import dataclass

from .db import Database, Migration, script
from .files import MIGRATIONS as FILES_MIGRATIONS


def _invitations_from_emails(conn: sqlite3.Connection) -> None:
    """Version 100: users by issuer and subject. The rows written before named users by their
    e-mail (or subject), unverified: each becomes an invitation to that address. An owner's is
    taken up at the first sign-in with that address verified; a share waits to be accepted."""
    script("""
        CREATE TABLE users(
            id TEXT PRIMARY KEY, issuer TEXT NOT NULL, subject TEXT NOT NULL,
            email TEXT, email_verified INTEGER NOT NULL DEFAULT 0, seen_at REAL,
            UNIQUE (issuer, subject));
        CREATE INDEX users_by_email ON users(email);
        CREATE TABLE collection_invites(
            collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
            email TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('owner', 'shared')),
            invited_at REAL, PRIMARY KEY (collection, email));
        CREATE INDEX collection_invites_by_email ON collection_invites(email)""")(conn)
    conn.execute("INSERT OR IGNORE INTO collection_invites(collection, email, role, invited_at) "
                 "SELECT collection, lower(user), role, ? FROM collection_access ORDER BY role='owner' DESC",
                 (time.time(),))
    conn.execute("DELETE FROM collection_access")


MIGRATIONS = (
    Migration(11, "access: each collection's owner and the users it is shared with", script("""
        CREATE TABLE collection_access(
            collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
            user TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('owner', 'shared')),
            PRIMARY KEY (collection, user));
        CREATE INDEX collection_access_by_user ON collection_access(user);""")),
    Migration(100, "access: users are issuer + subject; shares are invitations until accepted",
              _invitations_from_emails),
    *FILES_MIGRATIONS,
    Migration(102, "access: paid calls and cache hits per signed-in user", script("""
        CREATE TABLE spending(
            day TEXT NOT NULL, user TEXT NOT NULL, operation TEXT NOT NULL,
            calls INTEGER NOT NULL DEFAULT 0, cache_hits INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (day, user, operation));
        CREATE INDEX spending_by_user ON spending(user)""")),
)

#: The signed-in user that engine calls made in this context are for (None: the administrator's,
#: or nobody's). Set around every call of a paid engine held by a user's collection handle
#: (:class:`facelib.workspace.SpendingAs`), in whichever thread makes the call; the ledger reads it.
SPENDER: ContextVar[str | None] = ContextVar("facesearch_spender", default=None)


class SpendingStore:
    """SQL over ``spending``: the ledger's figures of each signed-in user."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def bump(self, day: str, user: str, operation: str, column: str) -> None:
        if column not in ("calls", "cache_hits"):
            raise ValueError(column)
        with self.db.transaction() as db:
            db.execute(f"INSERT INTO spending(day, user, operation, {column}) VALUES (?,?,?,1) "
                       f"ON CONFLICT(day, user, operation) DO UPDATE SET {column}={column}+1", (day, user, operation))

    def totals(self, user: str) -> list[tuple[str, int, int]]:
        """(operation, calls, cache hits) of one user over every day."""
        return [(str(op), int(c), int(h)) for op, c, h in self.db.connect().execute(
            "SELECT operation, SUM(calls), SUM(cache_hits) FROM spending WHERE user=? GROUP BY operation "
            "ORDER BY operation", (user,))]


@dataclass(frozen=True)
class Invitation:
    collection: str
    email: str
    role: str


class AccessStore:
    """SQL over ``users``, ``collection_access`` and ``collection_invites``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- users --------------------------------------------------------------------------------
    def sign_in(self, issuer: str, subject: str, email: str | None, email_verified: bool) -> str:
        """Record a signed-in user (issuer and subject of a verified ID token); returns its id.
        Owner invitations for its verified e-mail (rows from before users had ids) are taken up."""
        user = f"{issuer}#{subject}"
        address = email.strip().lower() if email and email_verified else None
        with self.db.transaction() as db:
            db.execute("INSERT INTO users(id, issuer, subject, email, email_verified, seen_at) VALUES (?,?,?,?,?,?) "
                       "ON CONFLICT(id) DO UPDATE SET email=excluded.email, email_verified=excluded.email_verified, "
                       "seen_at=excluded.seen_at",
                       (user, issuer, subject, (email or "").strip().lower() or None, int(bool(address)), time.time()))
            if address:
                for (name,) in db.execute("SELECT collection FROM collection_invites WHERE email=? AND role='owner'",
                                          (address,)).fetchall():
                    if db.execute("SELECT 1 FROM collection_access WHERE collection=? AND role='owner'",
                                  (name,)).fetchone() is None:
                        db.execute("INSERT OR REPLACE INTO collection_access(collection, user, role) "
                                   "VALUES (?,?, 'owner')", (name, user))
                    db.execute("DELETE FROM collection_invites WHERE collection=? AND email=?", (name, address))
        return user

    def verified_email(self, user: str) -> str | None:
        """The user's e-mail when its provider verified it, else None."""
        row = self.db.connect().execute("SELECT email FROM users WHERE id=? AND email_verified=1", (user,)).fetchone()
        return str(row[0]) if row and row[0] else None

    def label(self, user: str) -> str:
        """How a user is shown: their e-mail (verified or not, marked), else their id."""
        row = self.db.connect().execute("SELECT email, email_verified FROM users WHERE id=?", (user,)).fetchone()
        if row is None or not row[0]:
            return user
        return str(row[0]) if row[1] else f"{row[0]} (unverified)"

    # -- owners and shares --------------------------------------------------------------------
    def set_owner(self, collection: str, user: str) -> None:
        with self.db.transaction() as db:
            db.execute("DELETE FROM collection_access WHERE collection=? AND role='owner'", (collection,))
            db.execute("INSERT OR REPLACE INTO collection_access(collection, user, role) VALUES (?,?, 'owner')",
                       (collection, user))

    def invite(self, collection: str, email: str) -> None:
        with self.db.transaction() as db:
            db.execute("INSERT OR IGNORE INTO collection_invites(collection, email, role, invited_at) "
                       "VALUES (?,?, 'shared', ?)", (collection, email.strip().lower(), time.time()))

    def invitations(self, email: str) -> list[Invitation]:
        """Shares waiting for the user with this (verified) e-mail to accept them."""
        return [Invitation(str(c), str(e), str(r)) for c, e, r in self.db.connect().execute(
            "SELECT collection, email, role FROM collection_invites WHERE email=? AND role='shared' "
            "ORDER BY invited_at, collection", (email.strip().lower(),))]

    def accept(self, collection: str, email: str, user: str) -> bool:
        """Turn the invitation of ``email`` into a share for ``user``; False when there was none."""
        with self.db.transaction() as db:
            gone = db.execute("DELETE FROM collection_invites WHERE collection=? AND email=? AND role='shared'",
                              (collection, email.strip().lower())).rowcount
            if gone:
                db.execute("INSERT OR IGNORE INTO collection_access(collection, user, role) VALUES (?,?, 'shared')",
                           (collection, user))
        return bool(gone)

    def decline(self, collection: str, email: str) -> None:
        with self.db.transaction() as db:
            db.execute("DELETE FROM collection_invites WHERE collection=? AND email=? AND role='shared'",
                       (collection, email.strip().lower()))

    def share(self, collection: str, user: str) -> None:
        """Let a user id use the collection at once (an administrator's act; the app invites)."""
        with self.db.transaction() as db:
            db.execute("INSERT OR IGNORE INTO collection_access(collection, user, role) VALUES (?,?, 'shared')",
                       (collection, user))

    def unshare(self, collection: str, who: str) -> None:
        """Take back a share or an invitation: ``who`` is a user id or an e-mail (every user whose
        verified e-mail it is)."""
        with self.db.transaction() as db:
            db.execute("DELETE FROM collection_invites WHERE collection=? AND email=? AND role='shared'",
                       (collection, who.strip().lower()))
            db.execute("DELETE FROM collection_access WHERE collection=? AND role='shared' AND (user=? OR user IN "
                       "(SELECT id FROM users WHERE email=? AND email_verified=1))",
                       (collection, who, who.strip().lower()))

    def role(self, collection: str, user: str) -> str | None:
        row = self.db.connect().execute("SELECT role FROM collection_access WHERE collection=? AND user=?",
                                        (collection, user)).fetchone()
        return str(row[0]) if row else None

    def visible(self, user: str) -> set[str]:
        """Collections the user owns or accepted."""
        return {str(r[0]) for r in self.db.connect().execute(
            "SELECT collection FROM collection_access WHERE user=?", (user,))}

    def members(self, collection: str) -> tuple[str | None, list[str]]:
        """(owner, users it is shared with, then e-mails invited, marked), as shown to people."""
        conn = self.db.connect()
        rows = conn.execute("SELECT user, role FROM collection_access WHERE collection=? ORDER BY user",
                            (collection,)).fetchall()
        owner = next((self.label(str(u)) for u, r in rows if r == "owner"), None)
        shared = [self.label(str(u)) for u, r in rows if r == "shared"]
        invited = [f"{e} (invited)" for (e,) in conn.execute(
            "SELECT email FROM collection_invites WHERE collection=? AND role='shared' ORDER BY email", (collection,))]
        return owner, shared + invited

    def owner(self, collection: str) -> str | None:
        row = self.db.connect().execute("SELECT user FROM collection_access WHERE collection=? AND role='owner'",
                                        (collection,)).fetchone()
        return str(row[0]) if row else None
