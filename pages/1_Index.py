"""Index: upload photos, zip archives or an Instagram export; or a server folder; or an S3 prefix."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from facelib import IMAGE_SUFFIXES, FaceLibError, Source, bytes_source, refused, walk_folder, zip_sources
from pages.ui.common import page
from pages.ui.indexing import run_batch, show_report
from pages.ui.text import md

coll = page("Index", ":material/upload:")
settings = coll.settings
st.title("Index photos")
st.caption(f"Into **{md(coll.name)}** with the **{coll.engine_name}** engine. Photos already in the collection "
           "(same bytes) are skipped, so indexing a batch again costs nothing.")


def uploaded_sources(files: list[Any] | None) -> list[Source]:
    """Uploaded files as sources, made once per upload (not on every rerun): zip archives are
    spooled to disk once and read member by member; files over the per-file limit, and files past
    the per-batch count, are refused with a message."""
    made: dict[str, list[Source]] = st.session_state.setdefault("_upload_sources", {})
    limit_bytes = settings.upload_max_mb * 1024 ** 2
    sources: list[Source] = []
    live = set()
    for i, f in enumerate(files or []):
        key = str(getattr(f, "file_id", "") or f"{f.name}:{f.size}")
        live.add(key)
        if key not in made:
            if i >= settings.upload_max_files:
                made[key] = [refused(f.name, f"over the {settings.upload_max_files} files a batch may upload "
                                             "(FACESEARCH_UPLOAD_MAX_FILES): index the rest in another batch", "upload")]
            elif f.size > limit_bytes:
                made[key] = [refused(f.name, f"{f.size / 1e6:.0f} MB is over the {settings.upload_max_mb:.0f} MB "
                                             "per uploaded file (FACESEARCH_UPLOAD_MAX_MB)", "upload")]
            elif f.name.lower().endswith(".zip"):
                spool = tempfile.SpooledTemporaryFile(max_size=64 * 1024 ** 2)
                spool.write(f.getbuffer())
                spool.seek(0)
                made[key] = zip_sources(spool, name=f.name)
            else:
                made[key] = [bytes_source(f.name, f.getvalue())]
        sources.extend(made[key])
    for key in set(made) - live:  # uploads removed from the widget are forgotten
        del made[key]
    return sources


tab_upload, tab_folder, tab_s3 = st.tabs([":material/upload: Upload", ":material/folder_open: Server folder",
                                          ":material/cloud: S3 prefix"])
sources: list[Source] = []
with tab_upload:
    uploads = st.file_uploader("Photos, .zip archives, or an Instagram export (.zip, JSON format)",
                               accept_multiple_files=True, key="index_upload",
                               type=sorted(s.lstrip(".") for s in IMAGE_SUFFIXES) + ["zip"])
    sources += uploaded_sources(uploads)
with tab_folder:
    roots = list(settings.allowed_roots)
    if not roots:
        st.info("Indexing a folder of this server is off. Set `FACESEARCH_ALLOWED_ROOTS` to the folders it may "
                "read (separated by ':') and restart the app.")
    else:
        st.caption("Allowed: " + ", ".join(f"`{r}`" for r in roots))
        folder = st.text_input("Folder", key="index_folder", placeholder=str(roots[0]))
        if folder.strip():
            sources += list(walk_folder(Path(folder.strip()), roots))
with tab_s3:
    uri = st.text_input("S3 prefix", key="index_s3", placeholder="s3://my-bucket/photos/2024/")
    if uri.strip() and st.button("List the objects", key="index_s3_list"):
        try:
            st.session_state["s3_sources"] = coll.ws.s3_sources(uri.strip())
        except FaceLibError as exc:
            st.error(md(exc))
    sources += st.session_state.get("s3_sources", [])

if sources:
    refused_count = sum(1 for s in sources if s.metadata == {} and s.origin == "zip")
    st.write(f"**{len(sources)}** item(s) ready" + (f", {refused_count} of them will be refused (see the outcome)"
                                                    if refused_count else ""))
    over_budget = False
    if coll.paid:
        est = coll.estimate(sources)  # S3 objects from their listing: nothing is downloaded here
        st.info(f"**Pre-flight estimate:** {est.files} photo(s): {est.already_indexed} already indexed, "
                f"{est.duplicates} repeated in this batch, {est.unreadable} unreadable → **{est.paid_calls} paid "
                f"IndexFaces call(s), about ${est.index_dollars:.3f}**; grouping the new faces into people "
                f"afterwards: about {est.grouping_calls} SearchFaces (${est.dollars - est.index_dollars:.3f}); "
                f"storing the faces about ${est.storage_per_month:.4f}/month.")
        budget = settings.budget_usd
        if budget is not None and est.dollars > budget:
            over_budget = True
            st.error(f"About ${est.dollars:.3f} is over the budget of ${budget:.2f} (FACESEARCH_BUDGET_USD): "
                     "index fewer photos at a time.")
    if st.button(f"Index {len(sources)} item(s)", type="primary", key="index_go", disabled=over_budget):
        st.session_state["index_report"] = run_batch(coll, sources)
        st.session_state.pop("s3_sources", None)
        st.rerun()  # so the sidebar's counts include the new faces
else:
    st.info("Drop photos (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC) or zip archives of them above.")

if "index_report" in st.session_state:
    st.subheader("Outcome per face")
    show_report(coll, st.session_state["index_report"])
