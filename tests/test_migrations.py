"""Schema migrations: a data directory written before migrations existed opens and upgrades in place
with every row kept; each step runs in one transaction; rows that belong to rows cascade."""

from __future__ import annotations

import shutil
import sqlite3
import threading

import pytest
from conftest import FIXTURES

from facelib import Settings, Workspace
from facelib.store.db import Database, Migration, script
from facelib.workspace import migrations

LEGACY = FIXTURES / "legacy-v0" / "catalog.sqlite3"
TABLES = ["collections", "images", "faces", "local_collections", "local_faces", "people", "face_person",
          "decisions", "match_edges", "edges_done", "pending", "paid_calls"]


def rows(path, table):
    """Every row of a table as a sorted list of tuples (the columns the old schema had)."""
    conn = sqlite3.connect(path)
    try:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        return cols, sorted(conn.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)
    finally:
        conn.close()


@pytest.fixture
def legacy_dir(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(LEGACY, data / "catalog.sqlite3")
    return data


def test_the_fixture_is_a_pre_migration_directory():
    conn = sqlite3.connect(LEGACY)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE sql LIKE '%REFERENCES%'").fetchone()[0] == 0
    conn.close()


def test_an_old_directory_upgrades_in_place_with_every_row_kept(legacy_dir):
    db_path = legacy_dir / "catalog.sqlite3"
    before = {t: rows(db_path, t) for t in TABLES}
    assert all(before[t][1] for t in TABLES), "the fixture holds rows in every table"
    ws = Workspace(Settings(data_dir=legacy_dir))
    assert ws.db.version == max(m.version for m in migrations())
    for table in TABLES:
        cols, old = before[table]
        conn = sqlite3.connect(db_path)
        new = sorted(conn.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)
        conn.close()
        assert new == old, table
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    children = {t: {r[2] for r in conn.execute(f"PRAGMA foreign_key_list({t})")}
                for t in ("images", "faces", "face_person", "decisions", "match_edges", "edges_done", "local_faces")}
    conn.close()
    assert children["faces"] == {"images"} and children["images"] == {"collections"}
    assert children["face_person"] == {"faces", "people", "collections"}
    assert children["local_faces"] == {"local_collections"}
    # A second open has nothing to do.
    assert Workspace(Settings(data_dir=legacy_dir)).db.migrate() == []


def test_the_upgraded_directory_works(legacy_dir, monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)  # the Rekognition collection's client is built, never called
    ws = Workspace(Settings(data_dir=legacy_dir))
    fam = ws.collection("fam")
    assert fam.counts() == {"images": 5, "faces": 6, "rejected": 0}
    assert fam.model == "dlib", "a collection made before the second model stays dlib's"
    people = fam.people
    named = [p for p in people.listing(include_hidden=True) if p.name == "Barack"]
    assert len(named) == 1
    face = fam.faces()[0]
    assert {r.face_id for r in fam.search_face(face.face_id).rows} <= {f.face_id for f in fam.faces()}
    decisions = people.store.decisions()
    assert decisions.must_link or decisions.cannot_link
    regrouped = people.regroup()
    assert any(p.name == "Barack" for p in regrouped), "names survive a regroup after the upgrade"
    assert ws.costs().calls == 3 and ws.costs().cache_hits == 1
    team = ws.collection("team")
    assert team.paid and team.counts()["faces"] == 1


def test_deleting_rows_cascades_to_what_belongs_to_them(legacy_dir):
    ws = Workspace(Settings(data_dir=legacy_dir))
    fam = ws.collection("fam")
    ws.catalog.remove_collection("fam")  # the catalog alone: the people store is never asked
    conn = sqlite3.connect(legacy_dir / "catalog.sqlite3")
    for table in ("images", "faces", "people", "face_person", "decisions", "match_edges", "edges_done", "pending"):
        assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE collection='fam'").fetchone()[0] == 0, table
    assert conn.execute("SELECT COUNT(*) FROM faces WHERE collection='team'").fetchone()[0] == 1
    conn.close()
    assert fam.counts()["faces"] == 0


def test_concurrent_openers_upgrade_once(legacy_dir):
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            Workspace(Settings(data_dir=legacy_dir))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Workspace(Settings(data_dir=legacy_dir)).collection("fam").counts()["faces"] == 6


def test_a_failing_step_changes_nothing(tmp_path):
    path = tmp_path / "c.sqlite3"
    first = Migration(1, "one table", script("CREATE TABLE a(x INTEGER PRIMARY KEY)"))
    Database(path, [first]).close()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE b(y)")
        conn.execute("INSERT INTO a(x) VALUES (1)")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        Database(path, [first, Migration(2, "broken", broken)])
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name='b'").fetchone() is None
    assert conn.execute("SELECT COUNT(*) FROM a").fetchone()[0] == 0
    conn.close()


def test_a_step_that_breaks_a_foreign_key_is_refused(tmp_path):
    from facelib.store.db import MigrationError

    steps = [Migration(1, "parent and child", script(
        "CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE c(p INTEGER REFERENCES p(id))")),
             Migration(2, "orphan", script("INSERT INTO c(p) VALUES (42)"))]
    with pytest.raises(MigrationError):
        Database(tmp_path / "c.sqlite3", steps)
    assert Database(tmp_path / "c.sqlite3", steps[:1]).version == 1


def test_versions_are_unique_and_every_owner_declares_its_tables():
    versions = [m.version for m in migrations()]
    assert len(versions) == len(set(versions)) and versions == sorted(versions)
    names = " ".join(m.name for m in migrations())
    for owner in ("catalog", "people", "local engine", "ledger"):
        assert owner in names


def test_a_step_numbered_below_one_already_applied_still_runs(tmp_path):
    """Two owners' steps landing together (say 61 and 110): a file that got 110 first still gets 61."""
    from facelib.store.db import Database, Migration, script
    from facelib.workspace import migrations

    every = migrations()
    late = next(m for m in every if m.version == 61)
    first = Database(tmp_path / "c.sqlite3", [m for m in every if m is not late])
    assert first.version >= 110 and "appearances" not in {
        r[0] for r in first.connect().execute("SELECT name FROM sqlite_master WHERE type='table'")}
    first.close()
    again = Database(tmp_path / "c.sqlite3", every)
    assert "appearances" in {r[0] for r in again.connect().execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert again.migrate() == []  # nothing runs twice
    extra = Migration(5000, "a later step", script("CREATE TABLE later(x)"))
    third = Database(tmp_path / "c.sqlite3", [*every, extra])  # runs it when opened
    assert third.connect().execute("SELECT COUNT(*) FROM sqlite_master WHERE name='later'").fetchone()[0] == 1


def test_the_legacy_v11_directory_gets_every_later_step(tmp_path):
    import shutil

    from facelib import Settings, Workspace

    data = tmp_path / "data"
    shutil.copytree(FIXTURES.parent / "data-dirs" / "legacy-v11", data)
    ws = Workspace(Settings(data_dir=data))
    tables = {r[0] for r in ws.db.connect().execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"jobs", "appearances", "schema_steps"} <= tables
    steps = {r[0] for r in ws.db.connect().execute("SELECT version FROM schema_steps")}
    assert {m.version for m in __import__("facelib.workspace", fromlist=["migrations"]).migrations()} <= steps
