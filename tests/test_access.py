"""The optional login's access rules (issue 14, item 13; issue 22, items 2-4, 8, 12), in the library:
a user is the issuer and subject of a verified ID token; a collection has an owner and the users
who accepted it; a user sees, searches and erases only what they may, and learns nothing of the rest."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from conftest import FIXTURES, fixture_bytes

from facelib import Settings, Workspace, bytes_source
from facelib.errors import CollectionExists, CollectionNotFound, FaceNotFound, InvalidParameter
from facelib.store.files import legacy_folder
from facelib.thumbnails import cached_data_uri, cached_thumbnails

ISS = "https://accounts.example.org"


@pytest.fixture
def ws(tmp_path):
    return Workspace(Settings(data_dir=tmp_path / "d", admins=("admin@example.com",)))


def user(ws, name: str, verified: bool = True) -> str:
    return ws.sign_in(ISS, f"sub-{name}", f"{name}@example.com", verified)


def test_owners_see_theirs_others_see_nothing_of_it(ws):
    alice_id, bob_id, admin_id = user(ws, "alice"), user(ws, "bob"), user(ws, "admin")
    alice = ws.create_collection("Alice's family", owner=alice_id)
    alice.index([bytes_source("a.jpg", fixture_bytes("obama.jpg"))], workers=1)
    ws.create_collection("cli-made")  # no login: the administrator's
    assert ws.collections(alice_id) == [alice.name] and ws.display_name(alice.name) == "Alice's family"
    assert ws.collections(bob_id) == []
    assert [r["collection"] for r in ws.overview(bob_id)] == []
    assert set(ws.collections(admin_id)) == {alice.name, "cli-made"} == set(ws.collections(None))
    for name in (alice.name, "cli-made", "does-not-exist"):  # one answer: nothing is revealed
        with pytest.raises(CollectionNotFound):
            ws.collection(name, bob_id)
    with pytest.raises(CollectionNotFound):
        ws.delete_collection(alice.name, bob_id)
    assert ws.collection(alice.name, alice_id).counts()["images"] == 1


def test_identity_is_issuer_and_subject_and_an_unverified_email_has_no_rights(ws):
    """Issue 22, item 2: an ID token with an administrator's e-mail, unverified, is nobody special."""
    ws.create_collection("cli-made")
    impostor = ws.sign_in(ISS, "someone-else", "Admin@Example.com", email_verified=False)
    assert not ws.is_admin(impostor) and ws.collections(impostor) == []
    with pytest.raises(CollectionNotFound):
        ws.collection("cli-made", impostor)
    other_issuer = ws.sign_in("https://other.example.net", "sub-admin", "admin@example.com", email_verified=False)
    assert other_issuer != user(ws, "admin") and not ws.is_admin(other_issuer)
    assert ws.is_admin(user(ws, "admin")) and ws.collections(user(ws, "admin")) == ["cli-made"]
    # the same subject at another issuer is another user
    alice = ws.create_collection("mine", owner=user(ws, "alice"))
    assert ws.collections(ws.sign_in("https://other.example.net", "sub-alice", "x@example.org", True)) == []
    # an unverified address is not invited: a share to it is never accepted by it
    ws.share(alice.name, "mallory@example.com", user(ws, "alice"))
    mallory = user(ws, "mallory", verified=False)
    assert ws.invitations(mallory) == []
    with pytest.raises(CollectionNotFound):
        ws.accept(alice.name, mallory)
    with pytest.raises(InvalidParameter):
        ws.sign_in("", "x")


def test_shares_are_invitations_until_accepted_then_search_and_erase_but_not_delete_or_share(ws):
    """Issue 22, item 8: a share is nobody's until accepted (never anyone's default)."""
    alice_id, bob_id, carol_id = user(ws, "alice"), user(ws, "bob"), user(ws, "carol")
    trip = ws.create_collection("trip", owner=alice_id).name
    with pytest.raises(CollectionNotFound):
        ws.share(trip, "carol@example.com", bob_id)
    ws.share(trip, "Bob@example.com", alice_id)
    assert ws.collections(bob_id) == [] and ws.invitations(bob_id) == [trip]
    with pytest.raises(CollectionNotFound):
        ws.collection(trip, bob_id)
    ws.accept(trip, bob_id)
    assert ws.invitations(bob_id) == [] and ws.collections(bob_id) == [trip]
    bob = ws.collection(trip, bob_id)
    bob.index([bytes_source("b.jpg", fixture_bytes("biden.jpg"))], workers=1)
    assert bob.search_face(bob.faces()[0].face_id).rows == ()
    assert bob.delete_image(bob.images()[0].sha256) == 1
    with pytest.raises(InvalidParameter, match="only the owner"):
        bob.delete()
    with pytest.raises(InvalidParameter, match="only the owner"):
        ws.share(trip, "carol@example.com", bob_id)
    assert ws.members(trip) == ("alice@example.com", ["bob@example.com"])
    ws.share(trip, "carol@example.com", alice_id)
    assert ws.members(trip) == ("alice@example.com", ["bob@example.com", "carol@example.com (invited)"])
    ws.decline(trip, carol_id)
    assert ws.invitations(carol_id) == [] and ws.collections(carol_id) == []
    ws.unshare(trip, "bob@example.com", alice_id)
    with pytest.raises(CollectionNotFound):
        ws.collection(trip, bob_id)
    ws.collection(trip, alice_id).delete()
    assert ws.collections() == []


def test_the_access_rows_go_with_the_collection(ws):
    alice_id, bob_id, carol_id = user(ws, "alice"), user(ws, "bob"), user(ws, "carol")
    x = ws.create_collection("x", owner=alice_id).name
    ws.share(x, "bob@example.com", alice_id)
    ws.accept(x, bob_id)
    ws.delete_collection(x, alice_id)
    y = ws.create_collection("x", owner=carol_id).name
    assert ws.collections(bob_id) == [] and ws.members(y) == ("carol@example.com", [])


def test_a_name_another_user_holds_says_nothing_of_them(ws):
    """Issue 22, item 4: creating "Family" works for everyone (names are per user); only your own
    "Family" is "exists already"."""
    alice_id, bob_id = user(ws, "alice"), user(ws, "bob")
    a = ws.create_collection("Family", owner=alice_id)
    b = ws.create_collection("Family", owner=bob_id)
    assert a.name != b.name and ws.display_name(a.name) == ws.display_name(b.name) == "Family"
    assert ws.collections(bob_id) == [b.name]
    with pytest.raises(CollectionExists, match="you have"):
        ws.create_collection("Family", owner=bob_id)
    # ensure_collection (the Home page's samples) is per user too: another's namesake is no obstacle
    assert ws.ensure_collection("samples", owner=bob_id).name == ws.key_for("samples", bob_id)
    ws.create_collection(f"samples of {alice_id}", owner=bob_id)
    assert ws.ensure_collection("samples", owner=alice_id).name == ws.key_for("samples", alice_id)


def test_a_foreign_face_is_the_same_answer_as_a_missing_one(ws):
    """Issue 22, item 4: searching another collection's face id says what a made-up id says."""
    alice_id, bob_id = user(ws, "alice"), user(ws, "bob")
    a = ws.create_collection("a", owner=alice_id)
    a.index([bytes_source("a.jpg", fixture_bytes("obama.jpg"))], workers=1)
    b = ws.collection(ws.create_collection("b", owner=bob_id).name, bob_id)
    answers = []
    for face_id in (a.faces()[0].face_id, "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(FaceNotFound) as err:
            b.search_face(face_id)
        answers.append(str(err.value).replace(face_id, "ID"))
    assert answers[0] == answers[1]


def test_collections_never_share_a_thumbnail_folder(ws):
    """Issue 22, item 3: "Family Trip" and a collection named like its old folder each have their
    own folder; deleting one leaves every thumbnail of the other."""
    a = ws.create_collection("Family Trip")
    b = ws.create_collection(legacy_folder("Family Trip"))
    assert ws.files.collection_dir(a.name) != ws.files.collection_dir(b.name)
    a.index([bytes_source("o.jpg", fixture_bytes("obama.jpg"))], workers=1)
    b.index([bytes_source("o.jpg", fixture_bytes("obama.jpg")), bytes_source("b.jpg", fixture_bytes("biden.jpg"))],
            workers=1)
    b.delete()
    assert [ws.path(f.thumb_path).exists() for f in a.faces()] == [True]


def test_a_directory_written_by_the_old_code_opens_with_nothing_lost(tmp_path):
    """tests/data-dirs/legacy-v11 was written by the code before migrations 100-102: "Family Trip"
    (alice's, shared with carol) and "Family-Trip-d910d187ceee" (bob's) shared one thumbnail folder,
    and both held obama.jpg (one thumbnail file for two faces). It opens: every face keeps its
    thumbnail, the folders part, and owners come back when they sign in with a verified e-mail."""
    data = tmp_path / "data"
    shutil.copytree(FIXTURES.parent / "data-dirs" / "legacy-v11", data)
    other = legacy_folder("Family Trip")
    ws = Workspace(Settings(data_dir=data))
    faces = {n: ws.collection(n).faces() for n in ("Family Trip", other)}
    assert {n: len(f) for n, f in faces.items()} == {"Family Trip": 1, other: 2}
    assert all(ws.path(f.thumb_path).exists() for fs in faces.values() for f in fs)
    assert ws.files.collection_dir("Family Trip") != ws.files.collection_dir(other)
    ws.collection(other).delete()
    assert all(ws.path(f.thumb_path).exists() for f in ws.collection("Family Trip").faces())
    # owners and shares were e-mails: an owner's returns at a verified sign-in, a share waits
    assert ws.collections(ws.sign_in(ISS, "a", "alice@example.com", email_verified=False)) == []
    alice = ws.sign_in(ISS, "alice", "alice@example.com", email_verified=True)
    assert ws.collections(alice) == ["Family Trip"] and ws.display_name("Family Trip") == "Family Trip"
    carol = ws.sign_in(ISS, "carol", "carol@example.com", email_verified=True)
    assert ws.collections(carol) == [] and ws.invitations(carol) == ["Family Trip"]
    conn = sqlite3.connect(data / "catalog.sqlite3")
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_erasure_leaves_no_thumbnail_in_the_process(ws):
    """Issue 22, item 11: the 50,000-entry cache of data URIs forgets an erased face's thumbnail."""
    coll = ws.create_collection("c")
    coll.index([bytes_source("o.jpg", fixture_bytes("obama.jpg")), bytes_source("b.jpg", fixture_bytes("biden.jpg"))],
               workers=1)
    paths = [str(ws.path(f.thumb_path)) for f in coll.faces()]
    before = cached_thumbnails()
    for f in coll.faces():
        assert coll.thumb_uri(f.thumb_path).startswith("data:image/jpeg")
    assert cached_thumbnails() == before + 2
    coll.delete_image(coll.faces()[0].image_sha256)
    assert cached_thumbnails() == before + 1 and cached_data_uri(paths[0]) is None
    coll.delete()
    assert cached_thumbnails() == before


def test_spending_is_per_user_and_an_administrator_sees_all(ws):
    """Issue 22, item 12: calls a signed-in user's handle makes are theirs; the totals are the admin's."""
    from facelib.engines.rekognition.ledger import Ledger
    from facelib.engines.rekognition.store import LedgerStore
    from facelib.workspace import SpendingAs

    alice_id, bob_id = user(ws, "alice"), user(ws, "bob")
    ledger = Ledger(LedgerStore(ws.db))

    class Paid:
        paid = True

        def search(self) -> None:
            ledger.record_call("SearchFacesByImage")

    SpendingAs(Paid(), alice_id).search()  # type: ignore[arg-type]
    SpendingAs(Paid(), alice_id).search()  # type: ignore[arg-type]
    SpendingAs(Paid(), bob_id).search()  # type: ignore[arg-type]
    Paid().search()  # the CLI's
    assert ws.costs(alice_id).paid_calls == 2 and ws.costs(bob_id).paid_calls == 1
    assert ws.costs(None).paid_calls == ws.costs(user(ws, "admin")).paid_calls == 4
    assert ws.costs(user(ws, "carol")).paid_calls == 0


def test_erasure_leaves_no_vector_in_the_search_matrix(ws):
    """Issue 22, item 11: the in-memory matrix loses an erased face's row at once, not at the next search."""
    coll = ws.create_collection("c")
    coll.index([bytes_source("o.jpg", fixture_bytes("obama.jpg")), bytes_source("b.jpg", fixture_bytes("biden.jpg"))],
               workers=1)
    face = coll.faces()[0]
    coll.search_face(face.face_id)  # loads the matrix
    matrix = coll.engine._matrices._cache["c"]  # type: ignore[attr-defined]
    assert face.face_id.encode() in set(matrix.ids.tolist()) and len(matrix) == 2
    coll.delete_image(face.image_sha256)
    held = coll.engine._matrices._cache.get("c")  # type: ignore[attr-defined]
    assert held is None or face.face_id.encode() not in set(held.ids.tolist())
    assert held is None or len(held) == 1
