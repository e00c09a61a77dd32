"""People in a collection: the match graph, grouping, and the analyst's corrections.

Similarities are percentages 0-100. The graph's edges come from the engine's SearchFaces, made
once per face and kept (``match_edges``), so with Rekognition a regroup costs paid calls only for
faces never searched before. Every correction is stored as a decision (must-link, cannot-link,
not-a-face) and honoured by later regroups; names survive regroups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from ..engines.base import Engine, SupportsUsers
from ..errors import InvalidParameter
from ..records import DecisionKind
from ..store.catalog import Catalog
from .grouping import choose_person, group_faces, inherit, pair
from .store import PeopleStore

MUST, CANNOT, NOT_FACE = DecisionKind.MUST, DecisionKind.CANNOT, DecisionKind.NOT_FACE
#: Faces a Rekognition User can hold.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Person:
    """A person: their faces (indexed, not marked not-a-face), photos and a cover face's id."""

    person_id: int
    collection: str
    name: str | None
    hidden: bool
    face_ids: tuple[str, ...]
    photos: int
    cover_id: str
    number: int | None = None  # within the collection; the id stands in for a person without one

    @property
    def label(self) -> str:
        return self.name or f"Person {self.number or self.person_id}"


def user_id(person_id: int) -> str:
    """The Rekognition UserId that mirrors a person."""
    return f"facesearch-person-{person_id}"


class People:
    """The people of one collection. ``threshold``: grouping similarity 0-100."""

    def __init__(self, store: PeopleStore, catalog: Catalog, engine: Engine, threshold: float,
                 search_floor: float, search_max_faces: int) -> None:
        self.store = store
        self.catalog = catalog
        self.engine = engine
        self.collection = store.collection
        self.threshold = threshold
        self.floor = search_floor
        self.max_faces = search_max_faces

    # -- the graph ---------------------------------------------------------------------------
    def pending_searches(self) -> int:
        """Indexed faces whose matches were never fetched (each is one engine search)."""
        return len(self.store.unsearched())

    def ungrouped(self) -> int:
        """Indexed faces that belong to nobody yet (not-a-face ones included)."""
        person_of = self.store.person_of()
        return sum(1 for f in self.catalog.face_briefs(self.collection) if f not in person_of)

    def ensure_edges(self, progress: Progress | None = None) -> int:
        """Search every face not searched yet (at the floor); returns how many were searched."""
        todo = self.store.unsearched()
        for i, face_id in enumerate(todo):
            matches = self.engine.search_faces(self.collection, face_id, self.floor, self.max_faces)
            self.store.add_edges(face_id, [(m.face.face_id, m.similarity) for m in matches])
            if progress:
                progress(i + 1, len(todo))
        return len(todo)

    # -- reading -----------------------------------------------------------------------------
    def person_of(self) -> dict[str, int]:
        """face id -> person id for every grouped face."""
        return self.store.person_of()

    def listing(self, include_hidden: bool = False, name_filter: str = "", only: int | None = None) -> list[Person]:
        """People, largest first; hidden ones only when asked. Counts and covers come from SQL
        aggregates (the cover is the largest, sharpest face), so this stays quick at 100k faces."""
        wanted = name_filter.lower()
        rows = [r for r in self.store.person_rows(only) if (include_hidden or not r.hidden)
                and wanted in (r.name or f"person {r.number or r.person_id}").lower()]
        members = self.store.members(only)
        out = [Person(r.person_id, self.collection, r.name, r.hidden, tuple(members[r.person_id]), r.photos,
                      r.cover_id, r.number) for r in rows]
        return sorted(out, key=lambda p: (-len(p.face_ids), p.person_id))

    def cover_thumbs(self, people: Iterable[Person]) -> dict[int, str | None]:
        """person id -> thumbnail path of their cover face (fetched only for the people shown)."""
        people = list(people)
        paths = self.catalog.thumb_paths(p.cover_id for p in people)
        return {p.person_id: paths.get(p.cover_id) for p in people}

    def get(self, person_id: int) -> Person:
        for p in self.listing(include_hidden=True, only=person_id):
            return p
        raise InvalidParameter(f"no person {person_id} in {self.collection!r}")

    def names(self, face_ids: Iterable[str] | None = None) -> dict[str, str]:
        """face id -> person label, for tables (just the given faces when ``face_ids``)."""
        labels = self.store.labels(face_ids)
        numbers = self.store.numbers({pid for pid, _ in labels.values()})
        return {f: name or f"Person {numbers.get(pid, pid)}" for f, (pid, name) in labels.items()}

    def count(self) -> int:
        """Visible people with at least one face."""
        return self.store.visible_count()

    # -- grouping ----------------------------------------------------------------------------
    def update(self, progress: Progress | None = None) -> int:
        """After indexing: fetch the new faces' matches, then place each ungrouped face (the incremental rule).

        A new face joins a person when it matches enough of that person's faces above the
        threshold (see :func:`facelib.people.grouping.choose_person`), otherwise it starts a new
        person. Returns how many faces were placed.
        """
        self.ensure_edges(progress)
        faces = self.catalog.face_briefs(self.collection)
        decisions = self.store.decisions()
        person_of = self.store.person_of()
        todo = sorted(f for f in faces if f not in person_of and f not in decisions.not_faces)
        if not todo:
            return 0
        self.store.forget_undo()  # placing faces changes people: an older correction can't be undone alone
        neighbours: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for e in self.store.edges():
            neighbours[e.a].append((e.b, e.similarity))
            neighbours[e.b].append((e.a, e.similarity))
        in_photo: dict[str, list[str]] = defaultdict(list)
        for f, (sha, _) in faces.items():
            in_photo[sha].append(f)
        cannot: dict[str, list[str]] = defaultdict(list)
        for a, b in decisions.cannot_link:
            cannot[a].append(b)
            cannot[b].append(a)
        size: dict[int, int] = defaultdict(int)
        for pid in person_of.values():
            size[pid] += 1
        with self.store.db.transaction():
            for face_id in todo:
                others = in_photo[faces[face_id][0]] + cannot[face_id]
                blocked = {person_of[o] for o in others if o in person_of}
                chosen = choose_person(neighbours[face_id], person_of, size, blocked, self.threshold)
                pid = self.store.new_person() if chosen is None else chosen
                self.store.assign([face_id], pid)
                person_of[face_id] = pid
                size[pid] += 1
        return len(todo)

    def regroup(self, progress: Progress | None = None) -> list[Person]:
        """Group the whole collection again from the graph, honouring every decision; names survive."""
        self.ensure_edges(progress)
        faces = self.catalog.face_briefs(self.collection)
        photo_of = {f: sha for f, (sha, _) in faces.items()}
        groups = group_faces(faces, self.store.edges(), photo_of, self.threshold, self.store.decisions())
        old: dict[int, set[str]] = defaultdict(set)
        for face_id, pid in self.store.person_of().items():
            old[pid].add(face_id)
        heirs = inherit(old, groups)
        self.store.forget_undo()
        with self.store.db.transaction():
            self.store.clear_assignments()
            for gi, group in enumerate(groups):
                heir = heirs[gi]
                self.store.assign(group, heir if heir is not None else self.store.new_person())
            self.store.drop_empty()
        return self.listing(include_hidden=True)

    # -- corrections -------------------------------------------------------------------------
    def rename(self, person_id: int, name: str) -> None:
        with self.store.journal(f"rename to {name.strip() or 'unnamed'}", [person_id]):
            self.store.set_name(person_id, name.strip() or None)

    def hide(self, person_id: int, hidden: bool = True) -> None:
        with self.store.journal("hide" if hidden else "unhide", [person_id]):
            self.store.set_hidden(person_id, hidden)

    def last_correction(self) -> str | None:
        """The correction :meth:`undo` would take back (rename, hide, merge, split, move, not this
        person, not a face), or None."""
        return self.store.last_correction()

    def undo(self) -> str:
        """Take back the last correction: people, their faces, names and decisions as they were."""
        label = self.store.undo()
        if label is None:
            raise InvalidParameter("there is no correction to undo")
        return label

    def merge(self, person_ids: list[int], into: int | None = None) -> int:
        """Merge people into one (``into``, default the largest); remembered as must-links."""
        people = [self.get(p) for p in dict.fromkeys(person_ids)]
        if len(people) < 2:
            raise InvalidParameter("choose at least two people to merge")
        target = self.get(into) if into is not None else max(people, key=lambda p: len(p.face_ids))
        name = target.name or next((p.name for p in people if p.name), None)
        anchor = target.face_ids[0]
        with self.store.journal(f"merge of {len(people)} people", [p.person_id for p in people]):
            for p in people:
                if p.person_id == target.person_id:
                    continue
                self.store.supersede(CANNOT, target.face_ids, p.face_ids)
                self.store.decide(MUST, [(anchor, p.face_ids[0])])
                self.store.reassign_person(p.person_id, target.person_id)
            self.store.set_name(target.person_id, name)
        return target.person_id

    def not_same(self, person_a: int, person_b: int) -> None:
        """The two people are not the same person: a cannot-link between them (remembered by every
        regroup), so they are never suggested for merging again. Undone like any correction."""
        a, b = self.get(person_a), self.get(person_b)
        if a.person_id == b.person_id:
            raise InvalidParameter("a person is always the same as themself")
        with self.store.journal(f"not the same: {a.label} and {b.label}", [a.person_id, b.person_id]):
            self.store.supersede(MUST, a.face_ids, b.face_ids)
            self.store.decide(CANNOT, [(a.face_ids[0], b.face_ids[0])])

    def split(self, face_ids: list[str], name: str | None = None) -> int:
        """Make the chosen faces a new person; remembered as must-links among them and cannot-links
        between them and the faces they leave."""
        chosen = sorted(set(face_ids))
        if not chosen:
            raise InvalidParameter("choose the faces to split off")
        person_of = self.store.person_of()
        owners = {person_of.get(c) for c in chosen}
        left = sorted({f for f, p in person_of.items() if p in owners} - set(chosen))
        with self.store.journal(f"split of {len(chosen)} face(s)", owners):
            pid = self.store.new_person(name)
            self.store.supersede(MUST, chosen, left)
            self.store.supersede(CANNOT, chosen, chosen)
            self.store.decide(MUST, zip(chosen, chosen[1:], strict=False))
            self.store.decide(CANNOT, [(chosen[0], f) for f in left])
            self.store.assign(chosen, pid)
            self.store.drop_empty()
        return pid

    def move(self, face_id: str, to_person: int) -> None:
        """Move a face to another person: cannot-links to its old person, a must-link to the new one."""
        target = self.get(to_person)
        person_of = self.store.person_of()
        old = person_of.get(face_id)
        with self.store.journal(f"move to {target.label}", [old, to_person]):
            if old is not None and old != to_person:
                old_faces = [f for f, p in person_of.items() if p == old and f != face_id]
                self.store.supersede(MUST, [face_id], old_faces)
                self.store.decide(CANNOT, [(face_id, f) for f in old_faces])
            self.store.supersede(CANNOT, [face_id], target.face_ids)
            self.store.decide(MUST, [(face_id, target.face_ids[0])])
            self.store.assign([face_id], to_person)
            self.store.drop_empty()

    def not_this_person(self, face_id: str) -> int:
        """The face is not who it was grouped with: it becomes a person of its own."""
        person_of = self.store.person_of()
        old = person_of.get(face_id)
        old_faces = [f for f, p in person_of.items() if p == old and f != face_id]
        with self.store.journal("not this person", [old]):
            self.store.supersede(MUST, [face_id], old_faces)
            self.store.decide(CANNOT, [(face_id, f) for f in old_faces])
            pid = self.store.new_person()
            self.store.assign([face_id], pid)
            self.store.drop_empty()
        return pid

    def not_a_face(self, face_id: str) -> None:
        """Not a face at all (a poster, a pattern): left out of every person from now on."""
        with self.store.journal("not a face", [self.store.person_of().get(face_id)]):
            self.store.decide(NOT_FACE, [(face_id, None)])
            self.store.unassign([face_id])
            self.store.drop_empty()

    def move_faces(self, face_ids: list[str], to_person: int) -> None:
        """:meth:`move` for several faces, undone as one correction."""
        with self._batch(f"move of {len(face_ids)} face(s)", face_ids, to_person):
            for f in face_ids:
                self.move(f, to_person)

    def not_these_faces(self, face_ids: list[str]) -> None:
        """:meth:`not_this_person` for several faces, undone as one correction."""
        with self._batch(f"{len(face_ids)} face(s) taken out", face_ids):
            for f in face_ids:
                self.not_this_person(f)

    def not_faces(self, face_ids: list[str]) -> None:
        """:meth:`not_a_face` for several faces, undone as one correction."""
        with self._batch(f"{len(face_ids)} marked not a face", face_ids):
            for f in face_ids:
                self.not_a_face(f)

    def _batch(self, label: str, face_ids: list[str], *also: int) -> AbstractContextManager[None]:
        """One journal for a correction of several faces: their people (and ``also``) as they were."""
        person_of = self.store.person_of()
        return self.store.journal(label, [*(person_of.get(f) for f in face_ids), *also])

    # -- questions ---------------------------------------------------------------------------
    def photos_with(self, all_of: list[int], none_of: Iterable[int] = ()) -> list[str]:
        """sha256 of the photos where every person of ``all_of`` appears and none of ``none_of``."""
        faces = self.catalog.face_briefs(self.collection)
        people_in: dict[str, set[int]] = defaultdict(set)
        for f, p in self.store.person_of().items():
            if f in faces:
                people_in[faces[f][0]].add(p)
        want, avoid = set(all_of), set(none_of)
        return sorted(sha for sha, ps in people_in.items() if want <= ps and not (avoid & ps))

    def merge_suggestions(self, limit: int = 5, at_least: float = 70.0) -> list[tuple[Person, Person, float]]:
        """Pairs of visible people whose closest faces are most alike, at ``at_least`` similarity
        (0-100) or more, that share no photo and no "different" decision (and may be merged)."""
        people = {p.person_id: p for p in self.listing()}
        person_of = self.store.person_of()
        decisions = self.store.decisions()
        faces = self.catalog.face_briefs(self.collection)
        photos = {pid: {faces[f][0] for f in p.face_ids} for pid, p in people.items()}
        best: dict[tuple[int, int], float] = {}
        for e in self.store.edges():
            pa, pb = person_of.get(e.a), person_of.get(e.b)
            if pa is None or pb is None or pa == pb or pa not in people or pb not in people:
                continue
            key = (min(pa, pb), max(pa, pb))
            best[key] = max(best.get(key, 0.0), e.similarity)
        out = []
        for (pa, pb), sim in sorted(best.items(), key=lambda kv: -kv[1]):
            if sim < at_least:
                break
            if photos[pa] & photos[pb]:
                continue
            if any(pair(a, b) in decisions.cannot_link for a in people[pa].face_ids for b in people[pb].face_ids):
                continue
            out.append((people[pa], people[pb], sim))
            if len(out) >= limit:
                break
        return out

    # -- engine Users ------------------------------------------------------------------------
    def forget_user(self, person_id: int) -> None:
        """Delete the person's engine User (made by an earlier version, which mirrored people as
        Users), when the engine has Users; facesearch no longer creates them."""
        if isinstance(self.engine, SupportsUsers):
            self.engine.delete_user(self.collection, user_id(person_id))
