"""AppTest for the pages of issues 26 and 27: faces in video on Search, Person and Photos; search by
person (People, Person, the Search page's picker, another collection); watchlists and their alerts
(People, Home, the Index report); the Review page; the false-match note beside the threshold."""

from __future__ import annotations

import shutil

import pytest
from conftest import FIXTURES, fixture_bytes
from streamlit.testing.v1 import AppTest
from test_app import APP, after_jobs, ok, table_of, uploader
from videos import SCENES, make_video


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    """A data directory made once: "clips" holds the four shipped photos and scenes.mp4 (Obama 1-4 s,
    a cut, Biden 4-7 s), grouped; "other" holds obama2.jpg only, grouped."""
    from conftest import index_paths

    from facelib import Settings, Workspace

    root = tmp_path_factory.mktemp("seed")
    clip = make_video(root / "scenes.mp4", SCENES)
    ws = Workspace(Settings(data_dir=root / "data"))
    index_paths(ws, "clips", [FIXTURES, clip], workers=1)
    ws.collection("clips").people.update()
    index_paths(ws, "other", [FIXTURES / "obama2.jpg"], workers=1)
    ws.collection("other").people.update()
    return root / "data"


@pytest.fixture
def data(seed, tmp_path, monkeypatch):
    """A copy of the seeded data directory for one test."""
    target = tmp_path / "data"
    shutil.copytree(seed, target)
    monkeypatch.setenv("FACESEARCH_DATA_DIR", str(target))
    return target


def ws():
    from facelib import Settings, Workspace

    return Workspace(Settings())


def opened(page: str, collection: str = "clips", **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["collection"] = collection
    for k, v in params.items():
        at.query_params[k] = v
    ok(at.run())
    if page != "app.py":
        ok(at.switch_page(page).run())
    return at


def videos_of(at):
    return [e for e in at.get("video")]


def person_with(coll, name: str):
    """The person holding the face of the photo ``name``."""
    face = next(f for f in coll.faces() if f.image_name.endswith("/" + name))
    return coll.people.get(coll.people.person_of()[face.face_id])


def plain(text: str) -> str:
    return text.replace("\\", "").replace("\u2060", "")


# -- issue 26: faces in video --------------------------------------------------------------------------
def test_a_video_row_shows_its_name_time_range_thumbnail_and_plays_from_its_start(data):
    at = opened("pages/2_Search.py")
    at.file_uploader(key="search_upload").set_value([("obama3.jpg", fixture_bytes("obama3.jpg"), "image/jpeg")]).run()
    ok(at)
    table = table_of(at, "results_table").value
    row = table.index[table["image"] == "scenes.mp4"]
    assert len(row) == 1, table[["image", "similarity"]]
    i = int(row[0])
    when = table["when"].iloc[i]
    start, end = (sum(int(x) * 60 ** k for k, x in enumerate(reversed(t.split(":")))) for t in when.split("–"))
    assert 0 <= start <= 2 and 3 <= end <= 5, when  # Obama is on screen 1-4 s
    assert str(table["face"].iloc[i]).startswith("data:image/jpeg")
    assert set(table["when"][table["image"] != "scenes.mp4"]) == {""}  # photos have no time
    at.session_state[table_of(at, "results_table").key] = {"selection": {"rows": [i], "columns": [], "cells": []}}
    ok(at.run())
    assert any(when in plain(h.value) for h in at.subheader)
    players = videos_of(at)
    assert len(players) == 1
    tc = ws().collection("clips").appearances([table["face_id"].iloc[i]])[table["face_id"].iloc[i]]
    assert players[0].proto.start_time == int(tc.start_s)
    assert any("Plays from" in plain(c.value) for c in at.caption)


def test_person_page_lists_appearances_with_times_and_a_player(data):
    coll = ws().collection("clips")
    biden = person_with(coll, "biden.jpg")
    at = opened("pages/6_Person.py", person=str(biden.person_id))
    assert any(h.value.startswith("In videos: 1 appearance") for h in at.subheader), [h.value for h in at.subheader]
    frames = [d.value for d in at.dataframe if "when" in d.value.columns]
    assert len(frames) == 1 and list(frames[0]["video"]) == ["scenes.mp4"]
    start, _ = frames[0]["seconds"].iloc[0].split("-")
    assert 3.0 <= float(start) <= 5.0  # Biden from 4 s
    assert len(videos_of(at)) == 1 and videos_of(at)[0].proto.start_time == int(float(start))


def test_photos_page_lists_the_video_by_its_frame_with_times(data):
    at = opened("pages/9_Photos.py")
    captions = [plain(c.value) for c in at.caption]
    video = [c for c in captions if c.startswith("scenes.mp4")]
    assert len(video) == 1 and "video" in video[0] and "2 appearance(s)" in video[0], captions
    assert "0:0" in video[0]  # each appearance's time range
    assert any(c.startswith("obama.jpg") and "video" not in c for c in captions)


# -- issue 27: search by person ------------------------------------------------------------------------
def test_search_this_person_from_people_and_person_pages(data):
    coll = ws().collection("clips")
    obama = person_with(coll, "obama.jpg")
    at = opened("pages/2_Search.py")
    at.selectbox(key="search_person_pick_clips").set_value(obama.person_id).run()
    at.button(key="search_person_go").click().run()
    ok(at)
    assert any("every face like them here is theirs already" in i.value for i in at.info)  # all grouped already
    # One of Obama's faces split off: searching Obama finds it, with the person it belongs to now.
    split = next(f for f in obama.face_ids if coll.face(f).image_name.endswith("/obama3.jpg"))
    piece = coll.people.split([split])
    at.button(key="search_person_go").click().run()  # the same person asked again: a new search, not the kept one
    ok(at)
    assert split in set(table_of(at, "results_table").value["face_id"])
    at = opened("pages/5_People.py")
    at.button(key=f"search_person_{obama.person_id}").click().run()
    ok(at)
    query = at.session_state["search_query"]
    assert (query["kind"], query["collection"], query["person_id"]) == ("person", "clips", obama.person_id)
    ok(at.switch_page("pages/2_Search.py").run())
    table = table_of(at, "results_table").value
    assert "person" in table.columns and "theirs" in table.columns
    assert "biden.jpg" not in set(table["image"])
    found = table[table["face_id"] == split]
    assert len(found) == 1 and found["person"].iloc[0] == coll.people.get(piece).label and not found["theirs"].iloc[0]
    assert any("searched together" in m.value for m in at.markdown)
    # the note beside the threshold says what it means for this collection's size
    assert any("false match" in c.value and "expected among" in c.value for c in at.caption)
    # From the Person page, the same query.
    at2 = opened("pages/6_Person.py", person=str(obama.person_id))
    at2.button(key="search_this_person").click().run()
    ok(at2)
    assert at2.session_state["search_query"]["person_id"] == obama.person_id


def test_search_page_person_picker_from_another_collection(data):
    other = ws().collection("other")
    someone = other.people.listing()[0]
    at = opened("pages/2_Search.py")
    at.selectbox(key="search_person_collection").set_value("other").run()
    ok(at)
    at.selectbox(key="search_person_pick_other").set_value(someone.person_id).run()
    at.button(key="search_person_go").click().run()
    ok(at)
    table = table_of(at, "results_table").value
    assert {"obama.jpg", "obama3.jpg"} <= set(table["image"])
    assert "biden.jpg" not in set(table["image"][table["similarity"] >= 80])
    assert not table["theirs"].any()  # another collection: none of these faces is theirs
    assert any("of other" in plain(m.value) for m in at.markdown)


# -- issue 27: watchlists and alerts ---------------------------------------------------------------------
def test_a_watchlist_made_on_people_alerts_on_the_index_report_and_home(data):
    from test_app import mirrored

    from facelib import Watchlists

    other = ws().collection("other")
    obama_elsewhere = other.people.listing()[0]
    at = opened("pages/5_People.py")
    at.text_input(key="watch_new_name").input("suspects").run()
    at.button(key="watch_create").click().run()
    ok(at)
    assert any("Watchlist suspects created" in plain(i.value) for i in at.info)
    lst = Watchlists(ws().collection("clips")).get("suspects")
    at.selectbox(key=f"watch_source_{lst.watchlist_id}").set_value("other").run()
    ok(at)
    at.selectbox(key=f"watch_person_{lst.watchlist_id}_other").set_value(obama_elsewhere.person_id).run()
    at.button(key=f"watch_add_{lst.watchlist_id}").click().run()
    ok(at)
    watched = Watchlists(ws().collection("clips")).get("suspects").people
    assert [(w.source, w.person_id) for w in watched] == [("other", obama_elsewhere.person_id)]
    assert any("(of other)" in plain(m.value) for m in at.markdown)
    # Nothing alerts yet (faces present when the list was made never do): Home shows no alerts.
    ok(at.switch_page("app.py").run())
    assert not any("Watchlist alerts" in h.value for h in at.subheader)
    # A batch with a new photo of Obama and one of Biden: one alert, on the Index report and on Home.
    ok(at.switch_page("pages/1_Index.py").run())
    uploader(at).set_value([("obama-new.jpg", mirrored("obama3.jpg"), "image/jpeg"),
                            ("biden-new.jpg", mirrored("biden.jpg"), "image/jpeg")]).run()
    at.button(key="index_go").click().run()
    ok(after_jobs(at))
    assert any("1 watchlist alert" in w.value for w in at.warning), [w.value for w in at.warning]
    frames = [d.value for d in at.dataframe if "watchlist" in d.value.columns]
    assert len(frames) == 1 and list(frames[0]["image"]) == ["obama-new.jpg"]
    assert frames[0]["similarity"].iloc[0] >= lst.threshold
    ok(at.switch_page("app.py").run())
    assert any(h.value.endswith("Watchlist alerts (1)") for h in at.subheader)
    # Removing the person and deleting the list, from the People page.
    ok(at.switch_page("pages/5_People.py").run())
    at.button(key=f"watch_remove_{lst.watchlist_id}_{watched[0].watched_id}").click().run()
    ok(at)
    assert Watchlists(ws().collection("clips")).get("suspects").people == ()
    at.button(key=f"watch_delete_{lst.watchlist_id}").click().run()
    ok(at)
    assert Watchlists(ws().collection("clips")).lists() == []


# -- issue 27: the review page -----------------------------------------------------------------------
def split_obama(coll, *names: str):
    """Obama's faces of the photos ``names`` (default obama3.jpg) each a person of their own, with no
    decision between them (as grouping might leave it); returns the last one's face."""
    store = coll.people.store
    obama = person_with(coll, "obama.jpg")
    apart = ""
    for name in names or ("obama3.jpg",):
        apart = next(f for f in obama.face_ids if coll.face(f).image_name.endswith("/" + name))
        store.assign([apart], store.new_person())
    store.drop_empty()
    return apart


def test_review_page_asks_the_split_first_and_same_merges_at_once(data):
    coll = ws().collection("clips")
    apart = split_obama(coll)
    before = len(coll.people.listing(include_hidden=True))
    at = opened("pages/10_Review.py")
    assert any(h.value.startswith("Are ") and "the same person?" in h.value for h in at.subheader), \
        [h.value for h in at.subheader]
    # Keyboard: Streamlit's own button shortcuts (S, N, K), with labels that say what each does.
    shortcuts = {k: at.button(key=k).proto.shortcut.upper() for k in ("review_same", "review_different", "review_skip")}
    assert shortcuts == {"review_same": "S", "review_different": "N", "review_skip": "K"}
    assert images_of(at) >= 4  # two faces and their two photos, side by side
    at.button(key="review_same").click().run()
    ok(at)
    assert any("are the same person (merged)" in plain(s.value) for s in at.success)
    people = ws().collection("clips").people
    assert len(people.listing(include_hidden=True)) == before - 1
    assert people.person_of()[apart] == person_with(ws().collection("clips"), "obama.jpg").person_id
    # The answered question is not asked again; an undo is offered on the page.
    assert at.button(key="undo_correction")


def test_review_page_skip_and_not_the_same_are_remembered(data):
    from facelib import Review

    coll = ws().collection("clips")
    split_obama(coll, "obama2.jpg", "obama3.jpg")  # three pieces of Obama: three merge questions
    first = Review(coll).questions()[0]
    at = opened("pages/10_Review.py")
    at.button(key="review_skip").click().run()
    ok(at)
    assert any("will not be asked again" in s.value for s in at.success)
    assert first.question_id not in {q.question_id for q in Review(ws().collection("clips")).questions(limit=None)}
    second = Review(ws().collection("clips")).questions()
    assert second and second[0].kind == "merge"
    at.button(key="review_different").click().run()
    ok(at)
    assert any("are not the same person" in plain(s.value) for s in at.success)
    after = ws().collection("clips")
    left = {q.question_id for q in Review(after).questions(limit=None)}
    assert second[0].question_id not in left
    after.people.regroup()  # a regroup honours the answer: those two people are not joined
    person_of = after.people.person_of()
    assert person_of[second[0].face_a] != person_of[second[0].face_b]


def images_of(at) -> int:
    def walk(node):
        n = int(type(node).__name__ == "Image")
        return n + sum(walk(c) for c in getattr(node, "children", {}).values())
    return walk(at._tree)
