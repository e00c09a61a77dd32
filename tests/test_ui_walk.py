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

    @initialize()
    def start(self) -> None:
        self.dir = self.source.parent / f"run-{id(self)}"
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.copytree(self.source, self.dir)
        os.environ["FACESEARCH_DATA_DIR"] = str(self.dir)
        self.at = AppTest.from_file(APP, default_timeout=120).run()
        self.at.query_params["collection"] = "walk"
        self.at.run()
        self.expected: dict[str, int] = {}
        self.page = "pages/2_Search.py"  # start with a search, so that its sliders are there to move
        self.at.switch_page(self.page).run()
        self.at.file_uploader(key="search_upload").set_value(
            [("obama2.jpg", fixture_bytes("obama2.jpg"), "image/jpeg")]).run()

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
