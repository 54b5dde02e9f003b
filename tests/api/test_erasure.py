"""DELETE /customers/{id}?erase=true removes or anonymises the person everywhere."""
import pytest
from bson import ObjectId

from tests.conftest import PASSWORD, assert_error, login, register


@pytest.fixture
def person(client, admin, db):
    """A registered customer with a history, an archived interaction, a ticket, feedback, a sale and a deal."""
    registered = register(client)
    customer_id = registered["customer"]["id"]
    me = login(client, registered["user"]["username"])
    for number in range(3):
        response = admin.post(f"/api/v1/customers/{customer_id}/interactions",
                              json={"type": "phone", "notes": f"Call {number} about the Atlas tour"})
        assert response.status_code == 201
    ticket = admin.post("/api/v1/tickets", json={"customer_id": customer_id, "subject": "Lost luggage in Fes",
                                                  "description": "My blue suitcase never arrived."})
    assert ticket.status_code == 201, ticket.get_json()
    feedback = client.post("/api/v1/feedback", json={"rating": 2, "comments": "The driver was rude."},
                           headers={"Authorization": f"Bearer {me['access_token']}"})
    assert feedback.status_code == 201, feedback.get_json()
    product = admin.post("/api/v1/products", json={"sku": "TOUR-1", "name": "Desert tour", "price": "120.00",
                                                    "currency": "EUR"})
    assert product.status_code == 201, product.get_json()
    sale = admin.post("/api/v1/sales", json={"customer_id": customer_id, "product_id": product.get_json()["id"],
                                             "quantity": 2})
    assert sale.status_code == 201, sale.get_json()
    deal = admin.post("/api/v1/opportunities", json={"customer_id": customer_id, "title": "Family trip for Amina",
                                                      "amount": "900.00", "currency": "EUR"})
    assert deal.status_code == 201, deal.get_json()
    db.interaction_archive.insert_one({"id": ObjectId(), "customer_id": ObjectId(customer_id), "type": "note",
                                       "notes": "Old note with her address"})
    return {"customer_id": customer_id, "user": registered["user"], "ticket": ticket.get_json(),
            "sale": sale.get_json(), "deal": deal.get_json()}


def test_erase_removes_the_person_everywhere(admin, client, db, person):
    customer_oid = ObjectId(person["customer_id"])

    response = admin.delete(f"/api/v1/customers/{person['customer_id']}?erase=true")

    assert response.status_code == 204
    assert_error(admin.get(f"/api/v1/customers/{person['customer_id']}"), 404, "not_found")
    assert db.customers.count_documents({"_id": customer_oid}) == 0
    assert db.interaction_archive.count_documents({"customer_id": customer_oid}) == 0
    assert db.feedback.count_documents({"customer_id": customer_oid}) == 0
    assert db.users.count_documents({"_id": ObjectId(person["user"]["id"])}) == 0
    ticket = db.tickets.find_one({"_id": ObjectId(person["ticket"]["id"])})
    assert ticket["subject"] == "[erased]" and ticket["description"] == "[erased]"
    sale = db.sales.find_one({"_id": ObjectId(person["sale"]["id"])})
    assert sale["customer_id"] is None and str(sale["amount"]) == "240.00"
    deal = db.opportunities.find_one({"_id": ObjectId(person["deal"]["id"])})
    assert deal["title"] == "[erased]" and deal["customer_id"] is None
    assert db.tombstones.count_documents({"entity": "customers", "entity_id": customer_oid}) >= 1


def test_erased_person_can_no_longer_log_in(admin, client, person):
    admin.delete(f"/api/v1/customers/{person['customer_id']}?erase=true")

    response = client.post("/api/v1/auth/login", json={"username": person["user"]["username"], "password": PASSWORD})

    assert_error(response, 401, "unauthorized")


def test_nothing_left_in_the_database_names_the_person(admin, db, person):
    admin.delete(f"/api/v1/customers/{person['customer_id']}?erase=true")

    words = ("Atlas tour", "Lost luggage", "blue suitcase", "rude", "Family trip", "her address",
             person["user"]["email"], person["user"]["username"])
    for name in db.list_collection_names():
        for document in db[name].find({}):
            text = repr(document)
            for word in words:
                assert word not in text, (name, word)


def test_sales_users_cannot_erase(sales, db, person):
    response = sales.delete(f"/api/v1/customers/{person['customer_id']}?erase=true")

    assert_error(response, 403, "forbidden")
    assert db.customers.count_documents({"_id": ObjectId(person["customer_id"])}) == 1
    assert db.tickets.find_one({"_id": ObjectId(person["ticket"]["id"])})["subject"] == "Lost luggage in Fes"
