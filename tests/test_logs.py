"""One logging configuration: facelib's INFO lines in the configured format, secrets never logged,
OpenCV's own noise off; a bad setting stops the CLI and the app with one line naming it."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import pytest
from conftest import FIXTURES, ROOT

from facelib import logs

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO facelib\.example: indexed 3 photos$")


@pytest.fixture
def fresh_logging():
    """Configure from scratch and put logging back as it was afterwards."""
    root = logging.getLogger()
    handlers, state = list(root.handlers), dict(logs._state)
    levels = {n: logging.getLogger(n).level for n in logs.OWN_LOGGERS}
    logs._state.clear()
    yield
    for h in root.handlers[:]:
        if h not in handlers:
            root.removeHandler(h)
    for h in handlers:
        if h not in root.handlers:
            root.addHandler(h)
    logs._state.clear()
    logs._state.update(state)
    for n, level in levels.items():
        logging.getLogger(n).setLevel(level)
    logging.getLogger("distributed.example").setLevel(logging.NOTSET)


def test_an_info_line_of_a_facelib_logger_in_text(fresh_logging, capsys):
    logs.configure_logging({"FACESEARCH_LOG_LEVEL": "info"})
    logging.getLogger("facelib.example").info("indexed %d photos", 3)
    logging.getLogger("facelib.example").debug("not shown")
    logging.getLogger("botocore.example").info("not shown either")
    logging.getLogger("distributed.example").setLevel(logging.INFO)  # as distributed sets its own
    logging.getLogger("distributed.example").info("nor this")
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "example" in ln]
    assert len(lines) == 1 and TEXT_LINE.match(lines[0]), lines


def test_an_info_line_of_a_facelib_logger_in_json(fresh_logging, capsys):
    logs.configure_logging({"FACESEARCH_LOG_FORMAT": "json"})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("facelib.example").exception("batch stopped")
    logging.getLogger("facelib.example").info("indexed %d photos", 3)
    docs = [json.loads(ln) for ln in capsys.readouterr().err.splitlines() if "facelib.example" in ln]
    assert [(d["level"], d["logger"], d["message"]) for d in docs] == [
        ("ERROR", "facelib.example", "batch stopped"),
        ("INFO", "facelib.example", "indexed 3 photos"),
    ]
    assert "RuntimeError: boom" in docs[0]["exc"] and re.fullmatch(r"\d{4}-.*Z", docs[1]["time"])


def test_the_level_is_a_setting(fresh_logging, capsys):
    logs.configure_logging({"FACESEARCH_LOG_LEVEL": "warning"})
    logging.getLogger("facelib.example").info("hidden at warning")
    logging.getLogger("facelib.example").warning("shown")
    err = capsys.readouterr().err
    assert "hidden at warning" not in err and "WARNING facelib.example: shown" in err


def test_no_secret_looking_setting_is_ever_logged(fresh_logging, capsys):
    env = {
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": SECRET + "tok",
        "FACESEARCH_LOG_LEVEL": "debug",
        "FACESEARCH_ICE_SERVERS": '[{"urls": "turn:h", "credential": "turn-pass-123"}]',
    }
    logs.configure_logging(env)
    log = logging.getLogger("facelib.example")
    log.info("client made with key %s and token %s", SECRET, SECRET + "tok")
    log.info("ice servers %s", env["FACESEARCH_ICE_SERVERS"])
    try:
        raise ValueError(f"refused {SECRET}")
    except ValueError:
        log.exception("call failed")
    err = capsys.readouterr().err
    assert "facesearch logging at debug" in err and "FACESEARCH_ICE_SERVERS=(hidden)" in err
    assert SECRET not in err and "turn-pass-123" not in err and err.count("(hidden)") >= 4


def test_the_cli_logs_in_json_and_never_a_secret(tmp_path):
    env = {
        **os.environ,
        "FACESEARCH_LOG_FORMAT": "json",
        "FACESEARCH_LOG_LEVEL": "debug",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "FACESEARCH_DATA_DIR": str(tmp_path / "d"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "facelib", "collections", "list"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(ln) for ln in proc.stderr.splitlines() if ln.startswith("{")]
    assert any(d["logger"] == "facelib.logs" and "FACESEARCH_DATA_DIR" in d["message"] for d in docs), proc.stderr
    assert SECRET not in proc.stderr + proc.stdout


def test_opencv_says_nothing_of_its_own(tmp_path):
    """The SFace models loaded and run in a fresh process: no OpenCV warning (setPreferableTarget...)."""
    code = (
        "from facelib import startup, decode; startup()\n"
        "from facelib.engines.local.models import analyser_for\n"
        "a = analyser_for('sface', 'hog'); a.warm()\n"
        f"print(len(a.analyze(decode(open({str(FIXTURES / 'obama.jpg')!r}, 'rb').read()))))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "[ WARN" not in proc.stderr and "setPreferableTarget" not in proc.stderr, proc.stderr


def test_a_bad_setting_stops_the_cli_with_one_line(tmp_path):
    env = {**os.environ, "FACESEARCH_AWS_CONCURRENCY": "0", "FACESEARCH_DATA_DIR": str(tmp_path / "d")}
    proc = subprocess.run(
        [sys.executable, "-m", "facelib", "collections", "list"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "facesearch: FACESEARCH_AWS_CONCURRENCY='0' is not allowed: expected a whole number at least 1"
    ), proc.stderr


@pytest.mark.parametrize("page", ["app.py", "pages/2_Search.py"])
def test_a_bad_setting_stops_the_app_with_one_line(tmp_path, monkeypatch, page):
    from streamlit.testing.v1 import AppTest

    # Settings are checked when a process first imports the pages' helpers: import them afresh.
    for name in [m for m in sys.modules if m == "pages.ui.common"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setenv("FACESEARCH_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("FACESEARCH_UPLOAD_MAX_FILES", "2.5")
    at = AppTest.from_file(str(ROOT / page), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [e.value.replace("\\", "").replace("\u2060", "") for e in at.error]  # as escaped markdown
    assert shown == ["FACESEARCH_UPLOAD_MAX_FILES='2.5' is not allowed: expected a whole number at least 1"]


def test_streamlits_secrets_are_never_logged(fresh_logging, capsys, tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\nclient_secret = "oidc-client-secret-42"\ncookie_secret = "cookie-secret-99"\n')
    monkeypatch.setattr(logs, "SECRET_FILES", (secrets, tmp_path / "absent.toml"))
    logs.configure_logging({})
    logging.getLogger("facelib.example").warning("token exchange failed for oidc-client-secret-42 (cookie-secret-99)")
    err = capsys.readouterr().err
    assert "secret-42" not in err and "secret-99" not in err and "failed for (hidden) ((hidden))" in err
