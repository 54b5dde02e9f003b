"""The feed reads the archive only for walked customers whose archived_count says they have archived items.

That is sound while activity_key stays an upper bound of every interaction of the customer, archived
ones included: these tests move archived interactions around and check the feed against the database.
"""
from datetime import UTC, datetime

import pytest
from bson import ObjectId

from crm_service.config import TestConfig
from crm_service.repositories.base import PageRequest
from crm_service.repositories.interactions import ElementFilter, InteractionRepository, activity_key
from tests.api.interaction_helpers import (
    BASE,
    all_cursor_pages,
    all_pages,
    every_interaction,
    expected_order,
    ids,
    item_url,
    log,
    new_customer,
    stored_customer,
)

LIMIT = 2
FEED = f"{BASE}/interactions"


@pytest.fixture
def config():
    config = TestConfig()
    config.INTERACTION_EMBED_LIMIT = LIMIT
    return config


def brute_force(db):
    return expected_order(every_interaction(db))


@pytest.fixture
def customers(sales, db):
    """`full` has 5 interactions (3 archived), the newest recent; `plain` has 2, none archived, in between."""
    full, plain = new_customer(db), new_customer(db)
    for when in ("2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-09-01"):
        log(sales, full, occurred_at=f"{when}T10:00:00Z")
    for when in ("2024-05-01", "2024-06-01"):
        log(sales, plain, occurred_at=f"{when}T10:00:00Z")
    return {"full": full, "plain": plain}


def test_archived_count_marks_only_customers_with_archived_items(db, customers):
    assert stored_customer(db, customers["full"])["archived_count"] == 3
    assert stored_customer(db, customers["plain"])["archived_count"] == 0


def test_the_feed_merges_archived_items_in_order(sales, db, customers):
    expected = brute_force(db)
    assert len(expected) == 7
    assert ids(all_cursor_pages(sales, FEED, size=2, count="false")) == expected
    items, last = all_pages(sales, FEED, size=3)
    assert ids(items) == expected and last["total"] == 7


def test_an_archived_item_moved_forward_leads_the_feed(sales, db, customers):
    """`plain` becomes the busiest, so a walk by a stale activity_key would stop before reaching `full`."""
    for when in ("2024-11-01", "2024-12-01"):
        log(sales, customers["plain"], occurred_at=f"{when}T10:00:00Z")
    oldest = db.interaction_archive.find_one({"customer_id": ObjectId(customers["full"])}, sort=[("occurred_at", 1)])
    response = sales.patch(item_url(customers["full"], oldest["id"]), json={"occurred_at": "2025-01-01T00:00:00Z"})
    assert response.status_code == 200
    assert db.interaction_archive.count_documents({"id": oldest["id"]}) == 1  # it stayed in the archive
    assert stored_customer(db, customers["full"])["activity_key"] == activity_key(datetime(2025, 1, 1, tzinfo=UTC),
                                                                                 oldest["id"])
    first = sales.get(FEED, query_string={"size": 1, "count": "false"}).get_json()
    assert ids(first["items"]) == [str(oldest["id"])]
    assert ids(all_cursor_pages(sales, FEED, size=2, count="false")) == brute_force(db)


def test_an_archived_item_of_a_quiet_customer_beats_a_busier_one(sales, db, customers):
    """`plain` gets a fresh interaction; `full`'s archived items still come in their place on later pages."""
    log(sales, customers["plain"], occurred_at="2024-10-01T10:00:00Z")
    assert ids(all_cursor_pages(sales, FEED, size=1, count="false")) == brute_force(db)
    items, last = all_pages(sales, FEED, size=4)
    assert ids(items) == brute_force(db) and last["total"] == 8


def test_the_archive_is_not_read_when_no_walked_customer_has_archived_items(db, sales):
    """The repository on the mongomock db: a page of customers without archived items never touches it."""
    customer = new_customer(db)
    for when in ("2024-05-01", "2024-06-01"):
        log(sales, customer, occurred_at=f"{when}T10:00:00Z")
    db.interaction_archive.insert_one({"id": ObjectId(), "customer_id": ObjectId(), "occurred_at": datetime.now(UTC)})
    page = InteractionRepository(db, LIMIT).feed(ElementFilter(), PageRequest(size=5, count=False))
    # The stray archive document belongs to no walked customer (and no customer at all): not listed.
    assert len(page.items) == 2 and page.next_cursor is None


def test_the_walk_continues_past_customers_left_without_interactions(sales, db, customers):
    """Six customers' only (and newest of all) interactions are deleted: the first bounded find of
    size + 2 customers holds none, so the walk must go on from the last one it saw."""
    for _ in range(6):
        emptied = new_customer(db)
        gone = log(sales, emptied, occurred_at="2025-06-01T10:00:00Z")
        assert sales.delete(item_url(emptied, gone["id"])).status_code == 204
    first = sales.get(FEED, query_string={"size": 1, "count": "false"}).get_json()
    assert ids(first["items"]) == brute_force(db)[:1]
    assert ids(all_cursor_pages(sales, FEED, size=1, count="false")) == brute_force(db)
    items, last = all_pages(sales, FEED, size=2)
    assert ids(items) == brute_force(db) and last["total"] == 7
