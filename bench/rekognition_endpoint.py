"""A Rekognition-shaped HTTP endpoint on 127.0.0.1, for tests and benchmarks (never AWS).

It speaks the service's JSON 1.1 protocol (``X-Amz-Target: RekognitionService.<Operation>``) and
STS's GetCallerIdentity, keeps collections, faces, Users and tags in memory, answers after a
chosen latency (seconds, uniform in ``latency``), and can be told to fail the next calls of an
operation with a service error, so botocore's real retry handler, connection pool and threads
are exercised. IndexFaces answers with recorded real responses when given some.

An account's TPS quota can be enforced per operation (:meth:`RekognitionEndpoint.quota`): a
token bucket of ``tps`` tokens a second holding at most ``burst`` (default one second's worth);
a call that finds it empty answers ``ProvisionedThroughputExceededException`` at once, as the
service does, and is counted in ``throttled``. ``GET /_stats`` answers the counters as JSON (for a
benchmark whose endpoint runs in another process).

    with RekognitionEndpoint(latency=(0.2, 0.4)) as ep:
        client = boto3.client("rekognition", endpoint_url=ep.url, ...)
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import threading
import time
import uuid
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

Answer = tuple[int, dict[str, Any]]


class ServiceError(Exception):
    def __init__(self, code: str, message: str = "", status: int = 400) -> None:
        super().__init__(message or code)
        self.code, self.message, self.status = code, message or code, status


class RekognitionEndpoint:
    """The fake service. ``calls`` counts requests by operation; ``max_in_flight`` is the most
    requests it was answering at once."""

    def __init__(self, latency: tuple[float, float] = (0.0, 0.0), index_responses: list[dict[str, Any]] | None = None,
                 account: str = "123456789012", region: str = "us-east-1", seed: int = 0) -> None:
        self.latency = latency
        self.account, self.region = account, region
        self.index_responses = index_responses or []
        self._rng = random.Random(seed)
        self._next_index = itertools.count()
        self._lock = threading.Lock()
        self.collections: dict[str, dict[str, Any]] = {}
        #: S3 objects served by GetObject (path style: GET /bucket/key), by "bucket/key".
        self.objects: dict[str, bytes] = {}
        self.calls: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._failures: dict[str, deque[ServiceError]] = {}
        self._quotas: dict[str, list[float]] = {}  # operation -> [tps, burst, tokens, last refill]
        self.throttled: Counter[str] = Counter()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control -----------------------------------------------------------------------------
    def fail(self, operation: str, code: str, times: int = 1, status: int = 400, message: str = "") -> None:
        """The next ``times`` calls of ``operation`` answer with that service error."""
        with self._lock:
            self._failures.setdefault(operation, deque()).extend(
                ServiceError(code, message, status) for _ in range(times))

    def quota(self, operation: str, tps: float, burst: float | None = None) -> None:
        """Enforce a TPS quota on ``operation``: a token bucket of ``tps`` a second, ``burst`` at most
        (default ``tps``: one second's worth), full at first."""
        cap = float(burst if burst is not None else tps)
        with self._lock:
            self._quotas[operation] = [float(tps), cap, cap, time.monotonic()]

    def _admit(self, operation: str) -> bool:
        """Take a token of the operation's quota (True), or count a throttle (False). Under the lock."""
        q = self._quotas.get(operation)
        if q is None:
            return True
        tps, cap, tokens, last = q
        now = time.monotonic()
        tokens = min(cap, tokens + (now - last) * tps)
        if tokens >= 1.0:
            q[2], q[3] = tokens - 1.0, now
            return True
        q[2], q[3] = tokens, now
        self.throttled[operation] += 1
        return False

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"calls": dict(self.calls), "throttled": dict(self.throttled), "max_in_flight": self.max_in_flight}

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def arn(self, collection_id: str) -> str:
        return f"arn:aws:rekognition:{self.region}:{self.account}:collection/{collection_id}"

    def start(self) -> RekognitionEndpoint:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once (no delayed-ACK stall)

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - S3 GetObject, path style
                if self.path == "/_stats":
                    body = json.dumps(endpoint.stats()).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                key = self.path.split("?", 1)[0].lstrip("/")
                with endpoint._lock:
                    endpoint.calls["GetObject"] += 1
                    data = endpoint.objects.get(key)
                status, ctype = (200, "binary/octet-stream") if data is not None else (404, "application/xml")
                if data is None:
                    data = b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target", "")
                if target.startswith("RekognitionService."):
                    status, payload = endpoint._answer(target.split(".", 1)[1], json.loads(body or b"{}"))
                    data = json.dumps(payload).encode()
                    ctype = "application/x-amz-json-1.1"
                else:  # STS (query protocol)
                    status, data, ctype = endpoint._sts(parse_qs(body.decode()))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="rekognition-endpoint", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> RekognitionEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the service -------------------------------------------------------------------------
    def _answer(self, operation: str, params: dict[str, Any]) -> Answer:
        with self._lock:
            self.calls[operation] += 1
            if not self._admit(operation):
                return 400, {"__type": "ProvisionedThroughputExceededException",
                             "message": "Provisioned rate exceeded."}
            self.requests.append((operation, {k: v for k, v in params.items() if k != "Image"}))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            delay = self._rng.uniform(*self.latency)
            queued = self._failures.get(operation)
            failure = queued.popleft() if queued else None
        try:
            time.sleep(delay)
            if failure is not None:
                raise failure
            with self._lock:
                return 200, getattr(self, "_" + operation)(params)
        except ServiceError as exc:
            return exc.status, {"__type": exc.code, "message": exc.message}
        except AttributeError:
            return 400, {"__type": "InvalidParameterException", "message": f"{operation} is not served here"}
        finally:
            with self._lock:
                self.in_flight -= 1

    def _sts(self, form: dict[str, list[str]]) -> tuple[int, bytes, str]:
        with self._lock:
            self.calls["GetCallerIdentity"] += 1
        xml = (f'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
               f"<GetCallerIdentityResult><Arn>arn:aws:iam::{self.account}:user/test</Arn>"
               f"<UserId>AIDTEST</UserId><Account>{self.account}</Account></GetCallerIdentityResult>"
               f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
               f"</GetCallerIdentityResponse>")
        return 200, xml.encode(), "text/xml"

    def _collection(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = params.get("CollectionId", "")
        if cid not in self.collections:
            raise ServiceError("ResourceNotFoundException", f"The collection id: {cid} does not exist")
        return self.collections[cid]

    def _CreateCollection(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 (operation names)
        cid = p["CollectionId"]
        if cid in self.collections:
            raise ServiceError("ResourceAlreadyExistsException", f"The collection id: {cid} already exists")
        self.collections[cid] = {"faces": {}, "users": {}, "tags": dict(p.get("Tags") or {}), "created": time.time()}
        return {"StatusCode": 200, "CollectionArn": self.arn(cid), "FaceModelVersion": "7.0"}

    def _DescribeCollection(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        c = self._collection(p)
        return {"FaceCount": len(c["faces"]), "UserCount": len(c["users"]), "FaceModelVersion": "7.0",
                "CollectionARN": self.arn(p["CollectionId"]), "CreationTimestamp": c["created"]}

    def _ListCollections(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {"CollectionIds": sorted(self.collections), "FaceModelVersions": ["7.0"] * len(self.collections)}

    def _DeleteCollection(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        self._collection(p)
        del self.collections[p["CollectionId"]]
        return {"StatusCode": 200}

    def _ListTagsForResource(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        for cid, c in self.collections.items():
            if self.arn(cid) == p["ResourceArn"]:
                return {"Tags": dict(c["tags"])}
        raise ServiceError("ResourceNotFoundException", "no such resource")

    def _IndexFaces(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        c = self._collection(p)
        if self.index_responses:
            answer = copy.deepcopy(self.index_responses[next(self._next_index) % len(self.index_responses)])
        else:
            box = {"Width": 0.3, "Height": 0.4, "Left": 0.35, "Top": 0.2}
            answer = {"FaceRecords": [{"Face": {"BoundingBox": box, "Confidence": 99.9},
                                       "FaceDetail": {"BoundingBox": box, "Confidence": 99.9}}],
                      "UnindexedFaces": []}
        for rec in answer.get("FaceRecords", []):
            face = rec["Face"]
            face.update(FaceId=str(uuid.uuid4()), ImageId=str(uuid.uuid4()))
            if p.get("ExternalImageId"):
                face["ExternalImageId"] = p["ExternalImageId"]
            else:
                face.pop("ExternalImageId", None)
            c["faces"][face["FaceId"]] = face
        answer["FaceModelVersion"] = "7.0"
        return answer

    def _ListFaces(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        faces = list(self._collection(p)["faces"].values())
        start = int(p.get("NextToken") or 0)
        size = int(p.get("MaxResults") or 1000)
        page = {"Faces": faces[start:start + size], "FaceModelVersion": "7.0"}
        if start + size < len(faces):
            page["NextToken"] = str(start + size)
        return page

    def _DeleteFaces(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        c = self._collection(p)
        deleted, failed = [], []
        for fid in p["FaceIds"]:
            owner = next((u for u, faces in c["users"].items() if fid in faces), None)
            if owner is not None:
                failed.append({"FaceId": fid, "UserId": owner, "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"]})
            elif c["faces"].pop(fid, None) is not None:
                deleted.append(fid)
            else:
                failed.append({"FaceId": fid, "Reasons": ["FACE_NOT_FOUND"]})
        out: dict[str, Any] = {"DeletedFaces": deleted}
        if failed:
            out["UnsuccessfulFaceDeletions"] = failed
        return out

    def _CreateUser(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        c = self._collection(p)
        if p["UserId"] in c["users"]:
            raise ServiceError("ConflictException", "user exists")
        c["users"][p["UserId"]] = set()
        return {}

    def _AssociateFaces(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        c = self._collection(p)
        if p["UserId"] not in c["users"]:
            raise ServiceError("ResourceNotFoundException", "no such user")
        ids = [f for f in p["FaceIds"] if f in c["faces"]]
        c["users"][p["UserId"]].update(ids)
        return {"AssociatedFaces": [{"FaceId": f} for f in ids], "UserStatus": "ACTIVE"}

    def _DisassociateFaces(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        c = self._collection(p)
        if p["UserId"] not in c["users"]:
            raise ServiceError("ResourceNotFoundException", "no such user")
        members = c["users"][p["UserId"]]
        done = [f for f in p["FaceIds"] if f in members]
        members.difference_update(done)
        return {"DisassociatedFaces": [{"FaceId": f} for f in done], "UserStatus": "ACTIVE"}

    def _DeleteUser(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        c = self._collection(p)
        if c["users"].pop(p["UserId"], None) is None:
            raise ServiceError("ResourceNotFoundException", "no such user")
        return {}

    def _search(self, c: dict[str, Any], exclude: str | None, p: dict[str, Any]) -> list[dict[str, Any]]:
        faces = [f for f in c["faces"].values() if f["FaceId"] != exclude][: int(p.get("MaxFaces") or 80)]
        return [{"Similarity": 99.0, "Face": f} for f in faces]

    def _SearchFaces(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        c = self._collection(p)
        if p["FaceId"] not in c["faces"]:
            raise ServiceError("InvalidParameterException", f"The face id {p['FaceId']} does not exist")
        return {"SearchedFaceId": p["FaceId"], "FaceMatches": self._search(c, p["FaceId"], p),
                "FaceModelVersion": "7.0"}

    def _SearchFacesByImage(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        c = self._collection(p)
        return {"SearchedFaceBoundingBox": {"Width": 0.3, "Height": 0.4, "Left": 0.35, "Top": 0.2},
                "SearchedFaceConfidence": 99.9, "FaceMatches": self._search(c, None, p), "FaceModelVersion": "7.0"}

    def _DetectFaces(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {"FaceDetails": [{"BoundingBox": {"Width": 0.3, "Height": 0.4, "Left": 0.35, "Top": 0.2},
                                 "Confidence": 99.9}]}


def main() -> None:
    """Serve in this process until killed: ``python -m bench.rekognition_endpoint --latency 0.2 0.4
    [--responses DIR]`` prints the URL on its first line."""
    import argparse
    import sys
    from pathlib import Path

    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, nargs=2, default=(0.0, 0.0))
    ap.add_argument("--responses", type=Path, help="folder of recorded IndexFaces responses (*.json)")
    ap.add_argument("--quota", nargs=2, action="append", default=[], metavar=("OPERATION", "TPS"),
                    help="enforce a TPS quota on an operation (token bucket, one second of burst)")
    args = ap.parse_args()
    responses = [json.loads(p.read_text()) for p in sorted(args.responses.glob("*.json"))] if args.responses else []
    ep = RekognitionEndpoint(latency=tuple(args.latency), index_responses=responses).start()
    for operation, tps in args.quota:
        ep.quota(operation, float(tps))
    print(ep.url, flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or kills us)
    finally:
        ep.close()


if __name__ == "__main__":
    main()
