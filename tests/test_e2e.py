"""End to end in Debian's chromium (Playwright) against `streamlit run app.py` on 127.0.0.1.

A new user creates a collection, indexes photos by upload, searches with the fake camera playing a
photo of a person already indexed and sees that person in the first row, then moves the threshold
slider: rows disappear and reappear while the engine's search counter stays the same.
Screenshots of each page go to test-output/.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, ROOT
from PIL import Image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
OUT = ROOT / "test-output"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_app(data: Path, log_path: Path, *extra: str, port: int | None = None) -> Iterator[str]:
    """``streamlit run app.py`` on 127.0.0.1 over the data directory ``data``; yields its URL
    once healthy; the server is gone afterwards."""
    port = port or free_port()
    env = {**os.environ, "FACESEARCH_DATA_DIR": str(data)}
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false", *extra], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("streamlit did not become healthy")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with streamlit_app(tmp_path_factory.mktemp("e2e") / "data", tmp_path_factory.mktemp("log") / "streamlit.log") as url:
        yield url


def fake_camera_file(photo: Path, path: Path) -> Path:
    """A .y4m video that shows ``photo`` (letterboxed in 640x480) for one second."""
    w, h = 640, 480
    frame = Image.new("RGB", (w, h), (235, 235, 235))
    im = Image.open(photo).convert("RGB")
    im.thumbnail((w, h))
    frame.paste(im, ((w - im.width) // 2, (h - im.height) // 2))
    ycc = np.asarray(frame.convert("YCbCr"))
    y = ycc[:, :, 0].tobytes()
    cb = np.asarray(Image.fromarray(ycc[:, :, 1]).resize((w // 2, h // 2))).tobytes()
    cr = np.asarray(Image.fromarray(ycc[:, :, 2]).resize((w // 2, h // 2))).tobytes()
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(30):
            f.write(b"FRAME\n" + y + cb + cr)
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    video = fake_camera_file(FIXTURES / "obama2.jpg", tmp_path_factory.mktemp("cam") / "obama2.y4m")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS + [
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"])
        context = browser.new_context(viewport={"width": 1400, "height": 2000}, permissions=["camera"])
        yield context.new_page()
        browser.close()


def shot(page, name: str) -> None:
    OUT.mkdir(exist_ok=True)
    page.wait_for_timeout(800)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)


def metric(page, label: str) -> str:
    box = page.locator("[data-testid=stMetric]", has_text=label).first
    return box.locator("[data-testid=stMetricValue]").inner_text().strip()


def table_cells(page) -> list[str]:
    cells = page.locator("[data-testid=stDataFrame] [role=gridcell]")
    cells.first.wait_for(state="attached", timeout=30_000)
    return cells.all_inner_texts()


def wait_running_done(page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=120_000)


def test_index_search_with_camera_and_threshold(server, page):
    page.goto(server)
    page.get_by_role("heading", name="facesearch").first.wait_for(timeout=60_000)
    shot(page, "1-home-empty")

    # Create a collection in the sidebar.
    page.get_by_placeholder("family-2024").fill("team")
    page.get_by_role("button", name="Create").click()
    page.get_by_text("team · local engine").first.wait_for(timeout=30_000)

    # Index three photos by upload.
    page.get_by_role("link", name="Index photos").click()
    page.get_by_role("heading", name="Index photos").wait_for(timeout=30_000)
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(
        [str(FIXTURES / n) for n in ("obama.jpg", "biden.jpg", "obama3.jpg")])
    page.get_by_role("button", name="Index 3 item(s)").click()
    page.get_by_text("Outcome per face").wait_for(timeout=120_000)
    wait_running_done(page)
    assert metric(page, "Faces indexed") == "3"
    shot(page, "2-index")

    # Search with the fake camera playing a photo of Obama (obama2.jpg is not indexed).
    page.get_by_role("link", name="Search").click()
    page.get_by_role("heading", name="Search").first.wait_for(timeout=30_000)
    page.get_by_role("tab", name=re.compile("Camera snapshot")).click()
    take = page.get_by_role("button", name="Take Photo")
    take.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # let the fake video run
    take.click()
    page.get_by_text(re.compile(r"match(es)? at ≥80%")).wait_for(timeout=120_000)
    wait_running_done(page)
    cells = table_cells(page)
    assert cells, "the results table is empty"
    first_image = next(c for c in cells if c.endswith(".jpg"))
    assert first_image.startswith("obama"), cells[:12]
    assert "biden.jpg" not in cells
    matches = int(metric(page, "Matches"))
    searches = metric(page, "Engine searches")
    assert matches == 2
    shot(page, "3-search-camera")

    # Move the threshold slider: rows go and come back, no new engine search.
    slider = page.get_by_role("slider").first
    slider.focus()
    slider.press("End")
    wait_running_done(page)
    page.wait_for_timeout(500)
    assert int(metric(page, "Matches")) < matches
    assert metric(page, "Engine searches") == searches
    shot(page, "4-search-threshold-100")
    slider.focus()
    slider.press("Home")
    wait_running_done(page)
    page.wait_for_timeout(500)
    assert int(metric(page, "Matches")) >= matches
    assert metric(page, "Engine searches") == searches

    # Select the first result row (its marker, left of the canvas grid): the full photo and
    # "Search this face" appear.
    grid = page.locator("[data-testid=stDataFrame]").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 14, box["y"] + 36 + 32)
    page.get_by_role("button", name="Search this face").wait_for(timeout=30_000)
    wait_running_done(page)

    # The other pages render.
    page.get_by_role("link", name="Faces").click()
    page.get_by_role("heading", name="Faces").first.wait_for(timeout=30_000)
    wait_running_done(page)
    shot(page, "5-faces")
    page.get_by_role("link", name="Collections").click()
    page.get_by_role("heading", name="Collections").first.wait_for(timeout=30_000)
    wait_running_done(page)
    shot(page, "6-collections")
    page.get_by_role("link", name="Home").click()
    page.get_by_role("heading", name="facesearch").first.wait_for(timeout=30_000)
    wait_running_done(page)
    shot(page, "7-home")


def test_merge_two_people_and_name_one(server, page):
    """Runs after the test above (same server): the collection holds Obama twice and Biden once."""
    page.goto(server)
    page.get_by_role("link", name="People").click()
    page.get_by_role("heading", name="People").first.wait_for(timeout=30_000)
    wait_running_done(page)
    page.get_by_text("2 people · 3 faces").wait_for(timeout=60_000)
    shot(page, "8-people")
    boxes = page.locator("[data-testid=stCheckbox]", has_text="Select")
    assert boxes.count() == 2
    boxes.nth(0).click()
    wait_running_done(page)
    boxes.nth(1).click()
    wait_running_done(page)
    page.get_by_role("button", name="Merge the 2 selected people").click()
    page.get_by_role("button", name="Yes, merge").click()  # a merge asks first
    page.get_by_text("1 person · 3 faces").wait_for(timeout=60_000)
    page.locator("[data-testid=stButton] button", has_text="Open").first.click()
    try:
        page.get_by_role("button", name="Save name").wait_for(timeout=30_000)
    finally:
        shot(page, "9-person-open")
    wait_running_done(page)
    page.get_by_placeholder("Mom").fill("Mom")
    page.get_by_role("button", name="Save name").click()
    page.get_by_text("Renamed to Mom").wait_for(timeout=30_000)
    wait_running_done(page)
    # Undo the rename, then name her again.
    page.get_by_role("button", name="Undo rename to Mom").click()
    page.get_by_text("Undone: rename to Mom").wait_for(timeout=30_000)
    wait_running_done(page)
    assert page.get_by_placeholder("Mom").input_value() == ""
    page.get_by_placeholder("Mom").fill("Mom")
    page.get_by_role("button", name="Save name").click()
    page.get_by_text("Renamed to Mom").wait_for(timeout=30_000)
    wait_running_done(page)
    shot(page, "9-person")
    page.get_by_role("link", name="People").click()
    page.get_by_role("heading", name="People").first.wait_for(timeout=30_000)
    wait_running_done(page)
    assert page.locator("[data-testid=stMarkdownContainer]", has_text="Mom").count() >= 1


def test_photos_and_compare_pages(server, page):
    """Same server: the Photos grid shows every photo with its faces named; Compare scores a photo
    of Obama against one of Biden and one of Obama."""
    page.goto(server)
    page.get_by_role("link", name="Photos", exact=True).click()
    page.get_by_role("heading", name="Photos").first.wait_for(timeout=30_000)
    wait_running_done(page)
    page.get_by_text("3 of 3 photos").wait_for(timeout=30_000)
    shot(page, "11-photos")
    page.get_by_role("link", name="Compare").click()
    page.get_by_role("heading", name="Compare two photos").first.wait_for(timeout=30_000)
    wait_running_done(page)
    inputs = page.locator("[data-testid=stFileUploaderDropzoneInput]")
    inputs.nth(0).set_input_files(str(FIXTURES / "obama2.jpg"))
    wait_running_done(page)
    inputs.nth(1).set_input_files(str(FIXTURES / "obama.jpg"))
    page.get_by_text("Most alike face").wait_for(timeout=60_000)
    wait_running_done(page)
    assert float(metric(page, "Most alike face").rstrip("%")) >= 80
    shot(page, "12-compare")


@pytest.fixture(scope="module")
def server_with_mom(tmp_path_factory):
    """A server of its own whose only collection holds obama.jpg, obama3.jpg and biden.jpg, grouped
    into people, Obama's named "Mom" (made through facelib: the test runs alone, in any order)."""
    from facelib import Settings, Workspace, expand_paths

    data = tmp_path_factory.mktemp("live") / "data"
    ws = Workspace(Settings(data_dir=data))
    coll = ws.ensure_collection("family")
    report = coll.index(expand_paths([FIXTURES / n for n in ("obama.jpg", "obama3.jpg", "biden.jpg")]), workers=1)
    assert report.faces_indexed == 3, report.summary()
    coll.people.update()
    obama = next(o for o in report.outcomes if o.name.endswith("obama.jpg")).face_ids[0]
    coll.people.rename(coll.people.person_of()[obama], "Mom")
    log = tmp_path_factory.mktemp("log") / "streamlit-live.log"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACESEARCH_LOG_LEVEL", "debug")  # facelib's own lines under `streamlit run`, below
        with streamlit_app(data, log) as url:
            yield url, log


def test_live_camera_labels_the_person(server_with_mom, page):
    """streamlit-webrtc in headless chromium on 127.0.0.1, no STUN server: the fake camera plays
    obama2.jpg and the person named "Mom" is recognised in the stream."""
    server, log = server_with_mom
    page.goto(server)
    page.get_by_role("link", name="Live camera").click()
    page.get_by_role("heading", name="Live").first.wait_for(timeout=30_000)
    frame = page.frame_locator("iframe[title*='streamlit_webrtc']").first
    start = frame.get_by_role("button", name=re.compile("start", re.I))
    start.wait_for(timeout=60_000)
    start.click()
    cells = page.locator("[data-testid=stDataFrame] [role=gridcell]", has_text="Mom")
    cells.first.wait_for(state="attached", timeout=90_000)
    page.wait_for_timeout(1500)
    shot(page, "10-live")
    assert int(metric(page, "Frames")) > 0 and int(metric(page, "Searches")) >= 1
    # Under `streamlit run`, facelib's lines reach the terminal: time, level, logger; OpenCV says nothing.
    lines = log.read_text().splitlines()
    assert any(re.match(r"\d{4}-\d\d-\d\dT[\d:.]+Z DEBUG facelib\.logs: facesearch logging at debug", ln)
               for ln in lines), lines[-20:]
    assert not [ln for ln in lines if "setPreferableTarget" in ln]


@pytest.fixture
def oidc_provider():
    """A real OpenID Connect provider on 127.0.0.1 (oidc-provider-mock): any client id and secret,
    and its authorization page signs in whoever's e-mail is typed."""
    import threading

    import oidc_provider_mock
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, oidc_provider_mock.app())
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        thread.join(10)


def test_login_wall_and_per_user_collections(tmp_path, oidc_provider, page, monkeypatch):
    """With [auth] in the secrets every page needs a sign-in; a user is the ID token's issuer and
    subject, and sees only the collections they own or accepted (a fresh browser context each, from
    the module's chromium). Issue 22, item 2: an ID token carrying an administrator's e-mail,
    unverified, is nobody special."""
    import json

    from facelib import Settings, Workspace

    def provider_user(sub: str, claims: dict) -> None:
        req = urllib.request.Request(f"{oidc_provider}/users/{sub}", data=json.dumps(claims).encode(), method="PUT",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()

    data = tmp_path / "data"
    ws = Workspace(Settings(data_dir=data))
    for name in ("alice", "bob"):  # the provider vouches for these addresses
        provider_user(f"{name}@example.com", {"email": f"{name}@example.com", "email_verified": True})
    provider_user("mallory", {"email": "admin@example.com", "email_verified": False})
    alice = ws.sign_in(oidc_provider, "alice@example.com", "alice@example.com", True)
    bob = ws.sign_in(oidc_provider, "bob@example.com", "bob@example.com", True)
    ws.create_collection("Alice's album", owner=alice)
    ws.create_collection("Bob's album", owner=bob)
    ws.create_collection("made by the CLI")  # the administrators'
    monkeypatch.setenv("FACESEARCH_ADMINS", "admin@example.com")
    port = free_port()
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'''[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "a-long-random-test-cookie-secret-0123456789"
client_id = "facesearch-test"
client_secret = "test-secret"
server_metadata_url = "{oidc_provider}/.well-known/openid-configuration"
''')
    with streamlit_app(data, tmp_path / "streamlit.log", "--secrets.files", str(secrets), port=port) as url:
        browser = page.context.browser
        assert browser is not None
        for who, mine, theirs in (("alice@example.com", ["Alice's album"], ["Bob's album", "made by the CLI"]),
                                  ("bob@example.com", ["Bob's album"], ["Alice's album", "made by the CLI"]),
                                  ("mallory", [], ["Alice's album", "Bob's album", "made by the CLI"])):
            visitor = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
            visitor.goto(url + "/People")  # any page: the sign-in comes first
            visitor.get_by_role("button", name="Sign in").click()
            visitor.wait_for_selector("input[name=sub]", timeout=60_000)
            visitor.fill("input[name=sub]", who)
            visitor.get_by_role("button", name="Authorize").click()
            visitor.get_by_text("Signed in as").wait_for(timeout=60_000)
            sidebar = visitor.locator("[data-testid=stSidebar]")
            (visitor.get_by_text(mine[0]).first if mine else visitor.get_by_text("No collection yet")).wait_for(
                timeout=60_000)
            shown = sidebar.inner_text().replace("\u2060", "")  # (invisible joiners that stop autolinks)
            email = "admin@example.com (unverified)" if who == "mallory" else who
            assert f"Signed in as {email}" in shown
            assert all(m in shown for m in mine) and not any(t in shown for t in theirs), shown
            assert sidebar.locator("a[href^='mailto:']").count() == 0  # user text is never a link
            visitor.screenshot(path=str(OUT / f"login-{who.split('@')[0]}.png"))
            visitor.context.close()
