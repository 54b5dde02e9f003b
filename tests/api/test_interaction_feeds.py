"""GET /interactions: every customer's interactions newest first, checked against a brute-force sort of the db.

The module runs twice: with everything embedded, and with an embed limit of 3 so most of the
history sits in the archive.
"""
import random
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from crm_service.config import TestConfig
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
    parse_time,
    stamp,
)
from tests.conftest import Api, assert_error, login, make_staff

FEED = f"{BASE}/interactions"
START = datetime(2024, 1, 1, tzinfo=UTC)
TYPES = ["email", "phone", "meeting", "chat", "note"]


@pytest.fixture(params=[500, 3], ids=["embedded", "archived"])
def config(request):
    config = TestConfig()
    config.INTERACTION_EMBED_LIMIT = request.param
    return config


def at(hours):
    return stamp(START + timedelta(hours=hours))


@pytest.fixture
def colleague(app, client):
    user = make_staff(app, "sales")
    return Api(client, login(client, user["username"])["access_token"], {"id": str(user["_id"])})


@pytest.fixture
def population(sales, colleague, db):
    """Customers whose histories interleave in time, with the cases an early-stopping walk can get wrong.

    - `spike`: one very recent interaction, everything else very old (high activity_key, old rest);
    - `moved`: its newest interaction was moved back in time (activity_key stays high);
    - `emptied`: its newest interaction was deleted;
    - `raised`: an old interaction was moved forward to become the newest of all;
    - `tied`: interactions at exactly the same times as other customers' (ties broken by id);
    - `late_tie`: logged last, only at a time three customers share, and walked last (lowest activity_key):
      its interaction has the highest id of the tie, so it must still come first among them;
    - the rest: random histories spread over the year.
    """
    rng = random.Random(20240101)
    customers = {name: new_customer(db) for name in ("spike", "moved", "emptied", "raised", "tied", "late_tie",
                                                   "r1", "r2", "r3", "r4")}
    authors = [sales, colleague]

    def add(name, hours, **fields):
        fields.setdefault("type", rng.choice(TYPES))
        return log(rng.choice(authors), customers[name], occurred_at=at(hours), **fields)

    add("spike", 9000)
    for hours in (1, 2, 3, 4):
        add("spike", hours)
    moved = add("moved", 8990)
    for hours in (10, 20, 30):
        add("moved", hours)
    colleague.patch(item_url(customers["moved"], moved["id"]), json={"occurred_at": at(5)})
    emptied = add("emptied", 8995)
    for hours in (6, 7):
        add("emptied", hours)
    sales.delete(item_url(customers["emptied"], emptied["id"]))
    raised = add("raised", 100)
    add("raised", 200)
    sales.patch(item_url(customers["raised"], raised["id"]), json={"occurred_at": at(9100)})
    for hours in (3, 4, 30, 4000, 4000):
        add("tied", hours)
    for name in ("r1", "r2", "r3", "r4"):
        for _ in range(rng.randint(3, 7)):
            follow_up = rng.random() < 0.3
            add(name, rng.randint(0, 8700), follow_up_required=follow_up,
                status=rng.choice(["completed", "completed", "cancelled"]))
    add("late_tie", 4)
    return customers


def brute_force(db, keep=lambda row: True):
    return expected_order([row for row in every_interaction(db) if keep(row)])


def test_the_feed_lists_everything_newest_first(sales, db, population):
    expected = brute_force(db)
    body = sales.get(FEED, query_string={"size": 100}).get_json()
    assert ids(body["items"]) == expected
    assert body["total"] == len(expected) == db.interaction_archive.count_documents({}) + sum(
        len(doc["interactions"]) for doc in db.customers.find())
    assert len(expected) > 25


@pytest.mark.parametrize("size", [2, 7])
def test_page_mode_agrees_with_the_brute_force_order(sales, db, population, size):
    expected = brute_force(db)
    items, last = all_pages(sales, FEED, size=size)
    assert ids(items) == expected
    assert last["total"] == len(expected) and last["pages"] == -(-len(expected) // size)


@pytest.mark.parametrize("size", [1, 4])
def test_cursor_mode_agrees_with_the_brute_force_order(sales, db, population, size):
    assert ids(all_cursor_pages(sales, FEED, size=size)) == brute_force(db)


def test_the_early_pages_are_right_where_the_walk_stops_early(sales, db, population):
    expected = brute_force(db)
    first = sales.get(FEED, query_string={"size": 2}).get_json()
    second = sales.get(FEED, query_string={"size": 2, "cursor": first["next_cursor"]}).get_json()
    assert ids(first["items"]) + ids(second["items"]) == expected[:4]
    assert [item["customer_id"] for item in first["items"]] == [population["raised"], population["spike"]]


def test_feed_items_carry_their_customer_id(sales, db, population):
    items = sales.get(FEED, query_string={"size": 100}).get_json()["items"]
    by_id = {str(row["id"]): str(row["customer_id"]) for row in every_interaction(db)}
    assert all(item["customer_id"] == by_id[item["id"]] for item in items)


@pytest.mark.parametrize("name", ["spike", "moved", "tied"])
def test_filter_by_customer(sales, db, population, name):
    customer_oid = ObjectId(population[name])
    expected = brute_force(db, lambda row: row["customer_id"] == customer_oid)
    assert ids(all_cursor_pages(sales, FEED, size=2, customer_id=population[name])) == expected
    assert sales.get(FEED, query_string={"customer_id": population[name]}).get_json()["total"] == len(expected)


def test_filter_by_employee(sales, colleague, db, population):
    employee = ObjectId(colleague.user["id"])
    expected = brute_force(db, lambda row: row["employee_id"] == employee)
    assert ids(all_cursor_pages(sales, FEED, size=3, employee_id=colleague.user["id"])) == expected
    assert 0 < len(expected) < len(brute_force(db))


@pytest.mark.parametrize("params, keep", [
    ({"type": "email"}, lambda row: row["type"] == "email"),
    ({"status": "cancelled"}, lambda row: row["status"] == "cancelled"),
    ({"follow_up_required": "true"}, lambda row: row["follow_up_required"] is True),
    ({"follow_up_required": "false"}, lambda row: row["follow_up_required"] is False),
    ({"from": "2024-03-01"}, lambda row: row["occurred_at"] >= parse_time("2024-03-01T00:00:00Z")),
    ({"from": at(4000)}, lambda row: row["occurred_at"] >= START + timedelta(hours=4000)),
    ({"to": "2024-03-01T00:00:00Z"}, lambda row: row["occurred_at"] < parse_time("2024-03-01T00:00:00Z")),
    ({"from": "2024-01-01T03:00:00Z", "to": "2024-06-16"},
     lambda row: parse_time("2024-01-01T03:00:00Z") <= row["occurred_at"] < parse_time("2024-06-16T00:00:00Z")),
    ({"type": "phone", "from": "2024-02-01"},
     lambda row: row["type"] == "phone" and row["occurred_at"] >= parse_time("2024-02-01T00:00:00Z")),
])
def test_filters_agree_with_the_brute_force_order(sales, db, population, params, keep):
    expected = brute_force(db, keep)
    assert ids(all_cursor_pages(sales, FEED, size=3, **params)) == expected
    items, last = all_pages(sales, FEED, size=4, **params)
    assert ids(items) == expected and last["total"] == len(expected)


def test_count_false_leaves_total_and_pages_null(sales, db, population):
    body = sales.get(FEED, query_string={"count": "false", "size": 5}).get_json()
    assert (body["total"], body["pages"], body["page"]) == (None, None, 1)
    assert ids(body["items"]) == brute_force(db)[:5] and body["next_cursor"]


def test_count_false_pages_still_cover_everything(sales, db, population):
    items, _ = all_pages(sales, FEED, size=6, count="false")
    assert ids(items) == brute_force(db)


def test_a_cursor_does_not_repeat_or_skip_when_interactions_are_added(sales, db, population):
    before = brute_force(db)
    first = sales.get(FEED, query_string={"size": 5}).get_json()
    log(sales, population["r1"], occurred_at=at(9500))
    log(sales, population["r2"], occurred_at=at(0))
    rest = all_cursor_pages(sales, FEED, size=5, cursor=first["next_cursor"])
    newest_old = before[:5]
    assert ids(first["items"]) == newest_old
    assert ids(rest) == [iid for iid in brute_force(db) if iid not in set(newest_old)][1:]


def test_an_empty_feed_is_an_empty_page(sales):
    body = sales.get(FEED).get_json()
    assert body == {"items": [], "page": 1, "size": 20, "total": 0, "pages": 0, "next_cursor": None}


def test_a_filter_for_an_unknown_customer_is_an_empty_page(sales, population):
    body = sales.get(FEED, query_string={"customer_id": str(ObjectId())}).get_json()
    assert (body["items"], body["total"]) == ([], 0)


@pytest.mark.parametrize("params, field", [
    ({"sort": "occurred_at"}, "sort"), ({"sort": "-created_at"}, "sort"), ({"sort": "-occurred_at,id"}, "sort"),
    ({"from": "last week"}, "from"), ({"to": "2024-02-30"}, "to"), ({"customer_id": "nope"}, "customer_id"),
    ({"employee_id": "123"}, "employee_id"), ({"follow_up_required": "perhaps"}, "follow_up_required"),
    ({"type": "fax"}, "type"), ({"status": "done"}, "status"), ({"q": "x"}, "q"), ({"size": 500}, "size"),
    ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
])
def test_invalid_query_parameters_are_422(sales, params, field):
    assert field in assert_error(sales.get(FEED, query_string=params), 422, "validation_error")["errors"]


def test_the_default_sort_may_be_named(sales, db, population):
    body = sales.get(FEED, query_string={"sort": "-occurred_at", "size": 3}).get_json()
    assert ids(body["items"]) == brute_force(db)[:3]


def test_a_history_cursor_of_the_other_direction_is_refused_by_the_feed(sales, population):
    history = f"{BASE}/customers/{population['r1']}/interactions"
    cursor = sales.get(history, query_string={"size": 1, "sort": "occurred_at"}).get_json()["next_cursor"]
    assert "cursor" in assert_error(sales.get(FEED, query_string={"cursor": cursor}), 422)["errors"]
