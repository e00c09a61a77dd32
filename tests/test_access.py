"""The optional login's access rules (issue 14, item 13), in the library: a collection has an
owner and the users it is shared with; a user sees, searches and erases only what they may."""

from __future__ import annotations

import pytest
from conftest import fixture_bytes

from facelib import Settings, Workspace, bytes_source
from facelib.errors import CollectionNotFound, InvalidParameter


@pytest.fixture
def ws(tmp_path):
    return Workspace(Settings(data_dir=tmp_path / "d", admins=("admin@example.com",)))


def test_owners_see_theirs_others_see_nothing_of_it(ws):
    alice = ws.create_collection("Alice's family", owner="alice@example.com")
    alice.index([bytes_source("a.jpg", fixture_bytes("obama.jpg"))], workers=1)
    ws.create_collection("cli-made")  # no login: the administrator's
    assert ws.collections("alice@example.com") == ["Alice's family"]
    assert ws.collections("bob@example.com") == []
    assert [r["collection"] for r in ws.overview("bob@example.com")] == []
    assert set(ws.collections("admin@example.com")) == {"Alice's family", "cli-made"} == set(ws.collections(None))
    for name in ("Alice's family", "cli-made", "does-not-exist"):  # one answer: nothing is revealed
        with pytest.raises(CollectionNotFound):
            ws.collection(name, "bob@example.com")
    with pytest.raises(CollectionNotFound):
        ws.delete_collection("Alice's family", "bob@example.com")
    assert ws.collection("Alice's family", "alice@example.com").counts()["images"] == 1


def test_sharing_lets_search_and_erase_but_not_delete_or_share(ws):
    ws.create_collection("trip", owner="alice@example.com")
    with pytest.raises(CollectionNotFound):
        ws.share("trip", "carol@example.com", "bob@example.com")
    ws.share("trip", "bob@example.com", "alice@example.com")
    bob = ws.collection("trip", "bob@example.com")
    bob.index([bytes_source("b.jpg", fixture_bytes("biden.jpg"))], workers=1)
    assert bob.search_face(bob.faces()[0].face_id).rows == ()
    assert bob.delete_image(bob.images()[0].sha256) == 1
    with pytest.raises(InvalidParameter, match="only the owner"):
        bob.delete()
    with pytest.raises(InvalidParameter, match="only the owner"):
        ws.share("trip", "carol@example.com", "bob@example.com")
    assert ws.members("trip") == ("alice@example.com", ["bob@example.com"])
    ws.unshare("trip", "bob@example.com", "alice@example.com")
    with pytest.raises(CollectionNotFound):
        ws.collection("trip", "bob@example.com")
    ws.collection("trip", "alice@example.com").delete()
    assert ws.collections() == []


def test_the_access_rows_go_with_the_collection(ws):
    ws.create_collection("x", owner="alice@example.com")
    ws.share("x", "bob@example.com", "alice@example.com")
    ws.delete_collection("x", "alice@example.com")
    ws.create_collection("x", owner="carol@example.com")
    assert ws.collections("bob@example.com") == [] and ws.members("x") == ("carol@example.com", [])
