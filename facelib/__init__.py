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
from .engines.local.analysis import MODELS
from .errors import (
                     BadImage,
                     CollectionExists,
                     CollectionNotFound,
                     EngineAuthError,
                     EngineUnavailable,
                     FaceLibError,
                     FaceNotFound,
                     InvalidParameter,
                     NoFaceFound,
)
from .filters import NO_FILTER, QualityFilter
from .images import LoadedImage, decode, load_file, sha256_hex
from .ingest import BatchReport, FileOutcome, Source, bytes_source, expand_paths, file_source, walk_folder, zip_sources
from .ingest.estimate import BatchEstimate
from .ingest.sources import IMAGE_SUFFIXES
from .live import LiveRecognizer
from .people import People, Person
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
from .settings import Settings
from .thumbnails import draw_boxes
from .workspace import Workspace

__all__ = ["ENGINES", "ENGINE_LABELS", "IMAGE_SUFFIXES", "MODELS", "NO_FILTER", "BadImage", "BatchEstimate", "BatchReport",
           "BoundingBox", "Collection", "CollectionExists", "CollectionNotFound", "DecisionKind", "EngineAuthError",
           "EngineName", "EngineUnavailable", "FaceDetail", "FaceLibError", "FaceNotFound", "FaceStatus",
           "FileOutcome", "FileStatus", "ImageSearch", "IndexResult", "IndexedFace", "InvalidParameter",
           "LiveRecognizer", "LoadedImage", "Match", "MatchRow", "NoFaceFound", "People", "Person", "Pose", "QualityFilter",
           "SearchResult", "Settings", "Source", "StoredFace", "StoredImage", "UnindexedFace", "Workspace",
           "bytes_source", "decode", "draw_boxes", "expand_paths", "file_source", "filter_matches", "load_file",
           "matches_by_threshold", "photo_date", "sha256_hex", "walk_folder", "zip_sources"]
