"""One logging configuration for the app and the CLI.

Log lines go to stderr, ``text`` (``2025-01-31T12:00:00.123Z INFO facelib.ingest.indexer: ...``) or
``json`` (one object a line: time, level, logger, message, exc), as ``$FACESEARCH_LOG_FORMAT``
says. facelib's and the pages' loggers log at ``$FACESEARCH_LOG_LEVEL`` (info by default); other
libraries' at warning and up. OpenCV's own messages (``setPreferableTarget ...``) are turned off
unless ``OPENCV_LOG_LEVEL`` is set. Values of secret-looking environment variables (``*SECRET*``,
``*TOKEN*``, ``*PASSWORD*``, ``*_KEY``..., and the settings declared secret) are replaced by
``(hidden)`` in every line, whatever logged them.

Modules log through ``logging.getLogger(__name__)`` and never configure logging themselves.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TextIO

from . import settings

#: The loggers that log at ``$FACESEARCH_LOG_LEVEL``; every other one at warning and up.
OWN_LOGGERS = ("facelib", "pages", "app", "__main__")
SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSW|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_KEY|_KEY$|COOKIE", re.I)
HIDDEN = "(hidden)"
_state: dict[str, object] = {}


#: Streamlit's secrets (the login's client secret, the cookie secret): every string in them is hidden.
SECRET_FILES = (settings.PROJECT_ROOT / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml")


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def secret_values(environ: Mapping[str, str] | None = None, files: Iterable[Path] | None = None) -> list[str]:
    """The values that must never be logged: those of secret-looking variables, of the settings
    declared secret and every string of Streamlit's secrets files (longest first; values under 6
    characters are too common to hide)."""
    env = os.environ if environ is None else environ
    declared = {v.name for v in settings.VARIABLES.values() if v.secret}
    values = {value for name, value in env.items() if name in declared or SECRET_NAME.search(name)}
    for path in SECRET_FILES if files is None else files:
        try:
            values.update(_strings(tomllib.loads(path.read_text())))
        except (OSError, ValueError):  # absent or unreadable: nothing to hide from it
            continue
    return sorted({v.strip() for v in values if len(v.strip()) >= 6}, key=len, reverse=True)


def _utc(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class _Formatter(logging.Formatter):
    """``text`` or ``json`` lines with every secret value hidden."""

    def __init__(self, style: str, secrets: list[str]) -> None:
        super().__init__()
        self.json, self.secrets = style == "json", secrets

    def _hide(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, HIDDEN)
        return text

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        exc = self.formatException(record.exc_info) if record.exc_info else None
        if self.json:
            doc = {"time": _utc(record), "level": record.levelname, "logger": record.name, "message": message}
            if exc:
                doc["exc"] = exc
            return self._hide(json.dumps(doc, ensure_ascii=False))
        line = f"{_utc(record)} {record.levelname} {record.name}: {message}"
        return self._hide(line + ("\n" + exc if exc else ""))


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (a test's capture, Streamlit's redirect)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def _own_or_warning(record: logging.LogRecord) -> bool:
    """Other libraries' lines only from warning up (distributed sets its loggers to info)."""
    return record.levelno >= logging.WARNING or record.name.split(".")[0] in OWN_LOGGERS


def configure_logging(environ: Mapping[str, str] | None = None) -> None:
    """Configure logging from ``$FACESEARCH_LOG_LEVEL`` and ``$FACESEARCH_LOG_FORMAT`` (cheap when
    nothing changed: pages call it on every run). :class:`~facelib.settings.SettingError` when
    either is not allowed."""
    env = os.environ if environ is None else environ
    level, style = settings.LOG_LEVEL.read(env), settings.LOG_FORMAT.read(env)
    secrets = secret_values(env)
    key = (level, style, tuple(secrets))
    if _state.get("key") == key:
        return
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Stderr)]:  # one handler of ours, whatever came before
        root.removeHandler(old)
    handler = _Stderr()
    handler.setFormatter(_Formatter(style, secrets))
    handler.addFilter(_own_or_warning)
    root.addHandler(handler)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level.upper())
    logging.captureWarnings(True)
    quiet_opencv(env)
    first = "handler" not in _state
    _state.update(key=key, handler=handler)
    if first:
        logging.getLogger(__name__).debug(
            "facesearch logging at %s as %s; settings from the environment: %s", level, style, settings.describe(env)
        )


def quiet_opencv(environ: Mapping[str, str] | None = None) -> None:
    """OpenCV logs errors only (its warnings, e.g. ``setPreferableTarget``, are not an operator's
    business), unless ``OPENCV_LOG_LEVEL`` is set. Set before cv2 is imported (its worker
    processes inherit it) and applied to a cv2 already imported."""
    env = os.environ if environ is None else environ
    if env.get("OPENCV_LOG_LEVEL"):
        return
    os.environ["OPENCV_LOG_LEVEL"] = "ERROR"
    cv2 = sys.modules.get("cv2")
    set_level = getattr(cv2, "setLogLevel", None)
    if callable(set_level):
        set_level(2)  # LOG_LEVEL_ERROR


def startup(environ: Mapping[str, str] | None = None) -> None:
    """What the app and the CLI do first: check every setting (:class:`SettingError`, one line
    naming each bad variable), then configure logging."""
    settings.check(environ)
    configure_logging(environ)
