"""A random walk through the dashboard: Hypothesis drives one AppTest per example through sequences
of page switches, slider moves, uploads (good, unreadable, empty), row selections and searches on a
small real collection. After every step: no exception, and every slider value the walker set is
still what it set when its page is shown again.

CI runs a fixed, bounded budget (``FACESEARCH_WALK_EXAMPLES``, default 8 walks of up to 10 steps);
set it higher locally for a longer walk.
"""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import FIXTURES, ROOT, fixture_bytes, index_paths
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from streamlit.testing.v1 import AppTest

APP = str(ROOT / "app.py")
PAGES = ["app.py", "pages/1_Index.py", "pages/2_Search.py", "pages/3_Faces.py", "pages/4_Collections.py",
         "pages/8_Compare.py", "pages/9_Photos.py",
         "pages/5_People.py", "pages/6_Person.py"]
#: Sliders the walker moves: page -> key -> (low, high).
SLIDERS = {
    "pages/2_Search.py": {"search_threshold": (50, 100), "search_min_sharpness": (0, 100),
                          "search_max_yaw": (0, 90), "search_min_size": (0, 400)},
    "pages/3_Faces.py": {"faces_min_brightness": (0, 100), "faces_max_pitch": (0, 90)},
}
EXAMPLES = int(os.environ.get("FACESEARCH_WALK_EXAMPLES", "8"))


@pytest.fixture(scope="module")
def seeded_dir(tmp_path_factory):
    """A data directory with the shipped photos indexed and grouped (copied for every walk)."""
    from facelib import Settings, Workspace

    data = tmp_path_factory.mktemp("walk") / "data"
    ws = Workspace(Settings(data_dir=data))
    index_paths(ws, "walk", [FIXTURES], workers=1)
    ws.create_collection("empty", "local")
    ws.collection("walk").people.update()
    ws.db.close()
    return data


class Walk(RuleBasedStateMachine):
    source = None  # set by the test: the seeded data directory
    done: dict[str, int] = {}  # what the walks did, for the test's own check that they did something

    def did(self, what: str) -> None:
        Walk.done[what] = Walk.done.get(what, 0) + 1

    @initialize(steps=st.lists(st.sampled_from(["Ann Smyth", "Ann Smith", "B one", "B two", "", "UNDO", "PICK"]),
                               min_size=1, max_size=4), data=st.data())
    def start(self, steps: list[str], data: st.DataObject) -> None:
        self.dir = self.source.parent / f"run-{id(self)}"
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.copytree(self.source, self.dir)
        os.environ["FACESEARCH_DATA_DIR"] = str(self.dir)
        self.at = AppTest.from_file(APP, default_timeout=120)
        self.at.query_params["collection"] = "walk"  # before the first run: it is what the session starts on
        self.at.run()
        self.expected: dict[str, int] = {}
        self.page = "pages/2_Search.py"  # start with a search, so that its sliders are there to move
        self.at.switch_page(self.page).run()
        self.at.file_uploader(key="search_upload").set_value(
            [("obama2.jpg", fixture_bytes("obama2.jpg"), "image/jpeg")]).run()
        self.a_run_of_corrections(steps, data)  # every walk corrects people too (short walks are common)
        self.switch_page("pages/2_Search.py")

    def teardown(self) -> None:
        shutil.rmtree(getattr(self, "dir", ""), ignore_errors=True)

    @rule(page=st.sampled_from(PAGES))
    def switch_page(self, page: str) -> None:
        self.page = page
        self.at.switch_page(page).run()

    @rule(data=st.data())
    def move_a_slider(self, data: st.DataObject) -> None:
        if self.page not in SLIDERS:
            self.switch_page(data.draw(st.sampled_from(sorted(SLIDERS))))
        sliders = SLIDERS[self.page]
        key = data.draw(st.sampled_from(sorted(sliders)))
        if not any(s.key == key for s in self.at.slider):
            return  # not shown now (no query yet, or a collapsed view)
        lo, hi = sliders[key]
        value = data.draw(st.integers(lo, hi))
        self.at.slider(key=key).set_value(value).run()
        self.expected[key] = value
        self.did("slider")

    @rule(kind=st.sampled_from(["good", "group", "unreadable", "empty"]))
    def upload_to_search(self, kind: str) -> None:
        from conftest import two_faces_jpeg

        if self.page != "pages/2_Search.py":
            self.switch_page("pages/2_Search.py")
        payload = {"good": ("obama2.jpg", fixture_bytes("obama2.jpg")), "group": ("pair.jpg", two_faces_jpeg()),
                   "unreadable": ("notes.jpg", b"not a photo at all"), "empty": ("empty.jpg", b"")}[kind]
        self.at.file_uploader(key="search_upload").set_value([(payload[0], payload[1], "image/jpeg")]).run()
        self.did("upload")

    @rule(row=st.integers(0, 5))
    def select_a_result(self, row: int) -> None:
        tables = [d for d in self.at.dataframe if (d.key or "").startswith(("results_table", "person_faces"))]
        if not tables:
            return
        table = tables[0]
        mode = [row % max(len(table.value), 1)]
        self.at.session_state[table.key] = {"selection": {"rows": mode, "columns": [], "cells": []}}
        self.at.run()
        self.did("select")

    @rule(key=st.sampled_from(["search_selected", "split", "not_person", "faces_reshuffle", "people_regroup"]))
    def click(self, key: str) -> None:
        buttons = [b for b in self.at.button if b.key == key and not b.disabled]
        if buttons:
            buttons[0].click().run()
            self.did("click")

    # -- Person corrections (issue 24): each must land on the person shown when it was made ----------
    def on_person_page(self):
        """The Person page's picker (switching there first), or None when there is nobody."""
        if self.page != "pages/6_Person.py":
            self.switch_page("pages/6_Person.py")
        pickers = [s for s in self.at.selectbox if (s.key or "").startswith("person_pick_")]
        return pickers[0] if pickers else None

    def people_now(self) -> dict[int, object]:
        from facelib import Settings, Workspace

        name = self.at.session_state["_collection"]
        return {p.person_id: p for p in Workspace(Settings()).collection(name).people.listing(include_hidden=True)}

    @rule(name=st.sampled_from(["Ann Smyth", "Ann Smith", "B one", "B two", ""]))
    def rename_the_person_shown(self, name: str) -> None:
        picker = self.on_person_page()
        if picker is None:
            return
        pid = picker.value
        box = next(t for t in self.at.text_input if (t.key or "").startswith("name_"))
        box.input(name)
        self.at.button(key="rename").click().run()
        people = self.people_now()
        assert people[pid].name == (name.strip() or None), (pid, name, {k: v.name for k, v in people.items()})
        assert self.on_person_page().value == pid  # the page still shows them
        self.did("rename")

    @rule(steps=st.lists(st.sampled_from(["Ann Smyth", "Ann Smith", "B one", "B two", "", "UNDO", "PICK"]),
                         min_size=2, max_size=5), data=st.data())
    def corrections(self, steps: list[str], data: st.DataObject) -> None:
        self.a_run_of_corrections(steps, data)

    def a_run_of_corrections(self, steps: list[str], data: st.DataObject) -> None:  # noqa: D401
        """Renames, undos and person changes in a row on the Person page (the sequences of issue 24:
        rename twice, rename after an undo)."""
        for step in steps:
            if step == "UNDO":
                self.undo_the_last_correction()
            elif step == "PICK":
                self.pick_a_person(data)
            else:
                self.rename_the_person_shown(step)

    @rule(data=st.data())
    def pick_a_person(self, data: st.DataObject) -> None:
        picker = self.on_person_page()
        if picker is None or len(picker.options) < 2:
            return
        option = data.draw(st.sampled_from(picker.options))
        picker.select(option).run()
        self.did("pick person")

    @rule()
    def undo_the_last_correction(self) -> None:
        if self.page not in ("pages/6_Person.py", "pages/5_People.py"):
            self.switch_page("pages/6_Person.py")
        buttons = [b for b in self.at.button if b.key == "undo_correction"]
        if not buttons:
            return
        before = self.at.session_state["person"] if "person" in self.at.session_state else None
        buttons[0].click().run()
        if self.page == "pages/6_Person.py" and before in self.people_now():
            assert self.on_person_page().value == before  # the person worked on, not the first one
        self.did("undo")

    @rule(row=st.integers(0, 5))
    def move_a_face(self, row: int) -> None:
        picker = self.on_person_page()
        if picker is None:
            return
        pid = picker.value
        table = next((d for d in self.at.dataframe if (d.key or "").startswith("person_faces")), None)
        targets = [s for s in self.at.selectbox if (s.key or "").startswith("move_target_")]
        if table is None or not targets or not targets[0].options:
            return
        self.at.session_state[table.key] = {"selection": {"rows": [row % len(table.value)], "columns": [],
                                                          "cells": []}}
        self.at.run()
        face = table.value["face_id"].iloc[row % len(table.value)]
        target = next(s for s in self.at.selectbox if (s.key or "").startswith("move_target_"))
        to = target.options[0]
        target.select(to).run()
        to_id = next(s for s in self.at.selectbox if (s.key or "").startswith("move_target_")).value
        self.at.button(key="move").click().run()
        people = self.people_now()
        assert face in people[to_id].face_ids, (face, to_id)
        if pid in people:
            assert self.on_person_page().value == pid
        self.did("move")

    @rule(name=st.sampled_from(["walk", "empty"]))
    def switch_collection(self, name: str) -> None:
        pickers = [s for s in self.at.sidebar.selectbox if s.key == "collection"]
        if pickers and name in pickers[0].options:
            pickers[0].set_value(name).run()
            self.did("collection")

    @invariant()
    def nothing_broke(self) -> None:
        if not hasattr(self, "at"):
            return
        assert not self.at.exception, [e.value for e in self.at.exception]
        for key, value in self.expected.items():
            shown = [s for s in self.at.slider if s.key == key]
            if shown:
                assert shown[0].value == value, (key, shown[0].value, value)


def test_random_walk_through_the_pages(seeded_dir, monkeypatch):
    monkeypatch.setenv("FACESEARCH_DATA_DIR", str(seeded_dir))
    Walk.source = seeded_dir
    run_state_machine_as_test(Walk, settings=settings(max_examples=EXAMPLES, stateful_step_count=10, deadline=None,
                                                      derandomize=True, suppress_health_check=list(HealthCheck)))
    assert Walk.done.get("upload") and Walk.done.get("slider"), Walk.done  # the walks reached the sliders
    assert Walk.done.get("rename"), Walk.done  # and the Person corrections
