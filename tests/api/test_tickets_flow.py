"""The ticket status flow: PATCH transitions, resolve and reopen, atomicity and history events."""
import itertools

import pytest
from bson import ObjectId

from crm_service.repositories.tickets import TicketRepository
from tests.api.ticket_helpers import make_customer, raise_ticket, set_status, stored, ticket_notes, url
from tests.conftest import assert_error

STATUSES = ("open", "in_progress", "resolved", "closed")
ALLOWED = [("open", "in_progress"), ("open", "resolved"), ("in_progress", "resolved"), ("in_progress", "open"),
           ("resolved", "closed"), ("resolved", "open"), ("closed", "open")]
REFUSED = [pair for pair in itertools.permutations(STATUSES, 2) if pair not in ALLOWED]


@pytest.fixture
def customer_id(admin):
    return make_customer(admin)


@pytest.fixture
def ticket(sales, customer_id):
    return raise_ticket(sales, customer_id)


def test_the_refused_moves_are_the_five_the_flow_leaves_out():
    assert sorted(REFUSED) == sorted([("open", "closed"), ("in_progress", "closed"), ("resolved", "in_progress"),
                                      ("closed", "in_progress"), ("closed", "resolved")])


@pytest.mark.parametrize(("source", "target"), ALLOWED)
def test_staff_make_every_allowed_move_with_patch(sales, db, ticket, source, target):
    set_status(db, ticket["id"], source)

    response = sales.patch(url(ticket["id"]), json={"status": target})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == target
    assert stored(db, ticket["id"])["status"] == target


@pytest.mark.parametrize(("source", "target"), REFUSED)
def test_every_move_outside_the_flow_is_422_and_changes_nothing(sales, db, ticket, source, target):
    set_status(db, ticket["id"], source)
    before = stored(db, ticket["id"])

    response = sales.patch(url(ticket["id"]), json={"status": target, "priority": "urgent"})

    body = assert_error(response, 422, "validation_error")
    assert body["errors"] == {"status": [f"A ticket cannot move from {source} to {target}."]}
    assert stored(db, ticket["id"]) == before


def test_patching_the_current_status_is_no_move(sales, db, ticket):
    response = sales.patch(url(ticket["id"]), json={"status": "open", "priority": "low"})

    assert response.status_code == 200
    assert (response.get_json()["status"], response.get_json()["priority"]) == ("open", "low")
    assert stored(db, ticket["id"])["version"] == 2


def test_resolving_records_who_and_when(sales, db, ticket):
    body = sales.patch(url(ticket["id"]), json={"status": "resolved"}).get_json()

    assert body["resolved_by"] == sales.user["id"] and body["resolved_at"].endswith("Z")
    document = stored(db, ticket["id"])
    assert document["resolved_by"] == ObjectId(sales.user["id"]) and document["resolved_at"] is not None


def test_closing_keeps_the_resolution(sales, db, ticket):
    resolved = sales.patch(url(ticket["id"]), json={"status": "resolved"}).get_json()

    closed = sales.patch(url(ticket["id"]), json={"status": "closed"}).get_json()

    assert (closed["resolved_at"], closed["resolved_by"]) == (resolved["resolved_at"], resolved["resolved_by"])


@pytest.mark.parametrize("via", ["patch", "reopen"])
def test_reopening_clears_the_resolution(sales, db, ticket, via):
    sales.post(url(ticket["id"], "resolve"))

    if via == "patch":
        response = sales.patch(url(ticket["id"]), json={"status": "open"})
    else:
        response = sales.post(url(ticket["id"], "reopen"))

    assert response.status_code == 200
    assert (response.get_json()["resolved_at"], response.get_json()["resolved_by"]) == (None, None)
    document = stored(db, ticket["id"])
    assert (document["status"], document["resolved_at"], document["resolved_by"]) == ("open", None, None)


@pytest.mark.parametrize("source", ["open", "in_progress"])
def test_a_customer_resolves_its_own_ticket(customer, db, source):
    ticket = raise_ticket(customer)
    set_status(db, ticket["id"], source)

    response = customer.post(url(ticket["id"], "resolve"))

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["resolved_by"]) == ("resolved", customer.user["id"])
    assert stored(db, ticket["id"])["status"] == "resolved"


@pytest.mark.parametrize("source", ["resolved", "closed"])
def test_a_customer_reopens_its_own_ticket(customer, db, source):
    ticket = raise_ticket(customer)
    set_status(db, ticket["id"], source)

    response = customer.post(url(ticket["id"], "reopen"), json={})

    assert response.status_code == 200 and response.get_json()["status"] == "open"
    assert stored(db, ticket["id"])["status"] == "open"


@pytest.mark.parametrize(("action", "source"), [("resolve", "resolved"), ("resolve", "closed"),
                                                 ("reopen", "open"), ("reopen", "in_progress")])
def test_resolve_and_reopen_from_the_wrong_status_are_422_and_change_nothing(customer, db, action, source):
    ticket = raise_ticket(customer)
    set_status(db, ticket["id"], source)
    before = stored(db, ticket["id"])

    response = customer.post(url(ticket["id"], action))

    assert assert_error(response, 422, "validation_error")["errors"]["status"]
    assert stored(db, ticket["id"]) == before


def test_staff_use_resolve_and_reopen_too(sales, ticket):
    assert sales.post(url(ticket["id"], "resolve")).get_json()["status"] == "resolved"
    assert sales.post(url(ticket["id"], "reopen")).get_json()["status"] == "open"


def test_resolve_takes_no_fields(customer, db):
    ticket = raise_ticket(customer)

    response = customer.post(url(ticket["id"], "resolve"), json={"status": "closed"})

    assert assert_error(response, 422)["errors"] == {"status": ["Unknown field."]}
    assert stored(db, ticket["id"])["status"] == "open"


def test_a_transition_applies_only_from_the_status_it_was_checked_against(sales, db, ticket):
    """Two concurrent resolves: the write is filtered on the status, so only the first lands."""
    repository = TicketRepository(db)
    oid = ObjectId(ticket["id"])

    first = repository.transition(oid, "resolved", ["open", "in_progress"], ObjectId(sales.user["id"]))
    second = repository.transition(oid, "resolved", ["open", "in_progress"], ObjectId(sales.user["id"]))

    assert first["status"] == "resolved" and first["version"] == 2
    assert second is None and stored(db, ticket["id"])["version"] == 2


def test_a_status_patch_that_loses_a_race_is_412_and_changes_nothing(sales, db, ticket, monkeypatch):
    """PATCH checks the move against the status it read; the version filter refuses it if the ticket moved."""
    real_get = TicketRepository.get

    def get_then_someone_resolves(self, ticket_id):
        found = real_get(self, ticket_id)
        db.tickets.update_one({"_id": found["_id"]}, {"$set": {"status": "resolved"}, "$inc": {"version": 1}})
        return found

    monkeypatch.setattr(TicketRepository, "get", get_then_someone_resolves)

    response = sales.patch(url(ticket["id"]), json={"status": "in_progress"})

    assert_error(response, 412, "precondition_failed")
    assert stored(db, ticket["id"])["status"] == "resolved"


def test_a_resolve_that_loses_a_race_is_422(customer, db, monkeypatch):
    ticket = raise_ticket(customer)
    real_get = TicketRepository.get
    calls = []

    def get_then_someone_resolves(self, ticket_id):
        found = real_get(self, ticket_id)
        if not calls:
            db.tickets.update_one({"_id": found["_id"]}, {"$set": {"status": "resolved"}, "$inc": {"version": 1}})
        calls.append(ticket_id)
        return found

    monkeypatch.setattr(TicketRepository, "get", get_then_someone_resolves)

    response = customer.post(url(ticket["id"], "resolve"))

    assert assert_error(response, 422)["errors"] == {"status": ["A ticket cannot move from resolved to resolved."]}
    assert stored(db, ticket["id"])["version"] == 2
    assert len(ticket_notes(db, customer.customer_id)) == 1


def test_raising_adds_one_note_to_the_customers_history(customer, db):
    ticket = raise_ticket(customer, subject="Lost my card")

    notes = ticket_notes(db, customer.customer_id)

    assert len(notes) == 1
    note = notes[0]
    assert (note["type"], note["status"], note["ticket_id"]) == ("note", "completed", ObjectId(ticket["id"]))
    assert (note["subject"], note["notes"]) == (f"Ticket {ticket['number']} raised", "Lost my card")
    assert note["employee_id"] is None and note["follow_up_required"] is False


def test_resolving_adds_one_note_with_the_staff_member(sales, db, customer_id, ticket):
    sales.patch(url(ticket["id"]), json={"status": "resolved"})

    notes = ticket_notes(db, customer_id)

    assert [note["subject"] for note in notes] == [f"Ticket {ticket['number']} raised",
                                                    f"Ticket {ticket['number']} resolved"]
    assert {note["employee_id"] for note in notes} == {ObjectId(sales.user["id"])}


def test_the_history_lists_each_ticket_event_once(customer, sales, db):
    ticket = raise_ticket(customer)
    customer.post(url(ticket["id"], "resolve"))
    customer.post(url(ticket["id"], "comments"), json={"body": "Thanks"})
    sales.patch(url(ticket["id"]), json={"priority": "low"})

    response = customer.get(f"/api/v1/customers/{customer.customer_id}/interactions")

    items = response.get_json()["items"]
    assert response.get_json()["total"] == 2
    assert [item["subject"] for item in items] == [f"Ticket {ticket['number']} resolved",
                                                   f"Ticket {ticket['number']} raised"]
    assert {item["ticket_id"] for item in items} == {ticket["id"]}


def test_each_resolution_after_a_reopen_is_its_own_event(customer, db):
    ticket = raise_ticket(customer)
    for action in ("resolve", "reopen", "resolve"):
        assert customer.post(url(ticket["id"], action)).status_code == 200

    subjects = [note["subject"].rsplit(" ", 1)[1] for note in ticket_notes(db, customer.customer_id)]

    assert subjects == ["raised", "resolved", "resolved"]


def test_a_refused_move_adds_no_event(customer, db):
    ticket = raise_ticket(customer)
    set_status(db, ticket["id"], "closed")

    customer.post(url(ticket["id"], "resolve"))

    assert len(ticket_notes(db, customer.customer_id)) == 1
