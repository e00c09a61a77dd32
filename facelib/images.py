"""Decoding images with Pillow: every common format to an upright RGB picture, with size guards.

An image is identified by the sha256 (hex) of its bytes, so the same file under two names is one
image.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import BadImage

try:  # HEIC/HEIF photos from phones, when the wheel is installed.
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - optional
    pass

#: Largest picture accepted, in pixels (width x height). Larger is refused as a decompression bomb.
MAX_PIXELS = 120_000_000
# Pillow's own bomb guard warns from 89.5 MP by default, which refused 90-120 MP camera photos: it
# now warns (and is refused here) past MAX_PIXELS, the check made before any pixel is decoded.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
#: Rows converted at a time from 16-bit, 32-bit and float pictures (bounds the temporary arrays).
_CHUNK_ROWS = 256
#: Largest file accepted, in bytes.
MAX_BYTES = 60 * 1024 * 1024
#: Smallest side accepted, in pixels: no face can be found in less.
MIN_SIDE = 16
#: Long side, in pixels, that images are decoded to for analysis (JPEGs via ``Image.draft``).
WORK_MAX_SIDE = 1600

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO", "HEIF")


def sha256_hex(data: bytes) -> str:
    """The image id: sha256 of the raw bytes, 64 lowercase hex characters."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class LoadedImage:
    """A decoded, upright RGB image and where it came from.

    ``rgb`` may be smaller than the original (decoded at reduced size); ``original_size`` is the
    upright size of the original in pixels. Relative boxes (0-1) hold for both.
    """

    data: bytes
    sha256: str
    rgb: Image.Image
    original_size: tuple[int, int]
    format: str
    name: str = ""
    orientation: int = 1  # the EXIF orientation the original bytes carry (1 = stored upright)

    @property
    def array(self) -> np.ndarray:
        """HxWx3 uint8 array of ``rgb``."""
        return np.asarray(self.rgb)


def _strips(im: Image.Image) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, array) of each block of :data:`_CHUNK_ROWS` rows, cropped from Pillow's own
    buffer: no copy of the whole picture is ever made."""
    w, h = im.size
    for r in range(0, h, _CHUNK_ROWS):
        yield r, np.asarray(im.crop((0, r, w, min(h, r + _CHUNK_ROWS))))


def _finite_max(im: Image.Image) -> float:
    """Largest finite value of a 32-bit or float picture (0 when there is none)."""
    top = 0.0
    for _, block in _strips(im):
        finite = block[np.isfinite(block)] if block.dtype.kind == "f" else block
        if finite.size:
            top = max(top, float(finite.max()))
    return top


def _to_8bit(im: Image.Image, top: float) -> Image.Image:
    """A grey picture scaled so ``top`` is white, a block of rows at a time: the memory used is the
    8-bit picture plus one block. NaN is black, +inf white."""
    out = np.empty((im.height, im.width), np.uint8)
    scale = 255.0 / top if top > 0 else 0.0
    for r, block in _strips(im):
        block = np.nan_to_num(block.astype(np.float32), nan=0.0, posinf=top, neginf=0.0)
        np.clip(block * scale, 0, 255, out=block)
        out[r:r + block.shape[0]] = block
    return Image.fromarray(out, "L")


def _to_rgb(im: Image.Image, max_side: int | None = None) -> Image.Image:
    """Any Pillow mode to RGB; transparency is flattened on white. High bit depths are scaled to
    8 bits a block at a time, and shrunk to ``max_side`` before the RGB copy is made: the memory
    used stays within a few times the 8-bit picture's."""
    grey: Image.Image | None = None
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        grey = _to_8bit(im, 65535.0)
    elif im.mode == "I":
        grey = _to_8bit(im, 65535.0 if _finite_max(im) > 255 else 255.0)
    elif im.mode == "F":
        grey = _to_8bit(im, max(_finite_max(im), 1e-9))
    if grey is not None:
        if max_side and max(grey.size) > max_side:
            grey.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return grey.convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, im).convert("RGB")
    if im.mode != "RGB":
        return im.convert("RGB")
    return im


def decode(data: bytes, name: str = "", max_side: int | None = WORK_MAX_SIDE) -> LoadedImage:
    """Decode image bytes to an upright RGB picture.

    ``max_side``: long side in pixels of the decoded picture (``None`` keeps full size). JPEGs are
    decoded at reduced size by libjpeg's DCT scaling (``Image.draft``), the rest resized after.
    Raises :class:`BadImage` with a message a person can act on.
    """
    label = name or "image"
    if not data:
        raise BadImage(f"{label}: the file is empty")
    if len(data) > MAX_BYTES:
        raise BadImage(f"{label}: {len(data) / 1e6:.1f} MB is over the {MAX_BYTES / 1e6:.0f} MB limit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im: Image.Image = Image.open(io.BytesIO(data))
            fmt = im.format or ""
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise BadImage(
                    f"{label}: {w}x{h} pixels is over the limit of {MAX_PIXELS / 1e6:.0f} megapixels "
                    "(refused as a possible decompression bomb)")
            if fmt not in SUPPORTED_FORMATS:
                raise BadImage(f"{label}: format {fmt or 'unknown'} is not supported")
            try:
                orientation = int(im.getexif().get(0x0112, 1) or 1)
            except Exception:  # corrupt EXIF: keep the pixels as stored
                orientation = 1
            if max_side and fmt == "JPEG":
                im.draft("RGB", (max_side, max_side))
            im.load()
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(f"{label}: too many pixels (refused as a possible decompression bomb): {exc}") from exc
    except UnidentifiedImageError as exc:
        raise BadImage(f"{label}: not a readable image ({exc.__class__.__name__})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImage(f"{label}: the image data is damaged or truncated ({exc})") from exc
    if min(w, h) < MIN_SIDE:
        raise BadImage(f"{label}: {w}x{h} pixels is too small (at least {MIN_SIDE} px a side)")
    try:
        if orientation != 1:
            im = ImageOps.exif_transpose(im)
    except Exception:  # corrupt EXIF data: keep the stored orientation
        pass
    im = _to_rgb(im, max_side)
    original = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    if max_side and max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return LoadedImage(data=data, sha256=sha256_hex(data), rgb=im, original_size=original,
                       format=fmt, name=name, orientation=orientation)


def load_file(path: str, max_side: int | None = WORK_MAX_SIDE) -> LoadedImage:
    """Read and decode a file; a file that cannot be read raises :class:`BadImage`."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise BadImage(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    return decode(data, name=path, max_side=max_side)


def encode_jpeg(im: Image.Image, quality: int = 90) -> bytes:
    """JPEG bytes of an RGB picture."""
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()
