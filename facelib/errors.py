"""facelib's exception tree. Engines map their native errors to these at their boundary."""

from __future__ import annotations


class FaceLibError(Exception):
    """Base class of every error facelib raises on purpose."""


class BadImage(FaceLibError):
    """The bytes are not an image facelib can use (corrupt, unsupported, too large, too small)."""


class NoFaceFound(FaceLibError):
    """The image holds no face where one was required."""


class CollectionNotFound(FaceLibError):
    """The named collection does not exist."""


class CollectionExists(FaceLibError):
    """A collection of that name exists already."""


class FaceNotFound(FaceLibError):
    """No face with that id in the collection."""


class InvalidParameter(FaceLibError):
    """A parameter is outside what the engine accepts (threshold range, name pattern...)."""


class EngineAuthError(FaceLibError):
    """The engine refused the credentials or lacks a permission."""


class EngineUnavailable(FaceLibError):
    """The engine could not answer (throttled past retries, network down, missing model)."""
