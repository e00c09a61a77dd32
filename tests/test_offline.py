"""Issue 22, item 13: offline means offline. Every page, in chromium against `streamlit run` on
127.0.0.1, asks nothing of any other host (every request is intercepted: one elsewhere is
recorded and refused). A ":material/...:" page icon used to fetch an SVG from fonts.gstatic.com."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fixture_bytes
from test_e2e import ARGS, CHROMIUM, streamlit_app

from facelib import Settings, Workspace, bytes_source

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
PAGES = ["", "/Index", "/Search", "/Live", "/Faces", "/People", "/Person", "/Photos", "/Compare", "/Collections"]


def test_no_request_leaves_the_app(tmp_path):
    from playwright.sync_api import sync_playwright

    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    coll = ws.create_collection("c")
    coll.index([bytes_source("o.jpg", fixture_bytes("obama.jpg")), bytes_source("b.jpg", fixture_bytes("biden.jpg"))],
               workers=1)
    coll.people.update()
    outside: list[str] = []
    with streamlit_app(tmp_path / "data", tmp_path / "log") as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page()

                def route(r) -> None:
                    if r.request.url.startswith((url + "/", "data:", "blob:")) or r.request.url == url:
                        r.continue_()
                    else:
                        outside.append(f"{r.request.resource_type} {r.request.url}")
                        r.abort()
                page.route("**/*", route)
                for path in PAGES:
                    page.goto(url + path)
                    page.get_by_text("facesearch").first.wait_for(timeout=60_000)
                    page.wait_for_timeout(2000)
            finally:
                browser.close()
    assert outside == []
