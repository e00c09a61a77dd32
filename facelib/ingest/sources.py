"""Where photos come from: files, folders, uploads, zip archives and Instagram exports, as lazy
:class:`Source` objects (S3 prefixes are in :mod:`.s3`; :mod:`.paths` dispatches command-line
arguments to both).

A source that cannot be used (an unsafe archive member, a file outside the allowed folders...)
is still a source: reading it raises :class:`BadImage` with the reason, so the batch reports it
per file and goes on.
"""

from __future__ import annotations

import codecs
import lzma
import mmap
import os
import stat
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from ..errors import BadImage

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}
#: Videos indexed as time-coded appearances (:mod:`facelib.video`).
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"}
#: Every file a batch picks up from a folder, an archive or an S3 prefix.
MEDIA_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES
#: Largest total uncompressed size of one archive, bytes.
ZIP_MAX_TOTAL = 8 * 1024 ** 3
#: Largest compression ratio of one member (a zip bomb's is in the thousands; JPEGs are about 1).
ZIP_MAX_RATIO = 100
#: Largest uncompressed member, bytes.
ZIP_MAX_MEMBER = 200 * 1024 ** 2
#: Largest Instagram posts file read, bytes (real ones are a few MB).
INSTAGRAM_MAX_JSON = 32 * 1024 ** 2
#: Longest caption kept, characters: Instagram allows 2,200; the rest of a longer one is dropped.
CAPTION_MAX = 2_500
#: Compression methods zipfile reads (stored, deflate, bzip2, lzma).
READABLE_COMPRESSION = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})


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


def inside(real: str | Path, roots: Iterable[Path]) -> bool:
    """Whether the real path ``real`` is one of ``roots`` or lies below one (roots already real)."""
    r = Path(real)
    return any(r == root or root in r.parents for root in roots)


def open_regular(path: str | Path, roots: list[Path] | None = None) -> IO[bytes]:
    """Open a regular file for reading, checking *the file opened*, not the path: a named pipe,
    device or folder is refused without blocking (``O_NONBLOCK``), and with ``roots`` the opened
    file's real path must lie inside one of them (a link swapped after listing cannot point
    outside) and it may have no other hard link (one could be a way in from outside)."""
    label = display_name(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise BadImage(f"{label}: cannot be read ({exc.strerror or exc})") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadImage(f"{label}: not a regular file (a pipe, device or folder): refused")
        if roots:
            real = os.readlink(f"/proc/self/fd/{fd}") if os.path.isdir("/proc/self/fd") else os.path.realpath(path)
            if not inside(real, roots):
                raise BadImage(f"{label}: outside the allowed folders (FACESEARCH_ALLOWED_ROOTS): refused")
            if st.st_nlink > 1:
                raise BadImage(f"{label}: has other hard links, which could lead outside the allowed folders: refused")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(f: IO[bytes], label: str, limit: int | None = None) -> bytes:
    """At most ``limit`` bytes (default :data:`facelib.images.MAX_BYTES`) of an open file: the size
    is checked from ``fstat`` first, and the read never goes past the limit (a file that grows, or
    a sparse one, cannot fill the memory)."""
    from ..images import MAX_BYTES

    limit = MAX_BYTES if limit is None else limit
    size = os.fstat(f.fileno()).st_size
    if size > limit:
        raise BadImage(f"{label}: {size / 1e6:.1f} MB is over the {limit / 1e6:.0f} MB limit")
    data = f.read(limit + 1)
    if len(data) > limit:
        raise BadImage(f"{label}: over the {limit / 1e6:.0f} MB limit")
    return data


@dataclass(frozen=True)
class FileReader:
    """Reads one file through :func:`open_regular` and :func:`read_limited`: picklable, so a Dask
    worker that sees the same path can read it itself (:mod:`facelib.ingest.cluster`).

    ``path``: absolute; ``label``: the name reported; ``roots``: the allowed folders, checked on the
    file opened wherever it is read.
    """

    path: str
    label: str
    roots: tuple[Path, ...] | None = None

    def __call__(self) -> bytes:
        try:
            with open_regular(self.path, list(self.roots) if self.roots else None) as f:
                return read_limited(f, self.label)
        except OSError as exc:
            raise BadImage(f"{self.label}: cannot be read ({exc.strerror or exc})") from exc

    def mapped(self, limit: int) -> mmap.mmap:
        """The file mapped read-only (a video: its pages are read as they are decoded, never all
        held in memory), with the same checks as a read; at most ``limit`` bytes."""
        try:
            with open_regular(self.path, list(self.roots) if self.roots else None) as f:
                size = os.fstat(f.fileno()).st_size
                if size > limit:
                    raise BadImage(f"{self.label}: {size / 1e6:.0f} MB is over the {limit / 1e6:.0f} MB limit for a video "
                                   "(FACESEARCH_VIDEO_MAX_MB)")
                if size == 0:
                    raise BadImage(f"{self.label}: an empty file")
                return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise BadImage(f"{self.label}: cannot be read ({exc.strerror or exc})") from exc


def file_source(path: str | Path, name: str | None = None, roots: list[Path] | None = None) -> Source:
    """A file read when the batch reaches it (a :class:`FileReader`)."""
    label = display_name(name or str(path))
    return Source(label, FileReader(os.path.abspath(path), label, tuple(roots) if roots else None), "file")


def bytes_source(name: str, data: bytes, origin: str = "upload") -> Source:
    return Source(display_name(name), lambda: data, origin)


def walk_folder(folder: Path, roots: list[Path] | None = None) -> Iterator[Source]:
    """Image files and zip archives below ``folder``, sorted. With ``roots``, the folder and every
    file must lie inside one of them: checked on the file as opened (:func:`open_regular`), so a
    link swapped between listing and reading is refused too."""
    real_roots = [Path(os.path.realpath(r)) for r in roots or []]
    if real_roots and not inside(os.path.realpath(folder), real_roots):
        yield refused(str(folder), "outside the folders this server may read (FACESEARCH_ALLOWED_ROOTS)")
        return
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for fn in sorted(files):
            path = os.path.join(root, fn)
            suffix = Path(fn).suffix.lower()
            if suffix == ".zip":
                yield from zip_file_sources(path, real_roots or None)
            elif suffix in MEDIA_SUFFIXES:
                yield file_source(path, roots=real_roots or None)


def zip_file_sources(path: str | Path, roots: list[Path] | None = None, name: str | None = None) -> list[Source]:
    """The members of the zip archive at ``path`` (opened once, checked like any file)."""
    label = name or str(path)
    try:
        f = open_regular(path, roots)
    except BadImage as exc:
        return [refused(label, str(exc).removeprefix(display_name(label) + ": "), "zip")]
    return zip_sources(f, name=label)


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
    overlap = overlapping(infos)
    if overlap:
        return [refused(name, f"entries overlap in the archive ({overlap[0]} and {overlap[1]} share their bytes, "
                              "a zip bomb's trick): refused", "zip")]
    posts, problems = instagram_posts(zf)
    sources: list[Source] = [refused(f"{name}/{where}", why, "instagram") for where, why in problems]
    unusable = {where for where, _ in problems}
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
        elif info.flag_bits & 0x1:
            sources.append(refused(label, "encrypted in the archive (password protected): refused", "zip"))
        elif info.compress_type not in READABLE_COMPRESSION:
            sources.append(refused(label, f"compression method {info.compress_type} (e.g. AES or implode) is not "
                                          "supported: re-create the archive with plain zip", "zip"))
        elif suffix not in MEDIA_SUFFIXES:
            if not member.endswith(".json") or not (posts or member in unusable):
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
    if not any(PurePosixPath(i.filename).suffix.lower() in MEDIA_SUFFIXES for i in infos) and not problems:
        sources.append(refused(name, "the archive holds no image", "zip"))
    return sources


def overlapping(infos: list[zipfile.ZipInfo]) -> tuple[str, str] | None:
    """Two entries whose bytes overlap (each at least its 30-byte local header and its compressed
    data long), or None. A real archive never has them; a bomb points many entries at one
    member so that a small file inflates many times."""
    spans = sorted((i.header_offset, i.header_offset + 30 + i.compress_size, i.filename) for i in infos)
    for (_, end, a), (start, _, b) in zip(spans, spans[1:], strict=False):
        if end > start:
            return a, b
    return None


def _member_reader(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            with zf.open(info) as f:
                data = f.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, ValueError, zlib_error,
                lzma.LZMAError) as exc:  # damaged, encrypted, or a method zipfile cannot read
            raise BadImage(f"{info.filename}: cannot be read from the archive ({exc})") from exc
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
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return text
    try:  # a caption cut short may end inside a character: that tail is dropped
        return codecs.getincrementaldecoder("utf-8")().decode(raw, final=False)
    except UnicodeDecodeError:
        return text


def _post_date(ts: object) -> str | None:
    """An ISO date from a Unix timestamp of any shape, None when it is not one."""
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(int(ts), tz=UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


class _Bounded:
    """A file read through at most ``limit`` bytes (ValueError past it: the entry lied about its size)."""

    def __init__(self, f: IO[bytes], limit: int) -> None:
        self.f, self.left = f, limit

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n if n >= 0 else self.left + 1)
        self.left -= len(data)
        if self.left < 0:
            raise ValueError("larger than its archive entry says: refused")
        return data


def _posts_of(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[Any]:
    """The posts of a posts file, one at a time, bounded like any other member (size, ratio) and
    read as a stream (:mod:`.jsonstream`: one post held at a time, strings cut to a caption's
    worth); ValueError when unusable (the posts read before it are kept)."""
    from .jsonstream import posts

    if info.file_size > INSTAGRAM_MAX_JSON or (info.compress_size and info.file_size / info.compress_size > ZIP_MAX_RATIO):
        raise ValueError(f"{info.file_size / 1e6:.0f} MB of JSON (or a zip bomb's ratio): refused")
    if info.flag_bits & 0x1 or info.compress_type not in READABLE_COMPRESSION:
        raise ValueError("encrypted or compressed with an unsupported method")
    try:
        with zf.open(info) as f:
            # Instagram's text is UTF-8 read as Latin-1 (up to 4 characters for one): room for that
            yield from posts(_Bounded(f, INSTAGRAM_MAX_JSON), max_string=4 * CAPTION_MAX)
    except RecursionError:
        raise ValueError("nested too deeply to be a posts file") from None
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib_error, lzma.LZMAError) as exc:
        raise ValueError(f"cannot be read ({exc})") from exc


def instagram_posts(zf: zipfile.ZipFile) -> tuple[dict[str, dict[str, str]], list[tuple[str, str]]]:
    """(member name -> {"post_date", "caption"}, [(where, why) of every part that could not be
    used]) for the photos of an Instagram export; ({}, []) for another archive.

    Supported: the JSON export, with ``your_instagram_activity/content/posts_N.json`` (2024 and
    later), ``your_instagram_activity/media/posts_N.json``, or ``content/posts_N.json`` (earlier),
    each a list of posts with ``media`` entries holding ``uri``, ``creation_timestamp`` and
    ``title``. The HTML export is not supported (choose JSON when downloading). A posts file or a
    post of another shape is reported, and the rest is used.
    """
    out: dict[str, dict[str, str]] = {}
    problems: list[tuple[str, str]] = []
    post_files: list[tuple[zipfile.ZipInfo, str]] = []  # (posts file, export root inside the zip)
    for info in zf.infolist():
        n = info.filename
        if not n.endswith(".json"):
            continue
        for marker in INSTAGRAM_POSTS:
            i = n.find(marker)
            if i >= 0 and (i == 0 or n[i - 1] == "/"):
                post_files.append((info, n[:i]))
                break
    members = {i.filename for i in zf.infolist()}
    for info, root in post_files:
        k = 0
        try:
            for k, post in enumerate(_posts_of(zf, info)):
                _add_post(out, problems, members, root, f"{info.filename}#post{k + 1}", post)
        except ValueError as exc:
            problems.append((info.filename, f"Instagram posts file not used{' after post ' + str(k) if k else ''}: "
                                            f"{exc}"))
    return out, problems


def _add_post(out: dict[str, dict[str, str]], problems: list[tuple[str, str]], members: set[str], root: str,
              where: str, post: Any) -> None:
    """The photos of one post that the archive holds, with their date and caption (cut to
    :data:`CAPTION_MAX` characters)."""
    media = post.get("media") if isinstance(post, dict) else None
    if not isinstance(media, list):
        problems.append((where, "an Instagram post of an unexpected shape: skipped"))
        return
    title = post.get("title")
    post_caption = _caption(title)
    for m in media:
        uri = m.get("uri") if isinstance(m, dict) else None
        if not isinstance(uri, str) or not uri or root + uri not in members:
            continue
        caption = _caption(m.get("title")) or post_caption
        meta = {"caption": caption}
        posted = _post_date(m.get("creation_timestamp")) or _post_date(post.get("creation_timestamp"))
        if posted:
            meta["post_date"] = posted
        out[root + uri] = meta


def _caption(value: object) -> str:
    return _fix_text(value)[:CAPTION_MAX] if isinstance(value, str) else ""
