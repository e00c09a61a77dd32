"""A job's inputs, written down at submission so the job never depends on a page's memory.

Uploaded files are spooled under ``<data>/spool/<token>/`` (one file each, streamed, never held
twice in memory); folders, command-line paths and S3 prefixes are recorded as they were given and
listed again when the job runs. :func:`sources_of` turns the recorded specs back into sources.
The spool of a job goes when the job ends (and with its collection).
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import InvalidParameter
from ..ingest.paths import expand_paths
from ..ingest.sources import Source, file_source, refused, walk_folder, zip_file_sources

if TYPE_CHECKING:
    from ..workspace import Workspace

Spec = dict[str, Any]
CHUNK = 1024 * 1024


class Spool:
    """One submission's spooled uploads: ``add(name, stream)`` for each, then :attr:`specs`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.token = uuid.uuid4().hex
        self.relative = f"spool/{self.token}"
        self.folder = self.data_dir / self.relative
        self.folder.mkdir(parents=True, exist_ok=True)
        self.specs: list[Spec] = []

    def add(self, name: str, stream: IO[bytes] | bytes) -> None:
        """Write one uploaded file (a stream or bytes) to the spool; a ``.zip`` is read member by member
        when the job runs."""
        path = self.folder / f"{len(self.specs):06d}"
        with open(path, "wb") as out:
            if isinstance(stream, bytes | bytearray | memoryview):
                out.write(stream)
            else:
                shutil.copyfileobj(stream, out, CHUNK)
        kind = "zip" if name.lower().endswith(".zip") else "upload"
        self.specs.append({"kind": kind, "path": f"{self.relative}/{path.name}", "name": name})

    def refuse(self, name: str, reason: str) -> None:
        """A file refused at upload (too large, too many): reported in the job's outcome."""
        self.specs.append({"kind": "refused", "name": name, "reason": reason})

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def folder_spec(path: str | Path, roots: Iterable[Path] = ()) -> Spec:
    """A server folder, listed when the job runs within the allowed folders of then
    (``FACESEARCH_ALLOWED_ROOTS``; ``roots`` is only shown, never trusted)."""
    return {"kind": "folder", "path": str(path), "roots": [str(r) for r in roots]}


def paths_spec(paths: Iterable[str | Path]) -> Spec:
    """Command-line arguments (files, folders, zips, s3:// prefixes), absolute."""
    return {"kind": "paths", "paths": [p if str(p).startswith("s3://") else str(Path(p).absolute()) for p in paths]}


def s3_spec(uri: str) -> Spec:
    return {"kind": "s3", "uri": uri}


def sources_of(ws: Workspace, specs: Iterable[Spec]) -> list[Source]:
    """The sources a job's recorded inputs stand for (listed now)."""
    out: list[Source] = []
    for spec in specs:
        kind = spec.get("kind")
        if kind == "upload":
            out.append(_spooled(ws, spec))
        elif kind == "zip":
            path = _inside_spool(ws, spec["path"])
            out.extend(zip_file_sources(path, name=str(spec["name"])) if path.is_file()
                       else [refused(str(spec["name"]), "the uploaded archive is gone from the spool", "upload")])
        elif kind == "refused":
            out.append(refused(str(spec["name"]), str(spec["reason"]), "upload"))
        elif kind == "folder":  # within the allowed folders of now (never roots a job's inputs claim)
            roots = list(ws.settings.allowed_roots)
            out.extend(walk_folder(Path(spec["path"]), roots) if roots else
                       [refused(str(spec["path"]), "indexing a folder of this server is off (FACESEARCH_ALLOWED_ROOTS)")])
        elif kind == "paths":
            out.extend(expand_paths(spec["paths"], ws.settings))
        elif kind == "s3":
            out.extend(expand_paths([spec["uri"]], ws.settings))
        else:
            raise InvalidParameter(f"a job input of unknown kind {kind!r}")
    return out


SPOOL = re.compile(r"spool/[0-9a-f]{32}")
SPOOLED = re.compile(r"spool/[0-9a-f]{32}/[0-9]{6}")


def check_inputs(inputs: dict[str, Any], admin: bool) -> None:
    """Refuse a job's inputs that are not what the pages submit: a spool that is not one of ours, a
    spooled file outside its spool, or (for anyone but an administrator) command-line paths or a
    cluster. Checked when a job is submitted, so a runner never meets them."""
    spool = inputs.get("spool")
    if spool is not None and not (isinstance(spool, str) and SPOOL.fullmatch(spool)):
        raise InvalidParameter("a job's spool must be one made for it (spool/<token>)")
    specs = inputs.get("sources", [])
    if not isinstance(specs, list):
        raise InvalidParameter("a job's sources must be a list")
    for spec in specs:
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if kind in ("upload", "zip"):
            path = spec.get("path")
            if not (isinstance(path, str) and SPOOLED.fullmatch(path) and spool and path.startswith(spool + "/")):
                raise InvalidParameter("a spooled upload must lie in the job's own spool")
        elif kind == "paths":
            if not admin:
                raise InvalidParameter("only an administrator may index paths of this server by name "
                                       "(the Index page's server folder lies within FACESEARCH_ALLOWED_ROOTS)")
        elif kind == "s3":
            if not (isinstance(spec.get("uri"), str) and spec["uri"].startswith("s3://")):
                raise InvalidParameter("an S3 input must be an s3:// prefix")
        elif kind not in ("refused", "folder"):
            raise InvalidParameter(f"a job input of unknown kind {kind!r}")


def _inside_spool(ws: Workspace, relative: str) -> Path:
    path = (ws.settings.data_dir / relative).resolve()
    spool = (ws.settings.data_dir / "spool").resolve()
    if spool not in path.parents:
        raise InvalidParameter("a spooled input must lie in the data directory's spool")
    return path


def _spooled(ws: Workspace, spec: Spec) -> Source:
    path = _inside_spool(ws, spec["path"])
    src = file_source(path, str(spec["name"]))
    return Source(src.name, src.read, "upload")


def discard_spool(ws: Workspace, inputs: dict[str, Any]) -> None:
    """Delete a job's spooled uploads (when it ends, or its collection goes); anything but one of
    our spools is left alone."""
    rel = inputs.get("spool")
    if isinstance(rel, str) and SPOOL.fullmatch(rel):
        shutil.rmtree(ws.settings.data_dir / rel, ignore_errors=True)
