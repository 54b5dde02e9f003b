"""A privacy erasure keeps the audit entries but replaces the erased person's values with "[erased]"."""
import json

from tests.api.audit_helpers import created, entries, only_entry
from tests.conftest import login, register

CUSTOMERS = "/api/v1/customers"
NAME = "Zineb"
EMAIL_USER = "zineb"


def test_erasure_keeps_entries_and_erases_the_persons_values(client, admin, sales, db):
    registered = register(client, username=EMAIL_USER, first_name=NAME, last_name="Alaoui", phone="+212612345678")
    customer_id, user_id = registered["customer"]["id"], registered["user"]["id"]
    me = login(client, EMAIL_USER)
    own = {"Authorization": f"Bearer {me['access_token']}"}
    client.patch("/api/v1/auth/me", json={"last_name": "Bennani"}, headers=own)
    sales.patch(f"{CUSTOMERS}/{customer_id}", json={"notes": "Prefers calls after 6pm"})
    interaction = created(sales, f"{CUSTOMERS}/{customer_id}/interactions", {"type": "phone", "notes": "Asked for Fes"})
    ticket = created(sales, "/api/v1/tickets", {"customer_id": customer_id, "subject": "Lost passport",
                                                "priority": "high"})
    sales.post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "Her passport number is X123"})
    feedback = client.post("/api/v1/feedback", json={"rating": 2, "comments": "Driver was rude"}, headers=own)
    product = created(admin, "/api/v1/products", {"sku": "T-1", "name": "Tour", "price": "100.00"})
    sale = created(sales, "/api/v1/sales", {"customer_id": customer_id, "product_id": product["id"]})
    deal = created(sales, "/api/v1/opportunities", {"customer_id": customer_id, "title": "Trip for Zineb",
                                                    "amount": "900.00"})
    unrelated = created(admin, "/api/v1/companies", {"name": "Zineb Travel"})
    about_person = {"customers": customer_id, "users": user_id, "interactions": interaction["id"],
                    "tickets": ticket["id"], "feedback": feedback.get_json()["id"], "sales": sale["id"],
                    "opportunities": deal["id"]}
    counts = {entity: len(entries(admin, entity=entity, entity_id=entity_id))
              for entity, entity_id in about_person.items()}
    ticket_actions = [entry["action"] for entry in entries(admin, entity_id=ticket["id"])]

    assert admin.delete(f"{CUSTOMERS}/{customer_id}", query_string={"erase": "true"}).status_code == 204

    # Every entry is kept, with its actor, action and field names ...
    assert {entity: len([entry for entry in entries(admin, entity=entity, entity_id=entity_id)
                         if entry["action"] != "erase"])
            for entity, entity_id in about_person.items()} == counts
    assert [entry["action"] for entry in entries(admin, entity_id=ticket["id"])] == ticket_actions
    stored = json.dumps(list(db.audit_log.find({"entity": {"$ne": "companies"}}, {"_id": 0})), default=str)
    # ... but nothing the person said or was remains.
    for value in (NAME, "Alaoui", "Bennani", "+212612345678", EMAIL_USER + "@mail.example", "Prefers calls",
                  "Asked for Fes", "Lost passport", "X123", "Driver was rude", "Trip for Zineb"):
        assert value not in stored, value
    created_customer = only_entry(admin, entity="customers", entity_id=customer_id, action="create")
    assert created_customer["changes"]["first_name"] == {"from": None, "to": "[erased]"}
    assert created_customer["changes"]["last_name"] == {"from": None, "to": "[erased]"}
    profile = only_entry(admin, entity="users", entity_id=user_id, action="update")
    assert profile["changes"]["last_name"] == {"from": "[erased]", "to": "[erased]"}
    assert only_entry(admin, entity_id=interaction["id"])["changes"]["notes"] == {"from": None, "to": "[erased]"}
    comment = only_entry(admin, entity_id=ticket["id"], action="comment")
    assert comment["changes"]["comment"] == {"from": None, "to": "[erased]"}
    # Records the erasure keeps for reports keep their anonymous figures in the log too.
    ticket_create = only_entry(admin, entity_id=ticket["id"], action="create")
    assert ticket_create["changes"]["subject"] == {"from": None, "to": "[erased]"}
    assert ticket_create["changes"]["priority"] == {"from": None, "to": "high"}
    sale_create = only_entry(admin, entity_id=sale["id"], action="create")
    assert sale_create["changes"]["customer_id"] == {"from": None, "to": "[erased]"}
    assert sale_create["changes"]["amount"] == {"from": None, "to": "100.00"}
    deal_create = only_entry(admin, entity_id=deal["id"], action="create")
    assert deal_create["changes"]["title"] == {"from": None, "to": "[erased]"}
    assert deal_create["changes"]["amount"] == {"from": None, "to": "900.00"}
    # Entries about other records are untouched.
    assert only_entry(admin, entity_id=unrelated["id"])["changes"]["name"] == {"from": None, "to": "Zineb Travel"}


def test_the_erasure_itself_is_recorded_without_values(admin, customer):
    assert admin.delete(f"{CUSTOMERS}/{customer.customer_id}", query_string={"erase": "true"}).status_code == 204

    entry = only_entry(admin, action="erase")

    assert (entry["entity"], entry["entity_id"], entry["actor_id"], entry["actor_role"], entry["changes"]) == (
        "customers", customer.customer_id, admin.user["id"], "admin", {})


def test_an_erased_entry_gets_a_new_etag(admin, customer):
    entry_id = only_entry(admin, entity_id=customer.customer_id, action="create")["id"]
    etag = admin.get(f"/api/v1/audit/{entry_id}").headers["ETag"]

    admin.delete(f"{CUSTOMERS}/{customer.customer_id}", query_string={"erase": "true"})

    response = admin.get(f"/api/v1/audit/{entry_id}", headers={"If-None-Match": etag})
    assert response.status_code == 200 and response.headers["ETag"] != etag


def test_erasing_one_person_leaves_anothers_entries_alone(admin, customer, other_customer):
    admin.delete(f"{CUSTOMERS}/{customer.customer_id}", query_string={"erase": "true"})

    entry = only_entry(admin, entity_id=other_customer.customer_id, action="create")

    assert entry["changes"]["first_name"] == {"from": None, "to": "Cust"}
