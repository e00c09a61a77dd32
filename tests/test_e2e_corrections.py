"""Issue 24 in Debian's chromium: the analyst's corrections land on the person they were made on.

AppTest keeps a selectbox's value when its labels change; a browser rebuilds the widget and it
falls back to its default, so these flows are driven in chromium against ``streamlit run``. The
collection is made through facelib (Biden in five photos, Obama in three: Obama is *not* first in
the Person picker) and every outcome is checked in the catalog, not only on screen.
"""

from __future__ import annotations

import io
import re

import pytest
from conftest import FIXTURES
from PIL import Image, ImageEnhance, ImageOps
from test_e2e import ARGS, CHROMIUM, streamlit_app, table_cells, wait_running_done

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="no chromium")]


def variants(name: str) -> list[tuple[str, bytes]]:
    """Four other photos of the same face: mirrored, cropped, darker, mirrored and cropped."""
    im = Image.open(FIXTURES / name).convert("RGB")
    w, h = im.size
    crop = im.crop((w // 20, h // 20, w - w // 20, h - h // 20))
    out = {"mirror": ImageOps.mirror(im), "crop": crop, "dark": ImageEnhance.Brightness(im).enhance(0.8),
           "mirror-crop": ImageOps.mirror(crop)}
    files = []
    for tag, picture in out.items():
        buf = io.BytesIO()
        picture.save(buf, "JPEG", quality=92)
        files.append((f"{name[:-4]}-{tag}.jpg", buf.getvalue()))
    return files


def many(name: str, n: int) -> list[tuple[str, bytes]]:
    """``n`` other photos of the same face: crops at different offsets and brightness, some mirrored."""
    im = Image.open(FIXTURES / name).convert("RGB")
    w, h = im.size
    files = []
    for i in range(n):
        dx, dy = (i % 4) * w // 40, (i // 4 % 4) * h // 40
        picture = ImageEnhance.Brightness(im.crop((dx, dy, w - (3 - i % 4) * w // 40, h - dy // 2))).enhance(
            0.85 + 0.02 * (i % 8))
        if i % 2:
            picture = ImageOps.mirror(picture)
        buf = io.BytesIO()
        picture.save(buf, "JPEG", quality=90)
        files.append((f"{name[:-4]}-v{i:02d}.jpg", buf.getvalue()))
    return files


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """(url, collection handle, obama's person id, biden's person id) of a server of its own."""
    from facelib import Settings, Workspace, expand_paths

    data = tmp_path_factory.mktemp("corrections") / "data"
    extra = tmp_path_factory.mktemp("photos")
    for fname, blob in variants("biden.jpg"):
        (extra / fname).write_bytes(blob)
    ws = Workspace(Settings(data_dir=data))
    coll = ws.ensure_collection("family")
    paths = [FIXTURES / n for n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")] + sorted(extra.iterdir())
    report = coll.index(expand_paths(paths), workers=1)
    assert report.faces_indexed == 8, report.summary()
    coll.people.update()
    people = coll.people.listing()
    assert [len(p.face_ids) for p in people] == [5, 3], [(p.label, p.face_ids) for p in people]
    biden, obama = people[0].person_id, people[1].person_id
    # "crowd": 52 faces, each a person of its own (an analyst's "not this person" on each): two pages of cards.
    crowd_dir = tmp_path_factory.mktemp("crowd")
    for n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"):
        for fname, blob in many(n, 13):
            (crowd_dir / fname).write_bytes(blob)
    crowd = ws.ensure_collection("crowd")
    report = crowd.index(expand_paths([crowd_dir]), workers=1)
    crowd.people.update()
    crowd.people.not_these_faces([f for p in crowd.people.listing() for f in p.face_ids])
    crowd.people.store.forget_undo()
    assert len(crowd.people.listing()) == report.faces_indexed > 48, report.summary()
    with streamlit_app(data, tmp_path_factory.mktemp("log") / "streamlit.log") as url:
        yield url, coll, obama, biden


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 2200})
    yield context.new_page()
    context.close()


def names(coll) -> dict[int, str | None]:
    return {p.person_id: p.name for p in coll.people.listing(include_hidden=True)}


def open_person(page, url: str, pid: int) -> None:
    page.goto(f"{url}/Person?collection=family&person={pid}")
    page.get_by_role("button", name="Save name").wait_for(timeout=60_000)
    wait_running_done(page)


def save_name(page, name: str) -> None:
    box = page.get_by_placeholder("Mom")
    box.fill(name)
    box.press("Tab")  # commit the text input before the click (as a person moving to the button does)
    wait_running_done(page)
    page.get_by_role("button", name="Save name").click()
    page.get_by_text(f"Renamed to {name}").wait_for(timeout=30_000)
    wait_running_done(page)


def heading(page) -> str:
    return page.locator("[data-testid=stMain] h3").first.inner_text()


def tick_rows(page, rows: list[int]) -> None:
    """Tick rows of the faces table by their row markers (row height 64, header 35)."""
    grid = page.locator("[data-testid=stDataFrame]").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    for r in rows:
        page.mouse.move(box["x"] + 14, box["y"] + 36 + 64 * r + 32)
        page.mouse.click(box["x"] + 14, box["y"] + 36 + 64 * r + 32)
        wait_running_done(page)


def reset(coll, obama: int, biden: int) -> None:
    """Each test starts from the two people unnamed (corrections of an earlier test undone by hand)."""
    coll.people.regroup()
    for pid in (obama, biden):
        if pid in names(coll):
            coll.people.rename(pid, "")
    coll.people.store.forget_undo()


def test_rename_twice_on_a_person_not_first_in_the_picker(family, page):
    url, coll, obama, biden = family
    reset(coll, obama, biden)
    open_person(page, url, obama)
    save_name(page, "Ann Smyth")
    save_name(page, "Ann Smith")
    assert "Ann Smith" in heading(page)
    assert names(coll) == {biden: None, obama: "Ann Smith"}


def test_rename_after_undo_lands_on_the_same_person(family, page):
    url, coll, obama, biden = family
    reset(coll, obama, biden)
    open_person(page, url, obama)
    save_name(page, "B one")
    page.get_by_role("button", name="Undo rename to B one").click()
    page.get_by_text("Undone: rename to B one").wait_for(timeout=30_000)
    wait_running_done(page)
    save_name(page, "B two")
    assert names(coll) == {biden: None, obama: "B two"}
    assert "B two" in heading(page)


def test_undo_split_shows_the_person_worked_on(family, page):
    url, coll, obama, biden = family
    reset(coll, obama, biden)
    coll.people.rename(obama, "Barack")
    open_person(page, url, obama)
    tick_rows(page, [0])
    page.get_by_role("button", name="Split into a new person").click()
    page.get_by_text(re.compile("Split 1 face into")).wait_for(timeout=30_000)
    wait_running_done(page)
    assert heading(page).startswith("Barack: 2 photos, 2 faces"), heading(page)
    page.get_by_role("button", name=re.compile("Undo split")).click()
    page.get_by_text("Undone: split").wait_for(timeout=30_000)
    wait_running_done(page)
    assert heading(page).startswith("Barack: 3 photos, 3 faces"), heading(page)
    assert len(coll.people.get(obama).face_ids) == 3


def test_move_keeps_the_person_and_counts_after_the_move(family, page):
    url, coll, obama, biden = family
    reset(coll, obama, biden)
    coll.people.rename(obama, "Barack")
    coll.people.rename(biden, "Joe")
    open_person(page, url, obama)
    tick_rows(page, [0])
    page.get_by_role("combobox", name=re.compile("Move to")).click()  # the "Move to" picker
    page.get_by_role("option", name=re.compile("^Joe")).click()
    wait_running_done(page)
    page.get_by_role("button", name="Move", exact=True).click()
    page.get_by_text("Moved 1 face to Joe (now 6 faces).").wait_for(timeout=30_000)
    wait_running_done(page)
    assert heading(page).startswith("Barack: 2 photos, 2 faces"), heading(page)
    assert len(coll.people.get(biden).face_ids) == 6


def test_ticks_are_kept_across_pages_of_cards_and_merge_at_the_top(family, page):
    url, coll, _, _ = family
    crowd = coll.ws.collection("crowd")
    everyone = crowd.people.listing()
    last = everyone[-1]  # on page 2 of 48 cards
    page.goto(f"{url}/People?collection=crowd")
    page.get_by_text(f"{len(everyone)} people").first.wait_for(timeout=60_000)
    wait_running_done(page)
    boxes = page.locator("[data-testid=stCheckbox]", has_text="Select")
    boxes.first.click()  # the first card of page 1
    wait_running_done(page)
    pager = page.get_by_label(re.compile(r"Page \(of 2\)"))
    pager.fill("2")
    pager.press("Enter")
    page.get_by_text(last.label, exact=True).wait_for(timeout=30_000)
    wait_running_done(page)
    boxes.last.click()  # the last card of page 2
    wait_running_done(page)
    merge = page.get_by_role("button", name="Merge the 2 selected people")
    merge.wait_for(timeout=30_000)
    # the action is above the cards: above the first card's Open button
    assert merge.bounding_box()["y"] < page.get_by_role("button", name="Open").first.bounding_box()["y"]
    merge.click()
    page.get_by_role("button", name="Yes, merge").click()
    page.get_by_text(f"{len(everyone) - 1} people").first.wait_for(timeout=60_000)
    merged = {p.person_id: len(p.face_ids) for p in crowd.people.listing()}
    assert 2 in merged.values() and len(merged) == len(everyone) - 1
    # every checkbox names its person for a screen reader
    assert page.locator("[data-testid=stCheckbox]", has_text="Select").first.inner_text().startswith("Select Person")


def test_not_the_same_person_is_remembered(family, page):
    url, coll, obama, biden = family
    reset(coll, obama, biden)
    # as the incremental grouping may leave them: one of Obama's faces a person of its own, no decision
    split_off = coll.people.store.new_person()
    coll.people.store.assign([coll.people.get(obama).face_ids[0]], split_off)
    assert any({a.person_id, b.person_id} == {obama, split_off} for a, b, _ in coll.people.merge_suggestions())
    page.goto(f"{url}/People?collection=family")
    page.get_by_text("Maybe the same person?").wait_for(timeout=60_000)
    wait_running_done(page)
    page.get_by_role("button", name="Not the same person").first.click()
    page.get_by_text("are not the same person").wait_for(timeout=30_000)
    assert not coll.people.merge_suggestions()
    coll.people.regroup()  # remembered by a regroup too
    assert len(coll.people.listing()) == 3


def test_browser_back_takes_one_press_per_page_visit(family, page):
    """Each page visit adds one history entry: Back returns to the page visited before."""
    url, coll, obama, biden = family
    page.goto(f"{url}/?collection=family")
    page.get_by_role("heading", name="facesearch").first.wait_for(timeout=60_000)
    wait_running_done(page)
    page.wait_for_timeout(500)
    start = page.evaluate("history.length")
    visits = [("Search", "Search"), ("People", "People"), ("Person", "Person"), ("Photos", "Photos"),
              ("Faces", "Faces")]
    for link, title in visits:
        page.get_by_role("link", name=link, exact=True).click()
        page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=30_000)
        wait_running_done(page)
        page.wait_for_timeout(500)
    assert page.evaluate("history.length") - start == len(visits)
    for _, title in reversed(visits[:-1]):
        page.go_back()
        page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=30_000)
        wait_running_done(page)
        page.wait_for_timeout(300)


def group_photo(path) -> bytes:
    """obama2 | obama3 | biden (smaller, so not the largest face): a group photo of three faces."""
    parts = [Image.open(FIXTURES / n).convert("RGB") for n in ("obama2.jpg", "obama3.jpg", "biden.jpg")]
    parts[2] = parts[2].resize((parts[2].width * 2 // 3, parts[2].height * 2 // 3))
    h = max(p.height for p in parts)
    out = Image.new("RGB", (sum(p.width for p in parts), h), (250, 250, 250))
    x = 0
    for p in parts:
        out.paste(p, (x, (h - p.height) // 2))
        x += p.width
    out.save(path, "JPEG", quality=92)
    return path.read_bytes()


def test_pick_face_3_of_a_group_photo_by_clicking_it(family, page, tmp_path):
    """Search: the faces are numbered left to right; a click on the third face searches that face."""
    from facelib import decode

    url, coll, obama, biden = family
    reset(coll, obama, biden)
    photo = tmp_path / "group.jpg"
    result = coll.search_image(decode(group_photo(photo), "group.jpg"))
    boxes = [d.box for d in result.query_faces]
    assert len(boxes) == 3
    third = max(boxes, key=lambda b: b.left)  # face 3 counting from the left: Biden
    assert result.searched_face != boxes.index(third)  # not the one searched by default
    page.goto(f"{url}/Search?collection=family")
    page.get_by_role("heading", name="Search").first.wait_for(timeout=60_000)
    page.locator("[data-testid=stFileUploaderDropzoneInput]").first.set_input_files(str(photo))
    page.get_by_role("button", name="Face 3").wait_for(timeout=120_000)
    wait_running_done(page)
    page.get_by_text(re.compile(r"match(es)? at ≥80%")).wait_for(timeout=60_000)
    first_rows = [c for c in table_cells(page) if c.endswith(".jpg")]
    assert first_rows and first_rows[0].startswith("obama"), first_rows[:4]
    chart = page.locator("[data-testid=stVegaLiteChart] canvas, [data-testid=stVegaLiteChart] svg").first
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    cx, cy = third.left + third.width / 2, third.top + third.height / 2
    page.mouse.click(box["x"] + cx * box["width"], box["y"] + cy * box["height"])
    page.wait_for_timeout(500)
    wait_running_done(page)
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stDataFrame] [role=gridcell]')]"
                           ".some(c => c.innerText.startsWith('biden'))", timeout=60_000)
    rows = [c for c in page.locator("[data-testid=stDataFrame] [role=gridcell]").all_inner_texts() if c.endswith(".jpg")]
    assert rows[0].startswith("biden"), rows[:4]
