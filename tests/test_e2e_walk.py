"""A random walk in chromium over the Person page (issue 24): renames, undos, person changes in the
picker and splits, in a seeded random order, each checked in the catalog against what the page
showed when the action was made. Bounded for CI: ``FACESEARCH_E2E_WALK_STEPS`` (default 12) steps,
seed ``FACESEARCH_E2E_WALK_SEED`` (default 0; printed, so a failing walk can be replayed).
"""

from __future__ import annotations

import os
import random
import re

import pytest
from test_e2e import wait_running_done
from test_e2e_corrections import browser, family, heading, page, reset, save_name, tick_rows  # noqa: F401

pytestmark = pytest.mark.slow
STEPS = int(os.environ.get("FACESEARCH_E2E_WALK_STEPS", "12"))
SEED = int(os.environ.get("FACESEARCH_E2E_WALK_SEED", "0"))


def shown_person(pg, coll) -> int:
    """The person the page shows, by the name or number in its heading."""
    title = heading(pg).split(":")[0]
    for p in coll.people.listing(include_hidden=True):
        if p.label == title:
            return p.person_id
    raise AssertionError(f"the heading names nobody: {title!r}")


def test_a_random_walk_of_corrections_in_chromium(family, page):  # noqa: F811
    url, coll, obama, biden = family
    reset(coll, obama, biden)
    rng = random.Random(SEED)
    print(f"chromium walk: seed {SEED}, {STEPS} steps")
    page.goto(f"{url}/Person?collection=family&person={obama}")
    page.get_by_role("button", name="Save name").wait_for(timeout=60_000)
    wait_running_done(page)
    names = iter(f"Name {i}" for i in range(1000))
    done: list[str] = []
    for _ in range(STEPS):
        action = rng.choice(["rename", "rename", "undo", "pick", "split"])
        before = shown_person(page, coll)
        if action == "rename":
            name = next(names)
            save_name(page, name)
            assert coll.people.get(before).name == name, (done, action)
            assert shown_person(page, coll) == before
        elif action == "undo":
            undo = page.get_by_role("button", name=re.compile("^Undo "))
            if not undo.count():
                continue
            undo.click()
            page.get_by_text("Undone:").wait_for(timeout=30_000)
            wait_running_done(page)
            if before in {p.person_id for p in coll.people.listing(include_hidden=True)}:
                assert shown_person(page, coll) == before, (done, action)
        elif action == "pick":
            others = [p for p in coll.people.listing(include_hidden=True) if p.person_id != before]
            if not others:
                continue
            target = rng.choice(others)
            page.locator("[data-testid=stSelectbox]").filter(has_text="Person").first.click()
            page.get_by_role("option", name=re.compile("^" + re.escape(target.label) + r" \(")).click()
            page.wait_for_timeout(300)
            wait_running_done(page)
            assert shown_person(page, coll) == target.person_id, (done, action, target.label)
        elif action == "split":
            if len(coll.people.get(before).face_ids) < 2:
                continue
            tick_rows(page, [0])
            page.get_by_role("button", name="Split into a new person").click()
            page.get_by_text(re.compile("^Split 1 face into")).wait_for(timeout=30_000)
            wait_running_done(page)
            assert shown_person(page, coll) == before, (done, action)
        done.append(action)
    assert len(done) >= STEPS // 2, done
