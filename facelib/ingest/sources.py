"""Where photos come from: files, folders, uploads, zip archives and Instagram exports, as lazy
:class:`Source` objects (S3 prefixes are in :mod:`.s3`; :mod:`.paths` dispatches command-line
arguments to both).

A source that cannot be used (an unsafe archive member, a file outside the allowed folders...)
is still a source: reading it raises :class:`BadImage` with the reason, so the batch reports it
per file and goes on.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from ..errors import BadImage

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}
#: Largest total uncompressed size of one archive, bytes.
ZIP_MAX_TOTAL = 8 * 1024 ** 3
#: Largest compression ratio of one member (a zip bomb's is in the thousands; JPEGs are about 1).
ZIP_MAX_RATIO = 100
#: Largest uncompressed member, bytes.
ZIP_MAX_MEMBER = 200 * 1024 ** 2


@dataclass(frozen=True)
class Source:
    """One photo to index: ``name`` is its original path as given (shown to people and in results)."""

    name: str
    read: Callable[[], bytes]
    origin: str = "file"
    metadata: dict[str, Any] = field(default_factory=dict)
    added_at: float | None = None  # when it first entered the collection (kept by a re-index)


def display_name(name: str) -> str:
    """A name safe to store and print: undecodable bytes (surrogate escapes) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def refused(name: str, reason: str, origin: str = "file") -> Source:
    """A source that reports ``reason`` when read."""
    def read() -> bytes:
        raise BadImage(f"{display_name(name)}: {reason}")
    return Source(display_name(name), read, origin)


def file_source(path: str | Path, name: str | None = None) -> Source:
    p = Path(path)
    return Source(display_name(name or str(path)), p.read_bytes, "file")


def bytes_source(name: str, data: bytes, origin: str = "upload") -> Source:
    return Source(display_name(name), lambda: data, origin)


def walk_folder(folder: Path, roots: list[Path] | None = None) -> Iterator[Source]:
    """Image files below ``folder``, sorted. With ``roots``, the folder and every file's real path
    must lie inside one of them (links pointing outside are refused)."""
    real_roots = [Path(os.path.realpath(r)) for r in roots or []]

    def inside(p: str) -> bool:
        real = Path(os.path.realpath(p))
        return not real_roots or any(real == r or r in real.parents for r in real_roots)

    if not inside(str(folder)):
        yield refused(str(folder), "outside the folders this server may read (FACESEARCH_ALLOWED_ROOTS)")
        return
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for fn in sorted(files):
            path = os.path.join(root, fn)
            if Path(fn).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if not inside(path):
                yield refused(path, "a link to outside the allowed folders: refused")
            else:
                yield file_source(path)


def zip_sources(file: str | Path | IO[bytes], name: str = "archive.zip") -> list[Source]:
    """The members of a zip archive as sources named ``name/member``.

    Images are read lazily; unsafe members (absolute or ``..`` paths, links, zip bombs, nested
    archives) and non-images are sources that report why they were refused. An Instagram data
    export is recognised and its posts' dates and captions become metadata.
    """
    try:
        zf = zipfile.ZipFile(file)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return [refused(name, f"not a readable zip archive ({exc})", "zip")]
    posts = instagram_posts(zf)
    sources: list[Source] = []
    total = 0
    for info in infos:
        if info.is_dir():
            continue
        member = info.filename
        label = f"{name}/{member}"
        parts = PurePosixPath(member.replace("\\", "/")).parts
        suffix = PurePosixPath(member).suffix.lower()
        if member.startswith(("/", "\\")) or ".." in parts or (parts and parts[0].endswith(":")):
            sources.append(refused(label, "unsafe path in the archive (absolute or with ..): refused", "zip"))
        elif stat.S_ISLNK(info.external_attr >> 16):
            sources.append(refused(label, "a symbolic link in the archive: refused", "zip"))
        elif suffix == ".zip":
            sources.append(refused(label, "an archive inside the archive: extract it and index it on its own", "zip"))
        elif suffix not in IMAGE_SUFFIXES:
            if not member.endswith(".json") or not posts:
                sources.append(refused(label, "not an image file: skipped", "zip"))
        elif info.file_size > ZIP_MAX_MEMBER or (info.compress_size and info.file_size / info.compress_size > ZIP_MAX_RATIO):
            sources.append(refused(label, f"compression ratio {info.file_size / max(info.compress_size, 1):.0f}:1 "
                                          "or size looks like a zip bomb: refused", "zip"))
        else:
            total += info.file_size
            if total > ZIP_MAX_TOTAL:
                sources.append(refused(label, f"the archive holds over {ZIP_MAX_TOTAL / 1024 ** 3:.0f} GiB: "
                                              "the rest is refused", "zip"))
                break
            meta = {"archive": name, **posts.get(member, {})}
            origin = "instagram" if posts else "zip"
            sources.append(Source(display_name(label), _member_reader(zf, info), origin, meta))
    if not any(s.origin in ("zip", "instagram") and s.metadata for s in sources):
        sources.append(refused(name, "the archive holds no image", "zip"))
    return sources


def _member_reader(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            with zf.open(info) as f:
                data = f.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, zlib_error) as exc:
            raise BadImage(f"{info.filename}: damaged in the archive ({exc})") from exc
        if len(data) > info.file_size:
            raise BadImage(f"{info.filename}: larger than its archive entry says: refused")
        return data
    return read


try:
    from zlib import error as zlib_error
except ImportError:  # pragma: no cover
    zlib_error = OSError  # type: ignore[misc,assignment]


# -- Instagram "Download your information" exports (JSON format) --------------------------------------
INSTAGRAM_POSTS = ("your_instagram_activity/content/posts_", "your_instagram_activity/media/posts_", "content/posts_")


def _fix_text(text: str) -> str:
    """Instagram writes UTF-8 text as if it were Latin-1 ("Ã©" for "é"); undo that when it applies."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def instagram_posts(zf: zipfile.ZipFile) -> dict[str, dict[str, str]]:
    """member name -> {"post_date", "caption"} for the photos of an Instagram export; {} otherwise.

    Supported: the JSON export, with ``your_instagram_activity/content/posts_N.json`` (2024 and
    later), ``your_instagram_activity/media/posts_N.json``, or ``content/posts_N.json`` (earlier),
    each a list of posts with ``media`` entries holding ``uri``, ``creation_timestamp`` and
    ``title``. The HTML export is not supported (choose JSON when downloading).
    """
    out: dict[str, dict[str, str]] = {}
    post_files: list[tuple[str, str]] = []  # (posts file, export root inside the zip)
    for n in zf.namelist():
        if not n.endswith(".json"):
            continue
        for marker in INSTAGRAM_POSTS:
            i = n.find(marker)
            if i >= 0 and (i == 0 or n[i - 1] == "/"):
                post_files.append((n, n[:i]))
                break
    for pf, root in post_files:
        try:
            posts = json.loads(zf.read(pf))
        except (ValueError, KeyError, zipfile.BadZipFile):
            continue
        if isinstance(posts, dict):
            posts = posts.get("ig_posts") or posts.get("posts") or []
        for post in posts if isinstance(posts, list) else []:
            media = post.get("media") or []
            post_caption = _fix_text(post.get("title") or "")
            for m in media:
                uri = m.get("uri")
                if not uri:
                    continue
                ts = m.get("creation_timestamp") or post.get("creation_timestamp")
                caption = _fix_text(m.get("title") or "") or post_caption
                meta = {"caption": caption}
                if ts:
                    meta["post_date"] = datetime.fromtimestamp(int(ts), tz=UTC).isoformat()
                out[root + uri] = meta
    return out
