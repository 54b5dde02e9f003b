"""Tickets: raising, numbering, reading, changing fields, deleting and ETags."""
import pytest
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from crm_service.repositories.tickets import TicketRepository
from tests.api.ticket_helpers import BASE, make_customer, raise_ticket, stored, url
from tests.conftest import assert_error, make_staff

TICKET_KEYS = {"id", "number", "customer_id", "subject", "description", "priority", "status", "assignee_id",
               "created_by", "resolved_at", "resolved_by", "comments", "version", "created_at", "updated_at"}


@pytest.fixture
def customer_id(admin):
    return make_customer(admin)


def test_staff_raise_a_ticket_for_a_customer(sales, db, customer_id):
    response = sales.post(BASE, json={"customer_id": customer_id, "subject": "Invoice is wrong",
                                      "description": "Charged twice", "priority": "high"})

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == TICKET_KEYS
    assert body["number"] == "T-000001"
    assert (body["customer_id"], body["subject"], body["description"]) == (customer_id, "Invoice is wrong",
                                                                           "Charged twice")
    assert (body["priority"], body["status"], body["assignee_id"]) == ("high", "open", None)
    assert body["created_by"] == sales.user["id"]
    assert body["comments"] == [] and body["resolved_at"] is None and body["version"] == 1
    assert response.headers["Location"].endswith(url(body["id"]))
    assert response.headers["ETag"] == f'"{body["id"]}-1"'
    document = stored(db, body["id"])
    assert document["customer_id"] == ObjectId(customer_id) and document["created_by"] == ObjectId(sales.user["id"])


def test_priority_defaults_to_normal(sales, customer_id):
    assert raise_ticket(sales, customer_id)["priority"] == "normal"


def test_numbers_are_sequential_and_padded(sales, customer_id):
    numbers = [raise_ticket(sales, customer_id)["number"] for _ in range(3)]

    assert numbers == ["T-000001", "T-000002", "T-000003"]


def test_numbers_come_from_the_counters_collection(sales, db, customer_id):
    db.counters.insert_one({"_id": "tickets", "seq": 41})

    assert raise_ticket(sales, customer_id)["number"] == "T-000042"
    assert db.counters.find_one({"_id": "tickets"})["seq"] == 42


def test_a_lost_race_to_create_the_counter_is_retried(db):
    """Two first-ever upserts can race to insert the counter; the loser retries and increments it."""
    repository = TicketRepository(db)
    real_counters = repository.counters
    calls = []

    class RacingCounters:
        def find_one_and_update(self, *args, **kwargs):
            calls.append(args)
            if len(calls) == 1:
                real_counters.insert_one({"_id": "tickets", "seq": 1})
                raise DuplicateKeyError("E11000 duplicate key error")
            return real_counters.find_one_and_update(*args, **kwargs)

    repository.counters = RacingCounters()

    assert repository.next_seq() == 2
    assert len(calls) == 2 and db.counters.find_one({"_id": "tickets"})["seq"] == 2


def test_ticket_numbers_are_unique_in_the_database(sales, db, customer_id):
    ticket = raise_ticket(sales, customer_id)

    with pytest.raises(DuplicateKeyError):
        db.tickets.insert_one({"number": ticket["number"], "subject": "copy"})


def test_staff_may_assign_at_creation(sales, admin, customer_id):
    ticket = raise_ticket(sales, customer_id, assignee_id=admin.user["id"])

    assert ticket["assignee_id"] == admin.user["id"]


def test_staff_must_name_the_customer(sales, db):
    response = sales.post(BASE, json={"subject": "No one"})

    assert assert_error(response, 422, "validation_error")["errors"] == {
        "customer_id": ["Missing data for required field."]}
    assert db.tickets.count_documents({}) == 0


def test_an_unknown_customer_is_422_on_customer_id(sales, db):
    response = sales.post(BASE, json={"customer_id": str(ObjectId()), "subject": "Ghost"})

    assert assert_error(response, 422)["errors"] == {"customer_id": ["No customer with this id."]}
    assert db.tickets.count_documents({}) == 0 and db.counters.count_documents({}) == 0


def test_a_malformed_customer_id_is_422(sales):
    response = sales.post(BASE, json={"customer_id": "nope", "subject": "Ghost"})

    assert assert_error(response, 422)["errors"] == {"customer_id": ["Not a valid id."]}


@pytest.mark.parametrize(("body", "field"), [
    ({}, "subject"),
    ({"subject": ""}, "subject"),
    ({"subject": "x" * 201}, "subject"),
    ({"subject": "Ok", "priority": "critical"}, "priority"),
    ({"subject": "Ok", "description": "x" * 5001}, "description"),
    ({"subject": "Ok", "status": "resolved"}, "status"),
    ({"subject": "Ok", "number": "T-000009"}, "number"),
    ({"subject": "Ok", "colour": "red"}, "colour"),
])
def test_invalid_bodies_are_422_and_store_nothing(sales, db, customer_id, body, field):
    response = sales.post(BASE, json={"customer_id": customer_id, **body})

    assert field in assert_error(response, 422, "validation_error")["errors"]
    assert db.tickets.count_documents({}) == 0


@pytest.mark.parametrize("assignee", ["customer", "inactive", "unknown"])
def test_an_assignee_that_is_not_an_active_staff_user_is_422(app, sales, customer, db, customer_id, assignee):
    assignee_id = {
        "customer": customer.user["id"],
        "inactive": str(make_staff(app, "sales", is_active=False)["_id"]),
        "unknown": str(ObjectId()),
    }[assignee]

    response = sales.post(BASE, json={"customer_id": customer_id, "subject": "Hi", "assignee_id": assignee_id})

    assert assert_error(response, 422)["errors"] == {"assignee_id": ["Not an active staff user."]}
    assert db.tickets.count_documents({}) == 0


def test_a_customer_raises_a_ticket_on_its_own_record(customer, db):
    ticket = raise_ticket(customer, subject="Cannot log in")

    assert ticket["customer_id"] == customer.customer_id and ticket["created_by"] == customer.user["id"]
    assert stored(db, ticket["id"])["customer_id"] == ObjectId(customer.customer_id)


def test_a_customer_id_sent_by_a_customer_is_ignored(customer, other_customer, db):
    for sent in (other_customer.customer_id, "not-an-id"):
        ticket = raise_ticket(customer, customer_id=sent)

        assert ticket["customer_id"] == customer.customer_id
    assert db.tickets.count_documents({"customer_id": ObjectId(other_customer.customer_id)}) == 0


def test_a_customer_may_not_assign_its_ticket(customer, admin, db):
    response = customer.post(BASE, json={"subject": "Hi", "assignee_id": admin.user["id"]})

    assert assert_error(response, 422)["errors"] == {"assignee_id": ["Unknown field."]}
    assert db.tickets.count_documents({}) == 0


def test_read_a_ticket_with_its_etag(sales, customer_id):
    ticket = raise_ticket(sales, customer_id)

    response = sales.get(url(ticket["id"]))

    assert response.status_code == 200 and response.get_json() == ticket
    assert response.headers["ETag"] == f'"{ticket["id"]}-1"'
    assert sales.get(url(ticket["id"]), headers={"If-None-Match": response.headers["ETag"]}).status_code == 304


@pytest.mark.parametrize("ticket_id", [str(ObjectId()), "not-an-id"])
def test_an_unknown_ticket_is_404(sales, ticket_id):
    assert_error(sales.get(url(ticket_id)), 404, "not_found")


def test_staff_change_subject_description_and_priority(sales, db, customer_id):
    ticket = raise_ticket(sales, customer_id)

    response = sales.patch(url(ticket["id"]), json={"subject": "New subject", "description": None,
                                                    "priority": "urgent"})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["subject"], body["description"], body["priority"], body["version"]) == (
        "New subject", None, "urgent", 2)
    assert response.headers["ETag"] == f'"{ticket["id"]}-2"'
    document = stored(db, ticket["id"])
    assert document["priority_rank"] == 3 and "s:new" in document["search_terms"]
    assert "s:printer" not in document["search_terms"]


def test_staff_assign_through_patch_and_unassign_with_null(sales, admin, customer_id):
    ticket = raise_ticket(sales, customer_id)

    assigned = sales.patch(url(ticket["id"]), json={"assignee_id": admin.user["id"]}).get_json()
    unassigned = sales.patch(url(ticket["id"]), json={"assignee_id": None}).get_json()

    assert assigned["assignee_id"] == admin.user["id"] and unassigned["assignee_id"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({"subject": ""}, "subject"),
    ({"subject": None}, "subject"),
    ({"priority": "soon"}, "priority"),
    ({"status": "done"}, "status"),
    ({"customer_id": str(ObjectId())}, "customer_id"),
    ({"number": "T-000777"}, "number"),
    ({"assignee_id": "zzz"}, "assignee_id"),
    ({"assignee_id": str(ObjectId())}, "assignee_id"),
])
def test_invalid_changes_are_422_and_change_nothing(sales, db, customer_id, body, field):
    ticket = raise_ticket(sales, customer_id)
    before = stored(db, ticket["id"])

    response = sales.patch(url(ticket["id"]), json=body)

    assert field in assert_error(response, 422)["errors"]
    assert stored(db, ticket["id"]) == before


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(sales, db, customer_id):
    ticket = raise_ticket(sales, customer_id)
    stale = f'"{ticket["id"]}-1"'
    sales.patch(url(ticket["id"]), json={"priority": "low"})

    response = sales.patch(url(ticket["id"]), json={"priority": "high"}, headers={"If-Match": stale})

    assert_error(response, 412, "precondition_failed")
    assert stored(db, ticket["id"])["priority"] == "low"


def test_patch_with_the_current_if_match_applies(sales, customer_id):
    ticket = raise_ticket(sales, customer_id)

    response = sales.patch(url(ticket["id"]), json={"priority": "low"}, headers={"If-Match": f'"{ticket["id"]}-1"'})

    assert response.status_code == 200 and response.get_json()["priority"] == "low"


def test_an_empty_patch_changes_nothing(sales, db, customer_id):
    ticket = raise_ticket(sales, customer_id)

    response = sales.patch(url(ticket["id"]), json={})

    assert response.status_code == 200 and response.get_json() == ticket
    assert stored(db, ticket["id"])["version"] == 1


def test_delete_removes_the_ticket_and_records_a_tombstone(admin, db, customer_id):
    ticket = raise_ticket(admin, customer_id)

    response = admin.delete(url(ticket["id"]))

    assert response.status_code == 204 and response.data == b""
    assert stored(db, ticket["id"]) is None
    tombstone = db.tombstones.find_one({"entity": "tickets"})
    assert tombstone["entity_id"] == ObjectId(ticket["id"]) and tombstone["customer_id"] == ObjectId(customer_id)
    assert_error(admin.get(url(ticket["id"])), 404)


def test_delete_with_a_stale_if_match_is_412_and_keeps_the_ticket(sales, db, customer_id):
    ticket = raise_ticket(sales, customer_id)
    sales.patch(url(ticket["id"]), json={"priority": "low"})

    response = sales.delete(url(ticket["id"]), headers={"If-Match": f'"{ticket["id"]}-1"'})

    assert_error(response, 412, "precondition_failed")
    assert stored(db, ticket["id"]) is not None and db.tombstones.count_documents({}) == 0
