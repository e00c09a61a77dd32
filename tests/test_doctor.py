"""Faults between files and rows (issue 14, items 6-7): a collection deleted while it is being
indexed, a disk that fills up mid-write, and `facesearch doctor` finding and repairing what is off."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ERROR, ROOT, fixture_bytes

from facelib import Settings, Workspace, bytes_source
from facelib.doctor import check

PHOTOS = ("obama.jpg", "biden.jpg", "obama2.jpg", "obama3.jpg")


def files_under(ws, sub):
    return sorted(p for p in (ws.settings.data_dir / sub).rglob("*") if p.is_file())


@pytest.mark.parametrize("workers", [1, 2])
def test_deleting_a_collection_while_it_is_indexed_leaves_no_file_behind(tmp_path, workers):
    ws = Workspace(Settings(data_dir=tmp_path / "d"))
    coll = ws.create_collection("race")
    other = Workspace(Settings(data_dir=tmp_path / "d"))  # another process's view of the same data

    def progress(done, total, outcome):
        if done == 2:
            other.delete_collection("race")

    sources = [bytes_source(f"{i}-{n}", fixture_bytes(n)) for i in range(2) for n in PHOTOS]
    report = coll.index(sources, progress, workers=workers)
    assert "deleted while it was being indexed" in report.stopped
    assert len(report.outcomes) == len(sources)  # every file has its outcome: the report is whole
    assert ws.collections() == []
    assert files_under(ws, "thumbs") == [] and files_under(ws, "images") == []
    assert check(ws).healthy


def test_a_disk_that_fills_mid_write_leaves_no_fragment(tmp_path, monkeypatch):
    ws = Workspace(Settings(data_dir=tmp_path / "d"))
    coll = ws.create_collection("full")
    real = Path.write_bytes

    def half_then_full(self, data):
        if self.name.endswith(".tmp") and "images" in self.parts:
            real(self, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    report = coll.index([bytes_source("a.jpg", fixture_bytes("obama.jpg"))], workers=1)
    assert report.outcomes[0].status == ERROR and "No space left" in report.outcomes[0].message
    assert list(ws.settings.data_dir.rglob("*.tmp")) == []
    monkeypatch.setattr(Path, "write_bytes", real)
    assert coll.index([bytes_source("a.jpg", fixture_bytes("obama.jpg"))], workers=1).faces_indexed == 1
    assert check(ws).healthy


def test_doctor_finds_and_repairs_orphans_fragments_and_missing_files(tmp_path):
    ws = Workspace(Settings(data_dir=tmp_path / "d"))
    coll = ws.create_collection("c")
    coll.index([bytes_source(n, fixture_bytes(n)) for n in PHOTOS], workers=1)
    assert check(ws).healthy
    faces = coll.faces()
    ws.path(faces[0].thumb_path).unlink()                       # a thumbnail gone: cut again
    images = coll.images()
    ws.path(images[1].stored_path).unlink()                     # a stored copy gone: reported
    orphan = ws.settings.thumbs_dir / "gone" / "ab" / "x-0.jpg"   # a file no row names
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"jpeg")
    fragment = ws.settings.images_dir / ".x.jpg.123.456.tmp"      # a write that died
    fragment.parent.mkdir(parents=True, exist_ok=True)
    fragment.write_bytes(b"half")
    found = check(ws)
    assert found.orphan_files == [ws.files.relative(orphan)] and found.fragments == [ws.files.relative(fragment)]
    assert found.missing_thumbnails == [faces[0].thumb_path] and found.missing_copies == [images[1].stored_path]
    fixed = check(ws, repair=True)
    assert fixed.files_removed == 2 and fixed.thumbnails_recut + fixed.thumbnails_cleared == 1
    after = check(ws)
    assert after.orphan_files == after.fragments == after.missing_thumbnails == []
    assert after.missing_copies == [images[1].stored_path]  # nothing can bring those bytes back
    proc = subprocess.run([sys.executable, "-m", "facelib", "doctor", "--json", "--data-dir", str(ws.settings.data_dir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and json.loads(proc.stdout)["missing_copies"] == [images[1].stored_path]


@pytest.fixture
def small_disk(tmp_path):
    """A 40 MB tmpfs of its own (needs root: skipped, with the reason, where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> None:
    """Write until the disk is full (a disk full already is fine too)."""
    try:
        with open(disk / "filler", "wb") as f:
            while True:
                f.write(b"\1" * 65536)
                f.flush()
    except OSError as exc:
        assert exc.errno == errno.ENOSPC


def test_erasure_works_on_a_full_disk(small_disk):
    ws = Workspace(Settings(data_dir=small_disk / "data"))
    coll = ws.create_collection("c")
    coll.index([bytes_source(n, fixture_bytes(n)) for n in PHOTOS], workers=1)
    fill(small_disk)
    shas = [i.sha256 for i in coll.images()]
    assert coll.delete_image(shas[0]) >= 1  # erasure frees the reserve when SQLite finds no room
    assert coll.delete_image(shas[1]) >= 1
    assert ws.collection("c").counts()["images"] == 2
    assert list((small_disk / "data").rglob("*.tmp")) == []
    (small_disk / "filler").unlink(missing_ok=True)
    ws.delete_collection("c")
    assert ws.collections() == [] and (small_disk / "data" / ".reserve").exists()  # put back once there is room
