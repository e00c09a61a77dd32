"""The review queue (issue 27): questions ordered by how much one answer changes grouping; answers
are remembered decisions; skipped questions never return after a regroup or a re-index."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections import defaultdict

import pytest
from conftest import DEV, FIXTURES, ROOT, index_paths, needs_dev

from facelib import InvalidParameter


def test_p_same_is_a_logistic_of_similarity():
    from facelib.people.review import p_same

    assert p_same(65) == pytest.approx(0.5) and p_same(80) > 0.99 and p_same(50) < 0.01
    assert p_same(70) > p_same(60)


@pytest.fixture
def split_obama(workspace):
    """The shipped photos grouped, then one of Obama's faces taken out: a person split in two."""
    index_paths(workspace, "c", [FIXTURES], workers=1)
    coll = workspace.collection("c")
    coll.people.update()
    obama = max(coll.people.listing(), key=lambda p: len(p.face_ids))
    coll.people.store.clear_assignments()  # as grouping might have left it, with no decision
    a, b, c = obama.face_ids
    coll.people.store.assign([a, b], coll.people.store.new_person())
    coll.people.store.assign([c], coll.people.store.new_person())
    biden = next(f.face_id for f in coll.faces() if f.image_name.endswith("biden.jpg"))
    coll.people.store.assign([biden], coll.people.store.new_person())
    coll.people.store.drop_empty()
    return workspace, coll, (a, b, c), biden


@pytest.mark.slow
def test_the_split_is_asked_first_and_answers_are_remembered(split_obama):
    from facelib.people.review import Review

    ws, coll, (a, b, c), biden = split_obama
    review = Review(coll)
    first = review.questions()[0]
    assert first.kind == "merge" and c in (first.face_a, first.face_b) and first.similarity >= 80
    assert all(q.worth >= r.worth for q, r in itertools.pairwise(review.questions()))
    review.answer(first.question_id, "same")
    person_of = coll.people.person_of()
    assert person_of[a] == person_of[b] == person_of[c]
    coll.people.regroup()  # the answer is a decision every regroup honours
    person_of = coll.people.person_of()
    assert person_of[a] == person_of[c] != person_of[biden]
    assert all(c not in (q.face_a, q.face_b) or q.kind == "edge" for q in review.questions(limit=None))
    with pytest.raises(InvalidParameter, match="no open question"):
        review.answer(first.question_id, "same")


@pytest.mark.slow
def test_skip_and_different_never_come_back_after_a_regroup(split_obama):
    from facelib.people.review import Review

    ws, coll, (a, b, c), biden = split_obama
    review = Review(coll)
    merge = next(q for q in review.questions(limit=None) if q.kind == "merge" and c in (q.face_a, q.face_b))
    review.answer(merge, "skip")
    assert merge.question_id not in {q.question_id for q in review.questions(limit=None)}
    others = [q for q in review.questions(limit=None) if q.kind == "merge"]
    for q in others:
        review.answer(q, "different")
    coll.people.regroup()
    for q in review.questions(limit=None):  # merged by the regroup or still apart: never asked again
        assert q.kind == "edge" or {q.person_a, q.person_b} != {coll.people.person_of()[merge.face_a],
                                                               coll.people.person_of()[merge.face_b]}
        assert q.question_id not in {o.question_id for o in others}


@pytest.mark.slow
def test_cli_review_and_answer(split_obama):
    ws, coll, (a, b, c), _ = split_obama
    data = str(ws.settings.data_dir)
    ws.db.close()

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "facelib", "people", *args, "--collection", "c", "--data-dir", data,
                               "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    questions = cli("review", "--limit", "2")
    assert len(questions) <= 2 and set(questions[0]) >= {"id", "face_a", "face_b"}
    assert c in (questions[0]["face_a"], questions[0]["face_b"])
    done = cli("answer", "--question", questions[0]["id"], "--same")
    assert done["answer"] == "same"
    people = {f["face_id"]: p["person_id"] for p in cli() for f in p["faces"]}
    assert people[a] == people[c]
    assert questions[0]["id"] not in {q["id"] for q in cli("review")}


def truthful(labels, coll):
    """face id -> identity, for the faces a reviewer can tell: one labelled person, one face in the photo."""
    per_photo = defaultdict(list)
    for f in coll.faces():
        per_photo[f.image_name.rsplit("/", 1)[-1]].append(f.face_id)
    return {ids[0]: labels[p][0] for p, ids in per_photo.items() if len(ids) == 1 and len(labels.get(p, ())) == 1}


def pairwise_f1(coll, identity):
    person_of = coll.people.person_of()
    tp = fp = fn = 0
    for x, y in itertools.combinations(sorted(identity), 2):
        same, together = identity[x] == identity[y], person_of.get(x) is not None and person_of.get(x) == person_of.get(y)
        tp += same and together
        fp += together and not same
        fn += same and not together
    p, r = tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0
    return 2 * p * r / (p + r)


@pytest.mark.slow
@needs_dev
def test_dev_set_a_truthful_reviewer_finishes_grouping_with_few_answers(workspace):
    """A simulated reviewer answers the queue in order (same / different from the labels, skip when a
    face's identity is not certain): F1 >= 0.99 after answering at most 10% as many questions as
    there are faces; then a regroup and a re-index with the other model ask none of them again."""
    from bench.devset import load_labels
    from facelib.people.review import Review

    ws = workspace
    index_paths(ws, "dev", [DEV / "images"], workers=2)
    coll = ws.collection("dev")
    coll.people.regroup()
    identity = truthful({i.file: i.identities for i in load_labels()}, coll)
    faces = len(coll.faces())
    review = Review(coll)
    answered = []
    start = pairwise_f1(coll, identity)
    while pairwise_f1(coll, identity) < 0.99 and len(answered) < faces // 10:
        q = review.questions(limit=1)[0]
        x, y = identity.get(q.face_a), identity.get(q.face_b)
        answer = "skip" if x is None or y is None else "same" if x == y else "different"
        review.answer(q, answer)
        faces_by_id = coll.faces_by_id([q.face_a, q.face_b])
        answered.append((q, answer, [(faces_by_id[f].image_sha256, faces_by_id[f].detail.box) for f in (q.face_a,
                                                                                                        q.face_b)]))
    final = pairwise_f1(coll, identity)
    assert final >= 0.99 and len(answered) <= faces / 10, (start, final, len(answered), faces)

    def asked_again():
        """Questions about a pair of faces (by photo and box) answered before."""
        from facelib.records import overlap

        out = []
        for q in review.questions(limit=None):
            now = coll.faces_by_id([q.face_a, q.face_b])
            pair = [(now[f].image_sha256, now[f].detail.box) for f in (q.face_a, q.face_b)]
            for old, _, before in answered:
                if any(all(p[0] == b[0] and overlap(p[1], b[1]) > 0.4 for p, b in zip(order, before, strict=True))
                       for order in (pair, pair[::-1])):
                    out.append((old.kind, q.kind))
        return out

    assert asked_again() == []
    coll.people.regroup()
    assert asked_again() == [] and pairwise_f1(coll, identity) >= 0.99
    coll.reindex("dlib", workers=2)
    coll.people.regroup()
    assert asked_again() == []
