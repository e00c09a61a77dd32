"""Faults: a batch killed with SIGKILL and rerun, two processes indexing one collection at once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT
from PIL import Image, ImageOps


def make_folder(folder: Path) -> int:
    """16 distinct photos (4 portraits x original, mirrored, smaller, brighter)."""
    folder.mkdir(parents=True)
    n = 0
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"):
        im = Image.open(FIXTURES / name).convert("RGB")
        variants = [im, ImageOps.mirror(im), im.resize((im.width * 9 // 10, im.height * 9 // 10)),
                    Image.eval(im, lambda v: min(255, v + 12))]
        for i, v in enumerate(variants):
            v.save(folder / f"{Path(name).stem}_{i}.jpg", quality=90)
            n += 1
    return n


def cli_index(folder: Path, data: Path, workers: int = 2) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "facelib", "index", str(folder), "--collection", "c",
                             "--data-dir", str(data), "--workers", str(workers), "--quiet", "--no-group"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


@pytest.fixture
def reap():
    """Process groups to kill when the test ends, whatever happened."""
    groups: list[int] = []
    yield groups
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def count_images(data: Path) -> int:
    try:
        with sqlite3.connect(data / "catalog.sqlite3", timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM images").fetchone()[0]
    except sqlite3.Error:
        return 0


def assert_consistent(data: Path, images: int, faces: int) -> None:
    from facelib.settings import Settings
    from facelib.workspace import Workspace

    ws = Workspace(Settings(data_dir=data))
    assert ws.catalog.counts("c") == {"images": images, "faces": faces, "rejected": 0}
    indexed = {f.face_id for f in ws.catalog.faces("c")}
    assert set(ws.engine("local").list_faces("c")) == indexed  # no orphan or missing vector
    thumbs = {str(p.relative_to(data)) for p in (data / "thumbs").rglob("*") if p.is_file()}
    assert thumbs == {f.thumb_path for f in ws.catalog.faces("c", status=None)}  # no orphan thumbnail
    copies = {str(p.relative_to(data)) for p in (data / "images").rglob("*") if p.is_file()}
    assert copies == {i.stored_path for i in ws.catalog.images("c")}
    assert ws.catalog.pending("c") == []
    shas = [i.sha256 for i in ws.catalog.images("c")]
    assert len(shas) == len(set(shas))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    base = tmp_path_factory.mktemp("ref")
    folder = base / "photos"
    n = make_folder(folder)
    proc = cli_index(folder, base / "data")
    assert proc.wait(300) == 0, proc.stderr.read()
    from facelib.settings import Settings
    from facelib.workspace import Workspace

    faces = Workspace(Settings(data_dir=base / "data")).catalog.counts("c")["faces"]
    assert faces >= n - 1
    return folder, n, faces


def test_sigkill_mid_batch_then_rerun(reference, tmp_path, reap):
    folder, n, faces = reference
    data = tmp_path / "data"
    proc = cli_index(folder, data)
    reap.append(proc.pid)
    deadline = time.time() + 120
    while count_images(data) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the batch finished before it could be killed"
    assert len(group_members(proc.pid)) >= 2, "the coordinator and its workers"
    proc.send_signal(signal.SIGKILL)  # the coordinator only, as a crash would
    proc.wait(30)
    deadline = time.time() + 10
    while group_members(proc.pid) and time.time() < deadline:
        time.sleep(0.05)
    assert group_members(proc.pid) == [], "the workers die with their coordinator"
    done = count_images(data)
    assert 3 <= done < n
    rerun = cli_index(folder, data)
    assert rerun.wait(300) == 0, rerun.stderr.read()
    assert_consistent(data, n, faces)


def test_two_processes_index_one_collection(reference, tmp_path):
    folder, n, faces = reference
    data = tmp_path / "data"
    first = cli_index(folder, data, workers=1)
    second = cli_index(folder, data, workers=1)
    assert first.wait(300) == 0, first.stderr.read()
    assert second.wait(300) == 0, second.stderr.read()
    assert_consistent(data, n, faces)
