"""facesearch: Home. What the collection holds, what was spent, and a one-click start."""

from __future__ import annotations

import streamlit as st

from facelib import EngineName, Watchlists, expand_paths
from pages.ui.common import choose_collection, collection_label, current_user, setup, workspace
from pages.ui.indexing import run_batch, show_report
from pages.ui.text import md, plural
from pages.ui.watch import alerts_view

SAMPLE_COLLECTION = "samples"

coll = setup("Home", ":material/home:")
ws = workspace()
st.title("facesearch")
st.caption("Index the faces in your photos, then find people by photo, camera snapshot or a click on any face.")

counts = coll.counts() if coll else {"images": 0, "faces": 0, "rejected": 0}
user = current_user()
costs = ws.costs(user)  # with a login: what this user's calls cost (an administrator sees everyone's)


def start_here() -> None:
    """The one-click start: the sample photos into the user's own "samples" collection."""
    st.subheader("Start here")
    samples = sorted(ws.settings.samples_dir.glob("*.jpg"))
    left, right = st.columns([1, 2])
    with left:
        st.write(f"Index the {plural(len(samples), 'sample photo')} into a collection named "
                 f"**{SAMPLE_COLLECTION}** with the offline engine, then try the Search page.")
        if st.button("Index the sample photos", type="primary", key="index_samples"):
            # every user's "samples" is their own (collection names are per user): no other user's stands in the way
            sample_coll = ws.ensure_collection(SAMPLE_COLLECTION, EngineName.LOCAL, owner=user)
            choose_collection(sample_coll.name)
            st.session_state["home_report"] = run_batch(sample_coll, list(expand_paths(samples)))
            st.rerun()
    with right:  # the photos by their file names only (no server paths)
        st.image([str(p) for p in samples], width=110, caption=[md(p.name) for p in samples])


# "Start here" leads until the collection holds photos; then what it holds comes first.
if not counts["images"]:
    start_here()
if coll and counts["images"]:
    c = st.columns(4)
    c[0].metric("Images", counts["images"])
    c[1].metric("Faces", counts["faces"])
    c[2].metric("People", coll.people.count(), help="Open the People page to name and correct them.")
    c[3].metric("Rejected faces", counts["rejected"])

# Paid calls only matter once there are some, or on a Rekognition collection.
if costs.paid_calls or costs.cache_hits or (coll and coll.paid):
    st.subheader("Paid calls (AWS Rekognition)" + ("" if ws.is_admin(user) else ": yours"))
    c = st.columns(4)
    c[0].metric("Paid calls", costs.paid_calls)
    c[1].metric("Cache hits", costs.cache_hits, help="Calls answered from the local cache instead of AWS.")
    c[2].metric("Spent (est.)", f"${costs.spent:.3f}")
    c[3].metric("Saved by the cache (est.)", f"${costs.saved:.3f}")

if coll:  # watchlist alerts: watched people seen in newly indexed photos and videos, newest first
    alerts_view(coll, Watchlists(coll).alerts(limit=100), key="home_alerts", title="Watchlist alerts")

if "home_report" in st.session_state and coll:
    show_report(coll, st.session_state["home_report"])
    st.page_link("pages/2_Search.py", label="Now search a face", icon=":material/person_search:")

if coll:
    recent = coll.sample(12, seed=1)
    if recent:
        st.subheader(f"Some faces in {collection_label(coll.name)}")
        cols = st.columns(12)
        for col, f in zip(cols, recent, strict=False):
            col.image(coll.thumb_uri(f.thumb_path), width=72)
