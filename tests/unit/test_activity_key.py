"""The feed's walk key: (time, id) in one string, kept an upper bound per customer, and its one-time backfill."""
from datetime import UTC, datetime, timedelta, timezone

import mongomock
import pytest
from bson import ObjectId
from hypothesis import given
from hypothesis import strategies as st

from crm_service.db import ensure_indexes
from crm_service.repositories.base import PageRequest
from crm_service.repositories.customers import CustomerRepository
from crm_service.repositories.interactions import (
    MIGRATION,
    ElementFilter,
    InteractionRepository,
    activity_key,
    backfill_activity_keys,
    feed_customers,
    time_text,
)

T0 = datetime(2026, 12, 20, 1, 0, tzinfo=UTC)

# BSON times: milliseconds, from year 1 on; some with a zone other than UTC (the key is of the instant).
times = st.builds(
    lambda at, zone: at.replace(microsecond=at.microsecond // 1000 * 1000, tzinfo=UTC).astimezone(zone),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
)
ids = st.binary(min_size=12, max_size=12).map(ObjectId)


@given(times, ids, times, ids)
def test_string_order_of_keys_is_the_feeds_order(first_at, first_id, second_at, second_id):
    first, second = (first_at, first_id), (second_at, second_id)
    assert (activity_key(*first) < activity_key(*second)) == (first < second)
    assert (activity_key(*first) == activity_key(*second)) == (first == second)


@given(times, ids, times)
def test_a_key_is_at_or_above_the_time_prefix_exactly_when_its_time_is(at, interaction_id, since):
    assert (activity_key(at, interaction_id) >= time_text(since)) == (at >= since)


def test_time_text_is_fixed_width_utc_milliseconds():
    assert time_text(datetime(7, 3, 4, 5, 6, 7, 891_000, tzinfo=UTC)) == "0007-03-04T05:06:07.891"
    assert time_text(datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))) == "2025-12-31T23:00:00.000"


@pytest.fixture
def db():
    return mongomock.MongoClient(tz_aware=True).crm_unit


def customer(db, email):
    CustomerRepository(db).create({"first_name": "A", "email": email, "tags": [], "is_active": True})
    return db.customers.find_one({"email": email})["_id"]


def note(at, **fields):
    return {"type": "note", "notes": "n", "status": "completed", "occurred_at": at, **fields}


def test_every_write_keeps_the_key_at_least_each_interactions_key(db):
    repo = InteractionRepository(db, embed_limit=2)
    oid = customer(db, "a@example.org")
    assert db.customers.find_one({"_id": oid})["activity_key"] is None
    newest = repo.add(oid, note(T0))
    repo.add(oid, note(T0 - timedelta(days=1)))
    assert db.customers.find_one({"_id": oid})["activity_key"] == activity_key(T0, newest["id"])
    # Moved later: the key follows. Moved back: it stays (an upper bound is enough).
    repo.update(oid, newest["id"], {"occurred_at": T0 + timedelta(hours=1)})
    assert db.customers.find_one({"_id": oid})["activity_key"] == activity_key(T0 + timedelta(hours=1), newest["id"])
    repo.update(oid, newest["id"], {"occurred_at": T0 - timedelta(days=9)})
    assert db.customers.find_one({"_id": oid})["activity_key"] == activity_key(T0 + timedelta(hours=1), newest["id"])
    # An archived interaction moved ahead moves the key too.
    repo.add(oid, note(T0 - timedelta(days=2)))
    archived = db.interaction_archive.find_one({"customer_id": oid})
    repo.update(oid, archived["id"], {"occurred_at": T0 + timedelta(days=3)})
    assert db.customers.find_one({"_id": oid})["activity_key"] == activity_key(T0 + timedelta(days=3), archived["id"])


def test_a_page_among_many_customers_sharing_one_time_reads_one_batch_and_keeps_the_order(db):
    """40 customers with a meeting on the same hour: page 5 holds the 5 highest ids, and the walk stops early."""
    repo = InteractionRepository(db, embed_limit=50)
    items = []
    for number in range(40):
        oid = customer(db, f"tie{number}@example.org")
        items.append(repo.add(oid, note(T0, type="meeting", status="scheduled")))
        items.append(repo.add(oid, note(T0 - timedelta(days=number + 1))))
    found = []
    real_find = repo.customers.find

    def counting_find(*args, **kwargs):
        found.append(args[0])
        return real_find(*args, **kwargs)

    repo.customers.find = counting_find
    expected = sorted(items, key=lambda item: (item["occurred_at"], item["id"]), reverse=True)
    page = repo.feed(ElementFilter(), PageRequest(size=5, count=False))
    assert [item["id"] for item in page.items] == [item["id"] for item in expected[:5]]
    assert len(found) == 1, found
    # Every page after it, by cursor, keeps the order and loses nothing.
    walked, cursor = [item["id"] for item in page.items], page.next_cursor
    while cursor:
        page = repo.feed(ElementFilter(), PageRequest(size=7, count=False, cursor=cursor))
        walked += [item["id"] for item in page.items]
        cursor = page.next_cursor
    assert walked == [item["id"] for item in expected]


def legacy(db, oid):
    """As written before activity_key existed."""
    db.customers.update_one({"_id": oid}, {"$unset": {"activity_key": ""}})


def test_backfill_gives_old_customers_the_key_of_their_newest_interaction_once(db):
    repo = InteractionRepository(db, embed_limit=1)
    plain, archived, written_after, empty = (customer(db, f"{name}@example.org")
                                             for name in ("plain", "archived", "after", "empty"))
    repo.add(plain, note(T0 - timedelta(days=1)))
    top = repo.add(plain, note(T0))  # the older one is archived (limit 1)
    ahead = repo.add(archived, note(T0 + timedelta(days=5)))
    repo.add(archived, note(T0 + timedelta(days=1)))  # embedded now; the newest is in the archive
    meeting = repo.add(written_after, note(T0 + timedelta(days=2), type="meeting", status="scheduled"))
    for oid in (plain, archived, written_after, empty):
        legacy(db, oid)
    # A write after the upgrade, before the backfill: its key alone is lower than the meeting's.
    repo.add(written_after, note(T0, notes="after the upgrade"))
    assert db.interaction_archive.count_documents({"customer_id": archived}) == 1
    assert feed_ids(repo) != sorted_ids(db)  # customers without a key are not walked yet

    assert backfill_activity_keys(db, batch=2) == 3
    keys = {oid: db.customers.find_one({"_id": oid}).get("activity_key")
            for oid in (plain, archived, written_after, empty)}
    assert keys == {plain: activity_key(T0, top["id"]), archived: activity_key(T0 + timedelta(days=5), ahead["id"]),
                    written_after: activity_key(T0 + timedelta(days=2), meeting["id"]), empty: None}
    assert feed_ids(repo) == sorted_ids(db)
    assert db.migrations.find_one({"_id": MIGRATION})["customers"] == 3

    legacy(db, plain)
    assert backfill_activity_keys(db) == 0  # once per database
    assert "activity_key" not in db.customers.find_one({"_id": plain})


class CountedArchive:
    """The archive collection, counting the commands the backfill sends to it."""

    def __init__(self, archive):
        self.archive, self.calls = archive, []

    def __getattr__(self, name):
        self.calls.append(name)
        return getattr(self.archive, name)


class CountedDatabase:
    def __init__(self, db):
        self.db, self.interaction_archive = db, CountedArchive(db.interaction_archive)

    def __getattr__(self, name):
        return getattr(self.db, name)


def test_backfill_reads_the_newest_archived_interaction_of_a_whole_batch_at_once(db):
    """One archive aggregate per batch of customers, not one query per customer; ties in time go by id."""
    repo = InteractionRepository(db, embed_limit=1)
    expected = {}
    for number in range(5):
        oid = customer(db, f"archived{number}@example.org")
        repo.add(oid, note(T0 - timedelta(days=30)))  # embedded, older than the archived pair
        # Archived, both at one time (as a meeting moved later can leave them): the larger id is newest.
        pair = [{**note(T0 + timedelta(days=number)), "id": ObjectId(), "customer_id": oid} for _ in range(2)]
        db.interaction_archive.insert_many(pair)
        db.customers.update_one({"_id": oid}, {"$inc": {"archived_count": 2, "interaction_count": 2}})
        expected[oid] = activity_key(T0 + timedelta(days=number), max(item["id"] for item in pair))
        legacy(db, oid)
    counted = CountedDatabase(db)
    assert backfill_activity_keys(counted, batch=2) == 5
    assert counted.interaction_archive.calls == ["aggregate"] * 3  # batches of 2, 2 and 1 customers
    assert {oid: db.customers.find_one({"_id": oid})["activity_key"] for oid in expected} == expected


def test_ensure_indexes_runs_the_backfill(db):
    oid = customer(db, "old@example.org")
    InteractionRepository(db, embed_limit=5).add(oid, note(T0))
    legacy(db, oid)
    ensure_indexes(db)
    assert db.customers.find_one({"_id": oid})["activity_key"].startswith(time_text(T0))
    assert db.customers.count_documents(feed_customers(T0)) == 1
    assert db.customers.count_documents(feed_customers(T0 + timedelta(milliseconds=1))) == 0


def feed_ids(repo):
    return [item["id"] for item in repo.feed(ElementFilter(), PageRequest(size=100, count=False)).items]


def sorted_ids(db):
    items = [item for document in db.customers.find() for item in document.get("interactions", [])]
    items += list(db.interaction_archive.find())
    return [item["id"] for item in sorted(items, key=lambda item: (item["occurred_at"], item["id"]), reverse=True)]
