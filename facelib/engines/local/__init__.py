"""The offline engine (dlib on this machine; no account, no network)."""

from .engine import MODEL_VERSION, LocalEngine, LocalPreparer

__all__ = ["MODEL_VERSION", "LocalEngine", "LocalPreparer"]
