"""Live: the camera stream with every face boxed and labelled with its best match, in real time."""

from __future__ import annotations

import av
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from facelib import LiveRecognizer, sha256_hex
from pages.ui.common import SEARCH_QUERY, collection_label, current_user, page, workspace

coll = page("Live", ":material/videocam:")
settings = coll.settings
st.title("Live")
with st.sidebar:
    threshold: int = st.slider("Live match threshold (similarity %)", int(settings.search_floor), 100,
                               int(settings.default_threshold), key="live_threshold", persist_state="session",
                               help="Faces are labelled with their best match at or above this similarity.")

recognizer: LiveRecognizer | None = st.session_state.get("live_recognizer")
if recognizer is None or recognizer.collection != coll.name:
    if recognizer is not None:
        recognizer.close()
    with st.spinner("Loading the face models…"):
        recognizer = coll.live(threshold)
    st.session_state["live_recognizer"] = recognizer
    # "Paid (est.)" is what this user spent since the stream began (an administrator's: everyone's)
    st.session_state["live_spent_before"] = workspace().costs(current_user()).spent
recognizer.threshold = threshold

st.caption(f"Faces are found on every frame and searched in **{collection_label(coll.name)}** at most once every "
           f"{recognizer.search_interval:.0f} s per face" +
           (" (each search is a paid call)." if coll.paid else "."))


def on_frame(frame: av.VideoFrame, rec: LiveRecognizer = recognizer) -> av.VideoFrame:
    """Runs in streamlit-webrtc's thread, never in the script's."""
    return av.VideoFrame.from_ndarray(rec.process(frame.to_ndarray(format="rgb24")), format="rgb24")


# Localhost needs no STUN/TURN server; a remote deployment sets FACESEARCH_ICE_SERVERS (see the README).
webrtc_streamer(key="live", mode=WebRtcMode.SENDRECV, rtc_configuration={"iceServers": list(settings.ice_servers)},
                media_stream_constraints={"video": {"width": 640, "height": 480}, "audio": False},
                video_frame_callback=on_frame, async_processing=True)

if st.button("Freeze this frame and search it", key="live_freeze", type="primary"):
    data = recognizer.frozen_jpeg()
    if data is None:
        st.warning("Start the camera first.")
    else:
        st.session_state[SEARCH_QUERY] = {"kind": "image", "source": "live", "name": "live-frame.jpg",
                                            "data": data, "sha": sha256_hex(data)}
        st.switch_page("pages/2_Search.py", query_params={"collection": coll.name})


@st.fragment(run_every=1.0)
def status(recognizer: LiveRecognizer) -> None:
    snap = recognizer.snapshot()
    c = st.columns(4)
    c[0].metric("Frames", snap["frames"])
    c[1].metric("Frame time (median)", f"{snap['frame_ms_p50']:.0f} ms" if snap["frame_ms_p50"] else "-")
    c[2].metric("Searches", snap["searches"])
    spent = workspace().costs(current_user()).spent - st.session_state.get("live_spent_before", 0.0) if coll.paid else 0.0
    c[3].metric("Paid (est.)", f"${max(0.0, spent):.3f}")
    if snap["faces"]:
        st.dataframe([{"face": f["track"], "who": f["label"] or "searching…",
                       "similarity": None if f["similarity"] is None else round(f["similarity"], 1)}
                      for f in snap["faces"]], hide_index=True, key="live_faces")
    else:
        st.caption("No face in view.")


status(recognizer)
