"""What a batch reports: one outcome per file, in the order they finished."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import FaceLibError
from ..records import FileStatus


@dataclass
class FileOutcome:
    """What happened to one file: status is indexed, no_face, skipped (already indexed) or error."""

    name: str
    status: FileStatus
    sha256: str | None = None
    faces_indexed: int = 0
    faces_rejected: int = 0
    message: str = ""
    face_ids: list[str] = field(default_factory=list)


@dataclass
class BatchReport:
    """Every file's outcome, in the order they finished; ``collection`` they went into."""

    collection: str = ""
    outcomes: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str = ""  # why the batch stopped early (a quota, the credentials), else ""

    @property
    def faces_indexed(self) -> int:
        return sum(o.faces_indexed for o in self.outcomes)

    @property
    def faces_rejected(self) -> int:
        return sum(o.faces_rejected for o in self.outcomes)

    @property
    def errors(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == FileStatus.ERROR]

    @classmethod
    def from_summary(cls, doc: dict[str, Any]) -> BatchReport:
        """The report again from :meth:`summary` (a job's stored report)."""
        fields = FileOutcome.__dataclass_fields__
        outcomes = [FileOutcome(**{**{k: v for k, v in f.items() if k in fields}, "status": FileStatus(f["status"])})
                    for f in doc.get("files", [])]
        return cls(str(doc.get("collection", "")), outcomes, float(doc.get("seconds", 0.0)), str(doc.get("stopped", "")))

    def summary(self) -> dict[str, Any]:
        """The CLI's JSON: images, faces_indexed, faces_rejected, errors, plus per-status counts."""
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[str(o.status)] = counts.get(str(o.status), 0) + 1
        return {"collection": self.collection, "images": len(self.outcomes), "faces_indexed": self.faces_indexed,
                "faces_rejected": self.faces_rejected,
                "errors": [{"image": o.name, "message": o.message} for o in self.errors],
                "by_status": counts, "seconds": round(self.seconds, 3), "stopped": self.stopped,
                "files": [{**asdict(o), "status": str(o.status)} for o in self.outcomes]}


#: ``progress(done, total, outcome)``, called after each file.
Progress = Callable[[int, int, FileOutcome], None]


def message_of(exc: BaseException, name: str = "") -> str:
    """What went wrong, for a file's outcome (which names the file already: its name is not repeated)."""
    text = str(exc) if isinstance(exc, FaceLibError) else f"{exc.__class__.__name__}: {exc}"
    for prefix in (name, name.rsplit("/", 1)[-1]):
        if prefix and text.startswith(prefix + ": "):
            return text[len(prefix) + 2:]
    return text
