"""Face thumbnails: square JPEG crops around a face box, and data URIs for tables."""

from __future__ import annotations

import base64
import io
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from .records import BoundingBox

#: Thumbnail side in pixels.
THUMB_SIDE = 96
#: Margin added around the face box, as a fraction of the box's longer side, on each side.
MARGIN = 0.25


def square_crop_box(box: BoundingBox, width: int, height: int, margin: float = MARGIN) -> tuple[int, int, int, int]:
    """A square pixel box (left, top, right, bottom) centred on ``box`` with a margin, inside the image."""
    x0, y0, x1, y1 = box.left * width, box.top * height, (box.left + box.width) * width, (box.top + box.height) * height
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    side = max(2.0, min(side, float(min(width, height))))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = min(max(0.0, cx - side / 2), width - side)
    top = min(max(0.0, cy - side / 2), height - side)
    return round(left), round(top), round(left + side), round(top + side)


def thumbnail(rgb: Image.Image, box: BoundingBox, side: int = THUMB_SIDE) -> Image.Image:
    """A ``side`` x ``side`` RGB crop of the face."""
    crop = rgb.crop(square_crop_box(box, *rgb.size))
    return crop.resize((side, side), Image.Resampling.LANCZOS)


def thumbnail_jpeg(rgb: Image.Image, box: BoundingBox, side: int = THUMB_SIDE, quality: int = 85) -> bytes:
    """JPEG bytes of :func:`thumbnail` (about 3-4 KiB at 96 px)."""
    buf = io.BytesIO()
    thumbnail(rgb, box, side).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def data_uri(jpeg: bytes) -> str:
    """``data:image/jpeg;base64,...`` for ``st.column_config.ImageColumn``."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def draw_boxes(rgb: Image.Image, boxes: list[BoundingBox], labels: list[str] | None = None,
               highlight: int | None = None, text_scale: float = 1.0) -> Image.Image:
    """A copy of the picture with each box drawn and numbered; ``highlight`` is drawn thicker in amber.
    Labels are 1/40 of the long side high, times ``text_scale`` (larger for pictures shown small)."""
    out = rgb.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    width = max(2, round(max(w, h) / 300))
    font_px = max(14, round(max(w, h) / 40 * text_scale))
    font = ImageFont.load_default(size=font_px)
    for i, box in enumerate(boxes):
        x0, y0, x1, y1 = box.to_pixels(w, h)
        colour = (255, 176, 0) if i == highlight else (0, 200, 255)
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width * (2 if i == highlight else 1))
        text = labels[i] if labels else str(i + 1)
        tx, ty = x0, max(0, y0 - font_px - 4)
        bbox = draw.textbbox((tx, ty), text, font=font)
        draw.rectangle(bbox, fill=colour)
        draw.text((tx, ty), text, fill=(0, 0, 0), font=font)
    return out


def cached_data_uri(path: str) -> str | None:
    """Data URI of a thumbnail file (None when it is missing), remembered by path and mtime."""
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return None
    return _data_uri_of(path, stamp)


@lru_cache(maxsize=1)
def placeholder_uri(side: int = THUMB_SIDE) -> str:
    """A plain grey square with a faint outline of a head: shown where a thumbnail is missing."""
    im = Image.new("RGB", (side, side), (226, 232, 240))
    draw = ImageDraw.Draw(im)
    draw.ellipse((side * 0.3, side * 0.15, side * 0.7, side * 0.6), outline=(148, 163, 184), width=2)
    draw.arc((side * 0.15, side * 0.6, side * 0.85, side * 1.2), 180, 360, fill=(148, 163, 184), width=2)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return data_uri(buf.getvalue())


#: Thumbnails kept in memory as data URIs (about 4 KiB each), by path and modification time.
CACHE_SIZE = 50_000
_cache: OrderedDict[tuple[str, int], str | None] = OrderedDict()
_cache_lock = threading.Lock()


def _data_uri_of(path: str, stamp: int) -> str | None:
    key = (path, stamp)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    try:
        with open(path, "rb") as f:
            uri: str | None = data_uri(f.read())
    except OSError:
        uri = None
    with _cache_lock:
        _cache[key] = uri
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return uri


def forget_thumbnails(paths: Iterable[str] = (), under: str | None = None) -> int:
    """Drop these thumbnails (absolute paths), or every one below the folder ``under``, from the
    in-memory cache: an erased face leaves no copy in the process. Returns how many went."""
    wanted = set(paths)
    prefix = under.rstrip(os.sep) + os.sep if under else None
    with _cache_lock:
        gone = [k for k in _cache if k[0] in wanted or (prefix is not None and k[0].startswith(prefix))]
        for k in gone:
            del _cache[k]
    return len(gone)


def cached_thumbnails() -> int:
    """How many thumbnails the in-memory cache holds (for tests and the doctor)."""
    with _cache_lock:
        return len(_cache)
