"""Shared fixtures: the shipped photos, the dev set (skipped when ../shared is absent), workspaces."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import pytest
from PIL import Image

from facelib import BatchReport, FileStatus, Workspace, expand_paths

ROOT = Path(__file__).resolve().parent.parent

FIXTURES = ROOT / "tests" / "fixtures"
SHARED = ROOT.parent / "shared"
DEV = SHARED / "faces-dev"
RECORDED = SHARED / "rekognition-responses"

needs_dev = pytest.mark.skipif(not (DEV / "labels.csv").exists(),
                               reason=f"the labelled dev photos ({DEV}) are absent on this machine")
needs_recorded = pytest.mark.skipif(not RECORDED.exists(),
                                    reason=f"the recorded Rekognition responses ({RECORDED}) are absent")


ERROR, INDEXED_STATUS, NO_FACE, SKIPPED = FileStatus.ERROR, FileStatus.INDEXED, FileStatus.NO_FACE, FileStatus.SKIPPED


#: The four shipped photos (tests/fixtures also holds data directories written by older versions).
PHOTOS = tuple(sorted(FIXTURES.glob("*.jpg")))


def index_paths(ws: Workspace, collection: str, paths: Iterable[str | Path], workers: int | None = None,
                progress=None) -> BatchReport:
    """Index files and folders (recursively) into ``collection``, creating it if needed; ``FIXTURES``
    stands for the four shipped photos (not the old data directories beside them)."""
    chosen = [p for path in paths for p in (PHOTOS if Path(path) == FIXTURES else (path,))]
    return ws.ensure_collection(collection).index(expand_paths(chosen, ws.settings), progress, workers=workers)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def two_faces_jpeg() -> bytes:
    """obama.jpg and biden.jpg side by side (obama on the left), as JPEG bytes."""
    a = Image.open(FIXTURES / "obama.jpg").convert("RGB")
    b = Image.open(FIXTURES / "biden.jpg").convert("RGB")
    h = max(a.height, b.height)
    out = Image.new("RGB", (a.width + b.width, h), (255, 255, 255))
    out.paste(a, (0, 0))
    out.paste(b, (a.width, 0))
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def workspace(tmp_path):
    from facelib.settings import Settings
    from facelib.workspace import Workspace

    return Workspace(Settings(data_dir=tmp_path / "data"))


@pytest.fixture(scope="session")
def indexed(tmp_path_factory):
    """A workspace whose collection "fx" holds the four shipped photos (indexed once per session)."""
    from facelib.settings import Settings

    ws = Workspace(Settings(data_dir=tmp_path_factory.mktemp("indexed") / "data"))
    report = index_paths(ws, "fx", [FIXTURES], workers=1)
    assert report.faces_indexed == 4, report.summary()
    return ws


import logging  # noqa: E402

# AppTest reads elements outside a script run; Streamlit logs a harmless warning for each.
logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
logging.getLogger("streamlit.runtime.state.session_state_proxy").setLevel(logging.ERROR)


@pytest.fixture
def with_samples_at(tmp_path, monkeypatch):
    """An AppTest on app.py whose data directory holds the sample photos, indexed."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FACESEARCH_DATA_DIR", str(tmp_path / "data"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.button(key="index_samples").click().run()
    assert not at.exception
    return at


@pytest.fixture
def rek(workspace):
    """A workspace with a stubbed Rekognition collection "team": (workspace, engine, stub); every
    queued response must have been used by the end of the test."""
    from rekognition_stub import expect_create, make_engine

    engine, stub = make_engine(workspace)
    expect_create(engine, stub, "team")
    workspace.create_collection("team", "rekognition")
    yield workspace, engine, stub
    stub.assert_no_pending_responses()


# -- tiers and order ----------------------------------------------------------------------------------
#: The slow tier (`pytest -m "not slow"` leaves it out): whole modules, or single tests by name.
#: Measured with `pytest --durations=0`; a test that takes more than ~3 s, or starts a browser, a
#: cluster or processes it kills, belongs here.
SLOW_MODULES = {"test_e2e", "test_cluster", "test_ui_walk", "test_faults", "test_grouping_scale", "test_devset"}
SLOW_TESTS: set[str] = set()
#: Modules whose tests tell one story in file order on shared fixtures (one server, one browser):
#: the shuffled run keeps their order (each of their tests that can run alone says so).
IN_ORDER_MODULES = {"test_e2e"}


def pytest_collection_modifyitems(config, items):
    """Runs before pytest-random-order's shuffle (conftest hooks come first), so its markers count."""
    for item in items:
        module = item.module.__name__ if item.module else ""
        if module in SLOW_MODULES or item.originalname in SLOW_TESTS or item.name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
        if module in IN_ORDER_MODULES:
            item.add_marker(pytest.mark.random_order(disabled=True))


@pytest.fixture(autouse=True)
def _no_job_runner_left():
    """Job runner threads started by a test (the app's, under AppTest) end with the test."""
    yield
    from facelib.jobs.runner import stop_runners

    stop_runners()
