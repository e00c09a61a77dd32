"""A batch outlives the page that started it, in Debian's chromium against `streamlit run app.py`.

Defect 2 of the jobs issue: 160 photos uploaded, "Index" pressed, the Search page opened while it
ran: 41 indexed, the rest silently abandoned. Now the page submits a job that the server's runner
runs: the analyst changes page, closes the tab, opens a new one, and finds the batch finished with
its report.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import fixture_bytes
from PIL import Image
from test_e2e import ARGS, CHROMIUM, metric, streamlit_app

from facelib import Settings, Workspace

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
N = 60


def photos(folder: Path, n: int) -> list[str]:
    base = Image.open(io.BytesIO(fixture_bytes("obama.jpg"))).convert("RGB")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        im = base.copy()
        im.putpixel((i % im.width, i // im.width), (i % 256, 3, 9))
        path = folder / f"p{i:03d}.jpg"
        im.save(path, "JPEG", quality=85)
        out.append(str(path))
    return out


def test_leaving_the_page_and_closing_the_tab_never_stops_a_batch(tmp_path):
    from playwright.sync_api import sync_playwright

    data = tmp_path / "data"
    Workspace(Settings(data_dir=data)).create_collection("team", "local")
    files = photos(tmp_path / "upload", N)
    with streamlit_app(data, tmp_path / "streamlit.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1600})
            page = context.new_page()
            page.goto(url + "/Index")
            page.get_by_role("heading", name="Index photos").wait_for(timeout=60_000)
            page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(files)
            page.get_by_role("button", name=f"Index {N} item(s)").click()
            # The sidebar shows the job on the next page; then the tab goes away mid-batch.
            page.get_by_text("job 1").first.wait_for(timeout=60_000)
            page.get_by_role("link", name="Search").click()
            page.get_by_role("heading", name="Search").first.wait_for(timeout=30_000)
            page.get_by_text("Indexing (job 1)").first.wait_for(timeout=30_000)
            done_when_left = Workspace(Settings(data_dir=data)).collection("team").counts()["images"]
            page.close()
            assert done_when_left < N, "the batch finished before the tab was closed: nothing was tested"

            fresh = context.new_page()
            fresh.goto(url + "/Index")
            fresh.get_by_text("Outcome per face").first.wait_for(timeout=240_000)
            assert metric(fresh, "Photos") == str(N) and metric(fresh, "Faces indexed") == str(N)
            assert Workspace(Settings(data_dir=data)).collection("team").counts()["images"] == N
            # The report stays until the analyst dismisses it.
            fresh.reload()
            fresh.get_by_text("Outcome per face").first.wait_for(timeout=60_000)
            fresh.get_by_role("button", name="Dismiss").first.click()
            fresh.wait_for_timeout(1500)
            assert fresh.get_by_text("Outcome per face").count() == 0
        finally:
            browser.close()
