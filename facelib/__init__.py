"""facesearch's library: index the faces in photo collections and find people in them.

No Streamlit here. Similarities are percentages 0-100 (higher is more alike); boxes are relative
to the image (0-1). These names are the API the pages and the CLI use::

    ws = Workspace(Settings())
    coll = ws.collection("family")           # or ws.create_collection("family", "local")
    report = coll.index(expand_paths(["~/Pictures"]), progress=print)
    result = coll.search_image(decode(open("me.jpg", "rb").read()))
    coll.people.rename(person_id, "Mom")
"""

from .collection import Collection, photo_date
from .engines import ENGINES
from .engines import LABELS as ENGINE_LABELS
from .engines.base import usd
from .engines.local.analysis import MODELS
from .errors import (
                     BadImage,
                     BudgetExceeded,
                     ClusterUnreachable,
                     CollectionExists,
                     CollectionNotFound,
                     CredentialsError,
                     EngineAuthError,
                     EngineUnavailable,
                     ErasureIncomplete,
                     FaceLibError,
                     FaceNotFound,
                     InvalidParameter,
                     NoFaceFound,
                     NotOwned,
                     QuotaExceeded,
                     SearchMismatch,
                     UserNotFound,
                     WrongAccount,
)
from .filters import NO_FILTER, QualityFilter
from .images import LoadedImage, decode, load_file, sha256_hex
from .ingest import BatchReport, FileOutcome, Source, bytes_source, expand_paths, file_source, walk_folder, zip_sources
from .ingest.estimate import BatchEstimate
from .ingest.sources import IMAGE_SUFFIXES, MEDIA_SUFFIXES, VIDEO_SUFFIXES, refused
from .jobs.runner import JobRunner
from .jobs.spool import Spool, folder_spec, s3_spec
from .jobs.store import Job, JobKind, JobState
from .live import LiveRecognizer
from .logs import startup
from .people import People, Person
from .people.calibration import false_match_note
from .people.person_search import PersonRow, PersonSearch, person_search_cost, search_person
from .people.review import Question, Review
from .people.watchlists import Alert, Watchlists
from .records import (
                     BoundingBox,
                     DecisionKind,
                     EngineName,
                     FaceDetail,
                     FaceStatus,
                     FileStatus,
                     ImageSearch,
                     IndexedFace,
                     IndexResult,
                     Match,
                     Pose,
                     StoredFace,
                     StoredImage,
                     UnindexedFace,
)
from .search import MatchRow, SearchResult, filter_matches, matches_by_threshold
from .settings import SettingError, Settings
from .store.appearances import Timecode
from .thumbnails import draw_boxes
from .workspace import Workspace

__all__ = [
    "ENGINES", "ENGINE_LABELS", "IMAGE_SUFFIXES", "MODELS", "NO_FILTER", "BadImage", "BatchEstimate",
    "BatchReport", "BoundingBox", "BudgetExceeded", "bytes_source", "ClusterUnreachable", "Collection", "CollectionExists",
    "CollectionNotFound", "CredentialsError", "DecisionKind", "decode", "draw_boxes", "EngineAuthError",
    "EngineName", "EngineUnavailable", "ErasureIncomplete", "expand_paths", "FaceDetail", "FaceLibError",
    "FaceNotFound", "FaceStatus", "file_source", "FileOutcome", "FileStatus", "filter_matches", "ImageSearch",
    "IndexedFace", "IndexResult", "InvalidParameter", "LiveRecognizer", "load_file", "LoadedImage", "Match",
    "matches_by_threshold", "MatchRow", "NoFaceFound", "NotOwned", "People", "Person", "photo_date", "refused", "Pose",
    "QualityFilter", "QuotaExceeded", "SearchMismatch", "SearchResult", "Settings", "SettingError",
    "startup", "sha256_hex", "Source",
    "StoredFace", "StoredImage", "UnindexedFace", "UserNotFound", "walk_folder", "Workspace", "WrongAccount",
    "zip_sources", "MEDIA_SUFFIXES", "VIDEO_SUFFIXES", "Job", "JobKind", "JobRunner", "JobState", "Spool",
    "folder_spec", "s3_spec", "usd", "Timecode",
    "false_match_note", "PersonRow", "PersonSearch", "person_search_cost", "search_person", "Question", "Review",
    "Alert", "Watchlists",
]
