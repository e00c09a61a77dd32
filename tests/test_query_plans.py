"""The hot queries use their indexes: EXPLAIN QUERY PLAN of every statement they run searches the
faces, images and people tables by an index; none scans them (``(? IS NULL OR col=?)`` did)."""

from __future__ import annotations

import re

import pytest
from conftest import PHOTOS, index_paths

from facelib import FaceStatus, Settings, Workspace
from facelib.people.store import PeopleStore

BIG = ("faces", "images", "face_person", "people", "decisions")


def statements(db, call):
    """The SELECT statements ``call`` runs (with their values bound), in order."""
    conn = db.connect()
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        call()
    finally:
        conn.set_trace_callback(None)
    return [s for s in seen if s.lstrip().upper().startswith("SELECT")]


def scans(db, sql: str) -> list[str]:
    """The plan lines of ``sql`` that scan one of the big tables (a scan of json_each is fine)."""
    plan = [row[3] for row in db.connect().execute("EXPLAIN QUERY PLAN " + sql)]
    assert plan, sql
    return [
        line
        for line in plan
        if re.match(r"SCAN (\w+)", line)
        and any(re.match(rf"SCAN {t}\b", line) or f" AS {t}" in line for t in BIG)
        or re.match(r"SCAN (f|i|p|fp)\b", line)
    ]


@pytest.fixture(scope="module")
def catalog_and_people(tmp_path_factory):
    """A workspace of its own (grouping people changes what other tests see in the session's
    ``indexed``): the four shipped photos in "fx", grouped into people."""
    ws = Workspace(Settings(data_dir=tmp_path_factory.mktemp("plans") / "data"))
    index_paths(ws, "fx", PHOTOS, workers=1)
    ws.collection("fx").people.update()
    return ws, PeopleStore(ws.db, "fx")


def hot_calls(ws, people):
    """name -> (the call, what the plan of each of its statements must say: the index and the
    columns it is searched by, so a search by the collection alone, as good as a scan, fails)."""
    cat = ws.catalog
    faces = cat.faces("fx", status=None)
    sha, face_ids = faces[0].image_sha256, [f.face_id for f in faces]
    pid = next(iter(people.person_of().values()))
    by_image = "SEARCH f USING INDEX faces_by_image (collection=? AND image_sha256=?)"
    by_status = "faces_by_collection (collection=? AND status=?)"
    by_id = "USING INDEX sqlite_autoindex_faces_1 (face_id=?)"
    return {
        "one image's faces (the Index page's outcome table)": (lambda: cat.faces("fx", None, image_sha256=sha), [by_image]),
        "indexed faces of a collection": (lambda: cat.faces("fx"), [by_status]),
        "rejected faces of a collection": (lambda: cat.faces("fx", FaceStatus.REJECTED), [by_status]),
        "faces by id": (lambda: cat.faces_by_id(face_ids), [by_id]),
        "thumbnails by id": (lambda: cat.thumb_paths(face_ids), [by_id]),
        "faces of images": (lambda: cat.faces_of_images("fx", [sha]), [by_image]),
        "a sample of faces": (lambda: cat.sample_faces("fx", 2), [by_status, "SEARCH f USING INTEGER PRIMARY KEY"]),
        "one person's row": (
            lambda: people.person_rows(only=pid),
            [("SEARCH p USING INTEGER PRIMARY KEY", "face_person_by_person (person_id=?)")],
        ),
        "one person's faces": (lambda: people.members(only=pid), ["face_person_by_collection (collection=? AND person_id=?)"]),
        "labels of faces": (
            lambda: people.labels(face_ids),
            ["SEARCH fp USING INDEX sqlite_autoindex_face_person_1 (face_id=?)"],
        ),
    }


def test_hot_queries_search_by_their_index(catalog_and_people):
    ws, people = catalog_and_people
    bad = {}
    for name, (call, expected) in hot_calls(ws, people).items():
        sqls = statements(ws.db, call)
        assert len(sqls) == len(expected), (name, sqls)
        for sql, want in zip(sqls, expected, strict=True):
            plan = " | ".join(r[3] for r in ws.db.connect().execute("EXPLAIN QUERY PLAN " + sql))
            if any(w not in plan for w in ((want,) if isinstance(want, str) else want)) or scans(ws.db, sql):
                bad[name] = (sql, plan)
    assert not bad, bad


def test_the_old_pattern_searched_one_image_by_its_collection_alone(catalog_and_people):
    """Why: ``(? IS NULL OR col=?)`` hides the column from the planner."""
    ws, _ = catalog_and_people
    old = (
        "SELECT f.face_id FROM faces f WHERE f.collection='fx' AND (NULL IS NULL OR f.status=NULL)"
        " AND ('ab' IS NULL OR f.image_sha256='ab')"
    )
    plan = " | ".join(r[3] for r in ws.db.connect().execute("EXPLAIN QUERY PLAN " + old))
    assert "image_sha256=?" not in plan, plan


def test_id_lists_are_one_parameter_of_any_length(catalog_and_people):
    ws, people = catalog_and_people
    real = [f.face_id for f in ws.catalog.faces("fx")]
    many = real + [f"missing-{i}" for i in range(5000)]  # past SQLite's old 999-variable limit
    assert set(ws.catalog.faces_by_id(many)) == set(real)
    assert set(ws.catalog.thumb_paths(many)) == set(real)
    assert set(people.labels(many)) <= set(real)
    assert ws.catalog.faces_by_id([]) == {} and ws.catalog.faces_of_images("fx", []) == {}


def test_the_old_pattern_is_gone():
    from conftest import ROOT

    for path in ("facelib/store/catalog.py", "facelib/people/store.py"):
        text = (ROOT / path).read_text()
        assert "IS NULL OR" not in text.replace("(b IS NULL OR b IN", ""), path
        assert "range(0, len(" not in text, path
