"""InteractionRepository against a fresh mongomock database: archive moves, crash recovery, filters, merging."""
import gc
import weakref
from datetime import UTC, datetime, timedelta

import mongomock
import pytest
from bson import ObjectId

import crm_service.repositories.interactions as interactions_module
from crm_service.repositories.base import PageRequest
from crm_service.repositories.customers import CustomerRepository
from crm_service.repositories.interactions import ElementFilter, InteractionRepository, next_walk_batch, time_text

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(hours):
    return T0 + timedelta(hours=hours)


@pytest.fixture
def db():
    return mongomock.MongoClient(tz_aware=True).crm_unit


@pytest.fixture
def repo(db):
    return InteractionRepository(db, embed_limit=3)


def make_customer(db, email="a@example.org"):
    CustomerRepository(db).create({"first_name": "A", "email": email, "tags": [], "is_active": True})
    return db.customers.find_one({"email": email})["_id"]


def note(hours, **fields):
    return {"type": "note", "notes": "n", "status": "completed", "occurred_at": at(hours), **fields}


def state(db, oid):
    document = db.customers.find_one({"_id": oid})
    embedded = {item["id"] for item in document["interactions"]}
    archived = {item["id"] for item in db.interaction_archive.find({"customer_id": oid})}
    return document, embedded, archived


def test_element_filter_matches_equals_and_ranges():
    element_filter = ElementFilter({"type": "email"}, {"occurred_at": {"$gte": at(1), "$lt": at(3)}})
    assert element_filter.matches({"type": "email", "occurred_at": at(1)})
    assert not element_filter.matches({"type": "email", "occurred_at": at(3)})
    assert not element_filter.matches({"type": "phone", "occurred_at": at(2)})
    assert not element_filter.matches({"type": "email"})


def test_element_filter_ne_none_skips_missing_values():
    element_filter = ElementFilter({}, {"follow_up_date": {"$ne": None}})
    assert element_filter.matches({"follow_up_date": at(1)})
    assert not element_filter.matches({"follow_up_date": None})
    assert not element_filter.matches({})


def test_element_filter_builds_the_same_query_for_both_collections():
    element_filter = ElementFilter({"status": "completed"}, {"occurred_at": {"$lt": at(2)}})
    assert element_filter.mongo() == {"status": "completed", "occurred_at": {"$lt": at(2)}}
    assert element_filter.mongo("interactions.") == {
        "interactions.status": "completed", "interactions.occurred_at": {"$lt": at(2)}}


def test_merge_keeps_the_embedded_copy_of_an_item_in_both_and_sorts():
    shared = ObjectId()
    embedded = [{"id": shared, "occurred_at": at(5), "notes": "fresh"}]
    archived = [{"id": shared, "occurred_at": at(1), "notes": "stale"}, {"id": ObjectId(), "occurred_at": at(3)}]
    merged = InteractionRepository._merge(embedded, archived, -1, "occurred_at")
    assert [item["occurred_at"] for item in merged] == [at(5), at(3)]
    assert merged[0]["notes"] == "fresh"


def key_time(document):
    """The time part of a customer's activity_key."""
    return document["activity_key"].partition("|")[0]


def test_the_first_interaction_sets_the_null_times(db, repo):
    oid = make_customer(db)
    repo.add(oid, note(2))
    document = db.customers.find_one({"_id": oid})
    assert key_time(document) == time_text(at(2)) and document["last_interaction_at"] == at(2)


def test_later_interactions_only_raise_the_times(db, repo):
    oid = make_customer(db)
    for hours in (5, 2, 7, 1):
        repo.add(oid, note(hours))
    document = db.customers.find_one({"_id": oid})
    assert key_time(document) == time_text(at(7)) and document["last_interaction_at"] == at(7)


def test_a_scheduled_or_cancelled_interaction_moves_activity_key_only(db, repo):
    oid = make_customer(db)
    repo.add(oid, note(1))
    repo.add(oid, note(9, status="scheduled"))
    repo.add(oid, note(8, status="cancelled"))
    document = db.customers.find_one({"_id": oid})
    assert key_time(document) == time_text(at(9)) and document["last_interaction_at"] == at(1)


@pytest.mark.parametrize("customer_id", [ObjectId(), "nope", None])
def test_adding_to_a_missing_customer_returns_none_and_writes_nothing(db, repo, customer_id):
    assert repo.add(customer_id, note(1)) is None
    assert db.customers.count_documents({}) == 0


def test_past_the_limit_the_oldest_move_to_the_archive(db, repo):
    oid = make_customer(db)
    added = [repo.add(oid, note(hours)) for hours in (4, 1, 6, 3, 5)]
    document, embedded, archived = state(db, oid)
    by_time = {item["occurred_at"]: item["id"] for item in added}
    assert embedded == {by_time[at(6)], by_time[at(5)], by_time[at(4)]}
    assert archived == {by_time[at(1)], by_time[at(3)]}
    assert (document["embedded_count"], document["archived_count"], document["interaction_count"]) == (3, 2, 5)


def test_archive_overflow_is_a_no_op_under_the_limit(db, repo):
    oid = make_customer(db)
    repo.add(oid, note(1))
    assert repo.archive_overflow(oid) == 0
    assert db.interaction_archive.count_documents({}) == 0


def test_archive_overflow_finishes_a_move_interrupted_after_the_copy(db, repo):
    oid = make_customer(db)
    for hours in (1, 2, 3):
        repo.add(oid, note(hours))
    oldest = db.customers.find_one({"_id": oid})["interactions"][-1]
    # As if a process pushed a fourth item, copied the oldest and died before pulling it.
    pushed = {"$each": [{**note(4), "id": ObjectId()}], "$sort": {"occurred_at": -1}}
    db.customers.update_one({"_id": oid}, {"$push": {"interactions": pushed}, "$inc": {"embedded_count": 1}})
    db.interaction_archive.insert_one({**oldest, "customer_id": oid})
    assert repo.archive_overflow(oid) == 1
    document, embedded, archived = state(db, oid)
    assert archived == {oldest["id"]} and oldest["id"] not in embedded
    assert db.interaction_archive.count_documents({}) == 1
    assert (document["embedded_count"], document["archived_count"]) == (3, 1)


def test_archive_overflow_run_twice_moves_each_item_once(db, repo):
    oid = make_customer(db)
    for hours in (1, 2, 3):
        repo.add(oid, note(hours))
    db.customers.update_one({"_id": oid}, {"$push": {"interactions": {**note(0), "id": ObjectId()}},
                                           "$inc": {"embedded_count": 1}})
    assert repo.archive_overflow(oid) == 1
    assert repo.archive_overflow(oid) == 0
    document, embedded, archived = state(db, oid)
    assert len(archived) == db.interaction_archive.count_documents({}) == 1
    assert (document["embedded_count"], document["archived_count"], len(embedded)) == (3, 1, 3)


def test_an_archive_copy_is_replaced_by_the_authoritative_embedded_one(db, repo):
    oid = make_customer(db)
    for hours in (1, 2, 3):
        repo.add(oid, note(hours))
    oldest = db.customers.find_one({"_id": oid})["interactions"][-1]
    db.interaction_archive.insert_one({**oldest, "customer_id": oid, "notes": "stale copy"})
    repo.add(oid, note(9))
    assert db.interaction_archive.find_one({"id": oldest["id"]})["notes"] == "n"


def test_history_counts_an_item_in_both_places_once(db, repo):
    oid = make_customer(db)
    for hours in (1, 2, 3, 4):
        repo.add(oid, note(hours))
    newest = db.customers.find_one({"_id": oid})["interactions"][0]
    db.interaction_archive.insert_one({**newest, "customer_id": oid})
    page = repo.history(oid, ElementFilter(), -1, PageRequest(size=10))
    assert page.total == 4 and [item["occurred_at"] for item in page.items] == [at(4), at(3), at(2), at(1)]


def test_history_of_a_missing_customer_is_none(repo):
    assert repo.history(ObjectId(), ElementFilter(), -1, PageRequest()) is None
    assert repo.history("nope", ElementFilter(), -1, PageRequest()) is None


def test_last_interaction_at_is_recomputed_from_the_archive_when_the_array_has_none(db, repo):
    oid = make_customer(db)
    for hours in (1, 2):
        repo.add(oid, note(hours))
    for hours in (50, 51, 52):
        repo.add(oid, note(hours, status="scheduled"))
    newest_done = next(item for item in db.interaction_archive.find() if item["occurred_at"] == at(2))
    assert repo.delete(oid, newest_done["id"]) is True
    document = db.customers.find_one({"_id": oid})
    assert document["last_interaction_at"] == at(1)
    assert (document["archived_count"], document["interaction_count"]) == (1, 4)


def test_an_update_to_an_archived_item_bumps_the_customer_version(db, repo):
    oid = make_customer(db)
    for hours in (1, 2, 3, 4):
        repo.add(oid, note(hours))
    version = db.customers.find_one({"_id": oid})["version"]
    archived = db.interaction_archive.find_one()
    updated = repo.update(oid, archived["id"], {"notes": "edited"})
    assert updated["notes"] == "edited" and updated["customer_id"] == oid
    assert db.customers.find_one({"_id": oid})["version"] == version + 1


def test_update_and_delete_of_an_unknown_interaction_change_nothing(db, repo):
    oid = make_customer(db)
    repo.add(oid, note(1))
    before = db.customers.find_one({"_id": oid})
    assert repo.update(oid, ObjectId(), {"notes": "x"}) is None
    assert repo.delete(oid, ObjectId()) is False
    assert repo.update(oid, "nope", {"notes": "x"}) is None
    assert db.customers.find_one({"_id": oid}) == before


def test_feed_walk_stops_early_but_returns_the_newest(db, repo):
    old, new = make_customer(db, "old@example.org"), make_customer(db, "new@example.org")
    for hours in range(10):
        repo.add(old, note(hours))
    repo.add(new, note(100))
    page = repo.feed(ElementFilter(), PageRequest(size=2, count=False))
    assert [item["occurred_at"] for item in page.items] == [at(100), at(9)]
    assert page.total is None and page.next_cursor is not None


class Customer(dict):
    """A customer document that a weak reference can watch."""


class WatchedCustomers:
    """`customers` whose finds hand out watched documents, and count, at each find, how many of the
    documents earlier finds handed out are still held by someone."""

    def __init__(self, customers):
        self.customers, self.handed_out, self.alive_at_find, self.limits = customers, [], [], []

    def __getattr__(self, name):
        return getattr(self.customers, name)

    def find(self, *args, **kwargs):
        gc.collect()
        self.alive_at_find.append(sum(1 for ref in self.handed_out if ref() is not None))
        return WatchedCursor(self.customers.find(*args, **kwargs), self)


class WatchedCursor:
    def __init__(self, cursor, watch):
        self.cursor, self.watch, self.handed_out = cursor, watch, watch.handed_out

    def sort(self, *args):
        return WatchedCursor(self.cursor.sort(*args), self.watch)

    def limit(self, count):
        self.watch.limits.append(count)
        return WatchedCursor(self.cursor.limit(count), self.watch)

    def batch_size(self, count):
        return WatchedCursor(self.cursor.batch_size(count), self.watch)

    def __iter__(self):
        for document in self.cursor:
            watched = Customer(document)
            self.handed_out.append(weakref.ref(watched))
            yield watched


def test_a_deep_feed_page_lets_each_batch_of_customers_go_before_reading_the_next(db):
    """The walk holds one batch at a time: a deep page over many customers costs one batch of memory
    (customers with their interactions), not two."""
    repo = InteractionRepository(db, embed_limit=3)
    for number in range(40):
        repo.add(make_customer(db, f"walk{number}@example.org"), note(number))
    first = repo.feed(ElementFilter(), PageRequest(size=5, count=False))
    repo.customers = watched = WatchedCustomers(db.customers)
    deep = repo.feed(ElementFilter(), PageRequest(size=5, count=False, cursor=first.next_cursor))
    assert [item["occurred_at"] for item in deep.items] == [at(hours) for hours in range(34, 29, -1)]
    # The page after a cursor walks from the newest again: a batch of 7 customers, then one of 28.
    assert len(watched.alive_at_find) == 2 and len(watched.handed_out) == 7 + 28
    # At the second find only the last customer of the first batch is still held (the walk's place).
    assert watched.alive_at_find == [0, 1]


def test_the_walk_sizes_its_later_finds_by_the_interactions_its_customers_hold(db, monkeypatch):
    """Busy customers make smaller finds: each later find brings about FEED_BATCH_ITEMS interactions."""
    monkeypatch.setattr(interactions_module, "FEED_BATCH_ITEMS", 30)
    repo = InteractionRepository(db, embed_limit=20)
    busy = [make_customer(db, f"busy{number}@example.org") for number in range(12)]
    for hours in range(10):
        for oid in busy:
            repo.add(oid, note(hours))
    quiet = [make_customer(db, f"quiet{number}@example.org") for number in range(60)]
    for number, oid in enumerate(quiet):
        repo.add(oid, note(-1 - number / 100))  # older than every busy customer's interactions
    first = repo.feed(ElementFilter(), PageRequest(size=5, count=False))
    repo.customers = watched = WatchedCustomers(db.customers)
    deep = repo.feed(ElementFilter(), PageRequest(size=5, count=False, cursor=first.next_cursor))
    # First find: page + 2 = 7 customers, all busy (10 interactions each); so 3 customers (30) a find after it,
    # where a walk by customers alone would ask for 28 (280 interactions). The third find reaches a quiet
    # customer older than the page: the walk stops.
    assert watched.limits == [7, 3, 3]
    expected = sorted([(item["occurred_at"], item["id"]) for oid in busy + quiet
                       for item in db.customers.find_one({"_id": oid})["interactions"]], reverse=True)
    assert [(item["occurred_at"], item["id"]) for item in deep.items] == expected[5:10]


def test_next_walk_batch_grows_four_times_within_the_caps():
    assert next_walk_batch(7, 7) == 28
    assert next_walk_batch(400, 400) == 1000  # FEED_MAX_BATCH customers
    assert next_walk_batch(100, 5000) == 100  # 50 interactions each: 5,000 interactions a find
    assert next_walk_batch(10, 5000) == 10  # 500 each
    assert next_walk_batch(1, 0) == 4


def test_scheduled_lists_both_places_soonest_first(db, repo):
    oid = make_customer(db)
    for hours in (5, 1, 4, 2, 3):
        repo.add(oid, note(hours, status="scheduled", type="meeting"))
    element_filter = ElementFilter({"type": "meeting", "status": "scheduled"}, {"occurred_at": {"$gte": at(2)}})
    page = repo.scheduled(element_filter, "occurred_at", PageRequest(size=3))
    assert [item["occurred_at"] for item in page.items] == [at(2), at(3), at(4)]
    assert page.total == 4 and db.interaction_archive.count_documents({}) == 2
