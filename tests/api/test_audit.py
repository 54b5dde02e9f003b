"""GET /audit: admin only, the list envelope, filters, newest first, cursors; secrets never stored; failed
writes leave nothing; a failed audit insert is logged and does not undo the write."""
import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo.errors import PyMongoError

from crm_service.logs import JsonFormatter
from crm_service.repositories.audit import AuditRepository
from tests.api.audit_helpers import AUDIT, created, entries, only_entry
from tests.conftest import PASSWORD, assert_error, make_staff

ENTRY_FIELDS = {"id", "at", "actor_id", "actor_role", "action", "entity", "entity_id", "changes", "request_id"}


def make_company(api, name):
    return created(api, "/api/v1/companies", {"name": name})


# -- access ---------------------------------------------------------------------------------------

def test_anonymous_callers_get_401(anon):
    assert_error(anon.get(AUDIT), 401, "unauthorized")


@pytest.mark.parametrize("who", ["sales", "customer"])
def test_only_admins_read_the_log(request, who):
    api = request.getfixturevalue(who)
    assert_error(api.get(AUDIT), 403, "forbidden")
    assert_error(api.get(f"{AUDIT}/{ObjectId()}"), 403, "forbidden")


# -- the list -------------------------------------------------------------------------------------

def test_entries_have_the_documented_shape_and_the_request_id(admin):
    response = admin.post("/api/v1/companies", json={"name": "Atlas"}, headers={"X-Request-ID": "req-42"})
    company_id = response.get_json()["id"]

    body = admin.get(AUDIT).get_json()

    assert set(body) == {"items", "page", "size", "total", "pages", "next_cursor"}
    assert body["total"] == 1 and body["pages"] == 1
    entry = body["items"][0]
    assert set(entry) == ENTRY_FIELDS
    assert entry["entity_id"] == company_id and entry["request_id"] == "req-42"
    assert entry["actor_id"] == admin.user["id"] and entry["actor_role"] == "admin"


def test_newest_first_by_default_and_oldest_first_on_request(admin):
    for name in ("One", "Two", "Three"):
        make_company(admin, name)

    newest = [entry["changes"]["name"]["to"] for entry in entries(admin)]
    oldest = [entry["changes"]["name"]["to"] for entry in entries(admin, sort="at")]

    assert newest == ["Three", "Two", "One"]
    assert oldest == ["One", "Two", "Three"]


def test_filters_entity_action_actor_and_entity_id(app, admin, client):
    other_admin = make_staff(app, "admin")
    other_token = client.post("/api/v1/auth/login", json={"username": other_admin["username"],
                                                          "password": PASSWORD}).get_json()["access_token"]
    company = make_company(admin, "Atlas")
    admin.patch(f"/api/v1/companies/{company['id']}", json={"industry": "travel"})
    product = client.post("/api/v1/products", json={"sku": "P-1", "name": "Tour", "price": "1.00"},
                          headers={"Authorization": f"Bearer {other_token}"}).get_json()

    assert {entry["entity"] for entry in entries(admin, entity="companies")} == {"companies"}
    assert [entry["action"] for entry in entries(admin, entity="companies")] == ["update", "create"]
    assert [entry["entity"] for entry in entries(admin, action="update")] == ["companies"]
    assert [entry["entity_id"] for entry in entries(admin, actor_id=str(other_admin["_id"]))] == [product["id"]]
    assert len(entries(admin, entity_id=company["id"])) == 2
    assert entries(admin, entity="tickets") == []


def test_from_and_to_bound_the_time(admin, db):
    make_company(admin, "Old")
    make_company(admin, "New")
    old_id = db.audit_log.find_one({"changes.to": "Old"})["_id"]
    db.audit_log.update_one({"_id": old_id}, {"$set": {"at": datetime(2020, 5, 1, 12, tzinfo=UTC)}})

    assert [entry["id"] for entry in entries(admin, to="2021-01-01")] == [str(old_id)]
    assert [entry["id"] for entry in entries(admin, **{"from": "2020-05-01T12:00:00Z", "to": "2020-05-02"})] == \
        [str(old_id)]
    recent = entries(admin, **{"from": (datetime.now(UTC) - timedelta(hours=1)).isoformat()})
    assert [entry["changes"]["name"]["to"] for entry in recent] == ["New"]


@pytest.mark.parametrize("query", [
    {"entity_id": "nope"}, {"actor_id": "123"}, {"from": "yesterday"}, {"sort": "entity"}, {"size": "101"},
    {"updated_since": "2020-01-01"}, {"colour": "blue"}, {"entity": "Customers!"}, {"cursor": "garbage"},
])
def test_bad_query_parameters_are_422(admin, query):
    assert_error(admin.get(AUDIT, query_string=query), 422, "validation_error")


def test_cursor_pages_never_repeat_or_skip_and_count_false_skips_totals(admin):
    for number in range(5):
        make_company(admin, f"Company {number}")

    seen = []
    page = admin.get(AUDIT, query_string={"size": 2, "count": "false"}).get_json()
    assert page["total"] is None and page["pages"] is None
    seen += [entry["id"] for entry in page["items"]]
    while page["next_cursor"]:
        page = admin.get(AUDIT, query_string={"size": 2, "cursor": page["next_cursor"]}).get_json()
        assert page["page"] is None and page["total"] == 5
        seen += [entry["id"] for entry in page["items"]]

    assert seen == [entry["id"] for entry in entries(admin)] and len(set(seen)) == 5


def test_read_one_entry_with_an_etag(admin):
    make_company(admin, "Atlas")
    entry = entries(admin)[0]

    response = admin.get(f"{AUDIT}/{entry['id']}")

    assert response.status_code == 200 and response.get_json() == entry
    assert response.headers["ETag"]
    assert admin.get(f"{AUDIT}/{entry['id']}", headers={"If-None-Match": response.headers["ETag"]}).status_code == 304
    assert_error(admin.get(f"{AUDIT}/{ObjectId()}"), 404, "not_found")
    assert_error(admin.get(f"{AUDIT}/not-an-id"), 404, "not_found")


def test_the_log_is_in_the_openapi_document(client):
    paths = client.get("/openapi.json").get_json()["paths"]

    parameters = paths["/api/v1/audit"]["get"]["parameters"]
    names = {parameter["name"] for parameter in parameters if parameter["in"] == "query"}
    assert {"entity", "entity_id", "actor_id", "action", "from", "to", "cursor", "count"} <= names
    assert "updated_since" not in names
    assert "/api/v1/audit/{entry_id}" in paths


# -- secrets --------------------------------------------------------------------------------------

def test_no_password_or_hash_ever_reaches_the_log(client, admin, customer, db):
    created(admin, "/api/v1/users", {"username": "sam", "email": "sam@staff.example", "password": "staff-Secret-1",
                                     "role": "sales"})
    user_id = entries(admin, entity="users", action="create")[0]["entity_id"]
    admin.patch(f"/api/v1/users/{user_id}", json={"password": "staff-Secret-2"})
    client.post("/api/v1/auth/register", json={"username": "amina", "email": "amina@mail.example",
                                               "password": "register-Secret-3", "first_name": "Amina"})
    customer.post("/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "changed-Secret-4"})

    hashes = [user["password_hash"] for user in db.users.find({}, {"password_hash": 1})]
    stored = json.dumps(list(db.audit_log.find({}, {"_id": 0})), default=str)
    for secret in ["staff-Secret-1", "staff-Secret-2", "register-Secret-3", "changed-Secret-4", PASSWORD, *hashes]:
        assert secret not in stored
    assert "password_hash" not in stored and "new_password" not in stored
    update = only_entry(admin, entity_id=user_id, action="update")
    assert update["changes"] == {"password": {"from": "[redacted]", "to": "[redacted]"}}


def test_secret_looking_fields_are_redacted_by_the_recorder(app, admin):
    from crm_service.services import audit

    with app.test_request_context():
        entry = audit.record("create", "emails", ObjectId(), after={
            "subject": "Hello", "tracking_token": "tok-123", "meta": {"token_hash": "h-456"}})

    assert {change["field"]: change["to"] for change in entry["changes"]} == {
        "subject": "Hello", "tracking_token": "[redacted]", "meta.token_hash": "[redacted]"}


# -- what is not a write --------------------------------------------------------------------------

def test_failed_writes_leave_no_entry(admin, sales, customer):
    company = make_company(admin, "Atlas")
    before = len(entries(admin))

    assert_error(admin.post("/api/v1/companies", json={"name": 42}), 422)
    assert_error(admin.post("/api/v1/companies", json={"name": "atlas"}), 409)
    assert_error(admin.patch(f"/api/v1/companies/{company['id']}", json={"industry": "x"},
                             headers={"If-Match": '"stale"'}), 412)
    assert_error(admin.delete(f"/api/v1/companies/{company['id']}", headers={"If-Match": '"stale"'}), 412)
    assert_error(admin.patch(f"/api/v1/companies/{ObjectId()}", json={"industry": "x"}), 404)
    assert_error(admin.delete(f"/api/v1/tickets/{ObjectId()}"), 404)
    assert_error(sales.delete(f"/api/v1/companies/{company['id']}"), 403)
    assert_error(customer.patch(f"/api/v1/customers/{customer.customer_id}", json={"status": "active"}), 422)
    assert_error(customer.post("/api/v1/auth/password", json={"current_password": "wrong-password",
                                                              "new_password": "changed-Secret-4"}), 422)

    assert len(entries(admin)) == before


def test_reads_and_empty_patches_leave_no_entry(admin):
    company = make_company(admin, "Atlas")
    before = len(entries(admin))

    admin.get(f"/api/v1/companies/{company['id']}")
    admin.get("/api/v1/companies")
    assert admin.patch(f"/api/v1/companies/{company['id']}", json={}).status_code == 200

    assert len(entries(admin)) == before


# -- a failed audit insert ------------------------------------------------------------------------

def test_a_failed_audit_insert_is_logged_with_the_request_id_and_the_write_still_succeeds(admin, db, monkeypatch):
    def broken_insert(self, entry):
        raise PyMongoError("disk full")

    monkeypatch.setattr(AuditRepository, "insert", broken_insert)
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    audit_log = logging.getLogger("crm_service.audit")
    audit_log.addHandler(handler)
    try:
        response = admin.post("/api/v1/companies", json={"name": "Atlas"}, headers={"X-Request-ID": "req-7"})
    finally:
        audit_log.removeHandler(handler)

    assert response.status_code == 201
    assert db.companies.count_documents({"name": "Atlas"}) == 1
    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert len(logged) == 1
    assert logged[0]["level"] == "ERROR" and logged[0]["request_id"] == "req-7"
    assert "companies" in logged[0]["message"] and "Atlas" not in json.dumps(logged[0])
