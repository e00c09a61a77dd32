"""AWS Rekognition engine (clients come from :mod:`facelib.aws`; shapes and errors: :mod:`.shapes`).

Every read (DetectFaces, SearchFaces, SearchFacesByImage, CompareFaces, ListFaces pages,
DescribeCollection) goes through :class:`.cache.PaidCallCache`; writes (CreateCollection,
IndexFaces, DeleteFaces, DeleteCollection) are never memoized and invalidate the collection's
cached reads. Every call and cache hit is counted in the :class:`.ledger.Ledger`.
Retries are botocore's own (adaptive mode). Service errors are mapped to facelib's exceptions at
this boundary (:func:`.shapes.map_error`).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError
from PIL import Image

from ...errors import (
    CollectionNotFound,
    FaceNotFound,
    InvalidParameter,
    NoFaceFound,
)
from ...images import LoadedImage, decode
from ...records import (
    BoundingBox,
    CollectionInfo,
    EngineName,
    FaceDetail,
    ImageSearch,
    IndexedFace,
    IndexResult,
    Match,
    UnindexedFace,
    largest_face,
)
from ...settings import DEFAULT_THRESHOLD
from ...thumbnails import square_crop_box
from ..base import (
    Parallelism,
    Prepared,
    Preparer,
    check_collection_name,
    check_max_faces,
    check_threshold,
    external_image_id,
)
from .cache import PaidCallCache, make_key
from .ledger import Ledger
from .shapes import LIST_PAGE, PREP_VERSION, crop_face, face_detail, indexed_face, map_error, no_face, prepare_image, snake


class RekognitionEngine:
    """Engine over an AWS Rekognition client (real, or wrapped in a Stubber for tests)."""

    name = EngineName.REKOGNITION
    models: tuple[str, ...] = ()  # the service picks its face model
    paid = True
    reports_age = True
    parallel: Parallelism = "thread"

    def __init__(self, client: Any, cache: PaidCallCache, ledger: Ledger) -> None:
        self.client = client
        self.cache = cache
        self.ledger = ledger

    # -- plumbing ------------------------------------------------------------------------------
    def _invoke(self, operation: str, collection: str | None, params: dict[str, Any]) -> dict[str, Any]:
        """The service call itself, with errors mapped to facelib's (not counted, not cached)."""
        try:
            response: dict[str, Any] = getattr(self.client, snake(operation))(**params)
        except (ClientError, BotoCoreError) as exc:
            raise map_error(exc, operation, collection) from exc
        response.pop("ResponseMetadata", None)
        return response

    def _call(self, operation: str, collection: str | None = None, **params: Any) -> dict[str, Any]:
        """One uncached call, counted in the ledger."""
        response = self._invoke(operation, collection, params)
        self.ledger.record_call(operation)
        return response

    def _cached(self, operation: str, collection: str | None, image_sha256: Any, params: dict[str, Any],
                key_params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A memoized read: served from the cache when the same call was made before."""
        gen = self.cache.generation(collection) if collection else None
        key = make_key(operation, collection, gen, image_sha256, **(key_params if key_params is not None else params))
        return self.cache.get_or_call(key, lambda: self._invoke(operation, collection, params), tag=collection,
                                      on_hit=lambda: self.ledger.record_hit(operation),
                                      on_call=lambda: self.ledger.record_call(operation))

    def _image_param(self, image: LoadedImage) -> dict[str, Any]:
        return {"Bytes": prepare_image(image)}

    # -- collections ---------------------------------------------------------------------------
    def create_collection(self, collection: str, model: str | None = None) -> None:
        check_collection_name(collection)
        if model is not None:
            raise InvalidParameter("Rekognition collections use the service's face model; no model can be chosen")
        self._call("CreateCollection", collection, CollectionId=collection)
        self.cache.invalidate(collection)

    def delete_collection(self, collection: str) -> None:
        self._call("DeleteCollection", collection, CollectionId=collection)
        self.cache.invalidate(collection)

    def list_collections(self) -> list[str]:
        names: list[str] = []
        kwargs: dict[str, Any] = {"MaxResults": 1000}
        while True:
            page = self._call("ListCollections", None, **kwargs)
            names.extend(page.get("CollectionIds", []))
            if not page.get("NextToken"):
                return names
            kwargs["NextToken"] = page["NextToken"]

    def describe_collection(self, collection: str) -> CollectionInfo:
        r = self._cached("DescribeCollection", collection, None, {"CollectionId": collection})
        created = r.get("CreationTimestamp")
        return CollectionInfo(collection, int(r.get("FaceCount", 0)), r.get("FaceModelVersion"),
                              created.isoformat() if isinstance(created, datetime) else created)

    # -- faces ---------------------------------------------------------------------------------
    def detect_faces(self, image: LoadedImage) -> list[FaceDetail]:
        r = self._cached("DetectFaces", None, (image.sha256, PREP_VERSION),
                         {"Image": self._image_param(image), "Attributes": ["ALL"]}, {"Attributes": ["ALL"]})
        return [face_detail(d, image.original_size) for d in r.get("FaceDetails", [])]

    def index_faces(self, collection: str, image: LoadedImage, external_image_id_: str,
                    max_faces: int = 100) -> IndexResult:
        """IndexFaces with every attribute and no quality filter (the app filters at view time)."""
        check_max_faces(max_faces, 100)
        ext = external_image_id(external_image_id_)
        try:
            r = self._call("IndexFaces", collection, CollectionId=collection, Image=self._image_param(image),
                           ExternalImageId=ext, DetectionAttributes=["ALL"], MaxFaces=max_faces,
                           QualityFilter="NONE")
        finally:
            self.cache.invalidate(collection)
        size = image.original_size
        faces = tuple(IndexedFace(rec["Face"]["FaceId"], image.sha256, ext,
                                  face_detail({**rec.get("FaceDetail", {}), "Confidence": rec["Face"].get("Confidence")},
                                              size))
                      for rec in r.get("FaceRecords", []))
        unindexed = tuple(UnindexedFace(face_detail(u.get("FaceDetail", {}), size), tuple(u.get("Reasons", [])))
                          for u in r.get("UnindexedFaces", []))
        return IndexResult(faces, unindexed, r.get("FaceModelVersion"))

    def warm(self) -> None:
        """Nothing to load: the models are the service's."""

    def collection_model(self, collection: str) -> tuple[str, str] | None:
        return None  # the service picks it; IndexFaces and DescribeCollection report its version

    def preparer(self, collection: str, *, max_faces: int) -> Preparer:
        """IndexFaces itself is the per-image work (network-bound: run in threads)."""
        def prepare(image: LoadedImage) -> Prepared:
            result = self.index_faces(collection, image, external_image_id(image.sha256), max_faces)
            details = [f.detail for f in result.faces] + [u.detail for u in result.unindexed]
            return Prepared(image.sha256, image.original_size, image.format, details, payload=result)
        return prepare

    def commit(self, collection: str, prepared: Prepared, *, external_id: str, max_faces: int) -> IndexResult:
        result: IndexResult = prepared.payload
        return result

    def index_face_region(self, collection: str, image: LoadedImage, box: BoundingBox,
                          external_image_id_: str) -> IndexedFace:
        """IndexFaces on a crop of that one face (MaxFaces=1); the box is mapped back to the full image."""
        ext = external_image_id(external_image_id_)
        crop, (x0, y0, x1, y1) = crop_face(image, box)
        try:
            r = self._call("IndexFaces", collection, CollectionId=collection, Image=self._image_param(crop),
                           ExternalImageId=ext, DetectionAttributes=["ALL"], MaxFaces=1, QualityFilter="NONE")
        finally:
            self.cache.invalidate(collection)
        records = r.get("FaceRecords", [])
        if not records:
            raise NoFaceFound("Rekognition found no face to index in that part of the image")
        rec = records[0]
        d = face_detail({**rec.get("FaceDetail", {}), "Confidence": rec["Face"].get("Confidence")})
        w, h = image.rgb.size
        cw, ch = x1 - x0, y1 - y0
        mapped = BoundingBox((x0 + d.box.left * cw) / w, (y0 + d.box.top * ch) / h, d.box.width * cw / w,
                             d.box.height * ch / h)
        ow, oh = image.original_size
        detail = replace(d, box=mapped, landmarks=tuple(replace(lm, x=(x0 + lm.x * cw) / w, y=(y0 + lm.y * ch) / h)
                                                        for lm in d.landmarks),
                         size_px=int(round(min(mapped.width * ow, mapped.height * oh))))
        return IndexedFace(rec["Face"]["FaceId"], image.sha256, ext, detail)

    def associate_user_faces(self, collection: str, user_id: str, face_ids: list[str]) -> list[str]:
        """CreateUser (unless it exists) and AssociateFaces (at most 100 faces a user); returns those associated."""
        if not 1 <= len(face_ids) <= 100:
            raise InvalidParameter("a Rekognition User takes 1 to 100 faces")
        try:
            self._call("CreateUser", collection, CollectionId=collection, UserId=user_id)
        except InvalidParameter as exc:
            cause = exc.__cause__
            if not (isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") == "ConflictException"):
                raise
        r = self._call("AssociateFaces", collection, CollectionId=collection, UserId=user_id, FaceIds=face_ids)
        return [f["FaceId"] for f in r.get("AssociatedFaces", [])]

    def delete_user(self, collection: str, user_id: str) -> bool:
        """DeleteUser (disassociates its faces); False when there was no such user."""
        try:
            self._call("DeleteUser", collection, CollectionId=collection, UserId=user_id)
        except (CollectionNotFound, FaceNotFound):
            return False
        return True

    def forget_image(self, collection: str, external_id: str) -> list[str]:
        """Delete every face indexed with that ExternalImageId (uncached listing: it must be current)."""
        ids = [f["FaceId"] for f in self._face_records(collection, cached=False)
               if f.get("ExternalImageId") == external_id]
        return self.delete_faces(collection, ids) if ids else []

    def list_faces(self, collection: str) -> list[str]:
        return [f["FaceId"] for f in self._face_records(collection, cached=True)]

    def _face_records(self, collection: str, cached: bool) -> Iterator[dict[str, Any]]:
        """Every Face record of the collection, ListFaces page by page (4096 a page)."""
        params: dict[str, Any] = {"CollectionId": collection, "MaxResults": LIST_PAGE}
        while True:
            page = (self._cached("ListFaces", collection, None, dict(params)) if cached
                    else self._call("ListFaces", collection, **params))
            yield from page.get("Faces", [])
            if not page.get("NextToken"):
                return
            params["NextToken"] = page["NextToken"]

    def delete_faces(self, collection: str, face_ids: list[str]) -> list[str]:
        deleted: list[str] = []
        try:
            for start in range(0, len(face_ids), LIST_PAGE):
                r = self._call("DeleteFaces", collection, CollectionId=collection,
                               FaceIds=face_ids[start:start + LIST_PAGE])
                deleted.extend(r.get("DeletedFaces", []))
        finally:
            self.cache.invalidate(collection)
        return deleted

    # -- search --------------------------------------------------------------------------------
    def search_faces(self, collection: str, face_id: str, threshold: float = DEFAULT_THRESHOLD,
                     max_faces: int = 50) -> list[Match]:
        params = {"CollectionId": collection, "FaceId": face_id, "FaceMatchThreshold": check_threshold(threshold),
                  "MaxFaces": check_max_faces(max_faces)}
        r = self._cached("SearchFaces", collection, None, params)
        return [Match(indexed_face(m["Face"]), float(m["Similarity"])) for m in r.get("FaceMatches", [])]

    def search_faces_by_image(self, collection: str, image: LoadedImage, threshold: float = DEFAULT_THRESHOLD,
                              max_faces: int = 50, face_index: int | None = None) -> ImageSearch:
        """DetectFaces for every face of the query, then SearchFacesByImage on the chosen one.

        Rekognition searches only the largest face of an image, so another face is cropped and
        sent alone.
        """
        check_threshold(threshold)
        check_max_faces(max_faces)
        faces = tuple(self.detect_faces(image))
        chosen = largest_face(faces) if face_index is None else face_index
        if chosen is None:
            return ImageSearch((), None, ())
        if not 0 <= chosen < len(faces):
            raise InvalidParameter(f"face index {chosen} is out of range: the image has {len(faces)} faces")
        # Rekognition itself searches the largest box of an image; any other face is sent alone.
        biggest = max(range(len(faces)), key=lambda i: faces[i].box.area)
        query = image if chosen == biggest else crop_face(image, faces[chosen].box)[0]
        try:
            r = self._cached("SearchFacesByImage", collection, (query.sha256, PREP_VERSION),
                             {"CollectionId": collection, "Image": self._image_param(query),
                              "FaceMatchThreshold": threshold, "MaxFaces": max_faces},
                             {"FaceMatchThreshold": threshold, "MaxFaces": max_faces})
        except InvalidParameter as exc:
            if isinstance(exc.__cause__, ClientError) and no_face(exc.__cause__):
                return ImageSearch(faces, chosen, ())
            raise
        return ImageSearch(faces, chosen, tuple(Match(indexed_face(m["Face"]), float(m["Similarity"]))
                                                for m in r.get("FaceMatches", [])))

    def search_region(self, collection: str, rgb: np.ndarray, box: BoundingBox, threshold: float = DEFAULT_THRESHOLD,
                      max_faces: int = 1) -> list[Match]:
        """SearchFacesByImage on a crop of that face of the frame (cropped with margin, sent alone)."""
        h, w = rgb.shape[:2]
        buf = io.BytesIO()
        Image.fromarray(rgb).crop(square_crop_box(box, w, h, margin=0.4)).save(buf, "JPEG", quality=90)
        found = self.search_faces_by_image(collection, decode(buf.getvalue(), "live.jpg", None), threshold, max_faces)
        return list(found.matches)

    def compare_faces(self, source: LoadedImage, target: LoadedImage, threshold: float = DEFAULT_THRESHOLD) -> list[Match]:
        check_threshold(threshold)
        try:
            r = self._cached("CompareFaces", None, (source.sha256, target.sha256, PREP_VERSION),
                             {"SourceImage": self._image_param(source), "TargetImage": self._image_param(target),
                              "SimilarityThreshold": threshold}, {"SimilarityThreshold": threshold})
        except InvalidParameter as exc:
            if isinstance(exc.__cause__, ClientError) and no_face(exc.__cause__):
                return []
            raise
        out = []
        for i, m in enumerate(r.get("FaceMatches", [])):
            detail = face_detail(m["Face"], target.original_size)
            out.append(Match(IndexedFace(f"target-{i}", target.sha256, target.sha256, detail), float(m["Similarity"])))
        return sorted(out, key=lambda m: -m.similarity)
