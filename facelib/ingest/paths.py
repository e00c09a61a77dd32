"""Command-line arguments to sources: files, folders (recursive), ``.zip`` archives and
``s3://bucket/prefix`` (S3 through a client built from the settings' profile and region)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import FaceLibError
from ..settings import Settings
from .sources import Source, file_source, refused, walk_folder, zip_file_sources


def expand_paths(paths: Iterable[str | Path], settings: Settings | None = None) -> Iterator[Source]:
    """Sources for command-line arguments, in the order given (links to folders not followed). An
    argument that cannot be listed (an S3 prefix refused, a folder that vanished) is a source that
    reports why, so the batch goes on and its report is complete."""
    for raw in paths:
        text = str(raw)
        try:
            if text.startswith("s3://"):
                from ..aws import client
                from .s3 import s3_sources

                settings = settings or Settings()
                yield from s3_sources(text, client("s3", settings), settings.aws_profile)
                continue
            p = Path(raw)
            if p.is_dir():
                yield from walk_folder(p)
            elif p.suffix.lower() == ".zip":
                yield from zip_file_sources(p, name=text)
            else:
                yield file_source(p, text)
        except (FaceLibError, OSError) as exc:
            yield refused(text, str(exc).removeprefix(text + ": "), "s3" if text.startswith("s3://") else "file")
