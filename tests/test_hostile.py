"""Hostile input (issue 14, items 1-5): no archive member, posts file, file-system object or
decoder corner stops a batch; each is its own per-file outcome, and the report is always printed."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ERROR, INDEXED_STATUS, ROOT, SKIPPED, fixture_bytes, index_paths
from PIL import Image

from facelib import walk_folder
from facelib.errors import BadImage
from facelib.images import MAX_PIXELS, decode
from facelib.ingest.sources import file_source, zip_sources


def zip_bytes(members: dict[str, bytes], encrypted: set[str] = frozenset(), method: dict[str, int] | None = None) -> bytes:
    """A zip whose named members are flagged encrypted or carry another compression method id
    (AES is 99, implode 6), written stored and patched, as such archives come from other tools."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    raw = bytearray(buf.getvalue())

    def patch(name: str, field: str, value: int) -> None:
        encoded = name.encode()
        # (signature, where the name starts, where the flags and the method are) of both headers
        for sig, name_at, flags_at, method_at in ((b"PK\x03\x04", 30, 6, 8), (b"PK\x01\x02", 46, 8, 10)):
            for hit in re.finditer(re.escape(sig), raw):
                start = hit.start()
                if raw[start + name_at:start + name_at + len(encoded)] == encoded:
                    at = start + (flags_at if field == "flags" else method_at)
                    old = int.from_bytes(raw[at:at + 2], "little")
                    raw[at:at + 2] = (old | value if field == "flags" else value).to_bytes(2, "little")
    for name in encrypted:
        patch(name, "flags", 0x1)
    for name, m in (method or {}).items():
        patch(name, "method", m)
    return bytes(raw)


def outcomes(report):
    return {Path(o.name).name: o for o in report.outcomes}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "facelib", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_encrypted_and_unsupported_members_are_per_file_outcomes(workspace, tmp_path):
    archive = tmp_path / "locked.zip"
    archive.write_bytes(zip_bytes({"secret.jpg": fixture_bytes("obama.jpg"), "aes.jpg": fixture_bytes("biden.jpg"),
                                   "implode.jpg": fixture_bytes("biden.jpg"), "fine.jpg": fixture_bytes("obama2.jpg")},
                                  encrypted={"secret.jpg"}, method={"aes.jpg": 99, "implode.jpg": 6}))
    first = tmp_path / "obama3.jpg"
    first.write_bytes(fixture_bytes("obama3.jpg"))
    report = index_paths(workspace, "c", [first, archive], workers=1)
    got = outcomes(report)
    assert got["obama3.jpg"].status == got["fine.jpg"].status == INDEXED_STATUS
    assert got["secret.jpg"].status == ERROR and "encrypted" in got["secret.jpg"].message
    assert got["aes.jpg"].status == got["implode.jpg"].status == ERROR
    assert "compression method 99" in got["aes.jpg"].message and "method 6" in got["implode.jpg"].message


def test_a_flag_zipfile_cannot_read_at_open_time_is_caught_on_read(workspace):
    """A member that looks readable in the directory but raises when opened (zipfile's
    RuntimeError / NotImplementedError) is still one file's error."""
    data = zip_bytes({"ok.jpg": fixture_bytes("obama.jpg")})
    sources = zip_sources(io.BytesIO(data), "a.zip")
    zf_info = sources[0]

    def broken() -> bytes:
        raise NotImplementedError("That compression method is not supported")
    report = workspace.ensure_collection("c").index([type(zf_info)(zf_info.name, broken, "zip", {"archive": "a.zip"})],
                                                    workers=1)
    assert report.outcomes[0].status == ERROR and "not supported" in report.outcomes[0].message


def test_cli_json_report_is_printed_with_a_bad_archive(tmp_path):
    archive = tmp_path / "encrypted.zip"
    archive.write_bytes(zip_bytes({"x.jpg": fixture_bytes("biden.jpg")}, encrypted={"x.jpg"}))
    photo = tmp_path / "obama2.jpg"
    photo.write_bytes(fixture_bytes("obama2.jpg"))
    proc = run_cli("index", str(photo), str(archive), "--collection", "c", "--json", "--quiet", "--no-group",
                   "--data-dir", str(tmp_path / "d"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["faces_indexed"] == 1 and len(doc["errors"]) == 1 and "encrypted" in doc["errors"][0]["message"]


@pytest.mark.parametrize("posts", [
    ["not a post", 7, None],
    [{"media": [{"uri": "media/a.jpg", "creation_timestamp": "yesterday"}]}],
    [{"media": [{"uri": "media/a.jpg", "creation_timestamp": 1e20}]}],
    [{"media": "not a list"}, {"media": [{"uri": 5}, "x", {"uri": "media/a.jpg", "title": ["not text"]}]}],
    {"ig_posts": {"not": "a list"}},
])
def test_instagram_posts_of_unexpected_shapes_never_stop_the_batch(workspace, posts):
    data = zip_bytes({"your_instagram_activity/content/posts_1.json": json.dumps(posts).encode(),
                      "media/a.jpg": fixture_bytes("obama.jpg")})
    report = workspace.ensure_collection("c").index(zip_sources(io.BytesIO(data), "export.zip"), workers=1)
    got = outcomes(report)
    assert got["a.jpg"].status == INDEXED_STATUS


def test_deeply_nested_and_huge_posts_files_are_reported_and_bounded(workspace):
    deep = b"[" * 200_000 + b"]" * 200_000
    huge = b'[{"media": []}' + b" " * (40 * 1024 ** 2) + b"]"  # 40 MiB of JSON, a few KB compressed
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("your_instagram_activity/content/posts_1.json", deep, compress_type=zipfile.ZIP_STORED)
        zf.writestr("your_instagram_activity/content/posts_2.json", huge)
        zf.writestr("media/a.jpg", fixture_bytes("obama.jpg"))
    tracemalloc.start()
    try:
        sources = zip_sources(io.BytesIO(buf.getvalue()), "export.zip")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 ** 2  # the 40 MiB file is refused from its entry, never read
    report = workspace.ensure_collection("c").index(sources, workers=1)
    got = outcomes(report)
    assert got["a.jpg"].status == INDEXED_STATUS
    assert "nested too deeply" in got["posts_1.json"].message and "JSON" in got["posts_2.json"].message


def _with_timeout(fn, seconds=20):
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(_catch(fn)), daemon=True)
    t.start()
    t.join(seconds)
    assert result, "the read hung"
    return result[0]


def _catch(fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001
        return exc


def test_only_regular_files_are_read_and_never_past_the_limit(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.jpg"
    zero.symlink_to("/dev/zero")
    sparse = tmp_path / "sparse.jpg"
    with open(sparse, "wb") as f:
        f.truncate(2 * 1024 ** 3)
    for path, words in ((fifo, "not a regular file"), (zero, "not a regular file"), (sparse, "over the")):
        got = _with_timeout(file_source(path).read)
        assert isinstance(got, BadImage) and words in str(got), (path, got)


def test_a_link_swapped_after_listing_is_refused_and_hard_links_too(tmp_path):
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    secret = outside / "secret.jpg"
    secret.write_bytes(fixture_bytes("obama.jpg"))
    (allowed / "a.jpg").write_bytes(fixture_bytes("biden.jpg"))
    listed = list(walk_folder(allowed, [allowed]))  # listed while a.jpg is a plain file
    (allowed / "a.jpg").unlink()
    (allowed / "a.jpg").symlink_to(secret)  # swapped before the batch reads it
    with pytest.raises(BadImage, match="outside the allowed folders"):
        listed[0].read()
    (allowed / "a.jpg").unlink()
    os.link(secret, allowed / "a.jpg")  # a hard link: the same file as outside
    with pytest.raises(BadImage, match="hard links"):
        list(walk_folder(allowed, [allowed]))[0].read()


def test_zip_files_inside_a_folder_are_indexed(workspace, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "one.jpg").write_bytes(fixture_bytes("obama.jpg"))
    (folder / "more.zip").write_bytes(zip_bytes({"two.jpg": fixture_bytes("biden.jpg")}))
    got = outcomes(index_paths(workspace, "c", [folder], workers=1))
    assert got["one.jpg"].status == got["two.jpg"].status == INDEXED_STATUS


def test_copies_of_a_failed_file_fail_with_it(workspace, tmp_path):
    broken = fixture_bytes("obama.jpg")[:2000]  # a JPEG cut short: it opens, then fails to decode
    paths = []
    for name in ("broken.jpg", "copy1.jpg", "copy2.jpg"):
        (tmp_path / name).write_bytes(broken)
        paths.append(tmp_path / name)
    (tmp_path / "good.jpg").write_bytes(fixture_bytes("obama.jpg"))
    (tmp_path / "good_copy.jpg").write_bytes(fixture_bytes("obama.jpg"))
    got = outcomes(index_paths(workspace, "c", [*paths, tmp_path / "good.jpg", tmp_path / "good_copy.jpg"], workers=1))
    assert {got[n].status for n in ("broken.jpg", "copy1.jpg", "copy2.jpg")} == {ERROR}
    assert "which failed" in got["copy1.jpg"].message
    assert got["good_copy.jpg"].status == SKIPPED and "already indexed" not in got["good_copy.jpg"].message


def test_sixteen_bit_grey_is_converted_within_a_fixed_multiple_of_its_8_bit_size():
    side = 3000
    grey = (np.arange(side * side, dtype=np.uint32).reshape(side, side) % 65536).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, "PNG", compress_level=1)
    tracemalloc.start()
    try:
        img = decode(buf.getvalue(), "grey16.png")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    eight_bit = side * side
    assert peak < 4 * eight_bit  # numpy's share: the uint16 view, the uint8 picture, one block of rows
    assert img.rgb.mode == "RGB"


def test_a_float_tiff_with_an_infinite_pixel_keeps_its_picture():
    arr = np.linspace(0, 1000, 200 * 200, dtype=np.float32).reshape(200, 200)
    arr[3, 3] = np.inf
    arr[4, 4] = np.nan
    buf = io.BytesIO()
    Image.fromarray(arr, "F").save(buf, "TIFF")
    out = np.asarray(decode(buf.getvalue(), "f.tif").rgb)
    assert out[199, 199, 0] == 255 and out[100, 100, 0] in range(120, 136) and out[4, 4, 0] == 0


def test_a_101_megapixel_camera_photo_is_accepted_and_the_limit_is_what_the_readme_says():
    w, h = 11_000, 9_260  # 101.9 MP
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (120, 110, 100)).save(buf, "JPEG", quality=70)
    img = decode(buf.getvalue(), "camera.jpg")
    assert img.original_size == (w, h)
    readme = (ROOT / "README.md").read_text()
    assert f"{MAX_PIXELS // 1_000_000} megapixels" in readme


# -- issue 22, item 7: memory from inputs within limits ----------------------------------------------------
PEAK_SCRIPT = r"""
import io, json, os, resource, sys, zipfile
sys.path.insert(0, sys.argv[2])
from facelib.ingest.sources import zip_sources
path = sys.argv[1]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sources = zip_sources(path, "export.zip")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
captions = [len(s.metadata.get("caption", "")) for s in sources if s.origin == "instagram"]
print(json.dumps({"peak_mib": (after - before) / 1024, "captions": captions,
                  "refused": [s.name for s in sources if s.origin == "zip"]}))
"""


def peak_of_listing(archive: Path) -> dict:
    """List an archive in a fresh process; its peak resident memory above what it held before
    (``getrusage``'s ru_maxrss, what /usr/bin/time -v reports), and the captions it kept."""
    proc = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(archive), str(ROOT)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_an_export_of_huge_captions_is_read_one_caption_at_a_time(tmp_path):
    """8 posts files of 24 MB, each one post with one caption, all under the 32 MB limit: json.loads
    held every caption (200+ MiB here, 2.1 GB with 64 files); the stream holds one post of a few KB."""
    import base64

    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for k in range(8):
            caption = base64.b64encode(os.urandom(18 * 1024 ** 2)).decode()  # 24 MiB of text
            post = [{"title": caption, "media": [{"uri": f"media/{k}.jpg", "creation_timestamp": 1700000000}]}]
            zf.writestr(f"your_instagram_activity/content/posts_{k + 1}.json", json.dumps(post))
            zf.writestr(f"media/{k}.jpg", fixture_bytes("obama.jpg"))
    got = peak_of_listing(archive)
    from facelib.ingest.sources import CAPTION_MAX

    assert got["captions"] == [CAPTION_MAX] * 8
    assert got["peak_mib"] < 40, got["peak_mib"]


def test_entries_that_overlap_are_refused(tmp_path):
    """A 40-entry archive whose entries all point at one member (inflated 40 times before): refused whole."""
    member = b"\xff\xd8" + os.urandom(2 * 1024 ** 2)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("one.jpg", member)
    raw = buf.getvalue()
    # the central directory entry of one.jpg, repeated 40 times under new names, all at offset 0
    cd_at = raw.index(b"PK\x01\x02")
    eocd_at = raw.index(b"PK\x05\x06")
    entry = raw[cd_at:eocd_at]
    entries = b"".join(entry.replace(b"one.jpg", f"{k:03d}.jpg".encode()) for k in range(40))
    eocd = bytearray(raw[eocd_at:])
    eocd[8:10] = eocd[10:12] = (40).to_bytes(2, "little")
    eocd[12:16] = len(entries).to_bytes(4, "little")
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(raw[:cd_at] + entries + bytes(eocd))
    assert len(zipfile.ZipFile(bomb).infolist()) == 40
    got = peak_of_listing(bomb)
    assert got["refused"] == ["export.zip"]
    sources = zip_sources(str(bomb), "bomb.zip")
    assert len(sources) == 1 and sources[0].origin == "zip"
    with pytest.raises(BadImage, match="overlap"):
        sources[0].read()
