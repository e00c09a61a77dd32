"""Every page opens without an exception, on a collection that holds the sample photos.

This is also what CI runs against the lowest versions requirements.txt allows (scripts/test.sh,
``--resolution lowest-direct``): a floor that is too low fails here (a widget argument, an import).
"""

from __future__ import annotations

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("[0-9]*.py"))


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """app.py after "Index the sample photos" (one data directory for the module)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("FACESEARCH_DATA_DIR", str(tmp_path_factory.mktemp("pages") / "data"))
    import streamlit_webrtc

    mp.setattr(streamlit_webrtc, "webrtc_streamer", lambda *a, **k: None)  # no WebRTC under AppTest
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.button(key="index_samples").click().run()
    assert not at.exception, [e.value for e in at.exception]
    yield at
    mp.undo()


def test_the_pages_are_all_here():
    """Every page file is opened below (none is missed by the glob)."""
    files = {p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py") if p.name != "__init__.py"}
    assert files == set(PAGES) and len(PAGES) >= 9, PAGES


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens(home, page):
    home.switch_page(page).run()
    assert not home.exception, [e.value for e in home.exception]
    assert not home.error, [e.value for e in home.error]
    assert home.title, f"{page} drew no title"
