"""GET /emails: the list envelope with open_rate over the whole filter, filters, sorts and paging."""
from datetime import UTC, datetime

import pytest
from bson import ObjectId

from crm_service.config import TestConfig
from crm_service.schemas.common import iso_z
from tests.api.email_helpers import BASE_URL, EMAILS, open_pixel, send
from tests.conftest import assert_error


@pytest.fixture
def config(smtp):
    config = smtp.configure(TestConfig())
    config.PUBLIC_BASE_URL = BASE_URL
    return config


@pytest.fixture
def mailbox(app, client, sales, customer, other_customer, smtp):
    """Customer A: two sent (one opened) and one failed; customer B: one sent and opened."""
    a_opened = send(sales, customer_id=customer.customer_id)
    a_unopened = send(sales, customer_id=customer.customer_id)
    b_opened = send(sales, customer_id=other_customer.customer_id)
    app.config["SMTP_HOST"] = None
    a_failed = send(sales, customer_id=customer.customer_id)
    app.config["SMTP_HOST"] = smtp.host
    open_pixel(client, a_opened["tracking_url"])
    open_pixel(client, a_opened["tracking_url"])
    open_pixel(client, b_opened["tracking_url"])
    return {"a_opened": a_opened, "a_unopened": a_unopened, "b_opened": b_opened, "a_failed": a_failed,
            "a": customer.customer_id, "b": other_customer.customer_id}


def listing(api, **params):
    response = api.get(EMAILS, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ids(page):
    return [item["id"] for item in page["items"]]


def test_open_rate_covers_every_sent_email_the_filter_matches(sales, mailbox):
    everything = listing(sales)
    assert everything["total"] == 4 and everything["open_rate"] == round(2 / 3, 4)
    customer_a = listing(sales, customer_id=mailbox["a"])
    assert customer_a["total"] == 3 and customer_a["open_rate"] == 0.5
    assert listing(sales, customer_id=mailbox["b"])["open_rate"] == 1.0
    failed = listing(sales, status="failed")
    assert ids(failed) == [mailbox["a_failed"]["id"]] and failed["open_rate"] is None


def test_open_rate_is_over_the_filter_not_the_page(sales, mailbox):
    first = listing(sales, size=1)
    assert len(first["items"]) == 1 and first["pages"] == 4 and first["open_rate"] == round(2 / 3, 4)
    following = listing(sales, size=1, cursor=first["next_cursor"])
    assert following["page"] is None and following["open_rate"] == round(2 / 3, 4)


def test_count_false_skips_the_total_and_the_open_rate(sales, mailbox):
    page = listing(sales, count="false")
    assert page["total"] is None and page["pages"] is None and page["open_rate"] is None
    assert len(page["items"]) == 4


def test_an_empty_list_has_no_open_rate(sales):
    assert listing(sales) == {"items": [], "page": 1, "size": 20, "total": 0, "pages": 0, "next_cursor": None,
                              "open_rate": None}


def test_list_items_are_full_records_without_the_token(sales, mailbox):
    item = next(item for item in listing(sales)["items"] if item["id"] == mailbox["a_opened"]["id"])
    assert item["open_count"] == 2 and item["status"] == "sent" and item["body"]
    assert item["tracking_url"] == mailbox["a_opened"]["tracking_url"] and "tracking_token" not in item


def _stamp(db, email, created, sent=None):
    db.emails.update_one({"_id": ObjectId(email["id"])},
                         {"$set": {"created_at": created, "updated_at": created, "sent_at": sent}})


def test_time_filters_bound_created_at_and_sent_at(sales, mailbox, db):
    jan, feb, mar = (datetime(2030, month, 10, tzinfo=UTC) for month in (1, 2, 3))
    _stamp(db, mailbox["a_opened"], jan, jan)
    _stamp(db, mailbox["a_unopened"], feb, mar)
    _stamp(db, mailbox["b_opened"], mar, mar)
    _stamp(db, mailbox["a_failed"], feb)
    in_feb = listing(sales, **{"from": "2030-02-01", "to": "2030-03-01"})
    assert set(ids(in_feb)) == {mailbox["a_unopened"]["id"], mailbox["a_failed"]["id"]}
    assert in_feb["open_rate"] == 0.0
    sent_in_mar = listing(sales, sent_after="2030-03-01", sent_before="2030-04-01")
    assert set(ids(sent_in_mar)) == {mailbox["a_unopened"]["id"], mailbox["b_opened"]["id"]}
    assert sent_in_mar["open_rate"] == 0.5
    changed = listing(sales, updated_since=iso_z(datetime(2030, 2, 10, tzinfo=UTC)))
    assert ids(changed) == [mailbox["b_opened"]["id"]]


def test_sorts_and_cursor_pages_never_overlap(sales, mailbox, db):
    jan, feb, mar = (datetime(2030, month, 10, tzinfo=UTC) for month in (1, 2, 3))
    _stamp(db, mailbox["a_opened"], mar, jan)
    _stamp(db, mailbox["a_unopened"], jan, feb)
    _stamp(db, mailbox["b_opened"], feb, mar)
    _stamp(db, mailbox["a_failed"], mar)
    newest_sent = listing(sales, sort="-sent_at")
    assert ids(newest_sent) == [mailbox[key]["id"] for key in ("b_opened", "a_unopened", "a_opened", "a_failed")]
    oldest_created = listing(sales, sort="created_at")
    assert ids(oldest_created)[:2] == [mailbox["a_unopened"]["id"], mailbox["b_opened"]["id"]]
    seen, cursor = [], None
    while True:
        page = listing(sales, sort="sent_at", size=1, **({"cursor": cursor} if cursor else {}))
        seen += ids(page)
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [mailbox[key]["id"] for key in ("a_failed", "a_opened", "a_unopened", "b_opened")]


@pytest.mark.parametrize("params", [
    {"sort": "subject"}, {"status": "bounced"}, {"customer_id": "nope"}, {"size": 101}, {"to_address": "x"},
    {"from": "last week"}, {"sent_after": "2030-13-01"},
])
def test_bad_list_parameters_are_422(sales, params):
    assert_error(sales.get(EMAILS, query_string=params), 422, "validation_error")


def test_admins_list_too_and_customers_and_strangers_do_not(admin, customer, anon, mailbox):
    assert listing(admin)["total"] == 4
    assert_error(customer.get(EMAILS), 403, "forbidden")
    assert_error(anon.get(EMAILS), 401, "unauthorized")
