"""Opportunity lists: filters, close-date bounds, sorts, paging and cursors."""
from datetime import timedelta

import pytest
from bson import ObjectId

from crm_service.repositories.base import utcnow
from crm_service.schemas.common import iso_z
from tests.api.test_opportunities import OPPORTUNITIES, make_customer, make_opportunity
from tests.conftest import assert_error, make_staff


def listed(api, **params):
    response = api.get(OPPORTUNITIES, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def titles(api, **params):
    return [item["title"] for item in listed(api, **params)["items"]]


@pytest.fixture
def customer_id(admin):
    return make_customer(admin)["id"]


def test_list_returns_the_page_envelope_newest_first(sales, customer_id):
    for title in ("first", "second", "third"):
        make_opportunity(sales, customer_id, title=title)
    body = listed(sales)

    assert [item["title"] for item in body["items"]] == ["third", "second", "first"]
    assert (body["page"], body["size"], body["total"], body["pages"], body["next_cursor"]) == (1, 20, 3, 1, None)


def test_empty_list_is_200_with_no_items(sales):
    assert listed(sales) == {"items": [], "page": 1, "size": 20, "total": 0, "pages": 0, "next_cursor": None}


def test_filter_by_stage(sales, customer_id):
    make_opportunity(sales, customer_id, title="a", stage="proposal")
    make_opportunity(sales, customer_id, title="b", stage="won")
    assert titles(sales, stage="won") == ["b"]


def test_filter_by_owner(sales, admin, app, customer_id):
    other = make_staff(app, "sales")
    make_opportunity(sales, customer_id, title="mine")
    make_opportunity(admin, customer_id, title="theirs", owner_id=str(other["_id"]))
    assert titles(admin, owner_id=str(other["_id"])) == ["theirs"]
    assert titles(admin, owner_id=sales.user["id"]) == ["mine"]


def test_filter_by_customer(sales, admin, customer_id):
    other = make_customer(admin)["id"]
    make_opportunity(sales, customer_id, title="a")
    make_opportunity(sales, other, title="b")
    assert titles(sales, customer_id=other) == ["b"]


@pytest.fixture
def dated(sales, customer_id):
    for day in ("2025-06-29", "2025-06-30", "2025-07-01"):
        make_opportunity(sales, customer_id, title=day, expected_close_date=day)
    make_opportunity(sales, customer_id, title="undated")


def test_closing_after_a_date_includes_that_day(sales, dated):
    assert titles(sales, closing_after="2025-06-30", sort="expected_close_date") == ["2025-06-30", "2025-07-01"]


def test_closing_before_a_date_excludes_that_day(sales, dated):
    assert titles(sales, closing_before="2025-06-30") == ["2025-06-29"]


def test_closing_before_a_time_after_midnight_includes_that_day(sales, dated):
    found = titles(sales, closing_before="2025-06-30T09:00:00Z", sort="expected_close_date")
    assert found == ["2025-06-29", "2025-06-30"]


def test_closing_after_a_time_after_midnight_starts_the_next_day(sales, dated):
    assert titles(sales, closing_after="2025-06-30T09:00:00+00:00") == ["2025-07-01"]


def test_closing_window_combines_both_bounds(sales, dated):
    assert titles(sales, closing_after="2025-06-30", closing_before="2025-07-01") == ["2025-06-30"]


def test_sort_by_expected_close_date_puts_undated_first_ascending(sales, dated):
    assert titles(sales, sort="expected_close_date") == ["undated", "2025-06-29", "2025-06-30", "2025-07-01"]
    assert titles(sales, sort="-expected_close_date") == ["2025-07-01", "2025-06-30", "2025-06-29", "undated"]


def test_cursor_paging_by_close_date_visits_every_record_once(sales, dated):
    seen = []
    body = listed(sales, sort="expected_close_date", size=3)
    seen += [item["title"] for item in body["items"]]
    body = listed(sales, sort="expected_close_date", size=3, cursor=body["next_cursor"])
    seen += [item["title"] for item in body["items"]]

    assert seen == ["undated", "2025-06-29", "2025-06-30", "2025-07-01"]
    assert body["next_cursor"] is None and body["page"] is None


def test_updated_since_lists_only_records_changed_after_that_time(sales, customer_id, db):
    old = make_opportunity(sales, customer_id, title="old")
    make_opportunity(sales, customer_id, title="new")
    db.opportunities.update_one({"_id": ObjectId(old["id"])}, {"$set": {"updated_at": utcnow() - timedelta(days=2)}})
    assert titles(sales, updated_since=iso_z(utcnow() - timedelta(days=1))) == ["new"]


def test_sort_by_updated_at(sales, customer_id, db):
    make_opportunity(sales, customer_id, title="first")
    second = make_opportunity(sales, customer_id, title="second")
    db.opportunities.update_one({"_id": ObjectId(second["id"])}, {"$set": {"updated_at": utcnow() - timedelta(days=1)}})
    assert titles(sales, sort="-updated_at") == ["first", "second"]
    assert titles(sales) == ["second", "first"]


def test_count_false_skips_total(sales, customer_id):
    make_opportunity(sales, customer_id)
    body = listed(sales, count="false")
    assert (body["total"], body["pages"], len(body["items"])) == (None, None, 1)


@pytest.mark.parametrize(("param", "value"), [
    ("stage", "closed"), ("owner_id", "nope"), ("customer_id", "123"), ("closing_before", "soon"),
    ("closing_after", "2025-13-01"), ("sort", "amount"), ("sort", "title"), ("size", "101"), ("colour", "red"),
])
def test_invalid_query_parameters_are_422(sales, param, value):
    error = assert_error(sales.get(OPPORTUNITIES, query_string={param: value}), 422, "validation_error")
    assert param in error["errors"]
