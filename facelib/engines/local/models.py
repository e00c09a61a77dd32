"""The per-process cache of analysers, one per model and setting."""

from __future__ import annotations

import functools

from .analysis import DEFAULT_MODEL, Analyser, check_model


@functools.cache
def analyser_for(model: str = DEFAULT_MODEL, detector: str = "hog") -> Analyser:
    """This process's analyser for one setting (models load once per process and setting).
    ``detector`` ("hog" or "cnn") applies to dlib only."""
    check_model(model)
    if model == "sface":
        from .sface import SFaceAnalyser

        return SFaceAnalyser()
    from .dlib import DlibAnalyser

    return DlibAnalyser(detector)
