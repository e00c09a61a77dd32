"""Settings: one reader; a value that is not allowed is refused with the variable, the value and
what is allowed (never replaced by a default); the README's table lists every variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from facelib import settings as S
from facelib.settings import SettingError, Settings


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("FACESEARCH_AWS_CONCURRENCY", "0", "a whole number at least 1"),
        ("FACESEARCH_UPLOAD_MAX_FILES", "2.5", "a whole number at least 1"),
        ("FACESEARCH_BUDGET_USD", "abc", "a number at least 0"),
        ("FACESEARCH_BUDGET_USD", "-1", "a number at least 0"),
        ("FACESEARCH_BUDGET_USD", "nan", "a number at least 0"),
        ("FACESEARCH_UPLOAD_MAX_MB", "0", "a number above 0"),
        ("FACESEARCH_AWS_CALLS_PER_SECOND", "fast", "a number above 0"),
        ("FACESEARCH_AWS_ENDPOINT_URL", "localhost:9000", "a http:// address or a https:// address"),
        ("FACESEARCH_LOG_LEVEL", "loud", "one of debug, info, warning, error"),
        ("FACESEARCH_LOG_FORMAT", "xml", "one of text, json"),
        ("FACESEARCH_PRICES", '{"free": 1}', "a JSON object of numbers"),
        ("FACESEARCH_PRICES", '{"group1": -1}', "a JSON object of numbers"),
    ],
)
def test_a_value_that_is_not_allowed_is_refused_naming_the_variable_value_and_what_is_allowed(monkeypatch, name, value, allowed):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingError) as err:
        S.check()
    text = str(err.value)
    assert name in text and repr(value) in text and allowed in text, text
    assert "\n" not in text
    assert err.value.name == name


def test_settings_refuse_too_not_just_check(monkeypatch, tmp_path):
    monkeypatch.setenv("FACESEARCH_AWS_CONCURRENCY", "0")
    with pytest.raises(SettingError, match="FACESEARCH_AWS_CONCURRENCY='0'"):
        Settings(data_dir=tmp_path)


def test_every_bad_value_is_named_on_one_line(monkeypatch):
    monkeypatch.setenv("FACESEARCH_AWS_CONCURRENCY", "0")
    monkeypatch.setenv("FACESEARCH_BUDGET_USD", "abc")
    with pytest.raises(SettingError) as err:
        S.check()
    assert "FACESEARCH_AWS_CONCURRENCY" in str(err.value) and "FACESEARCH_BUDGET_USD" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_secret_value_is_never_shown_in_an_error(monkeypatch):
    monkeypatch.setenv("FACESEARCH_ICE_SERVERS", '{"credential": "hunter2-turn"}')
    with pytest.raises(SettingError) as err:
        S.check()
    assert "hunter2" not in str(err.value) and "FACESEARCH_ICE_SERVERS" in str(err.value)
    assert "hunter2" not in S.describe({"FACESEARCH_ICE_SERVERS": '[{"credential": "hunter2-turn"}]'})


def test_good_values_and_defaults(monkeypatch, tmp_path):
    for v in S.VARIABLES.values():
        monkeypatch.delenv(v.name, raising=False)
    s = Settings()
    assert (s.aws_concurrency, s.upload_max_files, s.upload_max_mb, s.budget_usd) == (16, 2000, 500.0, None)
    assert s.data_dir == (ROOT / "data").resolve() and s.ice_servers == () and s.cluster is None
    monkeypatch.setenv("FACESEARCH_AWS_CONCURRENCY", " 24 ")
    monkeypatch.setenv("FACESEARCH_UPLOAD_MAX_FILES", "3")
    monkeypatch.setenv("FACESEARCH_BUDGET_USD", "0.5")
    monkeypatch.setenv("FACESEARCH_ADMINS", "A@x.org, b@y.org")
    monkeypatch.setenv("FACESEARCH_ALLOWED_ROOTS", f"{tmp_path}{S.os.pathsep}{tmp_path / 'b'}")
    monkeypatch.setenv("FACESEARCH_ICE_SERVERS", '[{"urls": "stun:h:3478"}]')
    monkeypatch.setenv("FACESEARCH_DATA_DIR", str(tmp_path / "d"))
    S.check()
    s = Settings()
    assert (s.aws_concurrency, s.upload_max_files, s.budget_usd) == (24, 3, 0.5)
    assert s.admins == ("a@x.org", "b@y.org") and s.allowed_roots == (tmp_path, tmp_path / "b")
    assert s.ice_servers == ({"urls": "stun:h:3478"},) and s.data_dir == tmp_path / "d"
    assert s.with_(aws_concurrency=2, budget_usd=None).aws_concurrency == 2
    assert s.with_(data_dir=str(tmp_path)).data_dir == tmp_path


def test_a_new_variable_is_one_declaration():
    kind = S.integer(1, 64)
    v = S.Var("FACESEARCH_EXAMPLE_WORKERS", kind, 2, "threads")
    assert v.read({}) == 2 and v.read({"FACESEARCH_EXAMPLE_WORKERS": "8"}) == 8
    with pytest.raises(SettingError, match="from 1 to 64"):
        v.read({"FACESEARCH_EXAMPLE_WORKERS": "65"})
    with pytest.raises(ValueError):
        S.var("FACESEARCH_DATA_DIR", S.PATH, Path("."), "twice")


def test_settings_is_the_only_module_that_reads_the_environment():
    offenders = []
    for path in (ROOT / "facelib").rglob("*.py"):
        if path.name == "settings.py":
            continue
        text = path.read_text()
        if "os.environ" in text or "getenv(" in text:
            offenders.append(path.relative_to(ROOT).as_posix())
    # logs.py sets OpenCV's own variable (it reads none of facesearch's); the cluster passes the
    # environment to the processes it starts.
    assert set(offenders) <= {"facelib/logs.py"}, offenders


def test_the_readme_lists_every_variable():
    readme = (ROOT / "README.md").read_text()
    table = S.markdown_table()
    assert table in readme, "README.md's settings table is stale: paste `python -m facelib.settings`"
    out = subprocess.run([sys.executable, "-m", "facelib.settings"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == table
