"""Listing feedback: customers see their own, filters, sorting and paging."""
from datetime import UTC, datetime

import pytest
from bson import ObjectId

from tests.api.test_feedback import FEEDBACK, submit
from tests.conftest import assert_error


def ids(body):
    return [item["id"] for item in body["items"]]


def at(db, feedback, moment):
    """Pin submitted_at, so time filters and order can be checked."""
    db.feedback.update_one({"_id": ObjectId(feedback["id"])}, {"$set": {"submitted_at": moment}})
    return feedback


@pytest.fixture
def mixed(db, customer, other_customer, admin):
    """Five feedback with different fields and submission days (Jan 1 .. Jan 5, 2025)."""
    rows = [
        submit(customer, rating=5, service_type="tour", comments="Wonderful guide!", booking_id="B-1"),
        submit(customer, rating=1, service_type="transport", comments="Rude driver, dirty bus."),
        submit(other_customer, rating=3, service_type="tour"),
        submit(other_customer, rating=2, service_type="support", booking_id="B-1"),
        submit(admin, customer_id=customer.customer_id, rating=4, service_type="accommodation"),
    ]
    for day, row in enumerate(rows, start=1):
        at(db, row, datetime(2025, 1, day, 12, tzinfo=UTC))
    admin.patch(f"{FEEDBACK}/{rows[1]['id']}", json={"resolution_notes": "Called back"})
    return rows


def test_staff_list_everything_newest_first(sales, mixed):
    body = sales.get(FEEDBACK).get_json()
    assert ids(body) == [row["id"] for row in reversed(mixed)]
    assert (body["total"], body["page"], body["pages"], body["next_cursor"]) == (5, 1, 1, None)


def test_a_customer_lists_only_its_own(customer, mixed):
    body = customer.get(FEEDBACK).get_json()
    assert sorted(ids(body)) == sorted([mixed[0]["id"], mixed[1]["id"], mixed[4]["id"]])
    assert body["total"] == 3


def test_a_customers_customer_id_filter_is_ignored_in_favour_of_its_own(customer, other_customer, mixed):
    body = customer.get(FEEDBACK, query_string={"customer_id": other_customer.customer_id}).get_json()
    assert {item["customer_id"] for item in body["items"]} == {customer.customer_id}
    assert body["total"] == 3


@pytest.mark.parametrize("params, expected", [
    ({"service_type": "tour"}, [2, 0]),
    ({"rating": "1"}, [1]),
    ({"resolved": "true"}, [1]),
    ({"resolved": "false"}, [4, 3, 2, 0]),
    ({"sentiment": "negative"}, [3, 1]),
    ({"sentiment": "neutral"}, [2]),
    ({"booking_id": "B-1"}, [3, 0]),
    ({"from": "2025-01-02", "to": "2025-01-04"}, [2, 1]),
    ({"from": "2025-01-04T12:00:00Z"}, [4, 3]),
    ({"to": "2025-01-01T12:00:00.001Z"}, [0]),
    ({"service_type": "tour", "rating": "3"}, [2]),
])
def test_filters(sales, mixed, params, expected):
    body = sales.get(FEEDBACK, query_string=params).get_json()
    assert ids(body) == [mixed[index]["id"] for index in expected]
    assert body["total"] == len(expected)


def test_staff_filter_by_customer(sales, customer, mixed):
    body = sales.get(FEEDBACK, query_string={"customer_id": customer.customer_id}).get_json()
    assert ids(body) == [mixed[4]["id"], mixed[1]["id"], mixed[0]["id"]]


def test_a_customer_can_combine_filters_on_its_own(customer, mixed):
    body = customer.get(FEEDBACK, query_string={"service_type": "tour"}).get_json()
    assert ids(body) == [mixed[0]["id"]]


def test_sort_by_rating_breaks_ties_by_id(sales, mixed):
    body = sales.get(FEEDBACK, query_string={"sort": "-rating"}).get_json()
    assert [item["rating"] for item in body["items"]] == [5, 4, 3, 2, 1]
    assert ids(sales.get(FEEDBACK, query_string={"sort": "submitted_at"}).get_json()) == [row["id"] for row in mixed]


def test_pages_and_cursors_walk_every_item_once(sales, mixed):
    first = sales.get(FEEDBACK, query_string={"size": 2}).get_json()
    assert (first["total"], first["pages"]) == (5, 3)
    seen = ids(first)
    cursor = first["next_cursor"]
    while cursor:
        page = sales.get(FEEDBACK, query_string={"size": 2, "cursor": cursor}).get_json()
        assert page["page"] is None
        seen += ids(page)
        cursor = page["next_cursor"]
    assert seen == [row["id"] for row in reversed(mixed)]


def test_count_false_skips_the_total(sales, mixed):
    body = sales.get(FEEDBACK, query_string={"count": "false"}).get_json()
    assert (body["total"], body["pages"], len(body["items"])) == (None, None, 5)


def test_updated_since_returns_what_changed_after_that_time(sales, mixed, db):
    db.feedback.update_many({}, {"$set": {"updated_at": datetime(2025, 2, 1, tzinfo=UTC)}})
    db.feedback.update_one({"_id": ObjectId(mixed[1]["id"])},
                           {"$set": {"updated_at": datetime(2025, 2, 3, tzinfo=UTC)}})
    assert ids(sales.get(FEEDBACK, query_string={"updated_since": "2025-02-01"}).get_json()) == [mixed[1]["id"]]
    assert ids(sales.get(FEEDBACK, query_string={"updated_since": "2025-02-03"}).get_json()) == []


def test_an_empty_result_is_an_empty_page(sales):
    body = sales.get(FEEDBACK, query_string={"rating": "2"}).get_json()
    assert (body["items"], body["total"], body["pages"]) == ([], 0, 0)


@pytest.mark.parametrize("params, field", [
    ({"rating": "6"}, "rating"),
    ({"rating": "x"}, "rating"),
    ({"service_type": "flight"}, "service_type"),
    ({"sentiment": "happy"}, "sentiment"),
    ({"resolved": "maybe"}, "resolved"),
    ({"from": "yesterday"}, "from"),
    ({"customer_id": "abc"}, "customer_id"),
    ({"sort": "-created_at"}, "sort"),
    ({"size": "101"}, "size"),
    ({"is_anonymous": "true"}, "is_anonymous"),
])
def test_bad_query_parameters_are_422(sales, params, field):
    error = assert_error(sales.get(FEEDBACK, query_string=params), 422, "validation_error")
    assert set(error["errors"]) == {field}
