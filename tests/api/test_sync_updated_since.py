"""`updated_since` on every list endpoint (SPEC §3): a record changed after the time is listed, others are not."""
from datetime import timedelta

import pytest

from crm_service.db import ensure_indexes
from crm_service.repositories.base import utcnow
from crm_service.schemas.common import iso_z

API = "/api/v1"
BACKDATED = ("users", "companies", "customers", "tickets", "opportunities", "products", "sales", "feedback",
             "segments")
# SPEC §8: tombstones and audit entries are filtered by `since` / `from`-`to`, not `updated_since`.
APPEND_ONLY_LOGS = {"sync.list_deleted", "audit.list_audit"}


def created(api, path, body):
    response = api.post(f"{API}{path}", json=body)
    assert response.status_code == 201, (path, response.get_json())
    return response.get_json()


def changed(api, path, body):
    response = api.patch(f"{API}{path}", json=body)
    assert response.status_code == 200, (path, response.get_json())
    return response.get_json()


def backdate(db, when):
    """Every record (and every embedded interaction) last changed at `when`."""
    for name in BACKDATED:
        db[name].update_many({}, {"$set": {"updated_at": when}})
    for customer in db.customers.find({}, {"interactions": 1}):
        interactions = [{**item, "updated_at": when} for item in customer.get("interactions", [])]
        db.customers.update_one({"_id": customer["_id"]}, {"$set": {"interactions": interactions}})


@pytest.fixture
def world(app, admin, db):
    """Two records of every listed kind, all last changed a day ago; then one of each is changed now."""
    ensure_indexes(db)
    company = created(admin, "/companies", {"name": "Atlas"})
    other_company = created(admin, "/companies", {"name": "Sahara"})
    first = created(admin, "/customers", {"first_name": "Ann", "last_name": "Zed", "email": "ann@mail.example",
                                          "company_id": company["id"]})
    second = created(admin, "/customers", {"first_name": "Bob", "last_name": "Zed", "email": "bob@mail.example",
                                           "company_id": company["id"]})
    soon = iso_z(utcnow() + timedelta(days=2))
    meetings = [created(admin, f"/customers/{first['id']}/interactions",
                        {"type": "meeting", "notes": note, "occurred_at": soon, "status": "scheduled",
                         "follow_up_date": soon}) for note in ("one", "two")]
    tickets = [created(admin, "/tickets", {"customer_id": first["id"], "subject": subject}) for subject in "ab"]
    deals = [created(admin, "/opportunities", {"customer_id": first["id"], "title": t, "amount": "10"})
             for t in "ab"]
    products = [created(admin, "/products", {"sku": sku, "name": sku, "price": "5"}) for sku in ("P-1", "P-2")]
    sales = [created(admin, "/sales", {"customer_id": first["id"], "product_id": products[0]["id"]})
             for _ in range(2)]
    feedback = [created(admin, "/feedback", {"customer_id": first["id"], "rating": 4}) for _ in range(2)]
    segments = [created(admin, "/segments", {"name": name}) for name in ("All", "Everyone")]
    users = [created(admin, "/users", {"username": name, "email": f"{name}@staff.example", "password": "pass-word-1",
                                       "first_name": name, "role": "sales"}) for name in ("staff1", "staff2")]
    since = utcnow() - timedelta(hours=1)
    backdate(db, since - timedelta(days=1))

    changed(admin, f"/companies/{company['id']}", {"industry": "Travel"})
    changed(admin, f"/customers/{first['id']}", {"region": "Souss"})
    changed(admin, f"/customers/{first['id']}/interactions/{meetings[0]['id']}", {"location": "Agadir"})
    changed(admin, f"/tickets/{tickets[0]['id']}", {"priority": "high"})
    changed(admin, f"/opportunities/{deals[0]['id']}", {"title": "bigger"})
    changed(admin, f"/products/{products[0]['id']}", {"name": "Renamed"})
    changed(admin, f"/sales/{sales[0]['id']}", {"quantity": 3})
    changed(admin, f"/feedback/{feedback[0]['id']}", {"resolution_notes": "Called back"})
    changed(admin, f"/segments/{segments[0]['id']}", {"description": "Every active customer"})
    changed(admin, f"/users/{users[0]['id']}", {"first_name": "Renamed"})
    segment = segments[0]["id"]
    return {
        "since": iso_z(since),
        # path: (id changed after `since`, id not changed since)
        "/companies": (company["id"], other_company["id"]),
        "/customers": (first["id"], second["id"]),
        "/customers/search": (first["id"], second["id"]),
        f"/companies/{company['id']}/customers": (first["id"], second["id"]),
        f"/segments/{segment}/customers": (first["id"], second["id"]),
        f"/customers/{first['id']}/interactions": (meetings[0]["id"], meetings[1]["id"]),
        "/interactions": (meetings[0]["id"], meetings[1]["id"]),
        "/interactions/upcoming": (meetings[0]["id"], meetings[1]["id"]),
        "/interactions/follow-ups": (meetings[0]["id"], meetings[1]["id"]),
        "/tickets": (tickets[0]["id"], tickets[1]["id"]),
        "/opportunities": (deals[0]["id"], deals[1]["id"]),
        "/products": (products[0]["id"], products[1]["id"]),
        "/sales": (sales[0]["id"], sales[1]["id"]),
        "/feedback": (feedback[0]["id"], feedback[1]["id"]),
        "/segments": (segments[0]["id"], segments[1]["id"]),
        "/users": (users[0]["id"], users[1]["id"]),
    }


def listed_ids(api, path, **query):
    response = api.get(f"{API}{path}", query_string={"size": 100, **query})
    assert response.status_code == 200, (path, response.get_json())
    return [item["id"] for item in response.get_json()["items"]]


def paged_list_endpoints(app):
    """Every documented paged GET (the OpenAPI document is built from the same declarations)."""
    return {rule.endpoint for rule in app.url_map.iter_rules()
            if "GET" in rule.methods and getattr(app.view_functions[rule.endpoint], "api_doc", {}).get("paged")}


def test_every_other_paged_list_takes_updated_since_except_the_append_only_logs(app, admin, world):
    """Lists added after this file: at least `updated_since` is accepted (not 422) where SPEC §8 asks for it."""
    adapter = app.url_map.bind("localhost")
    covered = {adapter.match(f"{API}{path}", method="GET")[0] for path in world if path != "since"}
    others = paged_list_endpoints(app) - covered - APPEND_ONLY_LOGS
    for rule in app.url_map.iter_rules():
        if rule.endpoint in others and not rule.arguments:
            response = admin.get(rule.rule, query_string={"updated_since": world["since"]})
            assert response.status_code == 200, (rule.rule, response.get_json())


def test_the_append_only_logs_take_no_updated_since(admin):
    response = admin.get(f"{API}/sync/deleted", query_string={"since": "2024-01-01", "updated_since": "2024-01-01"})
    assert response.status_code == 422
    assert "updated_since" in response.get_json()["errors"]


@pytest.mark.parametrize("path_kind", [
    "/companies", "/customers", "/customers/search", "company customers", "segment members", "history",
    "/interactions", "/interactions/upcoming", "/interactions/follow-ups", "/tickets", "/opportunities",
    "/products", "/sales", "/feedback", "/segments", "/users",
])
def test_updated_since_lists_what_changed_after_the_time_and_nothing_else(admin, world, path_kind):
    path = {
        "company customers": next(p for p in world if p.startswith("/companies/")),
        "segment members": next(p for p in world if p.startswith("/segments/")),
        "history": next(p for p in world if p.endswith("/interactions") and p.startswith("/customers/")),
    }.get(path_kind, path_kind)
    changed_id, unchanged_id = world[path]

    everything = listed_ids(admin, path)
    recent = listed_ids(admin, path, updated_since=world["since"])

    assert changed_id in everything and unchanged_id in everything
    assert changed_id in recent
    assert unchanged_id not in recent
