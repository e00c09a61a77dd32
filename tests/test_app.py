"""AppTest for every page: real engine, real catalog, a temporary data directory per test."""

from __future__ import annotations

import io
import zipfile

import pytest
from conftest import ROOT, fixture_bytes
from streamlit.testing.v1 import AppTest

APP = str(ROOT / "app.py")


def table_of(at, prefix):
    """The dataframe whose key starts with ``prefix`` (tables are keyed by the rows they show)."""
    found = [d for d in at.dataframe if (d.key or "").startswith(prefix)]
    assert len(found) == 1, [d.key for d in at.dataframe]
    return found[0]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESEARCH_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def fresh() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120).run()


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frame_with(at, column: str):
    """The first table showing ``column`` (AppTest exposes keys only of selectable tables)."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with a {column!r} column")


def uploader(at):
    """The Index page's uploader (keyed by collection and by submission, so either clears it)."""
    found = [u for u in at.file_uploader if (u.key or "").startswith("index_upload")]
    assert len(found) == 1, [u.key for u in at.file_uploader]
    return found[0]


def after_jobs(at, timeout: float = 180.0) -> AppTest:
    """Wait until the app's runner has finished every job, then rerun the page (as its fragment would)."""
    import time

    from facelib import Settings, Workspace

    ws = Workspace(Settings())
    deadline = time.monotonic() + timeout
    while ws.jobs.active() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not ws.jobs.active(), [j.to_json() for j in ws.jobs.active()]
    return at.run()


def ws_people(at):
    """The people of the collection the app shows (read through facelib)."""
    from facelib import Settings, Workspace

    return Workspace(Settings()).collection(at.session_state["_collection"]).people.listing(include_hidden=True)


def person_picker(at):
    """The Person page's picker (keyed by the person shown and the labels: a new widget after each change)."""
    found = [s for s in at.selectbox if (s.key or "").startswith("person_pick_")]
    assert len(found) == 1, [s.key for s in at.selectbox]
    return found[0]


def name_box(at):
    found = [t for t in at.text_input if (t.key or "").startswith("name_")]
    assert len(found) == 1, [t.key for t in at.text_input]
    return found[0]


def ok(at) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def with_samples(data_dir):
    at = fresh()
    at.button(key="index_samples").click().run()
    return ok(at)


def test_home_for_a_new_user_indexes_the_samples(data_dir):
    at = ok(fresh())
    assert any("No collection yet" in i.value for i in at.sidebar.info)
    # issue 24: "Start here" leads; no paid-call figures for someone who has spent nothing
    assert at.subheader[0].value == "Start here" and "Paid calls" not in metrics(at)
    at.button(key="index_samples").click().run()
    ok(at)
    m = metrics(at)
    assert (m["Images"], m["Faces"], m["Faces indexed"], m["Errors"]) == ("4", "4", "4", "0")
    assert "Start here" not in [h.value for h in at.subheader]  # the samples are in: it has done its job
    table = frame_with(at, "outcome")
    assert not any("/" in name for name in table["image"])  # file names, not server paths
    assert list(table["outcome"]) == ["new face"] * 4
    assert all(str(u).startswith("data:image/jpeg;base64,") for u in table["face"])
    assert at.sidebar.selectbox(key="collection").value == "samples"


def test_index_page_upload_with_a_bad_file_and_a_zip(with_samples):
    at = with_samples
    at.switch_page("pages/1_Index.py").run()
    ok(at)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("trip/obama2.jpg", mirrored("obama2.jpg"))  # new bytes: not indexed yet
        zf.writestr("trip/notes.txt", "not a photo")
        zf.writestr("../evil.jpg", fixture_bytes("biden.jpg"))
    uploader(at).set_value([
        ("again.jpg", fixture_bytes("obama.jpg"), "image/jpeg"),
        ("broken.jpg", b"\xff\xd8\xff\xe0 this is not really a jpeg", "image/jpeg"),
        ("album.zip", buf.getvalue(), "application/zip"),
    ]).run()
    ok(at)
    at.button(key="index_go").click().run()
    ok(after_jobs(at))
    m = metrics(at)
    assert (m["Photos"], m["Faces indexed"], m["Already indexed"], m["Errors"]) == ("5", "1", "1", "3")
    errors = " ".join(e.value for e in at.error).replace("\\", "").replace("\u2060", "")  # as shown (markdown escapes removed)
    assert "broken.jpg" in errors and "notes.txt**: cannot be read: not an image file" in errors and "unsafe path" in errors
    table = frame_with(at, "outcome")
    # issue 24: new faces first; "already indexed" hidden until asked for; words, never "None"
    assert list(table["outcome"]) == ["new face", "error", "error", "error"], list(table["outcome"])
    pills = next(p for p in at.get("button_group") if (p.key or "").startswith("outcome_filter_"))
    ok(pills.set_value(["new face", "error", "already indexed"]).run())
    table = frame_with(at, "outcome")
    assert list(table["outcome"]) == ["new face", "error", "error", "error", "already indexed"]
    assert table["face"].iloc[-1].startswith("data:image/jpeg")  # the face it already had
    assert not any("None" in str(v) for v in table.to_numpy().ravel())
    # No file name repeated inside its own message, and no literal "None" in a text cell.
    for _, row in table.iterrows():
        assert not str(row["details"]).startswith(row["image"].rsplit("/", 1)[-1] + ":"), row.to_dict()
        assert "None" not in {str(row["details"]), str(row["face_id"])}, row.to_dict()
    assert "album.zip/trip/obama2.jpg" in set(table["image"])


def mirrored(name: str) -> bytes:
    from PIL import Image, ImageOps

    buf = io.BytesIO()
    ImageOps.mirror(Image.open(io.BytesIO(fixture_bytes(name)))).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def images_on(at) -> int:
    """How many st.image elements the page shows."""
    def walk(node):
        n = int(type(node).__name__ == "Image")
        return n + sum(walk(c) for c in getattr(node, "children", {}).values())
    return walk(at._tree)


def upload_query(at, name="obama3.jpg"):
    at.switch_page("pages/2_Search.py").run()
    at.file_uploader(key="search_upload").set_value([(name, fixture_bytes(name), "image/jpeg")]).run()
    return ok(at)


def test_search_by_upload_then_sliders_filter_without_engine_calls(with_samples):
    at = upload_query(with_samples)
    table = table_of(at, "results_table").value
    assert list(table["image"][:3].sort_values()) == ["obama.jpg", "obama2.jpg", "obama3.jpg"]
    assert table["similarity"].iloc[0] >= table["similarity"].iloc[-1] >= 80
    assert all(str(u).startswith("data:image/jpeg") for u in table["face"])
    calls = metrics(at)["Engine searches"]
    assert len(table) == 3 and metrics(at)["Matches"] == "3"
    at.slider(key="search_threshold").set_value(99).run()
    ok(at)
    fewer = table_of(at, "results_table").value
    assert 1 <= len(fewer) < len(table) and metrics(at)["Engine searches"] == calls
    at.slider(key="search_threshold").set_value(80).run()
    assert len(table_of(at, "results_table").value) == 3 and metrics(at)["Engine searches"] == calls
    at.slider(key="search_min_size").set_value(400).run()
    assert metrics(at)["Matches"] == "0" and metrics(at)["Engine searches"] == calls


def test_threshold_survives_a_visit_to_another_page(with_samples):
    at = upload_query(with_samples)
    at.slider(key="search_threshold").set_value(93).run()
    at.slider(key="search_max_yaw").set_value(30).run()
    at.switch_page("pages/3_Faces.py").run()
    at.switch_page("pages/2_Search.py").run()
    ok(at)
    assert at.slider(key="search_threshold").value == 93 and at.slider(key="search_max_yaw").value == 30


def test_search_by_camera_snapshot_of_two_people(with_samples):
    from conftest import two_faces_jpeg

    at = with_samples
    at.switch_page("pages/2_Search.py").run()
    at.camera_input(key="search_camera").set_value(("snap.jpg", two_faces_jpeg(), "image/jpeg")).run()
    ok(at)
    picks = [b for b in at.button if (b.key or "").startswith("face_pick_")]
    assert [b.label for b in picks] == ["Face 1", "Face 2"]  # left to right
    first = set(table_of(at, "results_table").value["image"])
    other = next(b for b in picks if b.proto.type != "primary")  # the face not searched yet
    other.click().run()
    ok(at)
    second = set(table_of(at, "results_table").value["image"])
    assert {first == {"obama.jpg", "obama2.jpg", "obama3.jpg"}, second == {"obama.jpg", "obama2.jpg", "obama3.jpg"}} \
        == {True, False}
    assert "biden.jpg" in first | second


def test_selecting_a_row_offers_search_this_face(with_samples):
    at = upload_query(with_samples)
    table = table_of(at, "results_table").value
    at.session_state[table_of(at, "results_table").key] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    ok(at)
    assert any(table["image"].iloc[1] in h.value.replace("\\", "").replace("\u2060", "") for h in at.subheader)
    at.button(key="search_selected").click().run()
    ok(at)
    assert table["face_id"].iloc[1] in at.session_state["search_query"]["face_id"]
    after = table_of(at, "results_table").value
    assert table["face_id"].iloc[1] not in set(after["face_id"])  # a face is not its own match


def test_faces_page_grid_and_click_to_search(with_samples):
    at = with_samples
    at.switch_page("pages/3_Faces.py").run()
    ok(at)
    buttons = [b for b in at.button if b.key and b.key.startswith("face_")]
    assert len(buttons) == 4
    assert images_on(at) >= 4
    buttons[0].click().run()
    ok(at)
    assert at.session_state["search_query"]["kind"] == "face"
    assert at.title[0].value == "Search"  # the click opened Search by face
    assert len(table_of(at, "results_table").value) >= 1 or metrics(at)["Matches"] == "0"
    at.switch_page("pages/3_Faces.py").run()
    at.segmented_control(key="faces_view").set_value("Rejected and filtered out").run()
    ok(at)
    assert any("Rejected by the engine (0)" in s.value for s in at.subheader)
    at.slider(key="faces_min_size").set_value(400).run()
    assert any("Hidden by the quality filters (4)" in s.value for s in at.subheader)


def test_collections_page_delete_image_and_collection(with_samples, data_dir):
    at = with_samples
    at.switch_page("pages/4_Collections.py").run()
    ok(at)
    assert list(frame_with(at, "collection")["faces"]) == [4]
    at.button(key="describe").click().run()
    assert any("holds **4** face(s)" in s.value for s in at.success)
    at.button(key="delete_image_go").click().run()
    assert at.session_state["delete_pending"] and any("cannot be undone" in w.value for w in at.warning)
    at.button(key="delete_image_confirm").click().run()
    ok(at)
    assert any("and its 1 face(s)" in s.value for s in at.success)
    assert list(frame_with(at, "collection")["faces"]) == [3]
    assert at.button(key="delete_collection_go").disabled
    at.text_input(key="delete_confirm").input("samples").run()
    at.button(key="delete_collection_go").click().run()
    ok(after_jobs(at))  # erasing a collection is a job (it waits for a batch in flight into it)
    assert not (data_dir / "thumbs").exists() or not list((data_dir / "thumbs").rglob("*.jpg"))


def test_every_page_without_a_collection_says_what_to_do(data_dir):
    at = fresh()
    for page in ("pages/1_Index.py", "pages/2_Search.py", "pages/3_Faces.py", "pages/4_Collections.py"):
        at.switch_page(page).run()
        ok(at)
        assert any("Create a collection" in w.value for w in at.warning), page


def test_rejected_faces_can_be_indexed_anyway(data_dir):
    from conftest import two_faces_jpeg

    from facelib import bytes_source
    from facelib.settings import Settings
    from facelib.workspace import Workspace

    ws = Workspace(Settings(data_dir=data_dir))
    ws.create_collection("pairs", "local")
    ws.collection("pairs").index([bytes_source("pair.jpg", two_faces_jpeg())], max_faces=1)
    ws.db.close()
    at = fresh()
    at.switch_page("pages/3_Faces.py").run()
    at.segmented_control(key="faces_view").set_value("Rejected and filtered out").run()
    ok(at)
    assert any("Rejected by the engine (1)" in s.value for s in at.subheader)
    assert at.dataframe(key="rejected_table").value["reasons"].iloc[0] == "EXCEEDS_MAX_FACES"
    at.session_state["rejected_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    at.button(key="index_anyway").click().run()
    ok(at)
    assert any("Rejected by the engine (0)" in s.value for s in at.subheader)
    assert at.sidebar.caption[0].value.endswith("2 faces")


def test_people_and_person_pages(with_samples):
    at = with_samples
    assert metrics(at)["People"] == "2"
    at.switch_page("pages/5_People.py").run()
    ok(at)
    assert any("2 people · 4 faces" in c.value for c in at.caption)
    # Open the largest person, name her, and see the name in search results.
    open_buttons = [b for b in at.button if b.key and b.key.startswith("open_")]
    open_buttons[0].click().run()
    ok(at)
    assert at.title[0].value == "Person"
    # AppTest keeps running the page it was last switched to: follow st.switch_page explicitly.
    at.switch_page("pages/6_Person.py").run()
    pid = at.session_state["person"]
    name_box(at).input("Barack").run()
    at.button(key="rename").click().run()
    ok(at)
    assert any("Renamed to Barack" in s.value for s in at.success)
    faces = table_of(at, "person_faces").value
    assert len(faces) == 3
    # Split one face off, then merge the two back from the People page.
    at.session_state[table_of(at, "person_faces").key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    at.button(key="split").click().run()
    ok(at)
    assert at.session_state["person"] == pid  # the page stays on the person worked on
    split_off = max(p.person_id for p in ws_people(at))
    assert split_off != pid
    at.switch_page("pages/5_People.py").run()
    assert any("3 people" in c.value for c in at.caption)
    # The split is a decision: the two are not suggested for merging any more.
    assert not [b for b in at.button if b.key == f"suggest_{min(pid, split_off)}_{max(pid, split_off)}"]
    at.checkbox(key=f"pick_{pid}_0").check()
    at.checkbox(key=f"pick_{split_off}_0").check().run()
    at.button(key="merge_selected").click().run()
    assert any("into one person?" in w.value for w in at.warning)  # a merge asks first
    at.button(key="merge_confirm").click().run()
    ok(at)
    assert any("2 people" in c.value for c in at.caption)
    assert any("Merged into Barack" in s.value for s in at.success)
    upload_query(at, "obama2.jpg")
    assert "Barack" in set(table_of(at, "results_table").value["person"])
    # Photos together: Barack with Biden (none in the samples), Barack without Biden (three).
    at.switch_page("pages/5_People.py").run()
    assert any("Barack" in o for o in at.multiselect(key="together_all").options)
    at.multiselect(key="together_all").set_value([pid]).run()
    ok(at)
    assert any(c.value == "3 photos" for c in at.caption)


def test_erase_a_person_from_the_person_page(with_samples):
    at = with_samples
    at.switch_page("pages/6_Person.py").run()
    ok(at)
    before = person_picker(at).options
    assert at.button(key="erase_person").disabled
    at.text_input(key="erase_confirm").input("ERASE").run()
    at.button(key="erase_person").click().run()
    ok(at)
    assert any("Erased" in s.value for s in at.success)
    assert len(person_picker(at).options) == len(before) - 1


# -- deep links: ?collection=, ?face=, ?person= open the right thing -------------------------------
def seeded(data_dir):
    """Two local collections; "second" holds the shipped photos, grouped into people."""
    from conftest import FIXTURES, index_paths

    from facelib import Settings, Workspace

    ws = Workspace(Settings(data_dir=data_dir))
    ws.create_collection("first", "local")
    index_paths(ws, "second", [FIXTURES], workers=1)
    ws.collection("second").people.update()
    return ws


def test_deep_link_to_a_collection(data_dir):
    seeded(data_dir)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["collection"] = "second"
    ok(at.run())
    assert at.sidebar.selectbox(key="collection").value == "second"
    assert metrics(at)["Images"] == "4"
    # The choice is kept on other pages, and a link to a collection that does not exist falls back.
    ok(at.switch_page("pages/3_Faces.py").run())
    assert at.sidebar.selectbox(key="collection").value == "second"
    other = AppTest.from_file(APP, default_timeout=120)
    other.query_params["collection"] = "gone"
    ok(other.run())
    assert other.sidebar.selectbox(key="collection").value in {"first", "second"}


def test_deep_link_to_a_face_searches_it(data_dir):
    ws = seeded(data_dir)
    obama = next(f for f in ws.catalog.faces("second") if f.image_name.endswith("/obama.jpg"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["collection"] = "second"
    at.query_params["face"] = obama.face_id
    ok(at.switch_page("pages/2_Search.py").run())
    assert at.session_state["search_query"] == {"kind": "face", "source": "face", "face_id": obama.face_id}
    images = set(table_of(at, "results_table").value["image"])
    assert {"obama2.jpg", "obama3.jpg"} <= images and "biden.jpg" not in images
    # Moving a slider afterwards does not search again.
    calls = metrics(at)["Engine searches"]
    ok(at.slider(key="search_threshold").set_value(95).run())
    assert metrics(at)["Engine searches"] == calls


def test_deep_link_to_a_person(data_dir):
    ws = seeded(data_dir)
    biden = min(ws.collection("second").people.listing(), key=lambda p: len(p.face_ids))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["collection"] = "second"
    at.query_params["person"] = str(biden.person_id)
    ok(at.switch_page("pages/6_Person.py").run())
    assert person_picker(at).value == biden.person_id
    assert any("1 photo, 1 face" in h.value for h in at.subheader)


def test_switching_collection_drops_the_other_collections_results(data_dir):
    seeded(data_dir)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["collection"] = "second"
    ok(at.run())
    ok(at.switch_page("pages/2_Search.py").run())
    at.file_uploader(key="search_upload").set_value([("obama2.jpg", fixture_bytes("obama2.jpg"), "image/jpeg")])
    ok(at.run())
    assert "search_result" in at.session_state
    ok(at.sidebar.selectbox(key="collection").set_value("first").run())
    assert "search_result" not in at.session_state and "search_query" not in at.session_state
    assert not at.dataframe or all(not (d.key or "").startswith("results_table") for d in at.dataframe)


def test_a_selected_row_never_points_past_the_rows_left(with_samples):
    """Select the last result row, then raise the threshold so that fewer rows remain: the table is
    keyed by the rows it shows, so the old selection cannot index the shorter list."""
    at = upload_query(with_samples)
    rows = table_of(at, "results_table").value
    at.session_state[table_of(at, "results_table").key] = {
        "selection": {"rows": [len(rows) - 1], "columns": [], "cells": []}}
    ok(at.run())
    ok(at.slider(key="search_threshold").set_value(99).run())
    remaining = [d for d in at.dataframe if (d.key or "").startswith("results_table")]
    assert len(remaining) <= 1 and (not remaining or len(remaining[0].value) < len(rows))


def test_a_bad_upload_changes_no_other_widget(with_samples):
    """Search a photo, upload an unreadable file, then a good photo: the sliders keep their values
    (threshold 80, yaw and pitch 90) and the matches are filtered by them, not by zeros."""
    at = upload_query(with_samples, "obama3.jpg")
    before = {k: at.slider(key=k).value for k in ("search_threshold", "search_max_yaw", "search_max_pitch")}
    assert before == {"search_threshold": 80, "search_max_yaw": 90, "search_max_pitch": 90}
    at.file_uploader(key="search_upload").set_value([("notes.jpg", b"not a photo", "image/jpeg")]).run()
    assert not at.exception and any("not a readable image" in e.value for e in at.error)
    ok(upload_query(at, "obama2.jpg"))
    assert {k: at.slider(key=k).value for k in before} == before
    assert int(metrics(at)["Matches"]) >= 2
    # An empty file is refused the same way.
    at.file_uploader(key="search_upload").set_value([("empty.jpg", b"", "image/jpeg")]).run()
    assert not at.exception
    ok(upload_query(at, "obama2.jpg"))
    assert {k: at.slider(key=k).value for k in before} == before


def test_a_report_of_another_collection_is_not_shown(with_samples):
    """Index into one collection, then create another: Home and Index do not show the first's report."""
    at = with_samples
    assert any(m.label == "Faces indexed" for m in at.metric)
    at.sidebar.text_input(key="new_collection_name").input("other")
    for b in at.sidebar.button:
        if "Create" in (b.label or ""):
            b.click()
    ok(at.run())
    assert at.sidebar.selectbox(key="collection").value == "other"
    assert not any(m.label == "Faces indexed" for m in at.metric)
    ok(at.switch_page("pages/1_Index.py").run())
    assert not any(m.label == "Faces indexed" for m in at.metric)


def test_compare_two_photos_and_a_face_with_a_photo(with_samples):
    from conftest import two_faces_jpeg

    at = with_samples
    ok(at.switch_page("pages/8_Compare.py").run())
    at.file_uploader(key="compare_a").set_value([("obama2.jpg", fixture_bytes("obama2.jpg"), "image/jpeg")])
    at.file_uploader(key="compare_b").set_value([("pair.jpg", two_faces_jpeg(), "image/jpeg")])
    ok(at.run())
    best = float(metrics(at)["Most alike face"].rstrip("%"))
    table = frame_with(at, "similarity")
    assert best >= 80 and list(table["verdict"]) == ["same person", "different"]  # Obama, not Biden
    assert list(table["face"]) == [1, 2]  # numbered left to right: Obama is on the left
    assert any("Same person" in s.value for s in at.success)
    ok(at.slider(key="compare_threshold").set_value(100).run())
    assert any("Probably the same person" in w.value for w in at.warning)  # just under the threshold
    # A face of the collection against a photo.
    from facelib import Settings, Workspace

    ws = Workspace(Settings())
    biden = next(f for f in ws.catalog.faces("samples") if f.image_name.endswith("biden.jpg"))
    ok(at.slider(key="compare_threshold").set_value(80).run())
    ok(at.segmented_control(key="compare_mode").set_value("A face and a photo").run())
    ok(at.text_input(key="compare_face").input(biden.face_id).run())
    assert list(frame_with(at, "similarity")["verdict"]) == ["same person", "different"]
    # One pair, one figure: an indexed face against an indexed photo shows what Search shows.
    obama = next(f for f in ws.catalog.faces("samples") if f.image_name.endswith("/obama.jpg"))
    at.file_uploader(key="compare_b").set_value([("obama2.jpg", fixture_bytes("obama2.jpg"), "image/jpeg")])
    ok(at.text_input(key="compare_face").input(obama.face_id).run())
    in_search = next(r.similarity for r in ws.collection("samples").search_face(obama.face_id).rows
                     if r.image_name.endswith("obama2.jpg"))
    assert metrics(at)["Most alike face"] == f"{in_search:.1f}%"
    ok(at.text_input(key="compare_face").input("no-such-face").run())
    assert at.error


def test_photos_page_filters_by_people(with_samples):
    at = with_samples
    ok(at.switch_page("pages/9_Photos.py").run())
    assert any("4 of 4 photos" in c.value for c in at.caption)
    people = at.multiselect(key="photos_with").options
    assert len(people) == 2
    at.multiselect(key="photos_with").select(people[-1])
    ok(at.run())
    counts = [c.value for c in at.caption if " of 4 photos" in c.value]
    assert counts and not counts[0].startswith("4 of")
    at.multiselect(key="photos_without").select(people[-1])
    ok(at.run())
    assert any("None of the 4 photos" in i.value for i in at.info)


def test_empty_states_say_what_is_true(with_samples):
    from PIL import Image

    at = upload_query(with_samples, "obama3.jpg")
    ok(at.slider(key="search_min_size").set_value(400).run())
    # issue 24: the count hidden by the quality filters, and a one-click reset
    assert any("3 more matches at ≥80% are hidden by the quality filters" in w.value for w in at.warning)
    ok(at.button(key="search_reset_filters").click().run())
    assert metrics(at)["Matches"] == "3" and at.slider(key="search_min_size").value == 0
    sky = io.BytesIO()
    Image.new("RGB", (300, 300), (90, 140, 200)).save(sky, "JPEG")
    at.file_uploader(key="search_upload").set_value([("sky.jpg", sky.getvalue(), "image/jpeg")]).run()
    ok(at)
    assert [i.value for i in at.info if "No face" in i.value] == [at.info[0].value]  # said once
    assert not at.warning and not any("Lower the threshold" in i.value for i in at.info)
    # An empty collection says so, on Search and on Faces.
    at.sidebar.text_input(key="new_collection_name").input("nothing")
    for b in at.sidebar.button:
        if "Create" in (b.label or ""):
            b.click()
    ok(at.run())
    ok(upload_query(at, "obama3.jpg"))
    assert any("collection is empty" in i.value for i in at.info)
    ok(at.switch_page("pages/3_Faces.py").run())
    assert any("collection is empty" in i.value for i in at.info)


def test_ticked_faces_never_point_past_a_persons_faces(with_samples):
    """Person: tick faces, then split, move or switch person: no IndexError, and the correction
    buttons stay (the table is keyed by the person and the faces it shows)."""
    at = with_samples
    ok(at.switch_page("pages/6_Person.py").run())
    people = person_picker(at).options
    assert len(people) == 2
    biggest = table_of(at, "person_faces")
    rows = len(biggest.value)
    at.session_state[biggest.key] = {"selection": {"rows": list(range(rows)), "columns": [], "cells": []}}
    ok(at.run())
    ok(at.button(key="split").click().run())
    assert at.button(key="split") is not None and at.button(key="move") is not None
    # Tick the last face of the person now shown, then switch to a person with fewer faces.
    table = table_of(at, "person_faces")
    at.session_state[table.key] = {"selection": {"rows": [len(table.value) - 1], "columns": [], "cells": []}}
    ok(at.run())
    ticked_on = person_picker(at).value
    assert not at.button(key="split").disabled
    others = [o for o in person_picker(at).options if o != person_picker(at).format_func(ticked_on)]
    for option in others:
        ok(person_picker(at).select(option).run())
        assert at.button(key="split").disabled  # nothing ticked on the person just opened


def test_returning_to_search_keeps_the_search_and_the_chosen_face(with_samples):
    from conftest import two_faces_jpeg

    at = with_samples
    ok(at.switch_page("pages/2_Search.py").run())
    at.camera_input(key="search_camera").set_value(("snap.jpg", two_faces_jpeg(), "image/jpeg")).run()
    pick = next(b for b in at.button if (b.key or "").startswith("face_pick_") and b.key.endswith("_pick_2"))
    ok(pick.click().run())  # the second face from the left
    assert next(b for b in at.button if (b.key or "").endswith("_pick_2")).proto.type == "primary"
    calls = metrics(at)["Engine searches"]
    first = set(table_of(at, "results_table").value["image"])
    ok(at.switch_page("pages/5_People.py").run())
    ok(at.switch_page("pages/2_Search.py").run())
    assert metrics(at)["Engine searches"] == calls  # not searched again
    assert next(b for b in at.button if (b.key or "").endswith("_pick_2")).proto.type == "primary"
    assert set(table_of(at, "results_table").value["image"]) == first
    # A camera snapshot, a selected row, then "Search this face": no IndexError.
    table = table_of(at, "results_table")
    at.session_state[table.key] = {"selection": {"rows": [len(table.value) - 1], "columns": [], "cells": []}}
    ok(at.run())
    ok(at.button(key="search_selected").click().run())
    assert at.session_state["search_query"]["kind"] == "face"


def test_collections_page_shows_where_a_rekognition_collection_lives_and_imports_one(data_dir, monkeypatch):
    """Through the local Rekognition-shaped endpoint: the account and region from the ARN in the
    sidebar and on Collections; an AWS collection made elsewhere is imported only on request."""
    from bench.rekognition_endpoint import RekognitionEndpoint
    from facelib import Settings, Workspace

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with RekognitionEndpoint(region="eu-west-1") as ep:
        monkeypatch.setenv("FACESEARCH_AWS_ENDPOINT_URL", ep.url)
        Workspace(Settings()).create_collection("Équipe rouge", "rekognition")
        ep.collections["made-in-the-console"] = {"faces": {}, "users": {}, "tags": {}, "created": 0.0}
        at = fresh()
        at.switch_page("pages/4_Collections.py").run()
        ok(at)
        captions = " ".join(c.value for c in at.caption) + " ".join(c.value for c in at.sidebar.caption)
        assert "123456789012 / eu-west-1" in captions
        at.button(key="import_list").click().run()
        assert ok(at).selectbox(key="import_id").value == "made-in-the-console"
        at.text_input(key="import_name").input("Console faces").run()
        at.button(key="import_go").click().run()
        assert "Console faces" in Workspace(Settings()).collections()
        assert "made-in-the-console" in ep.collections and ep.calls["DeleteCollection"] == 0


EVIL = "![x](http://evil.example/p.png) [click](http://evil.example) www.evil.example :red[boo]"


def rendered_markdown(at) -> list[str]:
    """The markdown source of every element that renders markdown (texts, captions, alerts, headers)."""
    out = []
    for kind in ("markdown", "caption", "success", "info", "warning", "error", "subheader", "title", "header"):
        out += [e.value for e in getattr(at, kind)]
    out += [e.value for e in at.sidebar.caption]
    return out


def test_user_text_is_shown_as_plain_text_never_as_markdown(with_samples):
    """A person named with image and link syntax, and the collection and file names, reach every
    markdown element escaped: no browser fetches an outside picture or shows an outside link."""
    from facelib import Settings, Workspace

    ws = Workspace(Settings())
    coll = ws.collection("samples")
    person = coll.people.listing()[0]
    coll.people.rename(person.person_id, EVIL)
    from pages.ui.text import md

    at = with_samples
    for page in ("pages/5_People.py", "pages/6_Person.py", "pages/2_Search.py"):
        at.switch_page(page).run()
        ok(at)
        if page.endswith("6_Person.py"):
            at.session_state["person"] = person.person_id
            at.run()
        texts = rendered_markdown(at)
        assert not any("](http" in t or "![" in t or ":red[" in t for t in texts), (page, texts)
        if not page.endswith("2_Search.py"):  # the name is shown, as the text it is
            assert any(md(EVIL) in t for t in texts), (page, texts)


def test_an_archive_member_name_cannot_put_a_link_in_an_error_box(data_dir):
    from pages.ui.text import md

    shown = md("photos.zip/[click me](http://evil.example)/x.jpg: cannot be read")
    assert "](" not in shown and "\\[click me\\]" in shown
    assert "://" not in md("http://evil.example") and "@b" not in md("a@b.org")  # no autolink either


def test_damaged_files_give_placeholders_and_messages_not_tracebacks(with_samples, data_dir):
    """A missing thumbnail, a truncated stored copy and a damaged catalog: every page still runs."""
    from facelib import Settings, Workspace

    ws = Workspace(Settings())
    coll = ws.collection("samples")
    faces = coll.faces()
    ws.path(faces[0].thumb_path).unlink()  # a thumbnail gone
    copy = ws.path(faces[1].stored_path)
    copy.write_bytes(copy.read_bytes()[:500])  # a stored copy cut short
    at = with_samples
    person = coll.people.listing()
    for page in ("app.py", "pages/3_Faces.py", "pages/5_People.py", "pages/6_Person.py", "pages/9_Photos.py",
                 "pages/2_Search.py"):
        at.switch_page(page).run()
        if page.endswith("6_Person.py"):
            for p in person:
                at.session_state["person"] = p.person_id
                ok(at.run())
        ok(at)
    at.session_state["search_query"] = {"kind": "face", "face_id": faces[1].face_id}
    at.switch_page("pages/2_Search.py").run()
    ok(at)


def test_a_damaged_catalog_is_a_message_on_every_page(tmp_path, monkeypatch):
    data = tmp_path / "broken"
    data.mkdir()
    (data / "catalog.sqlite3").write_bytes(b"this is not a database at all" * 100)
    monkeypatch.setenv("FACESEARCH_DATA_DIR", str(data))
    at = fresh()
    assert not at.exception
    assert any("cannot be opened" in e.value and "cannot be read" in e.value for e in at.error)
    for page in ("pages/1_Index.py", "pages/5_People.py"):
        at.switch_page(page).run()
        assert not at.exception and any("cannot be opened" in e.value for e in at.error)


def test_browsers_are_never_shown_tracebacks():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"


def test_uploads_are_limited_per_file_and_per_batch(data_dir, monkeypatch):
    from facelib import Settings, Workspace

    monkeypatch.setenv("FACESEARCH_UPLOAD_MAX_MB", "0.01")  # 10 KB
    monkeypatch.setenv("FACESEARCH_UPLOAD_MAX_FILES", "2")
    Workspace(Settings()).create_collection("limits")
    at = fresh()
    at.switch_page("pages/1_Index.py").run()
    ok(at)
    uploader(at).set_value([
        ("tiny.jpg", fixture_bytes("obama.jpg")[:5000], "image/jpeg"),
        ("big.jpg", fixture_bytes("obama.jpg"), "image/jpeg"),
        ("third.jpg", fixture_bytes("biden.jpg")[:4000], "image/jpeg"),
    ]).run()
    ok(at)
    made = at.session_state["_upload_sources"]
    at.run()  # a rerun reuses the sources made for these uploads
    assert at.session_state["_upload_sources"] == made
    at.button(key="index_go").click().run()
    ok(after_jobs(at))
    errors = " ".join(e.value for e in at.error).replace("\\", "").replace("\u2060", "")
    assert "per uploaded file" in errors and "files a batch may upload" in errors
