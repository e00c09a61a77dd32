"""The CLI contract other tools script against: python -m facelib index/search/faces/collections."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import FIXTURES, ROOT


def cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "facelib", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_cli_index_search_faces_collections(tmp_path):
    data = str(tmp_path / "d")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = json.loads(cli("index", str(FIXTURES), str(bad), "--collection", "cli", "--data-dir", data, "--json").stdout)
    assert out["images"] == 5 and out["faces_indexed"] == 4 and out["faces_rejected"] == 0
    assert [e["image"] for e in out["errors"]] == [str(bad)]

    found = json.loads(cli("search", str(FIXTURES / "obama3.jpg"), "--collection", "cli", "--data-dir", data,
                           "--threshold", "80", "--max-faces", "50", "--json").stdout)
    assert found["searched_face"] == 0 and len(found["query_faces"]) == 1
    assert set(found["query_faces"][0]["box"]) == {"left", "top", "width", "height"}
    images = [m["image"] for m in found["matches"]]
    assert sorted(images) == sorted(str(FIXTURES / n) for n in ("obama.jpg", "obama2.jpg", "obama3.jpg"))
    assert all(80 <= m["similarity"] <= 100 for m in found["matches"])
    assert found["matches"] == sorted(found["matches"], key=lambda m: -m["similarity"])

    faces = json.loads(cli("faces", "--collection", "cli", "--data-dir", data, "--json").stdout)
    assert len(faces) == 4 and {f["face_id"] for f in faces} >= {m["face_id"] for m in found["matches"]}

    cli("collections", "create", "other", "--data-dir", data)
    listed = json.loads(cli("collections", "list", "--data-dir", data, "--json").stdout)
    assert {c["name"]: c["faces"] for c in listed} == {"cli": 4, "other": 0}
    cli("collections", "delete", "other", "--data-dir", data)
    assert "other" not in cli("collections", "--data-dir", data).stdout

    again = json.loads(cli("index", str(FIXTURES), "--collection", "cli", "--data-dir", data, "--json").stdout)
    assert again["faces_indexed"] == 0 and again["by_status"] == {"skipped": 4}


def test_cli_errors_are_one_line(tmp_path):
    proc = cli("search", str(FIXTURES / "obama.jpg"), "--collection", "missing", "--data-dir", str(tmp_path),
               "--json", check=False)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: collection 'missing' does not exist"
