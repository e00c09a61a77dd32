"""Index: upload photos or zip archives into the collection; see every face's outcome."""

from __future__ import annotations

import tempfile

import streamlit as st

from facelib import FaceLibError
from facelib.ledger import estimate_batch
from facelib.sources import IMAGE_SUFFIXES, Source, bytes_source, zip_sources
from pages.ui.common import need_collection, setup
from pages.ui.indexing import run_batch, show_report

ws, collection = setup("Index", ":material/upload:")
collection = need_collection(collection)
engine_name = ws.catalog.collection_engine(collection)
st.title("Index photos")
st.caption(f"Into **{collection}** with the **{engine_name}** engine. Photos already in the collection "
           "(same bytes) are skipped, so uploading a batch again costs nothing.")

uploads = st.file_uploader("Photos or .zip archives", accept_multiple_files=True, key="index_upload",
                           type=sorted(s.lstrip(".") for s in IMAGE_SUFFIXES) + ["zip"])


def sources_of(files) -> tuple[list[Source], list[str]]:
    """Uploaded files as sources; zip archives are spooled to disk and read member by member."""
    sources: list[Source] = []
    notes: list[str] = []
    for f in files or []:
        if f.name.lower().endswith(".zip"):
            spool = tempfile.SpooledTemporaryFile(max_size=64 * 1024 ** 2)
            spool.write(f.getbuffer())
            spool.seek(0)
            try:
                members, skipped = zip_sources(spool, name=f.name)
            except FaceLibError as exc:
                notes.append(str(exc))
                continue
            sources.extend(members)
            notes.extend(f"{f.name}/{s.name}: skipped ({s.reason})" for s in skipped)
        else:
            sources.append(bytes_source(f.name, f.getvalue()))
    return sources, notes


sources, notes = sources_of(uploads)
for note in notes:
    st.warning(note)

if sources:
    if engine_name == "rekognition":
        est = estimate_batch(ws.catalog, collection, sources, ws.settings.prices)
        st.info(f"**Pre-flight estimate:** {est.files} photo(s): {est.already_indexed} already indexed, "
                f"{est.duplicates} repeated in this batch → **{est.paid_calls} paid IndexFaces call(s), about "
                f"${est.dollars:.3f}**, plus about ${est.storage_per_month:.4f}/month to store the faces.")
    if st.button(f"Index {len(sources)} photo(s)", type="primary", key="index_go"):
        st.session_state["index_report"] = run_batch(ws, collection, sources)
        st.rerun()  # so the sidebar's counts include the new faces
else:
    st.info("Drop photos (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC) or zip archives of them above.")

if "index_report" in st.session_state:
    st.subheader("Outcome per face")
    show_report(ws, collection, st.session_state["index_report"])
