"""Collections: list, describe, delete (with confirmation); delete one image with its faces."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from facelib import FaceLibError, JobKind, JobState
from pages.ui.common import collection_label, current_user, forget_results, need_collection, setup, workspace
from pages.ui.text import md

coll = setup("Collections", ":material/folder:")
ws = workspace()
st.title("Collections")

if "collections_msg" in st.session_state:
    st.success(st.session_state.pop("collections_msg"))
user = current_user()
overview = ws.overview(user)
if overview:
    for row in overview:  # where a Rekognition collection lives: account / region, from its ARN
        row["AWS account / region"] = ws.collection(str(row["collection"]), user).location or ""
        row["owner"] = ws.members(str(row["collection"]))[0] or "(administrator)"
        row["collection"] = ws.display_name(str(row["collection"]))
    st.dataframe(pd.DataFrame(overview), hide_index=True, width="stretch", key="collections_table")

if ws.is_admin(user):  # imports are the administrator's
    with st.expander("Import an existing Rekognition collection"):
        st.caption("A collection made outside facesearch is used only when you import it here, and it is never deleted "
                   "in AWS: deleting it here erases only the faces indexed from here.")
        if st.button("List this account's collections (free)", key="import_list"):
            try:
                st.session_state["importable"] = ws.importable()
            except FaceLibError as exc:
                st.error(md(exc))
        importable = st.session_state.get("importable")
        if importable == []:
            st.info("No Rekognition collection of this account and region is left to import.")
        elif importable:
            chosen_id = st.selectbox("AWS collection", importable, key="import_id")
            display = st.text_input("Name here", value=chosen_id or "", key="import_name")
            if st.button("Import", key="import_go", type="primary"):
                try:
                    ws.import_collection(display.strip(), str(chosen_id))
                except FaceLibError as exc:
                    st.error(md(exc))
                else:
                    st.session_state.pop("importable", None)
                    st.session_state["collections_msg"] = f"Imported {md(chosen_id)} as {md(display.strip())}."
                    st.rerun()
coll = need_collection(coll)
if user is not None and ws.may_manage(coll.name, user):
    owner, shared = ws.members(coll.name)
    with st.expander(f"Shared with {len(shared)} user(s)"):
        st.caption("Users you share a collection with can see, search and index into it and erase its faces once "
                   "they accept (it waits for them in their sidebar); only its owner can delete or share it.")
        if shared:
            st.text("\n".join(shared))
        other = st.text_input("Share with (their sign-in e-mail)", key="share_with")
        if st.button("Share", key="share_go") and other.strip():
            try:
                ws.share(coll.name, other.strip(), user)
            except FaceLibError as exc:
                st.error(md(exc))
            else:
                st.session_state["collections_msg"] = (f"Invited {md(other.strip())} to {collection_label(coll.name)}: it is "
                                                       "theirs to use once they accept.")
                st.rerun()
if coll.location:
    st.caption(f"Rekognition collection in AWS account / region {coll.location}")

shown_name = workspace().display_name(coll.name)
st.subheader(collection_label(coll.name))
if st.button("Describe (ask the engine)", key="describe"):
    try:
        info = coll.describe()
        st.success(f"The engine holds **{info.face_count}** face(s) · model {md(info.model_version)} · "
                   f"created {md(info.created_at)}")
    except FaceLibError as exc:
        st.error(md(exc))

others = [m for m in coll.models if m != coll.model]
if others:
    with st.expander(f"Re-index with another model (now **{coll.model}**, {coll.model_version})"):
        st.caption("Every stored copy is analysed again with the chosen model. Names, hidden people and your "
                   "corrections carry over to the same faces (matched by photo and box); the report lists what "
                   "could not.")
        target = st.radio("Model", others, horizontal=True, key="reindex_model")
        if st.button(f"Re-index {coll.counts()['images']} photo(s) with {target}", key="reindex_go"):
            try:  # a job: it goes on whatever this page does next (the sidebar shows it)
                job_id = coll.submit(JobKind.REINDEX, model=target)
            except FaceLibError as exc:
                st.error(md(exc))
            else:
                st.toast(f"Re-indexing started (job {job_id}).")
                st.rerun()
    done = [j for j in coll.jobs(limit=10) if j.kind == JobKind.REINDEX and j.finished and not j.dismissed]
    if done:
        job = done[0]
        report = job.report
        if job.state != JobState.DONE:
            st.error(f"Re-index job {job.job_id} {job.state}: {md(job.message)}")
        else:
            st.success(f"Re-indexed {report['images']} photo(s) with {md(report['model'])}: {report['faces_before']} → "
                       f"{report['faces_after']} faces; {report['people_kept']} people, {report['faces_carried']} "
                       f"grouped faces and {report['decisions_kept']} corrections carried over.")
            lost = {"Photos without a stored copy (dropped)": report.get("without_copy", []),
                    "Photos that failed": [f"{n}: {why}" for n, why in report.get("failed", [])],
                    "People left with no face": report.get("people_lost", [])}
            for label, items in lost.items():
                if items:
                    st.warning(f"{label}: " + "; ".join(md(i) for i in items[:20]) + (" …" if len(items) > 20 else ""))
        st.button("Dismiss", key=f"dismiss_job_{job.job_id}", on_click=coll.ws.jobs.dismiss, args=(job.job_id,))

n_images = coll.counts()["images"]
with st.expander(f"Delete one image ({n_images} in the collection)"):
    find = st.text_input("Find by name", key="delete_image_find", placeholder="part of the file name")
    images = coll.find_images(find.strip())
    if images:
        chosen = st.selectbox("Image", images, format_func=lambda i: i.original_name, key="delete_image_pick",
                              help="The 100 newest images whose name contains the text above.")
        if st.button("Delete this image and its faces", key="delete_image_go"):
            st.session_state["delete_pending"] = chosen.sha256
        if st.session_state.get("delete_pending") == chosen.sha256:
            faces = len(coll.faces(status=None, image_sha256=chosen.sha256))
            st.warning(f"Delete **{md(chosen.original_name)}** and its {faces} face(s) from the engine, the catalog "
                       "and the disk? This cannot be undone.")
            yes, no = st.columns([1, 4])
            if yes.button("Yes, delete", type="primary", key="delete_image_confirm"):
                st.session_state.pop("delete_pending")
                try:
                    n = coll.delete_image(chosen.sha256)
                    st.session_state["collections_msg"] = (f"Deleted {md(chosen.original_name)} and its {n} face(s), "
                                                           "thumbnails and stored copy.")
                    forget_results()
                    st.rerun()
                except FaceLibError as exc:
                    st.error(md(exc))
            if no.button("Cancel", key="delete_image_cancel"):
                st.session_state.pop("delete_pending")
                st.rerun()
    else:
        st.caption("No image yet.")

with st.expander("Delete the whole collection", expanded=False):
    st.warning(f"This deletes **{collection_label(coll.name)}** from the engine and the catalog, with every thumbnail and "
               "stored copy. It cannot be undone.")
    # The name is said in the caption: a widget's label is also its accessible name, and the markdown
    # escapes of a user-chosen name would be read out as backslashes.
    st.caption(f"To confirm, type the collection's name: **{collection_label(coll.name)}**")
    typed = st.text_input("The collection's name, to confirm", key="delete_confirm")
    if st.button("Delete collection", type="primary", disabled=typed != shown_name, key="delete_collection_go"):
        try:  # a job: it waits for a batch in flight into this collection, then erases everything
            job_id = coll.submit(JobKind.DELETE)
        except FaceLibError as exc:
            st.error(md(exc))
        else:
            forget_results()
            st.session_state["collections_msg"] = f"Erasing {md(shown_name)} (job {job_id})."
            st.rerun()
