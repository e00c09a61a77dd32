"""Where photos come from: files, folders, uploads and zip archives, as lazy :class:`Source` objects.

Zip archives are read member by member (never extracted to disk): absolute paths, ``..`` parts
and links are refused, and the total uncompressed size and compression ratio are bounded.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Callable

from .errors import BadImage

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}
#: Largest total uncompressed size of one archive, bytes.
ZIP_MAX_TOTAL = 8 * 1024 ** 3
#: Largest compression ratio of one member (a zip bomb's is in the thousands).
ZIP_MAX_RATIO = 200


@dataclass(frozen=True)
class Source:
    """One photo to index: ``name`` is its original path as given (shown to people and in results)."""

    name: str
    read: Callable[[], bytes]
    origin: str = "file"
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    """A member of an archive that is not indexed, and why."""

    name: str
    reason: str


def file_source(path: str | Path, name: str | None = None) -> Source:
    p = Path(path)
    return Source(name or str(path), p.read_bytes, "file")


def bytes_source(name: str, data: bytes, origin: str = "upload") -> Source:
    return Source(name, lambda: data, origin)


def expand_paths(paths: list[str | Path] | tuple[str | Path, ...]) -> Iterator[Source]:
    """Files as given, and image files found recursively in folders (sorted; links to folders not followed)."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for path in sorted(p.rglob("*")):
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                    yield file_source(path)
        elif p.suffix.lower() == ".zip":
            yield from zip_sources(p, name=str(raw))[0]
        else:
            yield file_source(p, str(raw))


def zip_sources(file: str | Path | IO[bytes], name: str = "archive.zip") -> tuple[list[Source], list[Skipped]]:
    """The image members of a zip archive as sources named ``name/member``, and what was skipped.

    Raises :class:`BadImage` when the archive is unreadable or over the size limits.
    """
    try:
        zf = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadImage(f"{name}: not a readable zip archive ({exc})") from exc
    sources: list[Source] = []
    skipped: list[Skipped] = []
    total = 0
    for info in zf.infolist():
        if info.is_dir():
            continue
        member = info.filename
        parts = PurePosixPath(member.replace("\\", "/")).parts
        if member.startswith(("/", "\\")) or ".." in parts or (parts and parts[0].endswith(":")):
            skipped.append(Skipped(member, "unsafe path (absolute or with ..): refused"))
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            skipped.append(Skipped(member, "symbolic link: refused"))
            continue
        if PurePosixPath(member).suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append(Skipped(member, "not an image file"))
            continue
        if info.compress_size and info.file_size / info.compress_size > ZIP_MAX_RATIO:
            skipped.append(Skipped(member, f"compression ratio over {ZIP_MAX_RATIO}: refused as a zip bomb"))
            continue
        total += info.file_size
        if total > ZIP_MAX_TOTAL:
            raise BadImage(f"{name}: more than {ZIP_MAX_TOTAL / 1024 ** 3:.0f} GiB uncompressed: refused")
        sources.append(Source(f"{name}/{member}", _member_reader(zf, info), "zip", {"archive": name}))
    return sources, skipped


def _member_reader(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        with zf.open(info) as f:
            data = f.read(info.file_size + 1)
        if len(data) > info.file_size:
            raise BadImage(f"{info.filename}: larger than its archive entry says: refused")
        return data
    return read
