"""Index: upload photos, zip archives or an Instagram export; or a server folder; or an S3 prefix."""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path
from typing import Any

import streamlit as st

from facelib import (
    MEDIA_SUFFIXES,
    BatchReport,
    Collection,
    FaceLibError,
    JobKind,
    Source,
    Spool,
    Watchlists,
    bytes_source,
    folder_spec,
    refused,
    s3_spec,
    usd,
    walk_folder,
    zip_sources,
)
from pages.ui.common import collection_label, page
from pages.ui.indexing import show_report
from pages.ui.jobs import STATE_WORDS
from pages.ui.text import md
from pages.ui.watch import alerts_view

coll = page("Index", ":material/upload:")
settings = coll.settings
st.title("Index photos")
st.caption(f"Into **{collection_label(coll.name)}** with the **{coll.engine_name}** engine. Photos already in the collection "
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


def submit(files: list[Any] | None, folder: dict[str, Any] | None, s3_uri: str | None, cluster: str | None) -> int:
    """Spool the uploads under the data directory and submit the job: from here on it depends on
    nothing this page holds (the collection, too, is fixed now)."""
    spool = Spool(settings.data_dir)
    limit_bytes = settings.upload_max_mb * 1024 ** 2
    try:
        for i, f in enumerate(files or []):
            if i >= settings.upload_max_files:
                spool.refuse(f.name, f"over the {settings.upload_max_files} files a batch may upload "
                                     "(FACESEARCH_UPLOAD_MAX_FILES): index the rest in another batch")
            elif f.size > limit_bytes:
                spool.refuse(f.name, f"{f.size / 1e6:.0f} MB is over the {settings.upload_max_mb:.0f} MB per uploaded "
                                     "file (FACESEARCH_UPLOAD_MAX_MB)")
            else:
                f.seek(0)
                spool.add(f.name, f)
        specs = list(spool.specs) + ([folder] if folder else []) + ([s3_spec(s3_uri)] if s3_uri else [])
        return coll.submit_index(specs, spool.relative, cluster=cluster)
    except BaseException:
        spool.discard()
        raise


def show_my_reports(coll: Collection) -> None:
    """The finished index jobs of this collection that this analyst has not dismissed (after a
    reload or from another tab too), newest first."""
    mine = [j for j in coll.jobs(limit=10) if j.kind == JobKind.INDEX and j.finished and not j.dismissed
            and j.owner == coll.user]
    for job in mine[:3]:
        when = time.strftime("%H:%M", time.localtime(job.finished_at or job.created_at))
        with st.container(border=True):
            c1, c2 = st.columns([5, 1])
            c1.subheader(f"Outcome per face · job {job.job_id}, {STATE_WORDS[job.state]} at {when}")
            c2.button("Dismiss", key=f"dismiss_job_{job.job_id}", on_click=coll.ws.jobs.dismiss, args=(job.job_id,))
            alert_ids = [int(a["id"]) for a in job.report.get("alerts") or [] if "id" in a]
            if alert_ids:  # watched people seen among this batch's new faces
                alerts = Watchlists(coll).alerts(limit=len(alert_ids), alert_ids=alert_ids)
                st.warning(f"**{len(alerts)} watchlist alert{'s' if len(alerts) != 1 else ''}** in this batch: "
                           + ", ".join(sorted({md(a.person) for a in alerts})) + ".")
                alerts_view(coll, alerts, key=f"job_alerts_{job.job_id}", title=None)
            if "files" in job.report:
                show_report(coll, BatchReport.from_summary(job.report))
            else:
                st.error(md(job.message))


tab_upload, tab_folder, tab_s3 = st.tabs([":material/upload: Upload", ":material/folder_open: Server folder",
                                          ":material/cloud: S3 prefix"])
sources: list[Source] = []
folder_spec_now: dict[str, Any] | None = None  # what the job will list again when it runs
s3_now: str | None = None
with tab_upload:
    # Keyed by collection and by submission: a collection switch or a submitted batch clears the picker.
    uploads = st.file_uploader("Photos, .zip archives, or an Instagram export (.zip, JSON format)",
                               accept_multiple_files=True,
                               key=f"index_upload_{hashlib.sha256(coll.name.encode()).hexdigest()[:12]}_"
                                   f"{st.session_state.get('index_upload_nonce', 0)}",
                               type=sorted(s.lstrip(".") for s in MEDIA_SUFFIXES) + ["zip"])
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
            folder_spec_now = folder_spec(folder.strip(), roots)
with tab_s3:
    uri = st.text_input("S3 prefix", key="index_s3", placeholder="s3://my-bucket/photos/2024/")
    if uri.strip() and st.button("List the objects", key="index_s3_list"):
        try:
            st.session_state["s3_sources"] = coll.ws.s3_sources(uri.strip())
        except FaceLibError as exc:
            st.error(md(exc))
    sources += st.session_state.get("s3_sources", [])
    if st.session_state.get("s3_sources"):
        s3_now = uri.strip()

cluster: str | None = None  # None: the engine's own way (Rekognition works in AWS)
needs_address = False
if coll.analyses_here and coll.ws.is_admin(coll.user):  # connecting to a cluster: an administrator's choice
    with st.expander(":material/hub: Where the face analysis runs", expanded=bool(settings.cluster)):
        choices = ["This machine (process pool)", "A Dask cluster"]
        where = st.radio("Run the face analysis on", choices, index=1 if settings.cluster else 0, horizontal=True,
                         key="index_where", persist_state="session")
        if where == choices[1]:
            cluster = st.text_input("Scheduler address", value=settings.cluster or "", placeholder="tcp://HOST:8786",
                                    key="index_cluster", persist_state="session").strip()
            needs_address = not cluster
            st.caption("Workers read S3 objects, and files under `FACESEARCH_CLUSTER_SHARED` (any file when they run "
                       "on this machine), themselves; uploads and other files are sent by this server. Results are "
                       "committed here as they arrive.")
            if cluster and st.button("Check the cluster", key="index_cluster_check"):
                try:
                    info = coll.ws.cluster_status(cluster, coll.user)
                    st.success(f"**{info.workers}** worker(s), **{info.threads}** thread(s) on "
                               f"{md(', '.join(info.hosts))}" + (" (this machine)" if info.on_this_machine else ""))
                except FaceLibError as exc:
                    st.error(md(exc))
        else:
            cluster = ""  # this machine, even when FACESEARCH_CLUSTER names a cluster

if sources:
    refused_count = sum(1 for s in sources if s.metadata == {} and s.origin == "zip")
    st.write(f"**{len(sources)}** item(s) ready" + (f", {refused_count} of them will be refused (see the outcome)"
                                                    if refused_count else ""))
    over_budget = False
    if coll.paid:
        est = coll.estimate(sources)  # S3 objects from their listing: nothing is downloaded here
        st.info(f"**Pre-flight estimate:** {est.files} photo(s): {est.already_indexed} already indexed, "
                f"{est.duplicates} repeated in this batch, {est.unreadable} unreadable → **{est.paid_calls} paid "
                f"IndexFaces call(s), about {usd(est.index_dollars)}**; grouping the new faces into people "
                f"afterwards: about {est.grouping_calls} SearchFaces ({usd(est.dollars - est.index_dollars)}); "
                f"storing the faces about ${est.storage_per_month:.4f}/month.")
        budget = settings.budget_usd
        if budget is not None and est.dollars > budget:
            over_budget = True
            st.error(f"About {usd(est.dollars)} is over the budget of {usd(budget)} (FACESEARCH_BUDGET_USD): "
                     "index fewer photos at a time.")
    if needs_address:
        st.warning("Enter the Dask scheduler's address (tcp://HOST:8786), or choose this machine.")
    if st.button(f"Index {len(sources)} item(s)", type="primary", key="index_go", disabled=over_budget or needs_address):
        try:
            job_id = submit(uploads, folder_spec_now, s3_now, cluster)
        except FaceLibError as exc:
            st.error(md(exc))
        else:
            st.session_state["index_upload_nonce"] = st.session_state.get("index_upload_nonce", 0) + 1
            st.session_state.pop("s3_sources", None)
            st.session_state.pop("_upload_sources", None)
            st.toast(f"Indexing started (job {job_id}): it goes on if you leave this page.")
            st.rerun()
else:
    st.info("Drop photos (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC), videos (MP4, MOV, MKV, WebM, AVI) or zip archives "
            "of them above.")

show_my_reports(coll)  # (running jobs: the sidebar, on every page)
