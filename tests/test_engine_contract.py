"""One contract, both engines: the local engine on real photos, Rekognition on a stubbed real client.

For Rekognition, ``script`` queues the responses the service would give for each step (built from
the documented shapes); for the local engine it does nothing and the real computation answers.
"""

from __future__ import annotations

import threading

import pytest
from conftest import fixture_bytes
from rekognition_stub import arn, cid, expect_create, expect_tags, face_detail, index_response, make_engine, search_response

from facelib.engines.rekognition.cache import PaidCallCache, make_key, scope_tag
from facelib.errors import CollectionNotFound, InvalidParameter
from facelib.images import decode


class LocalScript:
    def __getattr__(self, name):
        return lambda *a, **k: None


class RekScript:
    def __init__(self, engine, stub):
        self.engine, self.stub = engine, stub
        self.indexed: dict[str, dict] = {}

    def create(self, name):
        expect_create(self.engine, self.stub, name)

    def listing(self, names):
        """This installation's collections are known without a call."""

    def describe(self, name, count):
        self.stub.add_response("describe_collection", {"FaceCount": count, "FaceModelVersion": "7.0",
                                                       "CollectionARN": arn(cid(self.engine, name))},
                               {"CollectionId": cid(self.engine, name)})

    def delete(self, name):
        self.describe(name, 0)
        expect_tags(self.engine, self.stub, name)
        self.stub.add_response("delete_collection", {"StatusCode": 200}, {"CollectionId": cid(self.engine, name)})

    def missing(self, method):
        """A deleted collection is forgotten: no call is made."""

    def index(self, ext):
        resp = index_response(ext)
        self.indexed[ext] = resp["FaceRecords"][0]["Face"]
        self.stub.add_response("index_faces", resp)

    def search_image(self, hits):
        self.stub.add_response("detect_faces", {"FaceDetails": [face_detail()]})
        self.describe("c", len(self.indexed))
        self.stub.add_response("search_faces_by_image",
                               search_response([(self.indexed[e], s) for e, s in hits], face_detail()["BoundingBox"]))

    def search_face(self, hits):
        self.describe("c", len(self.indexed))
        self.stub.add_response("search_faces", search_response([(self.indexed[e], s) for e, s in hits]))


@pytest.fixture(params=["local-sface", "local-dlib", "rekognition"])
def eng(request, tmp_path):
    from facelib import Settings, Workspace

    if request.param.startswith("local"):
        model = request.param.split("-")[1]
        ws = Workspace(Settings(data_dir=tmp_path / "data", model=model))
        engine = ws.engine("local")
        assert engine.model == model
        yield engine, LocalScript()
        return
    workspace = Workspace(Settings(data_dir=tmp_path / "data"))
    engine, stub = make_engine(workspace)
    yield engine, RekScript(engine, stub)
    stub.assert_no_pending_responses()


def test_collection_lifecycle(eng):
    engine, script = eng
    script.create("c1")
    engine.create_collection("c1")
    script.listing(["c1"])
    assert "c1" in engine.list_collections()
    script.describe("c1", 0)
    info = engine.describe_collection("c1")
    assert info.name == "c1" and info.face_count == 0 and info.model_version
    script.delete("c1")
    engine.delete_collection("c1")
    script.missing("describe_collection")
    with pytest.raises(CollectionNotFound):
        engine.describe_collection("c1")


def test_index_and_search(eng):
    engine, script = eng
    script.create("c")
    engine.create_collection("c")
    ids = {}
    for name in ("obama", "biden"):
        script.index(name)
        res = engine.index_faces("c", decode(fixture_bytes(f"{name}.jpg")), name)
        assert len(res.faces) == 1 and res.faces[0].external_image_id == name
        b = res.faces[0].detail.box
        assert 0 <= b.left < 1 and 0 <= b.top < 1 and 0 < b.width <= 1 and 0 < b.height <= 1
        assert 0 <= res.faces[0].detail.confidence <= 100
        ids[name] = res.faces[0].face_id
    script.search_image([("obama", 96.0)])
    found = engine.search_faces_by_image("c", decode(fixture_bytes("obama2.jpg")), threshold=80, max_faces=10)
    assert found.searched_face == 0 and len(found.query_faces) == 1
    assert [m.face.face_id for m in found.matches] == [ids["obama"]]
    assert all(80 <= m.similarity <= 100 for m in found.matches)
    script.search_face([])
    assert engine.search_faces("c", ids["obama"], threshold=80, max_faces=10) == []  # itself left out


def test_parameters_are_checked_before_any_call(eng):
    engine, _ = eng
    with pytest.raises(InvalidParameter):
        engine.search_faces("c", "f", threshold=-1)
    with pytest.raises(InvalidParameter):
        engine.create_collection("bad\nname")
    with pytest.raises(InvalidParameter):
        engine.create_collection("fam\n")  # a name check anchored with $ let this one through


def test_concurrent_identical_calls_pay_once(tmp_path):
    cache = PaidCallCache(tmp_path / "cache")
    calls = []
    lock = threading.Lock()

    def paid():
        with lock:
            calls.append(1)
        threading.Event().wait(0.05)
        return {"answer": 42}

    scope = ("us-east-1", "123456789012", "c")
    key = make_key("SearchFaces", scope, 0, 1, None, FaceId="f")
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_call(key, paid, tag=scope_tag(scope))))
               for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and results == [{"answer": 42}] * 16
    cache.invalidate(scope)
    assert cache.generation(scope) == 1 and len(cache) <= 1  # the search entry was evicted
