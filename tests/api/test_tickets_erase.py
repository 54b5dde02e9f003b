"""erase_customer for tickets: the tickets stay for statistics, the person's text is gone."""
from bson import ObjectId

from crm_service.repositories.tickets import erase_customer
from tests.api.ticket_helpers import BASE, raise_ticket, stored, url


def test_erasure_blanks_subject_description_and_comment_bodies(customer, sales, db):
    ticket = raise_ticket(customer, subject="My address is 1 Main St", description="Call me on +212612345678")
    sales.post(url(ticket["id"], "comments"), json={"body": "Spoke to Jane", "internal": True})
    customer.post(url(ticket["id"], "comments"), json={"body": "I am Jane"})
    before = stored(db, ticket["id"])

    touched = erase_customer(db, ObjectId(customer.customer_id))

    after = stored(db, ticket["id"])
    assert touched == 1
    assert (after["subject"], after["description"]) == ("[erased]", "[erased]")
    assert [item["body"] for item in after["comments"]] == ["[erased]", "[erased]"]
    assert [item["id"] for item in after["comments"]] == [item["id"] for item in before["comments"]]
    assert after["version"] == before["version"] + 1 and after["updated_at"] >= before["updated_at"]


def test_erasure_keeps_what_statistics_need(customer, db):
    ticket = raise_ticket(customer, priority="high")
    customer.post(url(ticket["id"], "resolve"))
    before = stored(db, ticket["id"])

    erase_customer(db, ObjectId(customer.customer_id))

    after = stored(db, ticket["id"])
    kept = ("number", "customer_id", "priority", "status", "created_at", "resolved_at", "resolved_by", "created_by")
    assert {name: after[name] for name in kept} == {name: before[name] for name in kept}


def test_an_empty_description_stays_empty(customer, db):
    ticket = raise_ticket(customer)

    erase_customer(db, ObjectId(customer.customer_id))

    assert stored(db, ticket["id"])["description"] is None


def test_erased_words_are_no_longer_searchable(customer, sales, db):
    ticket = raise_ticket(customer, subject="Zanzibar holiday")

    erase_customer(db, ObjectId(customer.customer_id))

    assert sales.get(BASE, query_string={"q": "zanzibar"}).get_json()["items"] == []
    assert [item["id"] for item in sales.get(BASE, query_string={"q": ticket["number"]}).get_json()["items"]] == [
        ticket["id"]]


def test_erasure_touches_only_that_customers_tickets(customer, other_customer, db):
    raise_ticket(customer)
    raise_ticket(customer)
    other = raise_ticket(other_customer, subject="Keep me")

    assert erase_customer(db, ObjectId(customer.customer_id)) == 2
    assert stored(db, other["id"])["subject"] == "Keep me"


def test_erasure_of_a_customer_without_tickets_touches_nothing(db):
    assert erase_customer(db, ObjectId()) == 0


def test_erasure_retries_when_a_comment_lands_meanwhile(customer, db, monkeypatch):
    ticket = raise_ticket(customer)
    oid = ObjectId(ticket["id"])
    real_find_one = db.tickets.find_one
    reads = []

    class RacingTickets:
        """The tickets collection, with a comment arriving right after the first read of the ticket."""

        def __getattr__(self, name):
            return getattr(db.tickets, name)

        def find_one(self, *args, **kwargs):
            found = real_find_one(*args, **kwargs)
            if not reads:
                db.tickets.update_one({"_id": oid}, {"$push": {"comments": {"id": ObjectId(), "body": "late"}},
                                                     "$inc": {"version": 1}})
            reads.append(found)
            return found

    class RacingDb:
        tickets = RacingTickets()

    assert erase_customer(RacingDb(), ObjectId(customer.customer_id)) == 1
    assert len(reads) == 2
    assert [item["body"] for item in stored(db, ticket["id"])["comments"]] == ["[erased]"]
