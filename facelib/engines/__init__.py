"""The engine registry: the only place that maps an engine's name to its class.

Everything else asks an engine what it can do (:class:`~facelib.engines.base.Engine`'s declared
capabilities, ``isinstance(engine, SupportsUsers)``), never which engine it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import InvalidParameter
from ..records import EngineName
from ..settings import Settings
from ..store.db import Database, Migration
from .base import BoxDetector, CloudCollections, Engine, Prepared, Preparer, SupportsUsers

if TYPE_CHECKING:
    from .rekognition.ledger import Ledger

ENGINES: tuple[EngineName, ...] = tuple(EngineName)
#: Engines whose calls are billed (their classes say ``paid = True``; a test holds the two together),
#: known without importing their client libraries.
PAID: frozenset[EngineName] = frozenset({EngineName.REKOGNITION})
#: What the UI and the CLI call each engine.
LABELS = {EngineName.LOCAL: "Local (offline, free)", EngineName.REKOGNITION: "AWS Rekognition (paid)"}


def engine_name(name: str) -> EngineName:
    """``name`` as an :class:`EngineName`, or :class:`InvalidParameter`."""
    try:
        return EngineName(name)
    except ValueError:
        raise InvalidParameter(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}") from None


def migrations() -> list[Migration]:
    """The schema steps of every engine's own tables (the local vectors, the Rekognition ledger)."""
    from .local.store import MIGRATIONS as LOCAL
    from .rekognition.store import MIGRATIONS as LEDGER

    return [*LOCAL, *LEDGER]


def _local(settings: Settings, db: Database) -> Engine:
    from .local import LocalEngine
    from .local.store import LocalStore

    return LocalEngine(LocalStore(db), model=settings.model, detector=settings.detector)


def _rekognition(settings: Settings, db: Database) -> Engine:
    from ..aws import client
    from .rekognition.cache import PaidCallCache
    from .rekognition.engine import RekognitionEngine
    from .rekognition.store import CollectionStore

    return RekognitionEngine(client("rekognition", settings), PaidCallCache(settings.cache_dir), ledger(db),
                             CollectionStore(db), client("sts", settings),
                             batch_client=client("rekognition", settings, "batch"),
                             concurrency=settings.aws_concurrency, calls_per_second=settings.aws_calls_per_second,
                             search_ttl=settings.search_cache_days * 86400)


def ledger(db: Database) -> Ledger:
    """The paid-call ledger in the catalog database (zeros until Rekognition is used)."""
    from .rekognition.ledger import Ledger
    from .rekognition.store import LedgerStore

    return Ledger(LedgerStore(db))


BUILDERS: dict[EngineName, Callable[[Settings, Database], Engine]] = {
    EngineName.LOCAL: _local, EngineName.REKOGNITION: _rekognition}


def build(name: str, settings: Settings, db: Database) -> Engine:
    """A new engine of that name over the workspace's settings and database."""
    return BUILDERS[engine_name(name)](settings, db)


def live_detector(engine: Callable[[str], Engine]) -> BoxDetector:
    """The detector Live runs on every frame: the offline engine's (free whatever the collection's
    engine), from the workspace's ``engine(name)``."""
    detector = engine(EngineName.LOCAL)
    if not isinstance(detector, BoxDetector):
        raise TypeError(f"the {detector.name} engine cannot find face boxes")
    return detector


__all__ = ["ENGINES", "LABELS", "PAID", "BoxDetector", "CloudCollections", "Engine", "Prepared", "Preparer",
           "SupportsUsers", "build",
           "engine_name", "ledger", "live_detector", "migrations"]
