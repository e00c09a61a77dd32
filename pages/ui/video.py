"""Faces in video on the pages: time ranges ("0:01–0:04") and a player that starts where a face appears."""

from __future__ import annotations

import streamlit as st

from facelib import VIDEO_SUFFIXES, Collection, Timecode

from .text import md

#: A stored copy larger than this gets no player: Streamlit reads a played file into the server's memory.
PLAYER_MAX_MB = 512


def clock(seconds: float) -> str:
    """``75.4`` -> ``1:15``; an hour or more: ``1:02:03``."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def time_range(tc: Timecode | None) -> str:
    """When a face of a video was on screen, ``0:01–0:04`` ("" for a photo's face)."""
    if tc is None:
        return ""
    return f"{clock(tc.start_s)}–{clock(max(tc.end_s, tc.start_s))}"


def is_video(stored_path: str | None) -> bool:
    return bool(stored_path) and "." + str(stored_path).rsplit(".", 1)[-1].lower() in VIDEO_SUFFIXES


def player(coll: Collection, stored_path: str | None, tc: Timecode) -> bool:
    """The video's stored copy, starting where the face appears (``start_s``); False (and a caption)
    when there is no copy to play."""
    path = coll.ws.path(stored_path) if stored_path else None
    if path is None or not path.exists():
        st.caption("No stored copy of this video to play.")
        return False
    if path.stat().st_size > PLAYER_MAX_MB * 1024 ** 2:
        st.caption(f"The video is over {PLAYER_MAX_MB} MB: it is not played here (the frame is shown).")
        return False
    fmt = {".webm": "video/webm", ".mkv": "video/x-matroska", ".mov": "video/quicktime",
           ".avi": "video/x-msvideo"}.get(path.suffix.lower(), "video/mp4")
    st.video(str(path), format=fmt, start_time=int(tc.start_s))
    st.caption(md(f"Plays from {clock(tc.start_s)} (on screen {time_range(tc)})") + ". A browser plays H.264, VP8/VP9 "
               "and AV1 videos; for another codec, the frame is all there is to see.")
    return True
