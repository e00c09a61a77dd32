"""In Debian's chromium (Playwright) against `streamlit run app.py` on 127.0.0.1 (issues 26 and 27):
a Search result from a video plays the appearance from where the face is first on screen (the
<video> element's currentTime near start_s), and the Review page is answered with the keyboard."""

from __future__ import annotations

import pytest
from conftest import FIXTURES, index_paths
from test_e2e import ARGS, CHROMIUM, shot, streamlit_app, table_cells, wait_running_done
from videos import SCENES, make_video

from facelib import Review, Settings, Workspace


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """"clips": obama.jpg and an H.264 clip (Obama 1-4 s, a cut, Biden 4-7 s), which a browser can play;
    "review": the shipped photos grouped, then Obama's obama3.jpg face made a person of its own."""
    root = tmp_path_factory.mktemp("e2e-video")
    clip = make_video(root / "scenes.mp4", SCENES, codec="libx264")
    ws = Workspace(Settings(data_dir=root / "data"))
    index_paths(ws, "clips", [FIXTURES / "obama.jpg", clip], workers=1)
    index_paths(ws, "review", [FIXTURES], workers=1)
    coll = ws.collection("review")
    coll.people.update()
    store = coll.people.store
    apart = next(f.face_id for f in coll.faces() if f.image_name.endswith("/obama3.jpg"))
    store.assign([apart], store.new_person())
    store.drop_empty()
    clips = ws.collection("clips")
    obama = next(f for f in clips.faces() if f.image_name.endswith("/obama.jpg"))
    in_video = [f for f in clips.faces() if f.image_name.endswith("/scenes.mp4")]
    times = clips.appearances(f.face_id for f in in_video)
    return root / "data", obama.face_id, times, apart


@pytest.fixture(scope="module")
def app(seeded, tmp_path_factory):
    with streamlit_app(seeded[0], tmp_path_factory.mktemp("log") / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS + ["--autoplay-policy=no-user-gesture-required"])
        context = browser.new_context(viewport={"width": 1400, "height": 1800})
        yield context.new_page()
        browser.close()


def test_a_search_result_from_a_video_plays_from_the_appearance(app, seeded, browser_page):
    page = browser_page
    _, obama_face, times, _ = seeded
    start = min(t.start_s for t in times.values())  # Obama's appearance: the first one (1-4 s)
    page.goto(f"{app}/Search?collection=clips&face={obama_face}")
    page.get_by_text("1 match at ≥80%").wait_for(timeout=120_000)
    wait_running_done(page)
    cells = table_cells(page)
    assert "scenes.mp4" in cells and any("–" in c and c.startswith("0:0") for c in cells), cells[:20]
    grid = page.locator("[data-testid=stDataFrame]").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 14, box["y"] + 36 + 32)  # the first row's marker
    video = page.locator("[data-testid=stVideo]")
    video.wait_for(timeout=30_000)
    wait_running_done(page)
    playable = page.evaluate("() => document.createElement('video').canPlayType('video/mp4; codecs=\"avc1.64001E\"')")
    assert playable, "this chromium cannot play H.264"
    page.wait_for_function("() => document.querySelector('[data-testid=stVideo]').readyState >= 1", timeout=30_000)
    # Before playing, the player is at the appearance's start (Streamlit's start_time, whole seconds).
    at = page.evaluate("() => document.querySelector('[data-testid=stVideo]').currentTime")
    assert abs(at - int(start)) < 0.5, (at, start)
    page.evaluate("() => { const v = document.querySelector('[data-testid=stVideo]'); v.muted = true; return v.play(); }")
    page.wait_for_timeout(1200)
    now = page.evaluate("() => document.querySelector('[data-testid=stVideo]').currentTime")
    assert int(start) < now <= int(start) + 3.0, (now, start)  # it plays from there, forward
    shot(page, "13-search-video")


def test_the_review_page_is_answered_with_the_keyboard(app, seeded, browser_page):
    page = browser_page
    data, _, _, apart = seeded
    page.goto(f"{app}/Review?collection=review")
    page.get_by_text("the same person?").first.wait_for(timeout=60_000)
    wait_running_done(page)
    shot(page, "14-review")
    page.get_by_role("heading", name="Review").first.click()  # focus on the page, not on a text box
    page.keyboard.press("s")
    page.get_by_text("(merged)").wait_for(timeout=60_000)
    coll = Workspace(Settings(data_dir=data)).collection("review")
    obama = next(f.face_id for f in coll.faces() if f.image_name.endswith("/obama.jpg"))
    assert coll.people.person_of()[apart] == coll.people.person_of()[obama]
    assert not [q for q in Review(coll).questions(limit=None) if q.kind == "merge" and apart in (q.face_a, q.face_b)]
