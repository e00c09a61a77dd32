"""A real boto3 Rekognition client wrapped in botocore's Stubber, and response builders.

The Stubber validates every request against the real service model; responses are either the
recorded real ones in ../shared/rekognition-responses or built here from the documented shapes.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import boto3
from botocore.stub import ANY, Stubber
from conftest import RECORDED

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


ACCOUNT = "123456789012"


def stubbed_client(region="us-east-1", service="rekognition"):
    """A real boto3 client (the app's interactive configuration) with botocore's Stubber active."""
    from facelib import Settings
    from facelib.aws import config

    client = boto3.client(service, region_name=region, config=config("interactive", Settings()))
    stub = Stubber(client)
    stub.activate()
    return client, stub


def make_engine(workspace, region="us-east-1", account=ACCOUNT, **options):
    """A RekognitionEngine on stubbed clients (STS says ``account``), put in place in ``workspace``."""
    from facelib import engines
    from facelib.engines.rekognition.cache import PaidCallCache
    from facelib.engines.rekognition.engine import RekognitionEngine
    from facelib.engines.rekognition.store import CollectionStore

    client, stub = stubbed_client(region)
    sts, sts_stub = stubbed_client(region, "sts")
    sts_stub.add_response("get_caller_identity", {"Account": account, "Arn": f"arn:aws:iam::{account}:user/t",
                                                  "UserId": "AIDTEST"})
    engine = RekognitionEngine(client, PaidCallCache(workspace.settings.cache_dir), engines.ledger(workspace.db),
                               CollectionStore(workspace.db), sts, **options)
    workspace.use_engine(engine)
    return engine, stub


def arn(collection_id, region="us-east-1", account=ACCOUNT):
    return f"arn:aws:rekognition:{region}:{account}:collection/{collection_id}"


def expect_create(engine, stub, name, region="us-east-1", account=ACCOUNT):
    """Queue CreateCollection of display name ``name`` (namespaced id, tags); returns the id."""
    from facelib.engines.rekognition.engine import TAG_APP, TAG_INSTALLATION, collection_id_for

    install = engine.collections.installation()
    cid = collection_id_for(install, name)
    stub.add_response("create_collection", {"StatusCode": 200, "CollectionArn": arn(cid, region, account),
                                            "FaceModelVersion": "7.0"},
                      {"CollectionId": cid, "Tags": {TAG_APP: "facesearch", TAG_INSTALLATION: install}})
    return cid


def cid(engine, name):
    """The AWS CollectionId behind a display name."""
    return engine.collections.require(name).collection_id


def expect_count(engine, stub, name, count=1):
    """Queue the free DescribeCollection every cached search checks the face count with."""
    stub.add_response("describe_collection", {"FaceCount": count, "FaceModelVersion": "7.0", "UserCount": 0,
                                              "CollectionARN": arn(cid(engine, name))},
                      {"CollectionId": cid(engine, name)})


def expect_tags(engine, stub, name, ours=True):
    from facelib.engines.rekognition.engine import TAG_APP, TAG_INSTALLATION

    tags = {TAG_APP: "facesearch", TAG_INSTALLATION: engine.collections.installation() if ours else "someone-else"}
    stub.add_response("list_tags_for_resource", {"Tags": tags}, {"ResourceArn": arn(cid(engine, name))})


def rekognition_collection(workspace, name: str, photo: str = "obama.jpg"):
    """A stubbed Rekognition collection ``name`` holding one indexed photo; returns (engine, stub, sha256)."""
    from conftest import fixture_bytes

    from facelib import bytes_source
    from facelib.images import decode

    engine, stub = make_engine(workspace)
    expect_create(engine, stub, name)
    workspace.create_collection(name, "rekognition")
    sha = decode(fixture_bytes(photo)).sha256
    stub.add_response("index_faces", index_response(sha))
    workspace.collection(name).index([bytes_source(photo, fixture_bytes(photo))], workers=1)
    return engine, stub, sha


def expect_erasure_through_user(stub, collection_id, face_id, user_id="mom"):
    """DeleteFaces refuses a face that belongs to a User: DisassociateFaces, then DeleteFaces again."""
    stub.add_response("delete_faces", {"UnsuccessfulFaceDeletions": [
        {"FaceId": face_id, "UserId": user_id, "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"]}]},
        {"CollectionId": collection_id, "FaceIds": [face_id]})
    stub.add_response("disassociate_faces", {"DisassociatedFaces": [{"FaceId": face_id}], "UserStatus": "ACTIVE"},
                      {"CollectionId": collection_id, "UserId": user_id, "FaceIds": [face_id]})
    stub.add_response("delete_faces", {"DeletedFaces": [face_id]}, {"CollectionId": collection_id, "FaceIds": [face_id]})


def box(left=0.3, top=0.2, width=0.3, height=0.35):
    return {"Width": width, "Height": height, "Left": left, "Top": top}


def face_detail(b=None, brightness=80.0, sharpness=70.0, age=(30, 40), yaw=5.0):
    return {"BoundingBox": b or box(), "AgeRange": {"Low": age[0], "High": age[1]},
            "Pose": {"Roll": 1.0, "Yaw": yaw, "Pitch": -3.0},
            "Quality": {"Brightness": brightness, "Sharpness": sharpness}, "Confidence": 99.9,
            "Landmarks": [{"Type": "eyeLeft", "X": 0.4, "Y": 0.3}, {"Type": "nose", "X": 0.45, "Y": 0.4}],
            "Emotions": [{"Type": "CALM", "Confidence": 90.0}]}


def face(face_id=None, ext="img", b=None):
    return {"FaceId": face_id or str(uuid.uuid4()), "BoundingBox": b or box(), "ImageId": str(uuid.uuid4()),
            "ExternalImageId": ext, "Confidence": 99.9}


def index_response(ext, boxes=(None,), unindexed=()):
    records = []
    for b in boxes:
        f = face(ext=ext, b=b)
        records.append({"Face": f, "FaceDetail": face_detail(f["BoundingBox"])})
    return {"FaceRecords": records, "FaceModelVersion": "7.0",
            "UnindexedFaces": [{"Reasons": list(r), "FaceDetail": face_detail(b)} for b, r in unindexed]}


def search_response(matches, searched=None):
    """matches: [(face dict, similarity)]"""
    out = {"FaceMatches": [{"Similarity": s, "Face": f} for f, s in matches], "FaceModelVersion": "7.0"}
    if searched is not None:
        out["SearchedFaceBoundingBox"] = searched
        out["SearchedFaceConfidence"] = 99.9
    return out


def recorded(kind: str, name: str) -> dict:
    return json.loads((RECORDED / "datas" / kind / f"{name}.json").read_text())


def recorded_search(name: str) -> tuple[str, dict]:
    path = next((RECORDED / "searchs" / name).glob("*.json"))
    return path.stem, json.loads(path.read_text())


def client_error(stub: Stubber, method: str, code: str, message: str = "", status: int = 400) -> None:
    stub.add_client_error(method, service_error_code=code, service_message=message or code,
                          http_status_code=status)


__all__ = ["ACCOUNT", "ANY", "Stubber", "arn", "box", "cid", "expect_count", "expect_create", "expect_tags",
           "rekognition_collection", "client_error", "face", "face_detail", "index_response",
           "make_engine", "recorded", "recorded_search", "search_response", "stubbed_client", "Path"]
