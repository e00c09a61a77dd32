"""Rekognition's side of the boundary: image bytes it accepts, its response shapes as facelib
records, and its errors as facelib's exceptions. Boxes are relative 0-1; scores 0-100."""

from __future__ import annotations

import io
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError
from PIL import Image

from ...errors import (
    BadImage,
    CollectionExists,
    CollectionNotFound,
    CredentialsError,
    EngineAuthError,
    EngineUnavailable,
    FaceLibError,
    FaceNotFound,
    InvalidParameter,
    NoFaceFound,
    QuotaExceeded,
    UserNotFound,
)
from ...images import LoadedImage, decode, encode_jpeg
from ...records import BoundingBox, FaceDetail, IndexedFace, Landmark, Pose
from ...thumbnails import square_crop_box

#: Rekognition's limits on image bytes sent inline.
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MIN_IMAGE_SIDE = 80
#: Long side of an image re-encoded for Rekognition (it detects faces of 40 px and up at this size).
SEND_MAX_SIDE = 1920
#: Version of the image preparation; part of every cache key that holds an image.
PREP_VERSION = "prep2"
LIST_PAGE = 4096


def prepare_image(image: LoadedImage, reencode: bool = False) -> bytes:
    """Bytes Rekognition accepts: JPEG or PNG, at most 5 MB, at least 80 px a side, stored upright.

    The original bytes are sent when they already fit (and ``reencode`` is False: the service
    refused them once, e.g. a CMYK or 16-bit file); otherwise the upright picture is decoded again
    from the original bytes at :data:`SEND_MAX_SIDE` (1920 px) and re-encoded as 8-bit RGB JPEG
    (upscaled to 80 px when smaller). Either way relative boxes in the answer hold for the original.
    """
    w, h = image.original_size
    if (not reencode and image.format in ("JPEG", "PNG") and len(image.data) <= MAX_IMAGE_BYTES
            and image.orientation == 1 and min(w, h) >= MIN_IMAGE_SIDE):
        return image.data
    rgb = image.rgb
    if max(rgb.size) < min(SEND_MAX_SIDE, max(w, h)):  # the working copy is smaller than what may be sent
        rgb = decode(image.data, image.name, max_side=SEND_MAX_SIDE).rgb
    if max(rgb.size) > SEND_MAX_SIDE:
        rgb = rgb.copy()
        rgb.thumbnail((SEND_MAX_SIDE, SEND_MAX_SIDE), Image.Resampling.LANCZOS)
    if min(rgb.size) < MIN_IMAGE_SIDE:
        k = MIN_IMAGE_SIDE / min(rgb.size)
        rgb = rgb.resize((max(MIN_IMAGE_SIDE, round(rgb.width * k)), max(MIN_IMAGE_SIDE, round(rgb.height * k))),
                         Image.Resampling.LANCZOS)
    for quality in (92, 85, 75, 60):
        buf = io.BytesIO()
        rgb.convert("RGB").save(buf, "JPEG", quality=quality)
        if buf.tell() <= MAX_IMAGE_BYTES:
            return buf.getvalue()
    raise BadImage(f"{image.name or 'image'}: cannot be made small enough for Rekognition (5 MB)")


def crop_face(image: LoadedImage, box: BoundingBox) -> tuple[LoadedImage, tuple[int, int, int, int]]:
    """A picture of one face (with margin) to send alone, and its pixel box in ``image.rgb``."""
    px = square_crop_box(box, *image.rgb.size, margin=0.4)
    data = encode_jpeg(image.rgb.crop(px), quality=92)
    return decode(data, name=f"{image.name}#face", max_side=None), px


# -- mapping Rekognition's shapes to records ------------------------------------------------------
def box_of(b: dict[str, float] | None) -> BoundingBox:
    b = b or {}
    return BoundingBox(float(b.get("Left", 0.0)), float(b.get("Top", 0.0)), float(b.get("Width", 0.0)),
                       float(b.get("Height", 0.0)))


def face_detail(d: dict[str, Any], image_size: tuple[int, int] | None = None) -> FaceDetail:
    """A Rekognition FaceDetail (or Face) dict as a :class:`FaceDetail`."""
    box = box_of(d.get("BoundingBox"))
    quality = d.get("Quality") or {}
    pose = d.get("Pose") or {}
    age = d.get("AgeRange") or {}
    known = {"BoundingBox", "Quality", "Pose", "AgeRange", "Landmarks", "Confidence"}
    size = None
    if image_size:
        size = int(round(min(box.width * image_size[0], box.height * image_size[1])))
    return FaceDetail(
        box=box,
        confidence=d.get("Confidence"),
        brightness=quality.get("Brightness"),
        sharpness=quality.get("Sharpness"),
        pose=Pose(pose.get("Yaw"), pose.get("Pitch"), pose.get("Roll")),
        landmarks=tuple(Landmark(lm["Type"], float(lm["X"]), float(lm["Y"])) for lm in d.get("Landmarks") or ()),
        age_low=age.get("Low"), age_high=age.get("High"), size_px=size,
        extra={k: v for k, v in d.items() if k not in known},
    )


def indexed_face(face: dict[str, Any], detail: FaceDetail | None = None) -> IndexedFace:
    ext = face.get("ExternalImageId") or ""
    return IndexedFace(face["FaceId"], ext, ext, detail or face_detail(face))


# -- errors ----------------------------------------------------------------------------------------
#: Errors about the credentials themselves (not a missing permission).
CREDENTIAL_CODES = frozenset({"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
                              "ExpiredToken", "InvalidClientTokenId", "SignatureDoesNotMatch", "RequestExpired",
                              "IncompleteSignature", "MissingAuthenticationToken"})
#: Still failing after botocore's retries: the service is busy.
BUSY_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "LimitExceededException",
                        "InternalServerError", "ServiceUnavailableException", "RequestTimeout"})
#: Operations on a collection's Users: a missing resource there is the User, not the collection.
USER_OPERATIONS = frozenset({"CreateUser", "DeleteUser", "AssociateFaces", "DisassociateFaces", "SearchUsers",
                             "ListUsers"})
#: What Rekognition says when the image holds no face (InvalidParameterException).
_NO_FACE = re.compile(r"no faces? (?:in the (?:source |target )?image|detected|found)|There are no faces", re.IGNORECASE)
#: CompareFaces answers a source or target without a face with the generic message (its
#: documented cause: the request's parameters and sizes are checked here before it is sent).
_COMPARE_NO_FACE = re.compile(r"^\s*Request has invalid parameters\.?\s*$", re.IGNORECASE)


def error_code(exc: BaseException) -> str:
    """The service's error code of a ClientError ("" for anything else)."""
    return str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""


def map_error(exc: Exception, operation: str, collection: str | None = None) -> FaceLibError:
    """The facelib exception for a boto error (to raise ``from exc``)."""
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return CredentialsError("no AWS credentials found: set a profile or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, message = err.get("Code", ""), err.get("Message", "")
        if code == "ResourceNotFoundException":
            if operation in USER_OPERATIONS:
                return UserNotFound(f"no such User in collection {collection!r} ({message})")
            if operation == "SearchFaces" and collection and "face" in message.lower():
                return FaceNotFound(f"{message} (collection {collection!r})")
            return CollectionNotFound(f"collection {collection!r} does not exist in Rekognition ({message})")
        if code == "ResourceAlreadyExistsException":
            return CollectionExists(f"collection {collection!r} exists already in Rekognition")
        if code in CREDENTIAL_CODES:
            return CredentialsError(f"AWS did not accept the credentials for {operation} ({code}: {message}): check "
                                    "the access key, secret, session token and this machine's clock")
        if code == "AccessDeniedException":
            return EngineAuthError(f"AWS refused {operation}: the credentials need the permission "
                                   f"rekognition:{operation} ({message})")
        if code == "ServiceQuotaExceededException":
            return QuotaExceeded(f"Rekognition {operation}: a service quota is used up ({message or code}); "
                                 "raise it in the Service Quotas console or delete unused faces/collections")
        if code in BUSY_CODES:
            return EngineUnavailable(f"Rekognition is busy: {operation} still failed after retries ({code})")
        if code in ("ImageTooLargeException", "InvalidImageFormatException"):
            return BadImage(f"Rekognition refused the image in {operation}: {message or code}")
        if code == "InvalidS3ObjectException":
            return BadImage(f"Rekognition could not read the image: {message}")
        if code == "InvalidParameterException" and (
                _NO_FACE.search(message) or operation == "CompareFaces" and _COMPARE_NO_FACE.match(message)):
            return NoFaceFound(f"Rekognition found no face in the image ({operation})")
        return InvalidParameter(f"Rekognition {operation}: {code}: {message}")
    if isinstance(exc, BotoCoreError):
        return EngineUnavailable(f"cannot reach Rekognition for {operation}: {exc}")
    return EngineUnavailable(f"Rekognition {operation} failed: {exc}")


def snake(operation: str) -> str:
    out = []
    for i, ch in enumerate(operation):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
