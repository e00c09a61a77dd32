"""The layers point one way: no streamlit in facelib, no boto3/botocore/dlib/diskcache in the pages."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_facelib_never_imports_streamlit():
    offenders = [str(p) for p in (ROOT / "facelib").rglob("*.py") if "streamlit" in imported_modules(p)]
    assert offenders == []


def test_pages_never_import_engine_libraries():
    ui = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
    banned = {"boto3", "botocore", "dlib", "diskcache"}
    offenders = {str(p): sorted(imported_modules(p) & banned) for p in ui if p.exists() and imported_modules(p) & banned}
    assert offenders == {}


def test_only_local_engine_imports_dlib_and_only_aws_modules_import_boto3():
    for p in (ROOT / "facelib").rglob("*.py"):
        mods = imported_modules(p)
        if "dlib" in mods:
            assert p.name == "local.py", p
        if mods & {"boto3", "botocore"}:
            assert p.name in ("rekognition.py", "s3source.py"), p
