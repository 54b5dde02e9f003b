"""Past INTERACTION_EMBED_LIMIT the oldest interactions move to the archive; every read still sees them all."""
import pytest
from bson import ObjectId

from crm_service.config import TestConfig
from crm_service.repositories.interactions import InteractionRepository
from tests.api.interaction_helpers import (
    BASE,
    ahead,
    all_cursor_pages,
    all_pages,
    history_url,
    ids,
    item_url,
    log,
    new_customer,
    parse_time,
    stored_customer,
)
from tests.conftest import assert_error

LIMIT = 3
# Logged in this order: back-dated and out of order, so archiving has to pick by time, not by arrival.
TIMES = ["2024-05-01T10:00:00Z", "2024-01-01T10:00:00Z", "2024-07-01T10:00:00Z", "2023-11-15T09:00:00Z",
         "2024-03-01T10:00:00Z", "2024-06-15T12:00:00Z", "2024-02-01T10:00:00Z", "2023-12-24T18:00:00Z",
         "2024-04-01T10:00:00Z", "2024-08-01T10:00:00Z"]
KINDS = ["email", "phone", "note", "email", "meeting", "chat", "email", "sms", "phone", "note"]


@pytest.fixture
def config():
    config = TestConfig()
    config.INTERACTION_EMBED_LIMIT = LIMIT
    return config


@pytest.fixture
def customer_id(db):
    return new_customer(db)


@pytest.fixture
def made(sales, customer_id):
    return [log(sales, customer_id, type=kind, occurred_at=when, follow_up_required=True,
                follow_up_date=f"2025-0{1 + n % 9}-10T00:00:00Z")
            for n, (kind, when) in enumerate(zip(KINDS, TIMES, strict=True))]


def newest_first(records):
    return [r["id"] for r in sorted(records, key=lambda r: (r["occurred_at"], r["id"]), reverse=True)]


def archived_ids(db, customer_id):
    return {str(item["id"]) for item in db.interaction_archive.find({"customer_id": ObjectId(customer_id)})}


def test_the_customer_document_keeps_the_newest_up_to_the_limit(db, customer_id, made):
    document = stored_customer(db, customer_id)
    embedded = [str(item["id"]) for item in document["interactions"]]
    assert embedded == newest_first(made)[:LIMIT]
    assert (document["embedded_count"], document["archived_count"], document["interaction_count"]) == (3, 7, 10)


def test_the_rest_are_in_the_archive_and_nothing_is_lost_or_doubled(db, customer_id, made):
    embedded = {str(item["id"]) for item in stored_customer(db, customer_id)["interactions"]}
    archived = archived_ids(db, customer_id)
    assert len(archived) == db.interaction_archive.count_documents({}) == 7
    assert embedded.isdisjoint(archived) and embedded | archived == {r["id"] for r in made}


def test_last_interaction_at_is_the_newest_of_all(db, customer_id, made):
    assert stored_customer(db, customer_id)["last_interaction_at"] == parse_time(max(TIMES))


def test_history_pages_list_all_in_order(sales, customer_id, made):
    items, last = all_pages(sales, history_url(customer_id), size=3)
    assert ids(items) == newest_first(made)
    assert (last["total"], last["pages"]) == (10, 4)
    oldest_first, _ = all_pages(sales, history_url(customer_id), size=4, sort="occurred_at")
    assert ids(oldest_first) == newest_first(made)[::-1]


def test_history_cursor_pages_list_all_in_order(sales, customer_id, made):
    assert ids(all_cursor_pages(sales, history_url(customer_id), size=3)) == newest_first(made)
    oldest_first = all_cursor_pages(sales, history_url(customer_id), size=2, sort="occurred_at")
    assert ids(oldest_first) == newest_first(made)[::-1]


def test_history_filters_apply_to_archived_interactions(sales, customer_id, made):
    emails = [r for r in made if r["type"] == "email"]
    body = sales.get(history_url(customer_id), query_string={"type": "email", "size": 2}).get_json()
    assert ids(body["items"]) == newest_first(emails)[:2] and body["total"] == 3
    in_window = [r for r in made if "2024-01-01" <= r["occurred_at"] < "2024-05-01"]
    windowed = all_cursor_pages(sales, history_url(customer_id), size=2, **{"from": "2024-01-01", "to": "2024-05-01"})
    assert ids(windowed) == newest_first(in_window)


def test_an_archived_interaction_can_be_read(sales, db, customer_id, made):
    oldest = min(made, key=lambda r: r["occurred_at"])
    assert oldest["id"] in archived_ids(db, customer_id)
    response = sales.get(item_url(customer_id, oldest["id"]))
    assert response.status_code == 200 and response.get_json() == oldest


def test_an_archived_interaction_can_be_changed_where_it_lives(sales, db, customer_id, made):
    oldest = min(made, key=lambda r: r["occurred_at"])
    response = sales.patch(item_url(customer_id, oldest["id"]), json={"notes": "Archived but edited"})
    assert response.status_code == 200 and response.get_json()["notes"] == "Archived but edited"
    stored = db.interaction_archive.find_one({"id": ObjectId(oldest["id"])})
    assert stored["notes"] == "Archived but edited"
    assert len(stored_customer(db, customer_id)["interactions"]) == LIMIT


def test_moving_an_archived_interaction_forward_moves_last_interaction_at(sales, db, customer_id, made):
    oldest = min(made, key=lambda r: r["occurred_at"])
    sales.patch(item_url(customer_id, oldest["id"]), json={"occurred_at": "2024-12-01T00:00:00Z"})
    assert stored_customer(db, customer_id)["last_interaction_at"] == parse_time("2024-12-01T00:00:00Z")
    items = all_cursor_pages(sales, history_url(customer_id), size=4)
    assert items[0]["id"] == oldest["id"] and len(items) == 10


def test_an_archived_interaction_can_be_deleted(sales, db, customer_id, made):
    oldest = min(made, key=lambda r: r["occurred_at"])
    assert sales.delete(item_url(customer_id, oldest["id"])).status_code == 204
    assert_error(sales.get(item_url(customer_id, oldest["id"])), 404, "not_found")
    assert oldest["id"] not in archived_ids(db, customer_id)
    document = stored_customer(db, customer_id)
    assert (document["archived_count"], document["interaction_count"]) == (6, 9)
    body = sales.get(history_url(customer_id), query_string={"size": 100}).get_json()
    assert body["total"] == 9 and oldest["id"] not in ids(body["items"])


def test_last_interaction_at_can_come_from_the_archive(sales, db, customer_id, made):
    """Three future meetings fill the embedded slots; the newest held interaction is archived."""
    for days in (5, 6, 7):
        log(sales, customer_id, type="meeting", occurred_at=ahead(days=days))
    assert all(item["status"] == "scheduled" for item in stored_customer(db, customer_id)["interactions"])
    newest_held = max(made, key=lambda r: r["occurred_at"])
    assert newest_held["id"] in archived_ids(db, customer_id)
    sales.delete(item_url(customer_id, newest_held["id"]))
    assert stored_customer(db, customer_id)["last_interaction_at"] == parse_time(sorted(TIMES)[-2])


def test_follow_ups_include_archived_interactions_in_due_order(sales, customer_id, made):
    expected = [r["id"] for r in sorted(made, key=lambda r: (r["follow_up_date"], r["id"]))]
    assert ids(all_cursor_pages(sales, f"{BASE}/interactions/follow-ups", size=3)) == expected
    first_page = sales.get(f"{BASE}/interactions/follow-ups", query_string={"size": 4}).get_json()
    assert ids(first_page["items"]) == expected[:4] and first_page["total"] == 10


def test_upcoming_includes_archived_meetings(sales, db, customer_id):
    meetings = [log(sales, customer_id, type="meeting", occurred_at=ahead(days=days)) for days in (9, 3, 12, 1, 6)]
    assert len(archived_ids(db, customer_id)) == 2
    body = sales.get(f"{BASE}/interactions/upcoming").get_json()
    assert ids(body["items"]) == [m["id"] for m in sorted(meetings, key=lambda m: m["occurred_at"])]
    assert body["total"] == 5


def test_the_feed_lists_archived_interactions_in_order(sales, db, customer_id, made):
    other = new_customer(db)
    others = [log(sales, other, occurred_at=when) for when in ("2024-02-15T00:00:00Z", "2024-06-01T00:00:00Z")]
    expected = newest_first(made + others)
    assert ids(all_cursor_pages(sales, f"{BASE}/interactions", size=3)) == expected
    items, last = all_pages(sales, f"{BASE}/interactions", size=4)
    assert ids(items) == expected and last["total"] == 12


def interrupted_add(sales, customer_id, monkeypatch, **fields):
    """Log an interaction whose archive move stops after the copy, as if the process died there."""

    def copy_only(self, customer_oid):
        document = self.customers.find_one({"_id": customer_oid}, {"interactions": 1})
        oldest = min(document["interactions"], key=lambda item: (item["occurred_at"], item["id"]))
        self.archive.insert_one({**oldest, "customer_id": customer_oid})
        return 0

    with monkeypatch.context() as patch:
        patch.setattr(InteractionRepository, "archive_overflow", copy_only)
        return log(sales, customer_id, **fields)


def test_an_item_caught_mid_archive_is_listed_once(sales, db, customer_id, made, monkeypatch):
    latest = interrupted_add(sales, customer_id, monkeypatch, occurred_at="2024-09-01T00:00:00Z")
    embedded = {str(item["id"]) for item in stored_customer(db, customer_id)["interactions"]}
    assert len(embedded & archived_ids(db, customer_id)) == 1
    expected = newest_first(made + [latest])
    assert ids(all_cursor_pages(sales, history_url(customer_id), size=3)) == expected
    paged, last = all_pages(sales, history_url(customer_id), size=4)
    assert ids(paged) == expected and last["total"] == 11
    assert ids(all_cursor_pages(sales, f"{BASE}/interactions", size=4)) == expected
    feed_pages, _ = all_pages(sales, f"{BASE}/interactions", size=4, count="false")
    assert ids(feed_pages) == expected


def test_an_edit_to_an_item_caught_mid_archive_wins_over_the_stale_copy(sales, db, customer_id, made, monkeypatch):
    interrupted_add(sales, customer_id, monkeypatch, occurred_at="2024-09-01T00:00:00Z")
    [caught] = {str(item["id"]) for item in stored_customer(db, customer_id)["interactions"]} & archived_ids(
        db, customer_id)
    sales.patch(item_url(customer_id, caught), json={"notes": "Edited while half-moved"})
    history = {item["id"]: item for item in all_cursor_pages(sales, history_url(customer_id), size=3)}
    assert history[caught]["notes"] == "Edited while half-moved"
    assert sales.get(item_url(customer_id, caught)).get_json()["notes"] == "Edited while half-moved"
    log(sales, customer_id, occurred_at="2024-10-01T00:00:00Z")  # the next write finishes the move
    document = stored_customer(db, customer_id)
    assert len(document["interactions"]) == document["embedded_count"] == LIMIT
    assert db.interaction_archive.find_one({"id": ObjectId(caught)})["notes"] == "Edited while half-moved"
    assert db.interaction_archive.count_documents({"id": ObjectId(caught)}) == 1
    assert sales.get(history_url(customer_id)).get_json()["total"] == 12


def test_deleting_an_item_caught_mid_archive_removes_both_copies(sales, db, customer_id, made, monkeypatch):
    interrupted_add(sales, customer_id, monkeypatch, occurred_at="2024-09-01T00:00:00Z")
    [caught] = {str(item["id"]) for item in stored_customer(db, customer_id)["interactions"]} & archived_ids(
        db, customer_id)
    assert sales.delete(item_url(customer_id, caught)).status_code == 204
    assert_error(sales.get(item_url(customer_id, caught)), 404, "not_found")
    assert caught not in archived_ids(db, customer_id)
    assert caught not in ids(all_cursor_pages(sales, history_url(customer_id), size=5))
