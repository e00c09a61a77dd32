"""Issue 22 in the pages (AppTest, signed-in users through ``AppTest.user``): who a user is, what
user text becomes on screen, what a CSV holds, and a missing AWS configuration."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from conftest import ROOT, fixture_bytes
from google.protobuf.json_format import MessageToDict
from streamlit.testing.v1 import AppTest

from facelib import Settings, Workspace, bytes_source

ISS = "https://accounts.example.org"
AUTH = {"auth": {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32,
                 "client_id": "c", "client_secret": "s",
                 "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}}
EVIL_FILE = "[click](mailto:me@evil.example) www.evil.example.jpg"
EVIL_NAME = "![p](http://evil.example/p.png) **Bob**"


def app(data, user: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if user is not None:
        at.secrets = AUTH
        at.user = {"is_logged_in": True, **user}
    return at


def claims(name: str, verified: bool = True, sub: str | None = None) -> dict:
    return {"iss": ISS, "sub": sub or f"sub-{name}", "email": f"{name}@example.com", "email_verified": verified}


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESEARCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACESEARCH_ADMINS", "admin@example.com")
    return tmp_path / "data"


# -- markdown from user text (item 9) ---------------------------------------------------------------
MARKDOWN_FIELDS = {"body", "label", "caption", "help", "text", "placeholder", "message", "title"}


def shown_texts(at: AppTest) -> list[str]:
    """Every string of every element that Streamlit renders as markdown (bodies, labels, captions,
    help, progress text, toasts), in the main area and the sidebar."""
    found: list[str] = []

    def collect(value: object, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                collect(v, k)
        elif isinstance(value, list):
            for v in value:
                collect(v, key)
        elif isinstance(value, str) and key in MARKDOWN_FIELDS:
            found.append(value)

    def walk(node: object) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "DESCRIPTOR"):
            collect(MessageToDict(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)
    walk(at._tree)
    return found


def raw_markdown(texts: list[str]) -> list[str]:
    """Texts where the hostile names still work as markdown: a link, an image or a bare URL."""
    return [t for t in texts if "evil" in t and ("](" in t or "http://evil" in t or "**Bob**" in t)]


def test_user_text_is_plain_text_on_every_page(data):
    ws = Workspace(Settings(data_dir=data))
    coll = ws.create_collection("c")
    coll.index([bytes_source(EVIL_FILE, fixture_bytes("obama.jpg")), bytes_source("b.jpg", fixture_bytes("biden.jpg"))],
               workers=1)
    coll.people.update()
    person = coll.people.listing()[0]
    coll.people.rename(person.person_id, EVIL_NAME)  # the last correction: the Undo button names it
    face = next(f for f in coll.faces() if f.image_name == EVIL_FILE)
    at = app(data).run()
    seen: dict[str, list[str]] = {"Home": raw_markdown(shown_texts(at))}
    for page in ("pages/3_Faces.py", "pages/5_People.py", "pages/6_Person.py", "pages/9_Photos.py",
                 "pages/4_Collections.py", "pages/2_Search.py"):
        if page.endswith("Search.py"):
            at.session_state["search_query"] = {"kind": "face", "source": "face", "face_id": face.face_id}
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        seen[page] = raw_markdown(shown_texts(at))
    assert any("Undo" in t for t in shown_texts(at.switch_page("pages/5_People.py").run()))
    assert {p: s for p, s in seen.items() if s} == {}


def test_the_search_csv_neutralises_formulas():
    """Item 10: OWASP's rule: = + - @ tab and CR at a cell's start get a quote; numbers stay numbers."""
    import sys

    sys.path.insert(0, str(ROOT))
    from pages.ui.tables import to_csv

    frame = pd.DataFrame({"image": ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "ok.jpg"],
                          "similarity": [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]})
    back = pd.read_csv(io.BytesIO(to_csv(frame)), keep_default_na=False)
    assert list(back["image"]) == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "ok.jpg"]
    assert list(back["similarity"]) == [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]


# -- who a user is (item 2), invitations (item 8), names (item 4) ----------------------------------
def test_an_unverified_admin_email_is_nobody_special_in_the_app(data):
    ws = Workspace(Settings(data_dir=data))
    ws.create_collection("cli-made")
    at = app(data, claims("admin", verified=False, sub="impostor")).run()
    assert not at.exception
    assert not at.sidebar.selectbox  # no collection at all to pick
    assert "cli-made" not in " ".join(shown_texts(at))
    admin = app(data, claims("admin")).run()
    assert admin.sidebar.selectbox(key="collection").value == "cli-made"


def test_a_share_waits_to_be_accepted_and_is_never_the_default(data):
    ws = Workspace(Settings(data_dir=data))
    alice = ws.sign_in(ISS, "sub-alice", "alice@example.com", True)
    bob = ws.sign_in(ISS, "sub-bob", "bob@example.com", True)
    ws.create_collection("bob's own", owner=bob)
    shared = ws.create_collection("alice's", owner=alice).name
    ws.share(shared, "bob@example.com", alice)
    at = app(data, claims("bob")).run()
    picker = at.sidebar.selectbox(key="collection")
    assert picker.options == ["bob's own (local)"] and not at.exception
    assert any("shares" in t and "alice" in t for t in shown_texts(at))
    at.sidebar.button(key=f"accept_{shared}").click().run()
    picker = at.sidebar.selectbox(key="collection")
    assert picker.options == ["bob's own (local)", "alice's (local)"]
    assert picker.value == ws.key_for("bob's own", bob)  # his own stays the default


def test_the_sample_photos_index_when_another_user_holds_samples_of_you(data):
    ws = Workspace(Settings(data_dir=data))
    alice = ws.sign_in(ISS, "sub-alice", "alice@example.com", True)
    bob = ws.sign_in(ISS, "sub-bob", "bob@example.com", True)
    for name in (f"samples of {alice}", "samples of alice@example.com", "samples"):
        ws.create_collection(name, owner=bob)
    at = app(data, claims("alice")).run()
    at.button(key="index_samples").click().run()
    assert not at.exception
    assert ws.collections(alice) == [ws.key_for("samples", alice)]
    assert ws.collection(ws.key_for("samples", alice), alice).counts()["images"] >= 3


def test_a_name_another_user_holds_can_be_created(data):
    ws = Workspace(Settings(data_dir=data))
    ws.create_collection("Family", owner=ws.sign_in(ISS, "sub-bob", "bob@example.com", True))
    at = app(data, claims("alice")).run()
    at.sidebar.text_input(key="new_collection_name").input("Family")
    at.sidebar.button[-1].click().run()  # the form's Create
    assert not at.exception and not at.sidebar.error
    assert at.sidebar.selectbox(key="collection").options == ["Family (local)"]


# -- a missing AWS configuration (item 14) ------------------------------------------------------------
def test_choosing_rekognition_without_aws_says_what_to_configure(data, monkeypatch, tmp_path):
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    at = app(data).run()
    at.sidebar.radio(key="new_collection_engine").set_value("rekognition")
    at.sidebar.text_input(key="new_collection_name").input("cloud")
    at.sidebar.button[-1].click().run()
    assert not at.exception
    warnings = [w.value for w in at.sidebar.warning]
    assert len(warnings) == 1 and "AWS_DEFAULT_REGION" in warnings[0] and "AWS_PROFILE" in warnings[0]
    assert Workspace(Settings(data_dir=data)).collections() == []
    at.switch_page("pages/3_Faces.py").run()  # the rest of every page works
    assert not at.exception
