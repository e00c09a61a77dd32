"""facesearch's library: index the faces in photo collections and find people in them.

No Streamlit here. Similarities are percentages 0-100 (higher is more alike); boxes are relative
to the image (0-1).
"""

from .errors import (BadImage, CollectionExists, CollectionNotFound, EngineAuthError, EngineUnavailable,
                     FaceLibError, FaceNotFound, InvalidParameter, NoFaceFound)
from .images import LoadedImage, decode, load_file
from .records import BoundingBox, FaceDetail, ImageSearch, IndexedFace, IndexResult, Match, Pose, UnindexedFace
from .settings import Settings
from .workspace import Workspace

__all__ = ["BadImage", "BoundingBox", "CollectionExists", "CollectionNotFound", "EngineAuthError",
           "EngineUnavailable", "FaceDetail", "FaceLibError", "FaceNotFound", "ImageSearch", "IndexResult",
           "IndexedFace", "InvalidParameter", "LoadedImage", "Match", "NoFaceFound", "Pose", "Settings",
           "UnindexedFace", "Workspace", "decode", "load_file"]
