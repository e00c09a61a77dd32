"""Decoding: formats, modes, EXIF orientation, guards against bad and hostile files."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from conftest import fixture_bytes
from PIL import Image

from facelib import images
from facelib.errors import BadImage


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def portrait() -> Image.Image:
    return Image.open(io.BytesIO(fixture_bytes("obama.jpg"))).convert("RGB")


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF", "BMP", "TIFF", "JPEG"])
def test_common_formats_decode_to_rgb(portrait, fmt):
    img = images.decode(encode(portrait, fmt), "x")
    assert img.rgb.mode == "RGB" and img.rgb.size == portrait.size and img.format == fmt


def test_heic_from_a_phone_decodes(portrait):
    pytest.importorskip("pillow_heif")
    img = images.decode(encode(portrait, "HEIF", quality=80), "IMG_0001.HEIC")
    assert img.format == "HEIF" and img.rgb.size == portrait.size


def test_sha256_identifies_bytes():
    data = fixture_bytes("obama.jpg")
    img = images.decode(data)
    assert img.sha256 == images.sha256_hex(data) and len(img.sha256) == 64


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "CMYK", "P", "I;16", "1"])
def test_any_mode_becomes_rgb(portrait, mode):
    if mode == "I;16":
        im = Image.fromarray(np.asarray(portrait.convert("L")).astype(np.uint16) * 257)
        assert im.mode == "I;16"
    else:
        im = portrait.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "LA" else "PNG")
    img = images.decode(encode(im, fmt))
    assert img.rgb.mode == "RGB"
    # Content survives: the mean brightness stays near the original's.
    assert abs(np.asarray(img.rgb.convert("L")).mean() - np.asarray(portrait.convert("L")).mean()) < 40


def test_transparent_pixels_become_white():
    im = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    img = images.decode(encode(im, "PNG"))
    assert img.array.min() == 255


def test_palette_with_transparency():
    im = Image.new("P", (40, 40), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.info["transparency"] = 0
    img = images.decode(encode(im, "PNG", transparency=0))
    assert tuple(img.array[0, 0]) == (255, 255, 255)


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    img = images.decode(data)
    r, g, b = img.array[16, 16]
    assert r > 200 and b < 50


@pytest.mark.parametrize("orientation,expect_swapped", [(1, False), (3, False), (6, True), (8, True)])
def test_exif_orientation_is_applied(portrait, orientation, expect_swapped):
    exif = Image.Exif()
    exif[0x0112] = orientation
    img = images.decode(encode(portrait, "JPEG", exif=exif.tobytes()))
    w, h = portrait.size
    assert img.rgb.size == ((h, w) if expect_swapped else (w, h))
    assert img.original_size == img.rgb.size


def test_large_jpeg_is_decoded_at_reduced_size(portrait):
    big = portrait.resize((portrait.width * 6, portrait.height * 6))
    img = images.decode(encode(big, "JPEG"), max_side=800)
    assert max(img.rgb.size) <= 800
    assert img.original_size == big.size


@pytest.mark.parametrize("data,words", [
    (b"", "empty"),
    (b"hello, this is text renamed to .jpg", "not a readable image"),
    (b"<html><body>hi</body></html>", "not a readable image"),
    (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj", "not a readable image"),
])
def test_not_images_are_refused_clearly(data, words):
    with pytest.raises(BadImage, match=words):
        images.decode(data, "f.jpg")


def test_truncated_jpeg_is_refused():
    data = fixture_bytes("obama.jpg")
    with pytest.raises(BadImage, match="damaged or truncated"):
        images.decode(data[: len(data) // 3], "half.jpg")


def test_tiny_image_is_refused():
    with pytest.raises(BadImage, match="too small"):
        images.decode(encode(Image.new("RGB", (1, 1)), "PNG"))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(BadImage, match="decompression bomb"):
        images.decode(png_header_only(20000, 20000), "bomb.png")


def test_unreadable_file(tmp_path):
    with pytest.raises(BadImage, match="cannot be read"):
        images.load_file(str(tmp_path / "missing.jpg"))
