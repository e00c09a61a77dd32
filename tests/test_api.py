"""The public API is what ``facelib.__all__`` lists, pinned in tests/public_api.txt; ``import
facelib`` (and the CLI and the offline engine) work without the optional extras (aws, cluster, dlib)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

import facelib

PINNED = ROOT / "tests" / "public_api.txt"
UPDATE = "python -c 'import facelib; print(*sorted(facelib.__all__), sep=chr(10))' > tests/public_api.txt"


def test_the_public_api_is_pinned():
    names = list(facelib.__all__)
    pinned = PINNED.read_text().split()
    added, removed = sorted(set(names) - set(pinned)), sorted(set(pinned) - set(names))
    assert not added and not removed, (
        f"facelib.__all__ changed: added {added}, removed {removed}. If on purpose, update the pin: {UPDATE}"
    )
    assert len(names) == len(set(names)), "a name is listed twice in facelib.__all__"
    assert all(hasattr(facelib, n) for n in names)


def test_facelib_works_without_the_optional_extras(tmp_path):
    """boto3, distributed and dlib made unimportable: facelib, its CLI and the offline engine still work."""
    code = f"""
import importlib.abc, sys
BLOCKED = {{"boto3", "botocore", "diskcache", "distributed", "dask", "dlib", "face_recognition_models"}}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not installed")
sys.meta_path.insert(0, Block())
import facelib, facelib.cli
from facelib import Settings, Workspace, expand_paths
ws = Workspace(Settings(data_dir={str(tmp_path / "d")!r}))
report = ws.ensure_collection("x").index(expand_paths([{str(ROOT / "tests" / "fixtures" / "obama.jpg")!r}]), workers=1)
assert report.faces_indexed == 1, report.summary()
print(sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
