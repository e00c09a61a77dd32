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


class CredentialsError(EngineAuthError):
    """The credentials themselves are bad: unknown key, wrong secret, expired token, skewed clock."""


class WrongAccount(EngineAuthError):
    """The collection lives in another AWS region or account than the client's."""


class QuotaExceeded(EngineUnavailable):
    """A service quota is used up (retrying does not help): the batch stops."""


class UserNotFound(FaceLibError):
    """No engine User with that id in the collection."""


class NotOwned(FaceLibError):
    """The engine's collection is not this installation's (imported, or its ARN or tags differ):
    it is never deleted there."""


class ErasureIncomplete(FaceLibError):
    """The engine did not confirm deleting some faces; they are kept in the catalog so the erasure
    can be retried. ``remaining``: their ids."""

    def __init__(self, message: str, remaining: list[str]) -> None:
        super().__init__(message)
        self.remaining = remaining


class BudgetExceeded(InvalidParameter):
    """A paid batch's estimate is over the configured budget (``Settings.budget_usd``)."""


class SearchMismatch(FaceLibError):
    """The engine searched (or indexed) another face than the one asked for."""


class CatalogDamaged(FaceLibError):
    """The catalog database cannot be opened or read (a damaged or foreign file): nothing was changed."""


class ClusterUnreachable(EngineUnavailable):
    """The Dask cluster cannot be reached, has no worker, or was lost mid-batch."""


class Cancelled(FaceLibError):
    """Long work was stopped by whoever started it (a job's Cancel): what was done is kept."""


class SystemFailure(FaceLibError):
    """The first pieces of a batch all failed the same way (the cluster's environment, the
    credentials, a missing model): no file could succeed, so the batch stops with this one error."""
