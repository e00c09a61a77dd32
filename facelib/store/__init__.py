"""The catalog database (:mod:`.db`: connection, WAL, migrations), its own tables (:mod:`.catalog`)
and the files below the data directory (:mod:`.files`)."""

from .catalog import Catalog
from .db import Database, Migration
from .files import Files

__all__ = ["Catalog", "Database", "Files", "Migration"]
