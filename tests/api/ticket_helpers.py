"""Shared helpers for the ticket tests."""
from bson import ObjectId

BASE = "/api/v1/tickets"


def url(ticket_id, action=None):
    return f"{BASE}/{ticket_id}" + (f"/{action}" if action else "")


def raise_ticket(api, customer_id=None, **fields):
    """POST /tickets as `api` and return the created ticket (asserting 201)."""
    body = {"subject": "Printer on fire", **fields}
    if customer_id is not None:
        body["customer_id"] = customer_id
    response = api.post(BASE, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def stored(db, ticket_id):
    return db.tickets.find_one({"_id": ObjectId(ticket_id)})


def set_status(db, ticket_id, status):
    """Put a ticket straight into `status` (to test moves out of it)."""
    db.tickets.update_one({"_id": ObjectId(ticket_id)}, {"$set": {"status": status}})


def ticket_notes(db, customer_id):
    """The customer's history entries that refer to a ticket, oldest first."""
    document = db.customers.find_one({"_id": ObjectId(customer_id)}, {"interactions": 1})
    notes = [item for item in document.get("interactions", []) if item.get("ticket_id")]
    return sorted(notes, key=lambda item: (item["occurred_at"], item["id"]))


def ids(items):
    return [item["id"] for item in items]


def make_customer(api, first_name="Ada", email=None):
    """A customer record created by staff; returns its id."""
    email = email or f"{first_name.lower()}.{ObjectId()}@mail.example"
    response = api.post("/api/v1/customers", json={"first_name": first_name, "email": email})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]
