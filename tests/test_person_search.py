"""Search by person (issue 27): every face of a person searches together; CLI --person / --in;
Rekognition through the match graph (0 paid calls when grouping searched the faces) and crops."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict

import pytest
from conftest import DEV, FIXTURES, ROOT, index_paths, needs_dev

from facelib import InvalidParameter


@pytest.fixture
def people_ws(workspace):
    """Collection "c": the four shipped photos grouped (obama x3, biden); "other": obama3 and biden."""
    index_paths(workspace, "c", [FIXTURES], workers=1)
    index_paths(workspace, "other", [FIXTURES / "obama3.jpg", FIXTURES / "biden.jpg"], workers=1)
    coll = workspace.collection("c")
    coll.people.update()
    workspace.collection("other").people.update()
    people = sorted(coll.people.listing(), key=lambda p: -len(p.face_ids))
    assert [len(p.face_ids) for p in people] == [3, 1]
    coll.people.rename(people[0].person_id, "Barack Obama")
    coll.people.rename(people[1].person_id, "Barack Biden")
    return workspace, coll.people.get(people[0].person_id), coll.people.get(people[1].person_id)


def test_a_person_is_named_by_id_or_an_unambiguous_name(people_ws):
    from facelib.people.person_search import resolve_person

    ws, obama, biden = people_ws
    coll = ws.collection("c")
    assert resolve_person(coll, str(obama.person_id)).person_id == obama.person_id
    assert resolve_person(coll, "barack obama").person_id == obama.person_id
    assert resolve_person(coll, "Biden").person_id == biden.person_id  # a part of one name only
    with pytest.raises(InvalidParameter) as err:
        resolve_person(coll, "Barack")
    assert "2 people" in str(err.value) and str(obama.person_id) in str(err.value) and "Barack Biden" in str(err.value)
    with pytest.raises(InvalidParameter, match="no person"):
        resolve_person(coll, "nobody")


def test_person_search_finds_a_face_not_yet_theirs_and_in_another_collection(people_ws):
    from facelib.people.person_search import search_person

    ws, obama, biden = people_ws
    coll = ws.collection("c")
    stray = obama.face_ids[0]
    coll.people.not_this_person(stray)  # grouping lost one of Obama's faces
    obama = coll.people.get(obama.person_id)
    result = search_person(coll, obama)
    assert result.paid_calls == 0 and set(result.query_faces) == set(obama.face_ids)
    found = {r.face_id: r for r in result.rows}
    assert found[stray].similarity >= 80 and not found[stray].theirs and found[stray].person_id != obama.person_id
    assert all(f not in found for f in obama.face_ids)  # the query faces are not their own results
    assert all(r.similarity < 80 for r in result.rows if r.face_id in biden.face_ids)
    doc = result.to_json(threshold=80)
    assert [m["face_id"] for m in doc["matches"]] == [stray]
    assert set(doc["matches"][0]) >= {"face_id", "image", "box", "similarity", "person"}

    other = ws.collection("other")
    there = search_person(coll, obama, other)
    strong = [r for r in there.rows if r.similarity >= 80]
    assert [r.image_name.rsplit("/", 1)[-1] for r in strong] == ["obama3.jpg"]
    assert strong[0].person is not None and not strong[0].theirs


def cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "facelib", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.slow
def test_cli_search_by_person(people_ws):
    ws, obama, _ = people_ws
    data = str(ws.settings.data_dir)
    ws.db.close()
    doc = json.loads(cli("search", "--person", "Barack Obama", "--collection", "c", "--in", "other",
                         "--data-dir", data, "--json").stdout)
    assert doc["person"]["person_id"] == obama.person_id and doc["collection"] == "other"
    assert [m["image"].rsplit("/", 1)[-1] for m in doc["matches"]] == ["obama3.jpg"]
    assert doc["matches"][0]["person"]["person_id"] is not None and doc["matches"][0]["similarity"] >= 80
    refused = cli("search", "--person", "barack", "--collection", "c", "--data-dir", data, "--json", check=False)
    assert refused.returncode == 2 and "Barack Biden" in refused.stderr and "Barack Obama" in refused.stderr


@pytest.mark.slow
@needs_dev
def test_dev_set_three_confirmed_photos_find_more_than_the_best_single_photo(tmp_path):
    """On the dev photos: for each person with 4+ distinct pictures, 3 of their faces as the person:
    the person's search finds at least as many of their other faces as the best of the 3 photos
    searched alone, and no stranger at the default threshold."""
    from bench.devset import load_labels, same_picture
    from facelib import Settings, Workspace
    from facelib.people.person_search import search_person
    from facelib.people.service import Person

    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    coll = index_paths(ws, "dev", [DEV / "images"], workers=2) and ws.collection("dev")
    labels = {i.file: i.identities for i in load_labels()}
    per_photo = defaultdict(list)
    for f in coll.faces():
        per_photo[f.image_name.rsplit("/", 1)[-1]].append(f.face_id)
    who = {ids[0]: (p, labels[p][0]) for p, ids in per_photo.items() if len(ids) == 1 and len(labels[p]) == 1}
    briefs = ws.catalog.face_briefs("dev")
    person_total = single_total = strangers = 0
    for name in sorted({w for _, w in who.values()}):
        mine = sorted((f for f, (_, w) in who.items() if w == name), key=lambda f: (-briefs[f][1], f))
        distinct = []
        for f in mine:
            if not any(same_picture(who[f][0], who[g][0]) for g in distinct):
                distinct.append(f)
        if len(distinct) < 4:
            continue
        chosen = distinct[:3]
        pictures = [who[c][0] for c in chosen]
        others = {f for f, (p, w) in who.items() if w == name and not any(same_picture(p, q) for q in pictures)}
        person = Person(-1, "dev", name, False, tuple(chosen), 3, chosen[0])
        rows = [r for r in search_person(coll, person).rows if r.similarity >= 80]
        person_total += len(others & {r.face_id for r in rows})
        strangers += sum(1 for r in rows if r.face_id in who and who[r.face_id][1] != name)
        single_total += max(len(others & {r.face_id for r in coll.search_face(c).rows if r.similarity >= 80})
                            for c in chosen)
    assert person_total >= single_total > 0 and strangers == 0, (person_total, single_total, strangers)


def test_calibration_says_how_many_false_matches_a_threshold_means(indexed):
    from facelib.people.calibration import expected_false_matches, false_match_note

    at = {t: expected_false_matches("sface", t, 10_000) for t in (50, 70, 80, 90)}
    assert at[50] > at[70] > at[80] > at[90] > 0 and at[80] < 1.0 < at[50]
    assert expected_false_matches("sface", 80, 10_000, queries=3) == pytest.approx(3 * at[80])
    assert expected_false_matches("dlib", 80, 1000) > expected_false_matches("sface", 80, 1000)
    assert expected_false_matches(None, 80, 1000) is None  # Rekognition publishes no curve
    note = false_match_note(indexed.collection("fx"), 80)
    assert note.startswith("about ") and note.endswith("expected among 4 faces")
