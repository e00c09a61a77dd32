"""Hostile and broken input: every case gets a clear per-file outcome, the batch goes on, nothing
already indexed changes, and the catalog stays consistent."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from conftest import ERROR, FIXTURES, INDEXED_STATUS, NO_FACE, SKIPPED, fixture_bytes, index_paths
from PIL import Image, ImageOps

from facelib import expand_paths, walk_folder


def jpeg(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def png(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def huge_png(width: int, height: int) -> bytes:
    """A real, valid PNG of width x height black pixels, compressed as it streams (no big array)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    comp = zlib.compressobj(9)
    row = b"\0" * (1 + width * 3)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def zip_of(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


T = Image.Transpose
#: The pixel transform a camera stores for each EXIF orientation (the inverse of what undoes it).
STORED = {1: None, 2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE,
          6: T.ROTATE_90, 7: T.TRANSVERSE, 8: T.ROTATE_270}


def oriented(orientation: int) -> bytes:
    """A portrait stored turned as a camera would, with the EXIF tag that turns it upright."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    im = Image.open(FIXTURES / "obama2.jpg")
    if STORED[orientation] is not None:
        im = im.transpose(STORED[orientation])
    return jpeg(im, exif=exif.tobytes())


def corrupt_exif() -> bytes:
    data = bytearray(oriented(1))
    i = data.find(b"Exif\0\0")
    data[i + 10:i + 30] = b"\xff" * 20  # the TIFF header and first IFD entries become garbage
    return bytes(data)


portrait = Image.open(FIXTURES / "obama2.jpg").convert("RGB")
CASES: dict[str, tuple[bytes, str, str]] = {
    # file name: (bytes, expected status, words expected in the message)
    "empty.jpg": (b"", ERROR, "empty"),
    "truncated.jpg": (fixture_bytes("biden.jpg")[:4000], ERROR, "truncated"),
    "text.jpg": (b"just some text renamed to .jpg\n" * 20, ERROR, "not a readable image"),
    "page.jpg": (b"<!doctype html><html><body>not a photo</body></html>", ERROR, "not a readable image"),
    "doc.png": (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF", ERROR, "not a readable image"),
    "bomb.png": (huge_png(20000, 20000), ERROR, "decompression bomb"),
    "one_pixel.png": (png(Image.new("RGB", (1, 1))), ERROR, "too small"),
    "cmyk.jpg": (jpeg(portrait.convert("CMYK")), INDEXED_STATUS, ""),
    "sixteen_bit.png": (png(Image.fromarray(
        __import__("numpy").asarray(portrait.convert("L")).astype("uint16") * 257)), INDEXED_STATUS, ""),
    "palette_alpha.png": (png(portrait.convert("P"), transparency=0), INDEXED_STATUS, ""),
    "animated.gif": (None, INDEXED_STATUS, ""),
    "corrupt_exif.jpg": (corrupt_exif(), INDEXED_STATUS, ""),
    "duplicate_of_obama.jpg": (fixture_bytes("obama.jpg"), SKIPPED, "already indexed"),
    "sky.png": (png(Image.new("RGB", (400, 300), (110, 160, 220))), NO_FACE, "no face"),
    "rgba.png": (png(portrait.convert("RGBA")), INDEXED_STATUS, ""),
}
for o in range(1, 9):
    CASES[f"orientation_{o}.jpg"] = (oriented(o), INDEXED_STATUS, "")


def animated_gif() -> bytes:
    buf = io.BytesIO()
    frames = [portrait.convert("P"), ImageOps.mirror(portrait).convert("P")]
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    return buf.getvalue()


ZIPS = {
    "slip.zip": {"../../etc/evil.jpg": fixture_bytes("biden.jpg"), "/abs/evil.jpg": fixture_bytes("biden.jpg")},
    "bomb.zip": {"zeros.jpg": b"\0" * (60 * 1024 * 1024)},
    "nested.zip": {"inner.zip": zip_of({"a.jpg": fixture_bytes("obama3.jpg")})},
    "empty.zip": {},
    "no_images.zip": {"readme.txt": b"hello", "data.csv": b"a,b\n1,2\n"},
    "good.zip": {"trip/day1/biden_mirrored.jpg": jpeg(ImageOps.mirror(Image.open(FIXTURES / "biden.jpg")))},
}


@pytest.fixture(scope="module")
def battery(tmp_path_factory):
    from facelib.settings import Settings
    from facelib.workspace import Workspace

    base = tmp_path_factory.mktemp("battery")
    ws = Workspace(Settings(data_dir=base / "data"))
    index_paths(ws, "b", [FIXTURES / "obama.jpg"], workers=1)  # indexed before the battery
    before = [(f.face_id, f.detail, f.thumb_path) for f in ws.catalog.faces("b")]
    folder = base / "hostile"
    folder.mkdir()
    for name, (data, _, _) in CASES.items():
        (folder / name).write_bytes(animated_gif() if name == "animated.gif" else data)
    for name, members in ZIPS.items():
        (folder / name).write_bytes(zip_of(members))
    weird = os.fsencode(str(folder)) + b"/caf\xe9-latin1-\xff.jpg"  # not UTF-8
    with open(weird, "wb") as f:
        f.write(jpeg(ImageOps.mirror(Image.open(FIXTURES / "obama3.jpg"))))
    long_name = folder / ("very_long_" + "x" * 230 + ".jpg")
    long_name.write_bytes(jpeg(Image.open(FIXTURES / "obama3.jpg").rotate(3)))
    paths = sorted(str(p) for p in folder.iterdir() if not p.suffix == ".zip") + \
        sorted(str(p) for p in folder.glob("*.zip"))
    report = ws.collection("b").index(expand_paths([os.fsdecode(p) if isinstance(p, bytes) else p
                                                           for p in paths]), workers=2)
    return ws, report, before


def outcome(report, suffix):
    found = [o for o in report.outcomes if o.name.endswith(suffix)]
    assert found, f"no outcome for {suffix}"
    return found[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_file_gets_a_clear_outcome(battery, name):
    _, report, _ = battery
    _, status, words = CASES[name]
    o = outcome(report, "/" + name)
    assert o.status == status, (o.status, o.message)
    assert words.lower() in o.message.lower()
    if status == INDEXED_STATUS:
        assert o.faces_indexed == 1


@pytest.mark.parametrize("member,words", [
    ("slip.zip/../../etc/evil.jpg", "unsafe path"), ("slip.zip//abs/evil.jpg", "unsafe path"),
    ("bomb.zip/zeros.jpg", "zip bomb"), ("nested.zip/inner.zip", "archive inside the archive"),
    ("empty.zip", "holds no image"), ("no_images.zip/readme.txt", "not an image"),
    ("no_images.zip", "holds no image"),
])
def test_archive_cases_are_refused_with_a_reason(battery, member, words):
    _, report, _ = battery
    o = outcome(report, member)
    assert o.status == ERROR and words in o.message


def test_good_archive_member_and_odd_names_are_indexed(battery):
    ws, report, _ = battery
    assert outcome(report, "good.zip/trip/day1/biden_mirrored.jpg").faces_indexed == 1
    weird = [o for o in report.outcomes if "latin1" in o.name]
    assert weird and weird[0].status == INDEXED_STATUS and "\ufffd" in weird[0].name
    assert outcome(report, "x" * 50 + ".jpg").status == INDEXED_STATUS
    json.dumps(report.summary())  # every name is printable


def test_nothing_indexed_before_changed_and_catalog_is_consistent(battery):
    ws, report, before = battery
    still = {f.face_id: (f.face_id, f.detail, f.thumb_path) for f in ws.catalog.faces("b")}
    assert all(still[b[0]] == b for b in before)
    faces = ws.catalog.faces("b", status=None)
    assert set(ws.engine("local").list_faces("b")) == {f.face_id for f in faces if f.status == "indexed"}
    assert all(ws.path(f.thumb_path).exists() for f in faces)
    assert len(ws.catalog.images("b")) == 1 + sum(o.status in (INDEXED_STATUS, NO_FACE) for o in report.outcomes)
    assert len(report.outcomes) >= 30


def test_folder_roots_refuse_links_outside(tmp_path):
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "in.jpg").write_bytes(fixture_bytes("obama.jpg"))
    (outside / "secret.jpg").write_bytes(fixture_bytes("biden.jpg"))
    (allowed / "link.jpg").symlink_to(outside / "secret.jpg")
    (allowed / "dirlink").symlink_to(outside, target_is_directory=True)
    found = list(walk_folder(allowed, [allowed]))
    names = {Path(s.name).name: s for s in found}
    assert set(names) == {"in.jpg", "link.jpg"}  # the linked folder is not walked
    assert names["in.jpg"].read() == fixture_bytes("obama.jpg")
    with pytest.raises(Exception, match="outside the allowed folders"):
        names["link.jpg"].read()
    refused = list(walk_folder(outside, [allowed]))
    with pytest.raises(Exception, match="outside the folders this server may read"):
        refused[0].read()
