"""Collections: list, describe, delete (with confirmation); delete one image with its faces."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from facelib import FaceLibError
from pages.ui.common import forget_results, need_collection, setup, workspace

coll = setup("Collections", ":material/folder:")
ws = workspace()
st.title("Collections")

if "collections_msg" in st.session_state:
    st.success(st.session_state.pop("collections_msg"))
overview = ws.overview()
if overview:
    st.dataframe(pd.DataFrame(overview), hide_index=True, width="stretch", key="collections_table")
coll = need_collection(coll)

st.subheader(coll.name)
if st.button("Describe (ask the engine)", key="describe"):
    try:
        info = coll.describe()
        st.success(f"The engine holds **{info.face_count}** face(s) · model {info.model_version} · "
                   f"created {info.created_at}")
    except FaceLibError as exc:
        st.error(str(exc))

n_images = coll.counts()["images"]
with st.expander(f"Delete one image ({n_images} in the collection)"):
    find = st.text_input("Find by name", key="delete_image_find", placeholder="part of the file name")
    images = coll.find_images(find.strip())
    if images:
        chosen = st.selectbox("Image", images, format_func=lambda i: i.original_name, key="delete_image_pick",
                              help="The 100 newest images whose name contains the text above.")
        if st.button("Delete this image and its faces", key="delete_image_go"):
            try:
                n = coll.delete_image(chosen.sha256)
                st.session_state["collections_msg"] = (f"Deleted {chosen.original_name} and its {n} face(s), "
                                                       "thumbnails and stored copy.")
                forget_results()
                st.rerun()
            except FaceLibError as exc:
                st.error(str(exc))
    else:
        st.caption("No image yet.")

with st.expander("Delete the whole collection", expanded=False):
    st.warning(f"This deletes **{coll.name}** from the engine and the catalog, with every thumbnail and "
               "stored copy. It cannot be undone.")
    typed = st.text_input(f"Type {coll.name} to confirm", key="delete_confirm")
    if st.button("Delete collection", type="primary", disabled=typed != coll.name, key="delete_collection_go"):
        try:
            coll.delete()
        except FaceLibError as exc:
            st.error(str(exc))
        else:
            forget_results()
            st.session_state["collections_msg"] = f"Deleted {coll.name}."
            st.rerun()
