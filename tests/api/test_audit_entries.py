"""Every write view leaves one audit entry: actor, entity, id, action and the exact from -> to changes."""
import io

from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.api.audit_helpers import created, entries, only_entry
from tests.conftest import make_staff

CUSTOMERS = "/api/v1/customers"


def make_customer(api, **fields):
    return created(api, CUSTOMERS, {"first_name": "Ann", "last_name": "Lee", "email": "ann@mail.example", **fields})


def assert_entry(entry, actor, action, entity, entity_id):
    assert (entry["actor_id"], entry["actor_role"], entry["action"], entry["entity"], entry["entity_id"]) == (
        actor.user["id"], actor.user["role"], action, entity, entity_id)
    assert entry["request_id"] and entry["at"].endswith("Z")


# -- customers ------------------------------------------------------------------------------------

def test_creating_a_customer_records_its_values(sales, admin):
    customer = make_customer(sales, phone="+212612345678", tags=["vip"])

    entry = only_entry(admin, entity="customers", entity_id=customer["id"])

    assert_entry(entry, sales, "create", "customers", customer["id"])
    changes = entry["changes"]
    assert changes["first_name"] == {"from": None, "to": "Ann"}
    assert changes["email"] == {"from": None, "to": "ann@mail.example"}
    assert changes["phone"] == {"from": None, "to": "+212612345678"}
    assert changes["tags"] == {"from": None, "to": ["vip"]}
    assert changes["status"] == {"from": None, "to": "lead"}
    # Derived and internal fields are not changes anyone made.
    assert not {"search_terms", "search_prefixes", "last_name_key", "version", "created_at", "updated_at",
                "interactions", "company_terms", "interaction_count"} & set(changes)


def test_updating_a_customer_records_exactly_the_fields_that_changed(sales, admin):
    customer = make_customer(sales)

    response = sales.patch(f"{CUSTOMERS}/{customer['id']}", json={"last_name": "Ng", "status": "active",
                                                                   "first_name": "Ann"})

    assert response.status_code == 200
    entry = entries(admin, entity="customers", entity_id=customer["id"], action="update")[0]
    assert_entry(entry, sales, "update", "customers", customer["id"])
    assert entry["changes"] == {"last_name": {"from": "Lee", "to": "Ng"}, "status": {"from": "lead", "to": "active"}}


def test_a_customer_user_changing_its_record_is_the_actor(customer, admin):
    customer.patch(f"{CUSTOMERS}/{customer.customer_id}", json={"phone": "+212612345678"})

    entry = entries(admin, entity="customers", entity_id=customer.customer_id, action="update")[0]

    assert_entry(entry, customer, "update", "customers", customer.customer_id)
    assert entry["changes"] == {"phone": {"from": None, "to": "+212612345678"}}


def test_soft_delete_and_restore_are_recorded(admin):
    customer = make_customer(admin)

    assert admin.delete(f"{CUSTOMERS}/{customer['id']}").status_code == 204
    assert admin.post(f"{CUSTOMERS}/{customer['id']}/restore").status_code == 200

    restore, delete = entries(admin, entity_id=customer["id"], action="restore") + \
        entries(admin, entity_id=customer["id"], action="delete")
    assert_entry(delete, admin, "delete", "customers", customer["id"])
    assert delete["changes"] == {"is_active": {"from": True, "to": False}}
    assert restore["changes"] == {"is_active": {"from": False, "to": True}}


def test_csv_import_records_one_entry_per_created_or_updated_customer(admin):
    existing = make_customer(admin)
    content = f"first_name,last_name,email\nBo,Ray,bo@mail.example\nAnn,Kay,{existing['email']}\n".encode()
    boundary, body = encode_multipart(
        {"file": FileStorage(io.BytesIO(content), filename="customers.csv", content_type="text/csv")})

    response = admin.post(f"{CUSTOMERS}/import", data=body, content_type=f"multipart/form-data; boundary={boundary}")

    assert response.get_json()["created"] == 1 and response.get_json()["updated"] == 1
    update = only_entry(admin, entity_id=existing["id"], action="update")
    assert update["changes"] == {"last_name": {"from": "Lee", "to": "Kay"}}
    creates = [entry for entry in entries(admin, entity="customers", action="create")
               if entry["changes"].get("email", {}).get("to") == "bo@mail.example"]
    assert len(creates) == 1 and creates[0]["changes"]["first_name"] == {"from": None, "to": "Bo"}


def test_a_dry_run_import_records_nothing(admin):
    before = len(entries(admin))
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(b"first_name,email\nBo,bo@mail.example\n"),
                                                           filename="c.csv", content_type="text/csv")})

    response = admin.post(f"{CUSTOMERS}/import", data=body, query_string={"dry_run": "true"},
                          content_type=f"multipart/form-data; boundary={boundary}")

    assert response.get_json()["created"] == 1
    assert len(entries(admin)) == before


# -- companies ------------------------------------------------------------------------------------

def test_company_create_update_delete(admin):
    company = created(admin, "/api/v1/companies", {"name": "Atlas", "address": {"city": "Fes"}})
    admin.patch(f"/api/v1/companies/{company['id']}", json={"industry": "travel", "address": {"city": "Rabat"}})
    assert admin.delete(f"/api/v1/companies/{company['id']}").status_code == 204

    delete, update, create = entries(admin, entity="companies", entity_id=company["id"])

    assert_entry(create, admin, "create", "companies", company["id"])
    assert create["changes"]["name"] == {"from": None, "to": "Atlas"}
    assert create["changes"]["address.city"] == {"from": None, "to": "Fes"}
    assert update["changes"] == {"industry": {"from": None, "to": "travel"},
                                 "address.city": {"from": "Fes", "to": "Rabat"}}
    assert_entry(delete, admin, "delete", "companies", company["id"])
    assert delete["changes"]["name"] == {"from": "Atlas", "to": None}


# -- interactions ---------------------------------------------------------------------------------

def test_interaction_create_update_delete(sales, admin):
    customer = make_customer(sales)
    path = f"{CUSTOMERS}/{customer['id']}/interactions"
    interaction = created(sales, path, {"type": "phone", "notes": "Called about Fes"})
    sales.patch(f"{path}/{interaction['id']}", json={"notes": "Called about Rabat", "follow_up_required": True})
    assert sales.delete(f"{path}/{interaction['id']}").status_code == 204

    delete, update, create = entries(admin, entity="interactions", entity_id=interaction["id"])

    assert_entry(create, sales, "create", "interactions", interaction["id"])
    assert create["changes"]["notes"] == {"from": None, "to": "Called about Fes"}
    assert create["changes"]["customer_id"] == {"from": None, "to": customer["id"]}
    assert create["changes"]["employee_id"] == {"from": None, "to": sales.user["id"]}
    assert update["changes"] == {"notes": {"from": "Called about Fes", "to": "Called about Rabat"},
                                 "follow_up_required": {"from": False, "to": True}}
    assert delete["changes"]["notes"] == {"from": "Called about Rabat", "to": None}


def test_meetings_are_recorded_as_interactions(sales, admin):
    customer = make_customer(sales)
    meeting = created(sales, f"{CUSTOMERS}/{customer['id']}/meetings",
                      {"scheduled_at": "2030-01-02T10:00:00Z", "subject": "Plan the tour"})

    entry = only_entry(admin, entity="interactions", entity_id=meeting["id"])

    assert entry["action"] == "create"
    assert entry["changes"]["occurred_at"] == {"from": None, "to": "2030-01-02T10:00:00.000Z"}
    assert entry["changes"]["status"] == {"from": None, "to": "scheduled"}


# -- tickets --------------------------------------------------------------------------------------

def test_ticket_actions_are_named(app, sales, admin, customer):
    ticket = created(customer, "/api/v1/tickets", {"subject": "Lost bag"})
    path = f"/api/v1/tickets/{ticket['id']}"
    colleague = make_staff(app, "sales")
    sales.patch(path, json={"priority": "high"})
    sales.post(f"{path}/assign", json={"assignee_id": str(colleague["_id"])})
    sales.post(f"{path}/comments", json={"body": "On it", "internal": True})
    customer.post(f"{path}/resolve")
    customer.post(f"{path}/reopen")
    assert admin.delete(path).status_code == 204

    delete, reopen, resolve, comment, assign, update, create = entries(admin, entity="tickets", entity_id=ticket["id"])

    assert_entry(create, customer, "create", "tickets", ticket["id"])
    assert create["changes"]["subject"] == {"from": None, "to": "Lost bag"}
    assert create["changes"]["number"] == {"from": None, "to": ticket["number"]}
    assert "priority_rank" not in create["changes"] and "comments" not in create["changes"]
    assert_entry(update, sales, "update", "tickets", ticket["id"])
    assert update["changes"] == {"priority": {"from": "normal", "to": "high"}}
    assert_entry(assign, sales, "assign", "tickets", ticket["id"])
    assert assign["changes"] == {"assignee_id": {"from": None, "to": str(colleague["_id"])}}
    assert_entry(comment, sales, "comment", "tickets", ticket["id"])
    assert comment["changes"]["comment"]["from"] is None
    assert comment["changes"]["comment"]["to"]["body"] == "On it"
    assert comment["changes"]["comment"]["to"]["internal"] is True
    assert comment["changes"]["comment"]["to"]["author_id"] == sales.user["id"]
    assert_entry(resolve, customer, "resolve", "tickets", ticket["id"])
    assert resolve["changes"]["status"] == {"from": "open", "to": "resolved"}
    assert resolve["changes"]["resolved_by"] == {"from": None, "to": customer.user["id"]}
    assert_entry(reopen, customer, "reopen", "tickets", ticket["id"])
    assert reopen["changes"]["status"] == {"from": "resolved", "to": "open"}
    assert_entry(delete, admin, "delete", "tickets", ticket["id"])
    assert delete["changes"]["subject"] == {"from": "Lost bag", "to": None}


def test_a_status_change_through_patch_is_an_update(sales, admin, customer):
    ticket = created(customer, "/api/v1/tickets", {"subject": "Lost bag"})

    sales.patch(f"/api/v1/tickets/{ticket['id']}", json={"status": "in_progress"})

    entry = only_entry(admin, entity_id=ticket["id"], action="update")
    assert entry["changes"] == {"status": {"from": "open", "to": "in_progress"}}


# -- opportunities, products, sales ---------------------------------------------------------------

def test_opportunity_create_update_delete(sales, admin):
    customer = make_customer(sales)
    deal = created(sales, "/api/v1/opportunities", {"customer_id": customer["id"], "title": "Trip",
                                                    "amount": "1500.00", "currency": "EUR",
                                                    "expected_close_date": "2030-05-01"})
    sales.patch(f"/api/v1/opportunities/{deal['id']}", json={"stage": "proposal", "amount": "1750.50"})
    assert admin.delete(f"/api/v1/opportunities/{deal['id']}").status_code == 204

    delete, update, create = entries(admin, entity="opportunities", entity_id=deal["id"])

    assert_entry(create, sales, "create", "opportunities", deal["id"])
    assert create["changes"]["amount"] == {"from": None, "to": "1500.00"}
    assert create["changes"]["expected_close_date"]["to"].startswith("2030-05-01")
    assert "stage_history" not in create["changes"]
    assert update["changes"] == {"stage": {"from": "prospecting", "to": "proposal"},
                                 "probability": {"from": 10, "to": 50},
                                 "amount": {"from": "1500.00", "to": "1750.50"}}
    assert_entry(delete, admin, "delete", "opportunities", deal["id"])
    assert delete["changes"]["title"] == {"from": "Trip", "to": None}


def test_product_and_sale_writes(admin):
    product = created(admin, "/api/v1/products", {"sku": "tour-1", "name": "Desert tour", "price": "120.00",
                                                  "currency": "EUR"})
    customer = make_customer(admin)
    sale = created(admin, "/api/v1/sales", {"customer_id": customer["id"], "product_id": product["id"],
                                            "quantity": 2})
    admin.patch(f"/api/v1/sales/{sale['id']}", json={"quantity": 3})
    admin.patch(f"/api/v1/products/{product['id']}", json={"price": "130.00"})
    assert admin.delete(f"/api/v1/sales/{sale['id']}").status_code == 204

    product_update, product_create = entries(admin, entity="products", entity_id=product["id"])
    sale_delete, sale_update, sale_create = entries(admin, entity="sales", entity_id=sale["id"])

    assert product_create["changes"]["sku"] == {"from": None, "to": "TOUR-1"}
    assert "name_key" not in product_create["changes"]
    assert product_update["changes"] == {"price": {"from": "120.00", "to": "130.00"}}
    assert_entry(sale_create, admin, "create", "sales", sale["id"])
    assert sale_create["changes"]["amount"] == {"from": None, "to": "240.00"}
    assert sale_update["changes"] == {"quantity": {"from": 2, "to": 3}, "amount": {"from": "240.00", "to": "360.00"}}
    assert sale_delete["action"] == "delete" and sale_delete["changes"]["quantity"] == {"from": 3, "to": None}


def test_deleting_a_product_is_recorded(admin):
    product = created(admin, "/api/v1/products", {"sku": "X-1", "name": "Camel ride", "price": "10.00"})

    assert admin.delete(f"/api/v1/products/{product['id']}").status_code == 204

    entry = only_entry(admin, entity_id=product["id"], action="delete")
    assert_entry(entry, admin, "delete", "products", product["id"])
    assert entry["changes"]["price"] == {"from": "10.00", "to": None}


# -- feedback -------------------------------------------------------------------------------------

def test_feedback_create_resolve_reopen_delete(customer, sales, admin):
    feedback = created(customer, "/api/v1/feedback", {"rating": 4, "comments": "Lovely guide"})
    path = f"/api/v1/feedback/{feedback['id']}"
    sales.patch(path, json={"resolution_notes": "Thanked them"})
    sales.patch(path, json={"resolution_notes": "Thanked them twice"})
    sales.patch(path, json={"resolved": False})
    assert admin.delete(path).status_code == 204

    delete, reopen, update, resolve, create = entries(admin, entity="feedback", entity_id=feedback["id"])

    assert_entry(create, customer, "create", "feedback", feedback["id"])
    assert create["changes"]["rating"] == {"from": None, "to": 4}
    assert create["changes"]["comments"] == {"from": None, "to": "Lovely guide"}
    assert create["changes"]["customer_id"] == {"from": None, "to": customer.customer_id}
    assert_entry(resolve, sales, "resolve", "feedback", feedback["id"])
    assert resolve["changes"]["resolved"] == {"from": False, "to": True}
    assert resolve["changes"]["resolved_by"] == {"from": None, "to": sales.user["id"]}
    assert update["action"] == "update"
    assert update["changes"] == {"resolution_notes": {"from": "Thanked them", "to": "Thanked them twice"}}
    assert reopen["action"] == "reopen" and reopen["changes"]["resolved"] == {"from": True, "to": False}
    assert delete["action"] == "delete"


# -- segments -------------------------------------------------------------------------------------

def test_segment_create_update_recalculate_delete(sales, admin):
    segment = created(sales, "/api/v1/segments", {"name": "Gold", "criteria": {"loyalty_status": ["gold"]}})
    path = f"/api/v1/segments/{segment['id']}"
    sales.patch(path, json={"description": "Best", "criteria": {"loyalty_status": ["gold", "vip"]}})
    make_customer(admin, loyalty_status="vip")
    sales.post(f"{path}/recalculate")
    assert admin.delete(path).status_code == 204

    delete, recalculate, update, create = entries(admin, entity="segments", entity_id=segment["id"])

    assert_entry(create, sales, "create", "segments", segment["id"])
    assert create["changes"]["criteria.loyalty_status"] == {"from": None, "to": ["gold"]}
    assert create["changes"]["customer_count"] == {"from": None, "to": 0}
    assert update["changes"]["description"] == {"from": None, "to": "Best"}
    assert update["changes"]["criteria.loyalty_status"] == {"from": ["gold"], "to": ["gold", "vip"]}
    assert_entry(recalculate, sales, "recalculate", "segments", segment["id"])
    assert recalculate["changes"]["customer_count"] == {"from": 0, "to": 1}
    assert_entry(delete, admin, "delete", "segments", segment["id"])


# -- users and accounts ---------------------------------------------------------------------------

def test_admin_user_writes(admin):
    user = created(admin, "/api/v1/users", {"username": "sam", "email": "sam@staff.example",
                                            "password": "s3cret-pass-word", "role": "sales"})
    admin.patch(f"/api/v1/users/{user['id']}", json={"first_name": "Sam", "role": "admin"})
    assert admin.delete(f"/api/v1/users/{user['id']}").status_code == 204

    delete, update, create = entries(admin, entity="users", entity_id=user["id"])

    assert_entry(create, admin, "create", "users", user["id"])
    assert create["changes"]["username"] == {"from": None, "to": "sam"}
    assert create["changes"]["password"] == {"from": "[redacted]", "to": "[redacted]"}
    assert update["changes"] == {"first_name": {"from": None, "to": "Sam"}, "role": {"from": "sales", "to": "admin"}}
    assert delete["changes"]["email"] == {"from": "sam@staff.example", "to": None}


def test_registration_names_the_new_user_as_actor(client, admin):
    response = client.post("/api/v1/auth/register", json={
        "username": "amina", "email": "amina@mail.example", "password": "long-enough-1", "first_name": "Amina"})
    user, customer = response.get_json()["user"], response.get_json()["customer"]

    user_entry = only_entry(admin, entity="users", entity_id=user["id"])
    customer_entry = only_entry(admin, entity="customers", entity_id=customer["id"])

    for entry in (user_entry, customer_entry):
        assert (entry["actor_id"], entry["actor_role"], entry["action"]) == (user["id"], "customer", "create")
    assert user_entry["changes"]["username"] == {"from": None, "to": "amina"}
    assert user_entry["changes"]["password"] == {"from": "[redacted]", "to": "[redacted]"}
    assert customer_entry["changes"]["email"] == {"from": None, "to": "amina@mail.example"}


def test_own_profile_change_records_the_user_and_its_customer_record(customer, admin):
    response = customer.patch("/api/v1/auth/me", json={"last_name": "Haddad"})

    assert response.status_code == 200
    user_entry = only_entry(admin, entity="users", entity_id=customer.user["id"], action="update")
    customer_entry = only_entry(admin, entity="customers", entity_id=customer.customer_id, action="update")
    old_name = user_entry["changes"]["last_name"]["from"]
    assert user_entry["changes"] == {"last_name": {"from": old_name, "to": "Haddad"}}
    assert customer_entry["changes"] == {"last_name": {"from": old_name, "to": "Haddad"}}
    assert_entry(user_entry, customer, "update", "users", customer.user["id"])


def test_password_change_is_a_named_redacted_entry(customer, admin):
    response = customer.post("/api/v1/auth/password", json={"current_password": "correct-horse-1",
                                                             "new_password": "another-horse-2"})

    assert response.status_code == 204
    entry = only_entry(admin, entity_id=customer.user["id"], action="change_password")
    assert_entry(entry, customer, "change_password", "users", customer.user["id"])
    assert entry["changes"] == {"password": {"from": "[redacted]", "to": "[redacted]"}}


def test_logging_in_writes_no_entry(client, admin, customer):
    before = len(entries(admin))

    client.post("/api/v1/auth/login", json={"username": customer.user["username"], "password": "correct-horse-1"})

    assert len(entries(admin)) == before
