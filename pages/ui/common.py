"""Set-up every page runs: the workspace, the sidebar (collection picker, new collection), the handle.

Pages are Streamlit's plain multipage mode (auto-discovered from pages/), so every page calls
:func:`page` itself instead of relying on app.py having run first. Widget values that must
survive page changes use Streamlit's own ``persist_state="session"``, except the collection
picker, which is on every page (see :func:`_collection_picker`). Deep links: ``?collection=``
(here), ``?face=`` (Search) and ``?person=`` (Person) are read on arrival and kept up to date.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import streamlit as st
from PIL import Image, ImageDraw
from streamlit.delta_generator import DeltaGenerator

from facelib import (
    ENGINE_LABELS,
    ENGINES,
    MODELS,
    Collection,
    EngineAuthError,
    FaceLibError,
    SettingError,
    Settings,
    Workspace,
    startup,
)

from .text import md

COLLECTION = "collection"          # widget key and query parameter: the collection being worked on
CHOSEN = "_collection"             # the durable choice behind the picker
NAV = [("app.py", "Home", ":material/home:"), ("pages/1_Index.py", "Index photos", ":material/upload:"),
       ("pages/2_Search.py", "Search", ":material/person_search:"),
       ("pages/7_Live.py", "Live camera", ":material/videocam:"), ("pages/3_Faces.py", "Faces", ":material/face:"),
       ("pages/5_People.py", "People", ":material/groups:"),
       ("pages/6_Person.py", "Person", ":material/person:"), ("pages/9_Photos.py", "Photos", ":material/photo_library:"),
       ("pages/10_Review.py", "Review", ":material/rule:"), ("pages/8_Compare.py", "Compare", ":material/compare:"),
       ("pages/4_Collections.py", "Collections", ":material/folder:")]
#: Session keys that hold results of one collection; dropped when the collection changes.
PER_COLLECTION = ("search_query", "search_result", "search_key", "search_person_result", "index_report", "home_report",
                  "s3_sources", "live_recognizer")
log = logging.getLogger(__name__)

try:  # every setting checked and logging configured, once per process, before anything reads a setting
    startup()
except SettingError as exc:
    st.error(md(exc))
    st.stop()

#: What to configure for the Rekognition engine (shown where it is chosen and AWS is not set up).
AWS_SETUP = ("AWS Rekognition is not configured on this server. To use it, set an AWS region "
             "(`AWS_DEFAULT_REGION`, or a profile's region) and credentials (`AWS_PROFILE`, or "
             "`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`) in the app's environment, then restart it. "
             "The offline engine works without them.")


@st.cache_resource(show_spinner="Opening the catalog…")
def _workspace(data_dir: str) -> Workspace:
    return Workspace(Settings(data_dir=Path(data_dir)))


def workspace() -> Workspace:
    """The workspace of ``$FACESEARCH_DATA_DIR`` (or data/), built once per process and data directory."""
    return _workspace(str(Settings().data_dir))


def choose_collection(name: str) -> None:
    """Make ``name`` the current collection on the next run (before the picker is drawn)."""
    forget_results()
    st.session_state[CHOSEN] = name
    st.session_state["_results_of"] = name


SEARCH_QUERY = "search_query"  # what the Search page searches: {"kind": "image"|"face", ...}


def set_face_query(face_id: str) -> None:
    """Make the Search page search this indexed face."""
    st.session_state[SEARCH_QUERY] = {"kind": "face", "source": "face", "face_id": face_id.strip()}


def search_face(face_id: str) -> None:
    """Open the Search page on this indexed face."""
    set_face_query(face_id)
    name = st.session_state.get(CHOSEN)
    st.switch_page("pages/2_Search.py", query_params={COLLECTION: name} if name else None)


def set_person_query(collection: str, person_id: int) -> None:
    """Make the Search page search with every face of this person (of ``collection``, this one or another)."""
    # "asked": a new search each time (the person's faces may have changed since the last one)
    st.session_state[SEARCH_QUERY] = {"kind": "person", "source": "person", "collection": collection,
                                      "person_id": int(person_id), "asked": time.time_ns()}


def search_person_page(collection: str, person_id: int) -> None:
    """Open the Search page on this person (a button's callback may call :func:`set_person_query` instead)."""
    set_person_query(collection, person_id)
    name = st.session_state.get(CHOSEN)
    st.switch_page("pages/2_Search.py", query_params={COLLECTION: name} if name else None)


def forget_results() -> None:
    """Drop what was computed for the current collection (searches, reports, the live recogniser)."""
    for k in PER_COLLECTION:
        value = st.session_state.pop(k, None)
        close = getattr(value, "close", None)
        if callable(close):
            close()


def page(title: str, icon: str = ":material/person_search:") -> Collection:
    """Page config and the sidebar; returns the chosen collection's handle, or stops the page with a
    hint when there is no collection yet."""
    return need_collection(setup(title, icon))


def need_collection(coll: Collection | None) -> Collection:
    """``coll``, or stop the page with a hint when there is no collection yet."""
    if coll is None:
        st.warning("Create a collection in the sidebar first (or index the sample photos on the Home page).")
        st.page_link("app.py", label="Go to Home", icon=":material/home:")
        st.stop()
    return coll


@st.cache_resource(show_spinner=False)
def _tab_icon() -> Image.Image:
    """The browser tab's icon: a face in the theme's colour, 64 px (no outside request)."""
    im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    draw.ellipse((4, 4, 60, 60), fill=(11, 110, 153, 255))
    for x in (22, 42):
        draw.ellipse((x - 4, 24, x + 4, 32), fill=(255, 255, 255, 255))
    draw.arc((18, 26, 46, 48), 20, 160, fill=(255, 255, 255, 255), width=4)
    return im


def login_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` configures a login (an ``[auth]`` section for ``st.login``)."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all: no login
        return False


def current_user() -> str | None:
    """The signed-in user's id (the issuer and subject of the verified ID token, see
    :meth:`facelib.Workspace.sign_in`), or None when no login is configured (the app is then bound
    to 127.0.0.1 and its user is the administrator). With a login configured, a visitor who is not
    signed in sees only the sign-in button. The e-mail is not who you are: it counts (for
    administrators and invitations) only when the provider says it is verified."""
    if not login_configured():
        return None
    if not st.user.is_logged_in:
        st.title("facesearch")
        st.write("Sign in to see your collections.")
        st.button("Sign in", type="primary", key="login", on_click=st.login)
        st.stop()
    issuer, subject = st.user.get("iss"), st.user.get("sub")
    if not issuer or not subject:  # not an ID token's claims: nobody
        st.error("The sign-in did not say who you are (no issuer and subject in the ID token). Sign in again.")
        st.button("Sign out", key="logout_unknown", on_click=st.logout)
        st.stop()
    email = st.user.get("email")
    verified = st.user.get("email_verified") in (True, "true")  # some providers send the string
    claims = (str(issuer), str(subject), str(email) if email else None, verified)
    signed = st.session_state.get("_signed_in")
    if not signed or signed[0] != claims:
        signed = (claims, workspace().sign_in(*claims))
        st.session_state["_signed_in"] = signed
    return str(signed[1])


def collection_label(name: str) -> str:
    """A collection as shown to people (without its owner's tag), escaped for markdown."""
    return md(workspace().display_name(name))


def _guard_uploads() -> None:
    """Streamlit takes a PUT to ``/_stcore/upload_file/<session>/<file>`` from any live session,
    signed in or not, and keeps the file in memory. With a login configured, a file uploaded by a
    session that is not signed in is refused (403) and dropped at once; and Streamlit's size limit
    is lowered to the app's own per-file limit (``FACESEARCH_UPLOAD_MAX_MB``). Installed once per
    process, when a page first imports this module."""
    from starlette.exceptions import HTTPException
    from streamlit import config
    from streamlit.runtime import Runtime
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager

    limit = max(1, int(Settings().upload_max_mb))
    if int(config.get_option("server.maxUploadSize")) > limit:
        config.set_option("server.maxUploadSize", limit)
    if getattr(MemoryUploadedFileManager.add_file, "_signed_in_only", False):
        return
    original = MemoryUploadedFileManager.add_file

    def add_file(self: MemoryUploadedFileManager, session_id: str, file: object) -> None:
        if login_configured():
            info = Runtime.instance()._session_mgr.get_active_session_info(session_id) if Runtime.exists() else None
            user_info = getattr(info.session, "_user_info", {}) if info is not None else {}
            if not user_info.get("is_logged_in"):
                log.warning("upload refused: session %s is not signed in", session_id[:8])
                raise HTTPException(status_code=403, detail="Sign in first")
        original(self, session_id, file)  # type: ignore[arg-type]

    add_file._signed_in_only = True  # type: ignore[attr-defined]
    MemoryUploadedFileManager.add_file = add_file  # type: ignore[method-assign]


_guard_uploads()


def setup(title: str, icon: str = ":material/person_search:") -> Collection | None:
    """Page config, the login when one is configured, and the sidebar; returns the chosen
    collection's handle (None when there is none), among those the user may use."""
    # The tab's icon is drawn here and served by the app: a ":material/...:" page icon makes the
    # browser fetch an SVG from fonts.gstatic.com (``icon`` stays for the pages' own use).
    st.set_page_config(page_title=f"{title} · facesearch", page_icon=_tab_icon(), layout="wide")
    user = current_user()
    try:
        ws = workspace()
    except FaceLibError as exc:  # a damaged catalog: say so plainly, on every page, and stop
        log.error("cannot open the workspace: %s", exc)
        st.error(f"The collections cannot be opened: {md(exc)}")
        st.stop()
    coll: Collection | None = None
    with st.sidebar:
        st.markdown("### :material/face_retouching_natural: facesearch")
        nav = st.container()  # filled once the collection is known: the links carry it (one history entry a visit)
        st.divider()
        if user is not None:
            st.caption(f"Signed in as {md(ws.user_label(user))}")
            st.button("Sign out", key="logout", on_click=st.logout)
            _invitations(ws, user)
        name = _collection_picker(ws, user)
        _nav_links(nav, name)
        _new_collection_form(ws, user)
        if name:
            coll = ws.collection(name, user)
            c = coll.counts()
            where = f" · AWS account {coll.location}" if coll.location else ""
            st.caption(f"{collection_label(name)} · {coll.engine_name} engine{where} · {c['images']} images · {c['faces']} faces")
            from .jobs import jobs_panel  # (jobs.py uses this module's workspace)

            jobs_panel(coll, "sidebar")  # running and queued jobs of this collection, on every page
    return coll


def _nav_links(nav: DeltaGenerator, name: str | None) -> None:
    """The page links, each with the URL its page keeps (``?collection=``, and ``?person=`` for Person):
    the page then has nothing to add to the URL, so a visit is one browser history entry, not two or three."""
    with nav:
        for path, label, page_icon in NAV:
            query = {COLLECTION: name} if name else {}
            if name and path == "pages/6_Person.py" and isinstance(st.session_state.get("person"), int):
                query["person"] = str(st.session_state["person"])
            st.page_link(path, label=label, icon=page_icon, query_params=query or None)


def _invitations(ws: Workspace, user: str) -> None:
    """Collections shared with the user's verified e-mail: nothing of them is used (nor chosen as
    the default) until the user accepts."""
    for name in ws.invitations(user):
        owner = ws.members(name)[0] or "an administrator"
        st.info(f"{md(owner)} shares {collection_label(name)} with you.")
        yes, no = st.columns(2)
        if yes.button("Accept", key=f"accept_{name}"):
            ws.accept(name, user)
            st.rerun()
        if no.button("Decline", key=f"decline_{name}"):
            ws.decline(name, user)
            st.rerun()


def _collection_picker(ws: Workspace, user: str | None) -> str | None:
    engines = ws.engines_by_collection(user)
    if not engines:
        st.info("No collection yet: create one below, or index the sample photos on the Home page.")
        return None
    # The user's own collections first: the default is never one somebody else shared.
    names = sorted(engines, key=lambda n: user is not None and not ws.owns(n, user))
    previous = st.session_state.get("_results_of")
    # The picker is drawn on every page, and Streamlit 1.67 resets a keyed widget met on a second page
    # (persist_state restores it only on the page that set it), so the durable choice lives under a
    # plain key and is copied in. ?collection=NAME opens that collection.
    chosen = st.session_state.get(CHOSEN)
    linked = st.query_params.get(COLLECTION)
    if chosen not in engines:
        chosen = linked if linked in engines else names[0]
    st.session_state[COLLECTION] = st.session_state[CHOSEN] = chosen

    def keep() -> None:
        st.session_state[CHOSEN] = st.session_state[COLLECTION]

    shown = {n: ws.display_name(n) for n in names}
    name: str = st.selectbox("Collection", names, key=COLLECTION, on_change=keep,
                             format_func=lambda n: f"{shown.get(n, n)} ({engines.get(n, '?')})")
    if st.query_params.get(COLLECTION) != name:
        st.query_params[COLLECTION] = name
    if previous is not None and previous != name:
        forget_results()
    st.session_state["_results_of"] = name
    return name


def _new_collection_form(ws: Workspace, user: str | None) -> None:
    with st.expander("New collection", expanded=not ws.collections(user)):
        with st.form("new_collection", clear_on_submit=True, border=False):
            name = st.text_input("Name", placeholder="family-2024", key="new_collection_name",
                                 help="Any name up to 100 characters: spaces and any script allowed.")
            engine = st.radio("Engine", ENGINES, format_func=lambda e: ENGINE_LABELS[e], key="new_collection_engine",
                              horizontal=False)
            usable = True
            try:
                models = ws.engine(engine).models if engine else ()
            except FaceLibError as exc:  # AWS not configured on this server: say what to set, once
                log.warning("engine %s unavailable: %s", engine, exc)
                st.warning(AWS_SETUP if isinstance(exc, EngineAuthError) else
                           f"The {md(engine)} engine cannot be used here: {md(exc)}")
                models = ()
                usable = False
            model = st.radio("Model (local engine)", MODELS, key="new_collection_model", horizontal=True,
                             help="YuNet + SFace finds turned, small and children's faces; dlib is the earlier model.")
            if st.form_submit_button("Create", type="primary") and usable:
                try:
                    made = ws.create_collection(name.strip(), engine, model if model in models else None, owner=user)
                except FaceLibError as exc:
                    st.error(md(exc))
                else:
                    choose_collection(made.name)
                    st.rerun()
