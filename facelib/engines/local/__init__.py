"""The offline engine: YuNet + SFace (default) or dlib, on this machine; no account, no network."""

from .analysis import DEFAULT_MODEL, MODELS
from .engine import LocalEngine, LocalPreparer

__all__ = ["DEFAULT_MODEL", "MODELS", "LocalEngine", "LocalPreparer"]
