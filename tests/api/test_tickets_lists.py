"""GET /tickets: filters, q (number or subject words), sorting and paging."""
from datetime import timedelta

import pytest
from bson import ObjectId

from tests.api.ticket_helpers import BASE, ids, make_customer, raise_ticket, set_status
from tests.conftest import assert_error


@pytest.fixture
def desk(admin, sales):
    """Four tickets on two customers, with a spread of statuses, priorities and assignees."""
    first, second = make_customer(admin, "Ada"), make_customer(admin, "Bo")
    tickets = {
        "printer": raise_ticket(sales, first, subject="Printer jams on page two", priority="low"),
        "invoice": raise_ticket(sales, first, subject="Invoice 2024 missing", priority="urgent",
                                assignee_id=admin.user["id"]),
        "login": raise_ticket(sales, second, subject="Cannot log in", priority="high",
                              assignee_id=sales.user["id"]),
        "paper": raise_ticket(sales, second, subject="Paper tray", priority="normal"),
    }
    return {"customers": (first, second), **tickets}


def listed(api, **params):
    response = api.get(BASE, query_string=params)
    assert response.status_code == 200, response.get_json()
    return ids(response.get_json()["items"])


def test_the_default_order_is_newest_first(sales, desk):
    body = sales.get(BASE).get_json()

    assert ids(body["items"]) == [desk[name]["id"] for name in ("paper", "login", "invoice", "printer")]
    assert (body["page"], body["size"], body["total"], body["pages"], body["next_cursor"]) == (1, 20, 4, 1, None)


def test_filter_by_status(sales, db, desk):
    set_status(db, desk["login"]["id"], "in_progress")

    assert listed(sales, status="in_progress") == [desk["login"]["id"]]
    assert len(listed(sales, status="open")) == 3


def test_filter_by_priority(sales, desk):
    assert listed(sales, priority="urgent") == [desk["invoice"]["id"]]


def test_filter_by_assignee(sales, admin, desk):
    assert listed(sales, assignee_id=admin.user["id"]) == [desk["invoice"]["id"]]
    assert listed(sales, assignee_id=str(ObjectId())) == []


def test_filter_by_customer(sales, desk):
    first, second = desk["customers"]

    assert listed(sales, customer_id=second) == [desk["paper"]["id"], desk["login"]["id"]]


def test_filters_combine(sales, desk):
    first, _ = desk["customers"]

    assert listed(sales, customer_id=first, priority="low") == [desk["printer"]["id"]]
    assert listed(sales, customer_id=first, priority="high") == []


@pytest.mark.parametrize("q", ["T-000002", "t-2", "T2", "2", "000002"])
def test_q_finds_a_ticket_by_its_number(sales, desk, q):
    assert desk["invoice"]["number"] == "T-000002"

    assert listed(sales, q=q) == [desk["invoice"]["id"]]


@pytest.mark.parametrize(("q", "names"), [
    ("print", ["printer"]),
    ("PAPER", ["paper"]),
    ("pa", ["paper", "printer"]),
    ("page tw", ["printer"]),
    ("cannot log", ["login"]),
    ("2024", ["invoice"]),
    ("jams tray", []),
    ("ink", []),
    ("(", []),
])
def test_q_matches_the_start_of_subject_words(sales, desk, q, names):
    assert listed(sales, q=q) == [desk[name]["id"] for name in names]


def test_q_does_not_treat_regex_characters_as_a_pattern(sales, desk):
    assert listed(sales, q="p.*") == listed(sales, q="p")
    assert listed(sales, q=".*") == []


def test_a_changed_subject_is_found_by_its_new_words(sales, desk):
    sales.patch(f"{BASE}/{desk['paper']['id']}", json={"subject": "Toner empty"})

    assert listed(sales, q="toner") == [desk["paper"]["id"]]
    assert listed(sales, q="tray") == []


@pytest.mark.parametrize(("sort", "names"), [
    ("number", ["printer", "invoice", "login", "paper"]),
    ("-number", ["paper", "login", "invoice", "printer"]),
    ("-priority", ["invoice", "login", "paper", "printer"]),
    ("priority", ["printer", "paper", "login", "invoice"]),
    ("created_at", ["printer", "invoice", "login", "paper"]),
])
def test_sort_orders(sales, desk, sort, names):
    assert listed(sales, sort=sort) == [desk[name]["id"] for name in names]


def test_sort_by_updated_at(sales, desk):
    sales.patch(f"{BASE}/{desk['printer']['id']}", json={"priority": "high"})

    assert listed(sales, sort="-updated_at")[0] == desk["printer"]["id"]


def test_numbers_past_six_digits_still_sort_in_numbering_order(sales, db, desk):
    db.counters.update_one({"_id": "tickets"}, {"$set": {"seq": 999999}})
    big = raise_ticket(sales, desk["customers"][0])

    assert big["number"] == "T-1000000"
    assert listed(sales, sort="-number")[0] == big["id"]


def test_updated_since_returns_records_changed_after(sales, db, desk):
    stamp = db.tickets.find_one({"_id": ObjectId(desk["paper"]["id"])})["updated_at"]
    db.tickets.update_one({"_id": ObjectId(desk["printer"]["id"])},
                          {"$set": {"updated_at": stamp + timedelta(seconds=5)}})

    since = stamp.isoformat().replace("+00:00", "Z")

    assert listed(sales, updated_since=since) == [desk["printer"]["id"]]


def test_cursor_pages_walk_every_ticket_once(sales, desk):
    first = sales.get(BASE, query_string={"size": 3}).get_json()
    second = sales.get(BASE, query_string={"size": 3, "cursor": first["next_cursor"]}).get_json()

    assert ids(first["items"]) + ids(second["items"]) == listed(sales)
    assert second["next_cursor"] is None and second["page"] is None


@pytest.mark.parametrize("params", [
    {"status": "done"}, {"priority": "asap"}, {"assignee_id": "x"}, {"customer_id": "x"}, {"sort": "subject"},
    {"size": 101}, {"colour": "red"}, {"q": "x" * 101},
])
def test_invalid_query_parameters_are_422(sales, params):
    body = assert_error(sales.get(BASE, query_string=params), 422, "validation_error")

    assert set(body["errors"]) == set(params)


def test_an_empty_result_is_200_with_no_items(sales):
    body = sales.get(BASE, query_string={"status": "closed"}).get_json()

    assert (body["items"], body["total"], body["pages"]) == ([], 0, 0)


def test_customer_filters_work_inside_its_own_tickets(customer, other_customer):
    own = raise_ticket(customer, subject="Printer", priority="urgent")
    raise_ticket(customer, subject="Other")
    raise_ticket(other_customer, subject="Printer", priority="urgent")

    assert listed(customer, q="printer") == [own["id"]]
    assert listed(customer, priority="urgent") == [own["id"]]
