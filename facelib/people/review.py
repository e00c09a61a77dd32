"""The review queue: the questions about grouping whose answer would change it most, answered
"same", "not the same" or "skip".

Two kinds of question, each about two faces (``face_a``, ``face_b``):

- **merge**: two people whose closest faces are alike (``face_a`` of one, ``face_b`` of the other,
  each standing for their person); "same" merges them, "not the same" is a cannot-link;
- **edge**: a face at the edge of its person (the least like the person's other faces; ``face_b``
  is the person's cover face, standing for them); "not the same" takes it out (cannot-links to the
  person's faces), "same" is a must-link.

Each question's worth is the number of face pairs one answer is expected to change (grouping's
pairwise measure): ``p(same) * |A| * |B|`` for a merge, ``(1 - p(same)) * (|P| - 1)`` for an edge
face, with ``p(same)`` a logistic of the similarity (:func:`p_same`) from the model's calibration
(50: among the closest strangers; 80: the default threshold). The queue is that worth, largest first.

Answers are remembered: "same" and "not the same" as the analyst's decisions, which every regroup
honours (and a re-index carries over); "skip" as a dismissal of that pair of faces, kept by their
photos and boxes, so it outlives a regroup and a re-index (matched again by box overlap) and the
question never comes back while the two faces are in two people (merge) or one person (edge).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..errors import InvalidParameter
from ..records import BoundingBox, DecisionKind, overlap
from ..store.review import ReviewStore
from .grouping import pair

if TYPE_CHECKING:
    from ..collection import Collection

#: Where a similarity means "as likely the same person as not", and the logistic's spread.
P_MIDPOINT = 65.0
P_SCALE = 3.0
#: Two boxes of one photo are the same face (after a re-index with another model) at this IoU.
SAME_BOX = 0.4
Answer = Literal["same", "different", "skip"]


def p_same(similarity: float) -> float:
    """The chance two faces this alike (0-100) are one person (a logistic: 0.5 at 65, 0.97 at 75)."""
    return 1.0 / (1.0 + math.exp(-(similarity - P_MIDPOINT) / P_SCALE))


@dataclass(frozen=True)
class Question:
    """``kind``: "merge" or "edge"; ``worth``: face pairs one answer is expected to change."""

    question_id: str
    kind: str
    face_a: str
    face_b: str
    person_a: int
    person_b: int
    similarity: float
    worth: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.question_id, "kind": self.kind, "face_a": self.face_a, "face_b": self.face_b,
                "person_a": self.person_a, "person_b": self.person_b, "similarity": round(self.similarity, 2),
                "worth": round(self.worth, 3)}


def question_id(kind: str, a: str, b: str) -> str:
    x, y = pair(a, b)
    return hashlib.sha256(f"{kind}|{x}|{y}".encode()).hexdigest()[:12]


class Review:
    """The review queue of one collection (:func:`review_of`)."""

    def __init__(self, coll: Collection) -> None:
        self.coll = coll
        self.people = coll.people
        self.store = ReviewStore(coll.ws.db, coll.name)

    def questions(self, limit: int | None = 20) -> list[Question]:
        """The open questions, the most useful first (at most ``limit``; None: every one)."""
        people = {p.person_id: p for p in self.people.listing(include_hidden=True)}
        person_of = {f: pid for f, pid in self.people.person_of().items() if pid in people}
        briefs = self.coll.ws.catalog.face_briefs(self.coll.name)
        decisions = self.people.store.decisions()
        photos: dict[int, set[str]] = {pid: {briefs[f][0] for f in p.face_ids if f in briefs}
                                       for pid, p in people.items()}
        closest: dict[tuple[int, int], tuple[float, str, str]] = {}
        inside: dict[str, list[float]] = defaultdict(list)
        for e in self.people.store.edges():
            pa, pb = person_of.get(e.a), person_of.get(e.b)
            if pa is None or pb is None:
                continue
            if pa == pb:
                inside[e.a].append(e.similarity)
                inside[e.b].append(e.similarity)
                continue
            key, faces = ((pa, pb), (e.a, e.b)) if pa < pb else ((pb, pa), (e.b, e.a))
            if e.similarity > closest.get(key, (-1.0, "", ""))[0]:
                closest[key] = (e.similarity, *faces)
        cannot_people = {pair_of(person_of, a, b) for a, b in decisions.cannot_link}
        must = decisions.must_link
        dismissed = self._dismissed_index()
        out: list[Question] = []
        for (pa, pb), (sim, fa, fb) in closest.items():
            if (pa, pb) in cannot_people or photos[pa] & photos[pb]:
                continue
            if self._is_dismissed(dismissed, people[pa].face_ids, people[pb].face_ids):
                continue
            worth = p_same(sim) * len(people[pa].face_ids) * len(people[pb].face_ids)
            out.append(Question(question_id("merge", fa, fb), "merge", fa, fb, pa, pb, sim, worth))
        for pid, p in people.items():
            n = len(p.face_ids)
            if n < 2:
                continue
            confirmed = {f for a, b in must for f in (a, b) if person_of.get(a) == pid and person_of.get(b) == pid}
            for f in p.face_ids:
                if f in confirmed or f == p.cover_id:
                    continue
                sims = inside.get(f, [])
                mean = (sum(sims) + 0.0 * (n - 1 - len(sims))) / (n - 1)
                worth = (1.0 - p_same(mean)) * (n - 1)
                if worth < 0.05:
                    continue
                if self._is_dismissed(dismissed, (f,), p.face_ids):
                    continue
                out.append(Question(question_id("edge", f, p.cover_id), "edge", f, p.cover_id, pid, pid, mean, worth))
        out.sort(key=lambda q: (-q.worth, q.question_id))
        return out if limit is None else out[:max(0, limit)]

    def answer(self, question: str | Question, answer: Answer) -> dict[str, Any]:
        """Record one answer and update the people at once; what changed."""
        q = question if isinstance(question, Question) else self.find(question)
        if answer not in ("same", "different", "skip"):
            raise InvalidParameter(f"answer 'same', 'different' or 'skip', not {answer!r}")
        people = self.people
        done: dict[str, Any] = {"question": q.question_id, "answer": answer}
        if answer == "skip":
            faces = self.coll.faces_by_id([q.face_a, q.face_b])
            a, b = faces[q.face_a], faces[q.face_b]
            self.store.dismiss(a.image_sha256, a.detail.box, b.image_sha256, b.detail.box)
        elif q.kind == "merge" and answer == "same":
            done["person"] = people.merge([q.person_a, q.person_b])
        elif q.kind == "merge":
            people.store.decide(DecisionKind.CANNOT, [(q.face_a, q.face_b)])
        elif answer == "same":
            people.store.decide(DecisionKind.MUST, [(q.face_a, q.face_b)])
        else:
            done["person"] = people.not_this_person(q.face_a)
        return done

    def find(self, qid: str) -> Question:
        for q in self.questions(limit=None):
            if q.question_id == qid.strip():
                return q
        raise InvalidParameter(f"no open question {qid!r} in {self.coll.name!r} (answered, or the people changed: "
                               "list the questions again)")

    # -- dismissals, matched by photo and box --------------------------------------------------
    def _dismissed_index(self) -> dict[str, list[tuple[BoundingBox, str, BoundingBox]]]:
        out: dict[str, list[tuple[BoundingBox, str, BoundingBox]]] = defaultdict(list)
        for sa, ba, sb, bb in self.store.dismissed():
            out[sa].append((ba, sb, bb))
            out[sb].append((bb, sa, ba))
        return out

    def _is_dismissed(self, index: dict[str, list[tuple[BoundingBox, str, BoundingBox]]],
                      side_a: tuple[str, ...], side_b: tuple[str, ...]) -> bool:
        """Whether a skipped pair has one face on each side (matched by photo and box)."""
        if not index:
            return False
        faces = self.coll.faces_by_id([*side_a, *side_b])
        b_by_sha: dict[str, list[BoundingBox]] = defaultdict(list)
        for f in side_b:
            if f in faces:
                b_by_sha[faces[f].image_sha256].append(faces[f].detail.box)
        for f in side_a:
            face = faces.get(f)
            if face is None:
                continue
            for box_a, sha_b, box_b in index.get(face.image_sha256, []):
                if overlap(box_a, face.detail.box) >= SAME_BOX and \
                        any(overlap(box_b, x) >= SAME_BOX for x in b_by_sha.get(sha_b, [])):
                    return True
        return False


def pair_of(person_of: dict[str, int], a: str, b: str) -> tuple[int, int] | None:
    pa, pb = person_of.get(a), person_of.get(b)
    if pa is None or pb is None:
        return None
    return (pa, pb) if pa < pb else (pb, pa)
