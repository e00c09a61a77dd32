"""Issue 22, item 6: a name that matches several images is refused with the candidates; nothing is erased."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, fixture_bytes


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "facelib", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_delete_by_an_ambiguous_name_is_refused_with_the_candidates(tmp_path):
    data = str(tmp_path / "d")
    for folder, photo in (("trip", "obama.jpg"), ("party", "biden.jpg")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "IMG_0001.jpg").write_bytes(fixture_bytes(photo))
    done = run_cli("index", str(tmp_path / "trip"), str(tmp_path / "party"), "--collection", "c", "--quiet",
                   "--no-group", "--data-dir", data)
    assert done.returncode == 0, done.stderr
    refused = run_cli("delete", "--collection", "c", "--image", "IMG_0001.jpg", "--data-dir", data)
    assert refused.returncode != 0
    assert "names 2 images" in refused.stderr and "nothing was deleted" in refused.stderr
    assert str(tmp_path / "trip" / "IMG_0001.jpg") in refused.stderr
    assert str(tmp_path / "party" / "IMG_0001.jpg") in refused.stderr
    listed = run_cli("faces", "--collection", "c", "--json", "--data-dir", data)
    assert listed.stdout.count("IMG_0001.jpg") == 2, listed.stdout
    sha = refused.stderr.split("delete: ")[1][:64]
    gone = run_cli("delete", "--collection", "c", "--image", sha, "--json", "--data-dir", data)
    assert gone.returncode == 0 and f'"sha256": "{sha}"' in gone.stdout
    assert "party" in refused.stderr.split("delete: ")[1].split(";")[0]  # candidates are listed by name
    # the full name as indexed is one image
    other = run_cli("delete", "--collection", "c", "--image", str(tmp_path / "trip" / "IMG_0001.jpg"),
                    "--data-dir", data)
    assert other.returncode == 0, other.stderr
