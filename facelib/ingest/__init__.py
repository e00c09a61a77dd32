"""Getting photos in: where they come from (:mod:`.sources`, :mod:`.s3`, :mod:`.paths`), what a batch
would cost (:mod:`.estimate`), the per-image work in workers (:mod:`.workers`) and the indexer."""

from .indexer import BatchReport, FileOutcome, Indexer
from .paths import expand_paths
from .sources import Source, bytes_source, file_source, walk_folder, zip_sources

__all__ = ["BatchReport", "FileOutcome", "Indexer", "Source", "bytes_source", "expand_paths", "file_source",
           "walk_folder", "zip_sources"]
