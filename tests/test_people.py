"""Grouping faces into people: pure functions on constructed graphs, then every catalog action."""

from __future__ import annotations

import random

import pytest
from conftest import fixture_bytes, two_faces_jpeg

from facelib import InvalidParameter
from facelib.people.grouping import Decisions, Edge, choose_person, group_faces, inherit, pair


def clique(ids, sim):
    return [Edge(a, b, sim) for i, a in enumerate(ids) for b in ids[i + 1:]]


TWO_PEOPLE = clique(["a1", "a2", "a3"], 95) + clique(["b1", "b2"], 92) + [Edge("a1", "b1", 55)]
PHOTO = {f: f for f in ["a1", "a2", "a3", "b1", "b2"]}


def test_two_clear_groups():
    assert group_faces(PHOTO, TWO_PEOPLE, PHOTO, 80) == [["a1", "a2", "a3"], ["b1", "b2"]]


def test_threshold_controls_merging():
    cross = [Edge(a, b, 62) for a in ("a1", "a2", "a3") for b in ("b1", "b2")]
    assert group_faces(PHOTO, TWO_PEOPLE + cross, PHOTO, 60) == [["a1", "a2", "a3", "b1", "b2"]]
    assert len(group_faces(PHOTO, TWO_PEOPLE + cross, PHOTO, 80)) == 2
    assert len(group_faces(PHOTO, TWO_PEOPLE, PHOTO, 99)) == 5


def test_two_faces_of_one_photo_are_never_one_person():
    photo = dict(PHOTO, a3="p", b2="p")
    edges = TWO_PEOPLE + [Edge("a3", "b2", 99.0)]
    groups = group_faces(photo, edges, photo, 50)
    assert not any({"a3", "b2"} <= set(g) for g in groups)


def test_cannot_and_must_links_are_honoured():
    d = Decisions(cannot_link=frozenset({pair("a1", "a3")}))
    groups = group_faces(PHOTO, TWO_PEOPLE, PHOTO, 80, d)
    assert not any({"a1", "a3"} <= set(g) for g in groups)
    d = Decisions(must_link=frozenset({pair("a2", "b2")}))
    groups = group_faces(PHOTO, TWO_PEOPLE, PHOTO, 80, d)
    assert any({"a2", "b2"} <= set(g) for g in groups)


def test_not_faces_are_left_out():
    groups = group_faces(PHOTO, TWO_PEOPLE, PHOTO, 80, Decisions(not_faces=frozenset({"b2"})))
    assert groups == [["a1", "a2", "a3"], ["b1"]]


def test_order_independence():
    rng = random.Random(3)
    ids = [f"f{i:02d}" for i in range(30)]
    truth = {f: i % 4 for i, f in enumerate(ids)}
    # As the engine gives it: every pair above the 50% floor, nothing below.
    edges = [Edge(a, b, s) for i, a in enumerate(ids) for b in ids[i + 1:]
             for s in [rng.uniform(78, 99) if truth[a] == truth[b] else rng.uniform(20, 70)] if s >= 50]
    photo = {f: f for f in ids}
    expected = group_faces(ids, edges, photo, 80)
    assert len(expected) == 4
    for _ in range(5):
        shuffled_ids = ids[:]
        rng.shuffle(shuffled_ids)
        shuffled_edges = [Edge(e.b, e.a, e.similarity) if rng.random() < 0.5 else e for e in edges]
        rng.shuffle(shuffled_edges)
        assert group_faces(shuffled_ids, shuffled_edges, photo, 80) == expected


def test_names_are_inherited_by_overlap():
    old = {7: {"a1", "a2", "a3"}, 9: {"b1"}}
    groups = [["a1", "a2"], ["a3", "x"], ["b1", "b2"], ["y"]]
    assert inherit(old, groups) == {0: 7, 1: None, 2: 9, 3: None}


def test_incremental_rule():
    person_of = {"a1": 1, "a2": 1, "a3": 1, "b1": 2}
    size = {1: 3, 2: 1}
    assert choose_person([("a1", 90), ("a2", 85)], person_of, size, set(), 80) == 1
    assert choose_person([("a1", 90)], person_of, size, set(), 80) is None  # 1 of 3 is not enough
    assert choose_person([("b1", 81)], person_of, size, set(), 80) == 2
    assert choose_person([("b1", 81)], person_of, size, {2}, 80) is None  # blocked
    assert choose_person([("a1", 79), ("a2", 79)], person_of, size, set(), 80) is None


# -- the catalog, with the real local engine ------------------------------------------------------
@pytest.fixture
def grouped(workspace):
    from facelib import bytes_source

    workspace.create_collection("fam")
    names = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"]
    workspace.collection("fam").index([bytes_source(n, fixture_bytes(n)) for n in names] +
                                  [bytes_source("pair.jpg", two_faces_jpeg())])
    people = workspace.collection("fam").people
    assert people.update() == 6
    return workspace, people


def labels_of(ws, people):
    """{frozenset of image names: person label}"""
    faces = {f.face_id: f.image_name for f in ws.catalog.faces("fam")}
    return {frozenset(faces[f] for f in p.face_ids): p.label for p in people.listing(include_hidden=True)}


def test_update_groups_each_person_once(grouped):
    ws, people = grouped
    groups = set(labels_of(ws, people))
    assert frozenset({"obama.jpg", "obama2.jpg", "obama3.jpg", "pair.jpg"}) in groups
    assert frozenset({"biden.jpg", "pair.jpg"}) in groups
    assert len(groups) == 2
    regrouped = people.regroup()
    assert {frozenset(p.face_ids) for p in regrouped} == {frozenset(p.face_ids) for p in people.listing()}


def test_name_survives_regroup_and_search_shows_it(grouped):
    ws, people = grouped
    obama = people.listing()[0]
    people.rename(obama.person_id, "Barack")
    people.regroup()
    assert people.listing()[0].name == "Barack" and people.listing()[0].person_id == obama.person_id
    assert set(people.names().values()) >= {"Barack"}


def test_split_merge_move_and_not_a_face_survive_regroup(grouped):
    ws, people = grouped
    obama, biden = people.listing()
    people.rename(obama.person_id, "Barack")
    # Split two faces off Obama.
    gone = list(obama.face_ids[:2])
    new = people.split(gone, name="Not Barack")
    people.regroup()
    split = people.get(new)
    assert set(gone) <= set(split.face_ids) and split.name == "Not Barack"
    assert not set(gone) & set(people.get(obama.person_id).face_ids)
    # Merge them back: remembered too.
    people.merge([obama.person_id, new], into=obama.person_id)
    people.regroup()
    assert set(obama.face_ids) <= set(people.get(obama.person_id).face_ids)
    # Move one Biden face into Obama (the analyst is always right).
    moved = biden.face_ids[0]
    people.move(moved, obama.person_id)
    people.regroup()
    assert moved in people.get(obama.person_id).face_ids
    # "Not a face" drops it from every person.
    people.not_a_face(moved)
    people.regroup()
    assert all(moved not in p.face_ids for p in people.listing(include_hidden=True))


def test_not_this_person_and_hide(grouped):
    ws, people = grouped
    obama = people.listing()[0]
    face = obama.face_ids[-1]
    alone = people.not_this_person(face)
    people.regroup()
    assert face not in people.get(obama.person_id).face_ids
    assert any(p.face_ids == (face,) for p in people.listing())
    people.hide(obama.person_id)
    assert obama.person_id not in {p.person_id for p in people.listing()}
    assert obama.person_id in {p.person_id for p in people.listing(include_hidden=True)}
    assert alone


def test_photos_together_and_merge_suggestions(grouped):
    ws, people = grouped
    obama, biden = people.listing()
    both = people.photos_with([obama.person_id, biden.person_id])
    names = {ws.catalog.image("fam", sha).original_name for sha in both}
    assert names == {"pair.jpg"}
    assert {ws.catalog.image("fam", s).original_name for s in people.photos_with([obama.person_id],
                                                                                   [biden.person_id])} == \
        {"obama.jpg", "obama2.jpg", "obama3.jpg"}
    # Grouping at 99.99% leaves Obama's faces apart: the closest two are suggested first.
    strict = ws.collection("fam").people_at(99.99)
    strict.regroup()
    suggestions = strict.merge_suggestions()
    assert len(suggestions) >= 2 and suggestions[0][2] >= suggestions[1][2] >= 80
    faces = {f.face_id: f.image_name for f in ws.catalog.faces("fam")}
    first = {faces[f] for p in suggestions[0][:2] for f in p.face_ids}
    assert "biden.jpg" not in first or "obama.jpg" not in first
    # A person holding a face of the pair photo is never suggested with one holding its other face.
    for a, b, _ in suggestions:
        assert not ({ws.catalog.face(f).image_sha256 for f in a.face_ids}
                    & {ws.catalog.face(f).image_sha256 for f in b.face_ids})
    # Only pairs at least as alike as asked for (the page asks for Settings.suggest_threshold, 70).
    everyone = strict.merge_suggestions(limit=100, at_least=0)
    cut = sorted(s for _, _, s in everyone)[len(everyone) // 2]
    alike = strict.merge_suggestions(limit=100, at_least=cut)
    assert all(s >= cut for _, _, s in alike) and 0 < len(alike) < len(everyone)


def test_deleting_an_image_cleans_people(grouped):
    ws, people = grouped
    biden = people.listing()[1]
    for sha in {ws.catalog.face(f).image_sha256 for f in biden.face_ids}:
        ws.collection("fam").delete_image(sha)
    assert len(people.listing()) == 1
    assert people.person_of().keys() <= {f.face_id for f in ws.catalog.faces("fam")}


def test_a_doubtful_detection_is_never_a_persons_cover(workspace):
    """A large, sharp non-face (a cookbook cover) grouped with a person must not become the card's
    picture while a real face of theirs is there."""
    from facelib import FaceDetail, FaceStatus, StoredFace, StoredImage
    from facelib.records import BoundingBox

    coll = workspace.create_collection("covers", "local")
    faces = {"real": FaceDetail(BoundingBox(0.1, 0.1, 0.1, 0.1), confidence=97.0, sharpness=40.0, size_px=60),
             "book": FaceDetail(BoundingBox(0.5, 0.5, 0.4, 0.4), confidence=71.0, sharpness=95.0, size_px=400)}
    for i, (fid, detail) in enumerate(faces.items()):
        sha = f"{i:064x}"
        workspace.catalog.record_image(StoredImage("covers", sha, f"{fid}.jpg", None, None, 100, 100, 1, "JPEG",
                                                   float(i), {}),
                                       [StoredFace(fid, "covers", sha, 0, FaceStatus.INDEXED, (), detail, None)])
    store = coll.people.store
    pid = store.new_person("Mom")
    store.assign(["real", "book"], pid)
    assert coll.people.get(pid).cover_id == "real"
    store.unassign(["real"])
    assert coll.people.get(pid).cover_id == "book"  # nothing better: the only face left


def snapshot(people):
    return (people.person_of(), {p.person_id: (p.name, p.hidden) for p in people.listing(include_hidden=True)},
            sorted(map(repr, people.store.decision_rows())))


@pytest.mark.parametrize("correction", ["rename", "hide", "merge", "split", "move", "not_this", "not_face"])
def test_every_correction_can_be_undone(grouped, correction):
    ws, people = grouped
    obama, biden = people.listing()
    people.rename(biden.person_id, "Joe")
    before = snapshot(people)
    label = {
        "rename": lambda: people.rename(obama.person_id, "Barack"),
        "hide": lambda: people.hide(obama.person_id),
        "merge": lambda: people.merge([obama.person_id, biden.person_id]),
        "split": lambda: people.split(list(obama.face_ids[:2])),
        "move": lambda: people.move_faces([obama.face_ids[0]], biden.person_id),
        "not_this": lambda: people.not_these_faces(list(obama.face_ids[:2])),
        "not_face": lambda: people.not_faces([obama.face_ids[0]]),
    }[correction]
    label()
    assert snapshot(people) != before
    assert people.last_correction()
    people.undo()
    assert snapshot(people) == before
    # Only the last correction is kept: the rename of Biden before it is not undone now.
    assert people.last_correction() is None
    with pytest.raises(InvalidParameter):
        people.undo()
    assert people.get(biden.person_id).name == "Joe"


def test_nothing_erased_comes_back_by_undo(grouped):
    ws, people = grouped
    obama, _ = people.listing()
    people.split([obama.face_ids[0]])
    ws.collection("fam").delete_faces([obama.face_ids[0]])
    assert people.last_correction() is None
    conn = ws.db.connect()
    assert conn.execute("SELECT COUNT(*) FROM people_undo").fetchone()[0] == 0


def test_person_numbers_count_within_their_collection(workspace):
    """Issue 24: "Person 142" was the only person of a new collection (ids count across collections)."""
    from conftest import FIXTURES, index_paths

    index_paths(workspace, "first", [FIXTURES], workers=1)
    first = workspace.collection("first").people
    first.update()
    index_paths(workspace, "second", [FIXTURES / "biden.jpg"], workers=1)
    second = workspace.collection("second").people
    second.update()
    assert [p.label for p in second.listing()] == ["Person 1"]
    assert sorted(p.label for p in first.listing()) == ["Person 1", "Person 2"]
    face = second.listing()[0].face_ids[0]
    assert second.names([face]) == {face: "Person 1"}
    # a split makes the next number; its undo gives the person back their number
    obama = first.listing()[0]
    new = first.split([obama.face_ids[0]])
    assert first.get(new).label == "Person 3"
    first.undo()
    assert sorted(p.label for p in first.listing()) == ["Person 1", "Person 2"]
    assert first.listing(name_filter="person 2")[0].label == "Person 2"
