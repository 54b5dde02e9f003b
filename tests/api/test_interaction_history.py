"""GET /customers/{id}/interactions: order, filters, pages, cursors and query validation."""
from datetime import UTC, datetime

import pytest
from bson import ObjectId

from tests.api.interaction_helpers import (
    ahead,
    all_cursor_pages,
    all_pages,
    history_url,
    ids,
    item_url,
    log,
    new_customer,
    stored_customer,
)
from tests.conftest import assert_error

TIMES = ["2024-03-05T10:00:00Z", "2024-01-20T08:00:00Z", "2024-03-05T10:00:00Z", "2024-02-11T16:30:00Z",
         "2023-12-31T23:59:59Z", "2024-04-02T07:15:00Z", "2024-01-20T08:00:00Z"]


@pytest.fixture
def history(sales, db):
    """A customer with interactions logged out of time order (with ties), and their ids newest first."""
    customer_id = new_customer(db)
    kinds = ["email", "phone", "meeting", "note", "email", "chat", "phone"]
    made = [log(sales, customer_id, type=kind, occurred_at=when) for kind, when in zip(kinds, TIMES, strict=True)]
    newest_first = [item["id"] for item in sorted(made, key=lambda i: (i["occurred_at"], i["id"]), reverse=True)]
    return customer_id, made, newest_first


def test_history_is_newest_first_with_ties_broken_by_id(sales, history):
    customer_id, _, newest_first = history
    body = sales.get(history_url(customer_id)).get_json()
    assert ids(body["items"]) == newest_first
    assert (body["page"], body["size"], body["total"], body["pages"], body["next_cursor"]) == (1, 20, 7, 1, None)


def test_sort_by_occurred_at_lists_oldest_first(sales, history):
    customer_id, _, newest_first = history
    body = sales.get(history_url(customer_id), query_string={"sort": "occurred_at"}).get_json()
    assert ids(body["items"]) == newest_first[::-1]


def test_history_items_carry_the_customer_id(sales, history):
    customer_id, _, _ = history
    items = sales.get(history_url(customer_id)).get_json()["items"]
    assert {item["customer_id"] for item in items} == {customer_id}


def test_an_empty_history_is_an_empty_page(sales, db):
    body = sales.get(history_url(new_customer(db))).get_json()
    assert body == {"items": [], "page": 1, "size": 20, "total": 0, "pages": 0, "next_cursor": None}


@pytest.mark.parametrize("customer_id", [str(ObjectId()), "not-an-id"])
def test_history_of_an_unknown_customer_is_404(sales, customer_id):
    assert_error(sales.get(history_url(customer_id)), 404, "not_found")


def test_filter_by_type(sales, history):
    customer_id, made, newest_first = history
    emails = {item["id"] for item in made if item["type"] == "email"}
    body = sales.get(history_url(customer_id), query_string={"type": "email"}).get_json()
    assert ids(body["items"]) == [iid for iid in newest_first if iid in emails]
    assert body["total"] == 2


def test_filter_by_status(sales, db):
    customer_id = new_customer(db)
    log(sales, customer_id)
    meeting = log(sales, customer_id, type="meeting", occurred_at=ahead(days=2))
    body = sales.get(history_url(customer_id), query_string={"status": "scheduled"}).get_json()
    assert ids(body["items"]) == [meeting["id"]]


def test_from_is_inclusive_and_to_is_exclusive_with_full_times(sales, history):
    customer_id, made, newest_first = history
    params = {"from": "2024-01-20T08:00:00Z", "to": "2024-03-05T10:00:00Z"}
    body = sales.get(history_url(customer_id), query_string=params).get_json()
    wanted = {item["id"] for item in made if "2024-01-20T08:00:00" <= item["occurred_at"] < "2024-03-05T10:00:00"}
    assert ids(body["items"]) == [iid for iid in newest_first if iid in wanted]
    assert len(wanted) == 3


def test_from_and_to_accept_plain_dates_as_midnight_utc(sales, history):
    customer_id, made, newest_first = history
    body = sales.get(history_url(customer_id), query_string={"from": "2024-01-01", "to": "2024-03-05"}).get_json()
    wanted = {item["id"] for item in made if "2024-01-01" <= item["occurred_at"] < "2024-03-05"}
    assert ids(body["items"]) == [iid for iid in newest_first if iid in wanted]
    assert len(wanted) == 3


def test_filters_combine(sales, history):
    customer_id, made, _ = history
    params = {"type": "phone", "from": "2024-01-01"}
    body = sales.get(history_url(customer_id), query_string=params).get_json()
    assert sorted(ids(body["items"])) == sorted(i["id"] for i in made if i["type"] == "phone")
    assert body["total"] == 2


def test_updated_since_lists_only_interactions_changed_after_it(sales, db, history):
    customer_id, made, _ = history
    document = stored_customer(db, customer_id)
    backdated = [{**item, "updated_at": datetime(2024, 5, 1, tzinfo=UTC)} for item in document["interactions"]]
    db.customers.update_one({"_id": document["_id"]}, {"$set": {"interactions": backdated}})
    sales.patch(item_url(customer_id, made[3]["id"]), json={"notes": "Edited"})
    body = sales.get(history_url(customer_id), query_string={"updated_since": "2024-06-01"}).get_json()
    assert ids(body["items"]) == [made[3]["id"]]


def test_pages_cover_the_history_once_in_order(sales, history):
    customer_id, _, newest_first = history
    items, last = all_pages(sales, history_url(customer_id), size=3)
    assert ids(items) == newest_first
    assert (last["total"], last["pages"], last["page"]) == (7, 3, 3)


def test_a_page_past_the_end_is_empty_not_404(sales, history):
    customer_id, _, _ = history
    body = sales.get(history_url(customer_id), query_string={"page": 9, "size": 3}).get_json()
    assert (body["items"], body["total"], body["pages"], body["next_cursor"]) == ([], 7, 3, None)


def test_cursor_pages_cover_the_history_once_in_order(sales, history):
    customer_id, _, newest_first = history
    assert ids(all_cursor_pages(sales, history_url(customer_id), size=2)) == newest_first
    assert ids(all_cursor_pages(sales, history_url(customer_id), size=2, sort="occurred_at")) == newest_first[::-1]


def test_cursor_pages_keep_the_total_but_not_page_numbers(sales, history):
    customer_id, _, _ = history
    first = sales.get(history_url(customer_id), query_string={"size": 2}).get_json()
    second = sales.get(history_url(customer_id), query_string={"size": 2, "cursor": first["next_cursor"]}).get_json()
    assert (second["page"], second["pages"], second["total"], second["size"]) == (None, None, 7, 2)


def test_a_cursor_does_not_skip_or_repeat_when_a_newer_interaction_is_logged(sales, history):
    customer_id, _, newest_first = history
    first = sales.get(history_url(customer_id), query_string={"size": 3}).get_json()
    log(sales, customer_id, occurred_at="2025-01-01T00:00:00Z")
    rest = all_cursor_pages(sales, history_url(customer_id), size=3, cursor=first["next_cursor"])
    assert ids(first["items"]) + ids(rest) == newest_first


def test_count_false_skips_total_and_pages(sales, history):
    customer_id, _, _ = history
    body = sales.get(history_url(customer_id), query_string={"count": "false", "size": 5}).get_json()
    assert (body["total"], body["pages"], len(body["items"])) == (None, None, 5)
    assert body["next_cursor"] is not None


@pytest.mark.parametrize("params, field", [
    ({"from": "yesterday"}, "from"), ({"to": "2024-13-01"}, "to"), ({"from": "2024-02-30"}, "from"),
    ({"type": "fax"}, "type"), ({"status": "done"}, "status"), ({"sort": "created_at"}, "sort"),
    ({"sort": "-occurred_at,occurred_at"}, "sort"), ({"size": 101}, "size"), ({"size": 0}, "size"),
    ({"page": 0}, "page"), ({"colour": "red"}, "colour"), ({"employee_id": str(ObjectId())}, "employee_id"),
    ({"cursor": "forged"}, "cursor"), ({"count": "maybe"}, "count"),
])
def test_invalid_query_parameters_are_422(sales, history, params, field):
    customer_id, _, _ = history
    response = sales.get(history_url(customer_id), query_string=params)
    assert field in assert_error(response, 422, "validation_error")["errors"]


def test_page_and_cursor_together_are_422(sales, history):
    customer_id, _, _ = history
    cursor = sales.get(history_url(customer_id), query_string={"size": 2}).get_json()["next_cursor"]
    response = sales.get(history_url(customer_id), query_string={"page": 2, "cursor": cursor})
    assert "cursor" in assert_error(response, 422, "validation_error")["errors"]


def test_a_cursor_from_the_other_sort_order_is_422(sales, history):
    customer_id, _, _ = history
    cursor = sales.get(history_url(customer_id), query_string={"size": 2}).get_json()["next_cursor"]
    response = sales.get(history_url(customer_id), query_string={"sort": "occurred_at", "cursor": cursor})
    assert "cursor" in assert_error(response, 422, "validation_error")["errors"]
