"""A face picker for group photos: the photo with large numbers on the boxes, left to right, where a
click on a face picks it, and a strip of the face crops in the same order with a button under each.

Numbers are the reading order (left to right, then top to bottom), not the detector's order; the
picker returns the detector's index, which is what searches and comparisons take.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import altair as alt
import pandas as pd
import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from facelib import BoundingBox

#: Colours: the chosen face, the others.
CHOSEN_COLOUR, OTHER_COLOUR = (232, 89, 12), (11, 110, 153)
STRIP_MAX = 12  # crops shown in the strip (a crowd keeps the photo's click)


def reading_order(boxes: Sequence[BoundingBox]) -> list[int]:
    """Detector indices in reading order: left to right (by the box centre), ties top to bottom."""
    return sorted(range(len(boxes)), key=lambda i: (round(boxes[i].left + boxes[i].width / 2, 3), boxes[i].top))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def numbered(rgb: Image.Image, boxes: Sequence[BoundingBox], chosen: int | None = None,
             captions: Sequence[str] | None = None) -> Image.Image:
    """The photo with every face boxed and numbered in reading order, the numbers a twelfth of the
    photo's short side (never under 22 px), on a filled tag; ``captions`` (by detector index) are
    written after the number (e.g. a similarity)."""
    im = rgb.convert("RGB").copy()
    draw = ImageDraw.Draw(im)
    w, h = im.size
    size = max(22, min(w, h) // 12)
    font = _font(size)
    width = max(3, min(w, h) // 150)
    for n, i in enumerate(reading_order(boxes), start=1):
        x0, y0, x1, y1 = boxes[i].to_pixels(w, h)
        colour = CHOSEN_COLOUR if i == chosen else OTHER_COLOUR
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width * (2 if i == chosen else 1))
        text = f"{n}" + (f"  {captions[i]}" if captions and captions[i] else "")
        tx0, ty0, tx1, ty1 = draw.textbbox((0, 0), text, font=font)
        tw, th = tx1 - tx0 + size // 2, ty1 - ty0 + size // 3
        ty = y0 - th if y0 - th >= 0 else min(y1, h - th)
        draw.rectangle((x0, ty, x0 + tw, ty + th), fill=colour)
        draw.text((x0 + size // 4 - tx0, ty + size // 6 - ty0), text, fill=(255, 255, 255), font=font)
    return im


def _data_uri(im: Image.Image) -> str:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def face_picker(key: str, rgb: Image.Image, boxes: Sequence[BoundingBox], chosen: int | None,
                captions: Sequence[str] | None = None, show_width: int = 640) -> None:
    """Draw the picker; a click (on the photo, or the strip's button) stores the detector index
    under ``st.session_state[key]`` before the next run."""
    order = reading_order(boxes)
    shown = numbered(rgb, boxes, chosen, captions)
    w, h = shown.size
    scale = show_width / w
    shown = shown.resize((show_width, max(1, round(h * scale))))
    sw, sh = shown.size
    frame = pd.DataFrame([{"face": n, "index": i, "x0": b.left * sw, "x1": (b.left + b.width) * sw,
                           "y0": b.top * sh, "y1": (b.top + b.height) * sh}
                          for n, i in enumerate(order, start=1) for b in [boxes[i]]])
    x = alt.Scale(domain=[0, sw], nice=False, zero=False)
    y = alt.Scale(domain=[sh, 0], nice=False, zero=False)
    click = alt.selection_point(fields=["index"], name="face", on="click", clear=False)
    photo = alt.Chart(pd.DataFrame({"url": [_data_uri(shown)], "x": [0], "y": [0]})).mark_image(
        width=sw, height=sh, align="left", baseline="top").encode(
        x=alt.X("x:Q", scale=x, axis=None), y=alt.Y("y:Q", scale=y, axis=None), url="url:N")
    faces = alt.Chart(frame).mark_rect(fill="white", fillOpacity=0.01, stroke=None, cursor="pointer").encode(
        x=alt.X("x0:Q", scale=x, axis=None), x2="x1", y=alt.Y("y0:Q", scale=y, axis=None), y2="y1",
        tooltip=[alt.Tooltip("face:Q", title="Face")]).add_params(click)
    chart = (photo + faces).properties(width=sw, height=sh).configure_view(strokeWidth=0)

    def clicked() -> None:
        picked = (st.session_state.get(f"{key}_photo") or {}).get("selection", {}).get("face") or []
        if picked and "index" in picked[0]:
            st.session_state[key] = int(picked[0]["index"])

    st.altair_chart(chart, on_select=clicked, selection_mode="face", key=f"{key}_photo", width="content")
    st.caption("Click a face on the photo, or its number below.")
    strip = order[:STRIP_MAX]
    cols = st.columns(max(len(strip), 1))
    for n, (col, i) in enumerate(zip(cols, strip, strict=False), start=1):
        x0, y0, x1, y1 = boxes[i].to_pixels(*rgb.size)
        crop = rgb.crop((x0, y0, x1, y1)) if x1 > x0 and y1 > y0 else rgb
        crop.thumbnail((96, 96))
        col.image(crop, width=72)
        col.button(f"Face {n}", key=f"{key}_pick_{n}", type="primary" if i == chosen else "secondary",
                   on_click=_pick, args=(key, i), help=f"Use face {n} (counting from the left)")


def _pick(key: str, index: int) -> None:
    st.session_state[key] = index
