"""Customers: create with defaults and checks, read, change, ETags, soft delete, restore and erase."""
import pytest
from bson import ObjectId

from crm_service.db import ensure_indexes
from tests.conftest import assert_error, login, make_staff, register

CUSTOMERS = "/api/v1/customers"
RECORD_FIELDS = {
    "id", "created_at", "updated_at", "first_name", "last_name", "full_name", "email", "phone", "company_id",
    "company_name", "contact_type", "status", "loyalty_status", "tags", "nationality", "region",
    "preferred_language", "notes", "owner_id", "is_active", "last_interaction_at", "version",
}


@pytest.fixture(autouse=True)
def _indexes(db):
    """Uniqueness lives in unique indexes; the fast app does not create them on start."""
    ensure_indexes(db)


def make_customer(api, **fields):
    body = {"first_name": "Ann", "email": f"{ObjectId()}@mail.example", **fields}
    response = api.post(CUSTOMERS, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def make_company(api, name):
    response = api.post("/api/v1/companies", json={"name": name})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def stored(db, customer_id):
    return db.customers.find_one({"_id": ObjectId(customer_id)})


# -- create ---------------------------------------------------------------------------------------

def test_create_customer_with_every_field_returns_201_with_location_etag_and_full_record(admin, sales, db):
    company = make_company(admin, "Atlas Travel")
    body = {
        "first_name": "Zoë", "last_name": "Alami", "email": "Zoe.Alami@Example.COM", "phone": "0612345678",
        "company_id": company["id"], "contact_type": "corporate", "status": "prospect", "loyalty_status": "gold",
        "tags": ["vip", "fair 2024"], "nationality": "Moroccan", "region": "Casablanca-Settat",
        "preferred_language": "en-GB", "notes": "Met at the fair", "owner_id": sales.user["id"], "is_active": True,
    }
    response = admin.post(CUSTOMERS, json=body)
    assert response.status_code == 201
    record = response.get_json()
    assert set(record) == RECORD_FIELDS
    assert record == {
        **body, "email": "zoe.alami@example.com", "phone": "+212612345678", "full_name": "Zoë Alami",
        "company_name": "Atlas Travel", "last_interaction_at": None, "version": 1,
        "id": record["id"], "created_at": record["created_at"], "updated_at": record["created_at"],
    }
    assert response.headers["Location"].endswith(f"{CUSTOMERS}/{record['id']}")
    assert response.headers["ETag"]
    document = stored(db, record["id"])
    assert (document["company_id"], document["owner_id"]) == (ObjectId(company["id"]), ObjectId(sales.user["id"]))


def test_create_customer_fills_the_documented_defaults(admin):
    record = make_customer(admin, first_name="Ann")
    assert {key: record[key] for key in ("contact_type", "status", "loyalty_status", "tags", "is_active",
                                          "preferred_language", "last_name", "company_id", "owner_id")} == {
        "contact_type": "individual", "status": "lead", "loyalty_status": "new", "tags": [], "is_active": True,
        "preferred_language": "fr", "last_name": None, "company_id": None, "owner_id": None,
    }
    assert record["full_name"] == "Ann"


def test_default_preferred_language_comes_from_config(app, admin):
    app.config["DEFAULT_LANGUAGE"] = "ar"
    assert make_customer(admin)["preferred_language"] == "ar"


def test_customer_email_is_stored_lower_case(admin, db):
    record = make_customer(admin, email="  Ann.Lee@Mail.EXAMPLE ")
    assert record["email"] == stored(db, record["id"])["email"] == "ann.lee@mail.example"


def test_customer_email_is_unique_case_insensitively(admin, db):
    make_customer(admin, email="ann@mail.example")
    response = admin.post(CUSTOMERS, json={"first_name": "Other", "email": "ANN@mail.example"})
    assert assert_error(response, 409, "conflict")["errors"] == {"email": ["This value is already in use."]}
    assert db.customers.count_documents({}) == 1


@pytest.mark.parametrize(("phone", "expected"), [
    ("0612345678", "+212612345678"),
    ("06 12 34 56 78", "+212612345678"),
    ("+212 6-12-34-56-78", "+212612345678"),
    ("+33 1 42 68 53 00", "+33142685300"),
])
def test_customer_phone_is_stored_in_e164(admin, db, phone, expected):
    record = make_customer(admin, phone=phone)
    assert record["phone"] == stored(db, record["id"])["phone"] == expected


@pytest.mark.parametrize(("body", "errors"), [
    ({"phone": "12345"}, {"phone": ["Not a valid phone number."]}),
    ({"phone": "call me"}, {"phone": ["Not a valid phone number."]}),
    ({"first_name": None}, {"first_name": ["Field may not be null."]}),
    ({"email": "not-an-email"}, {"email": ["Not a valid email address."]}),
    ({"status": "vip"}, {"status": ["Must be one of: lead, prospect, active, inactive, churned."]}),
    ({"contact_type": "robot"}, {"contact_type": ["Must be one of: individual, corporate."]}),
    ({"loyalty_status": "diamond"}, {"loyalty_status": ["Must be one of: new, bronze, silver, gold, platinum, vip."]}),
    ({"preferred_language": "french!"}, {"preferred_language": ["Not a BCP 47 language tag."]}),
    ({"tags": ["ok", ""]}, {"tags": {1: ["Tags are 1-50 letters, digits, spaces, .&+/-"]}}),
    ({"company_id": "acme"}, {"company_id": ["Not a valid id."]}),
    ({"company_id": str(ObjectId())}, {"company_id": ["No company with this id."]}),
    ({"owner_id": str(ObjectId())}, {"owner_id": ["Not an active staff user."]}),
    ({"full_name": "Ann Lee"}, {"full_name": ["Unknown field."]}),
    ({"company_name": "Atlas"}, {"company_name": ["Unknown field."]}),
    ({"last_interaction_at": "2024-01-01T00:00:00Z"}, {"last_interaction_at": ["Unknown field."]}),
    ({"version": 3}, {"version": ["Unknown field."]}),
    ({"id": str(ObjectId())}, {"id": ["Unknown field."]}),
    ({"created_at": "2024-01-01"}, {"created_at": ["Unknown field."]}),
    ({"shoe_size": 42}, {"shoe_size": ["Unknown field."]}),
])
def test_invalid_customer_body_is_422_on_that_field_and_stores_nothing(admin, db, body, errors):
    response = admin.post(CUSTOMERS, json={"first_name": "Ann", "email": "ann@mail.example", **body})
    body = assert_error(response, 422, "validation_error")
    assert {str(key): value for key, value in body["errors"].items()} == {
        key: ({str(k): v for k, v in value.items()} if isinstance(value, dict) else value)
        for key, value in errors.items()}
    assert db.customers.count_documents({}) == 0


def test_customer_without_first_name_or_email_is_422_on_both(admin, db):
    body = assert_error(admin.post(CUSTOMERS, json={"last_name": "Lee"}), 422)
    assert body["errors"] == {"first_name": ["Missing data for required field."],
                              "email": ["Missing data for required field."]}


def test_owner_must_be_an_active_staff_user(app, client, admin, db):
    inactive = make_staff(app, "sales", is_active=False)
    customer_user = register(client)["user"]
    for owner in (str(inactive["_id"]), customer_user["id"]):
        response = admin.post(CUSTOMERS, json={"first_name": "Ann", "email": "ann@mail.example", "owner_id": owner})
        assert assert_error(response, 422)["errors"] == {"owner_id": ["Not an active staff user."]}
    assert db.customers.count_documents({"email": "ann@mail.example"}) == 0


def test_an_admin_can_own_a_customer(admin):
    assert make_customer(admin, owner_id=admin.user["id"])["owner_id"] == admin.user["id"]


# -- read and change --------------------------------------------------------------------------------

def test_read_customer_returns_the_created_record_with_its_etag(admin):
    created = admin.post(CUSTOMERS, json={"first_name": "Ann", "email": "ann@mail.example"})
    response = admin.get(f"{CUSTOMERS}/{created.get_json()['id']}")
    assert response.status_code == 200
    assert response.get_json() == created.get_json()
    assert response.headers["ETag"] == created.headers["ETag"]


def test_if_none_match_on_a_customer_is_304(admin):
    created = admin.post(CUSTOMERS, json={"first_name": "Ann", "email": "ann@mail.example"})
    response = admin.get(f"{CUSTOMERS}/{created.get_json()['id']}", headers={"If-None-Match": created.headers["ETag"]})
    assert response.status_code == 304
    assert response.get_data() == b""


@pytest.mark.parametrize("customer_id", [str(ObjectId()), "12"])
def test_reading_an_unknown_or_malformed_customer_id_is_404(admin, customer_id):
    assert_error(admin.get(f"{CUSTOMERS}/{customer_id}"), 404, "not_found")


@pytest.mark.parametrize("method", ["patch", "put"])
def test_patch_and_put_change_only_the_given_fields(admin, method):
    original = make_customer(admin, last_name="Lee", tags=["vip"], status="prospect")
    response = getattr(admin, method)(f"{CUSTOMERS}/{original['id']}", json={"last_name": "Smith"})
    assert response.status_code == 200
    body = response.get_json()
    assert body == {**original, "last_name": "Smith", "full_name": "Ann Smith", "version": 2,
                    "updated_at": body["updated_at"]}


def test_patch_normalises_email_and_phone(admin, db):
    record = make_customer(admin)
    body = admin.patch(f"{CUSTOMERS}/{record['id']}", json={"email": "NEW@Mail.Example", "phone": "0612345678"})
    assert (body.get_json()["email"], body.get_json()["phone"]) == ("new@mail.example", "+212612345678")
    assert stored(db, record["id"])["email"] == "new@mail.example"


def test_patch_to_an_email_in_use_is_409_and_changes_nothing(admin, db):
    make_customer(admin, email="taken@mail.example")
    record = make_customer(admin, email="mine@mail.example")
    response = admin.patch(f"{CUSTOMERS}/{record['id']}", json={"email": "Taken@mail.example"})
    assert assert_error(response, 409)["errors"] == {"email": ["This value is already in use."]}
    assert stored(db, record["id"])["email"] == "mine@mail.example"


def test_patch_company_id_links_and_unlinks_the_company_name(admin):
    company = make_company(admin, "Atlas")
    record = make_customer(admin)
    linked = admin.patch(f"{CUSTOMERS}/{record['id']}", json={"company_id": company["id"]}).get_json()
    assert (linked["company_id"], linked["company_name"]) == (company["id"], "Atlas")
    unlinked = admin.patch(f"{CUSTOMERS}/{record['id']}", json={"company_id": None}).get_json()
    assert (unlinked["company_id"], unlinked["company_name"]) == (None, None)


@pytest.mark.parametrize(("body", "field"), [
    ({"company_id": str(ObjectId())}, "company_id"), ({"owner_id": str(ObjectId())}, "owner_id"),
    ({"full_name": "X"}, "full_name"), ({"company_name": "X"}, "company_name"), ({"phone": "1"}, "phone"),
])
def test_invalid_patch_is_422_on_that_field_and_changes_nothing(admin, db, body, field):
    record = make_customer(admin)
    response = admin.patch(f"{CUSTOMERS}/{record['id']}", json={"last_name": "Changed", **body})
    assert list(assert_error(response, 422)["errors"]) == [field]
    assert stored(db, record["id"])["version"] == 1 and "last_name" not in stored(db, record["id"])


def test_patch_with_the_current_if_match_succeeds(admin):
    created = admin.post(CUSTOMERS, json={"first_name": "Ann", "email": "ann@mail.example"})
    response = admin.patch(f"{CUSTOMERS}/{created.get_json()['id']}", json={"status": "active"},
                           headers={"If-Match": created.headers["ETag"]})
    assert response.status_code == 200


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(admin, db):
    created = admin.post(CUSTOMERS, json={"first_name": "Ann", "email": "ann@mail.example"})
    customer_id = created.get_json()["id"]
    admin.patch(f"{CUSTOMERS}/{customer_id}", json={"status": "prospect"})
    response = admin.patch(f"{CUSTOMERS}/{customer_id}", json={"status": "active"},
                           headers={"If-Match": created.headers["ETag"]})
    assert_error(response, 412, "precondition_failed")
    assert (stored(db, customer_id)["status"], stored(db, customer_id)["version"]) == ("prospect", 2)


def test_delete_with_a_stale_if_match_is_412_and_keeps_the_customer_active(admin, db):
    created = admin.post(CUSTOMERS, json={"first_name": "Ann", "email": "ann@mail.example"})
    customer_id = created.get_json()["id"]
    admin.patch(f"{CUSTOMERS}/{customer_id}", json={"status": "prospect"})
    assert_error(admin.delete(f"{CUSTOMERS}/{customer_id}", headers={"If-Match": created.headers["ETag"]}), 412)
    assert stored(db, customer_id)["is_active"] is True


# -- soft delete, restore, erase ----------------------------------------------------------------------

def list_ids(api, **query):
    response = api.get(CUSTOMERS, query_string=query)
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def test_soft_deleted_customer_is_still_readable_by_staff_but_hidden_from_lists(admin, sales, db):
    record = make_customer(admin)
    response = admin.delete(f"{CUSTOMERS}/{record['id']}")
    assert response.status_code == 204 and response.get_data() == b""
    for staff in (admin, sales):
        fetched = staff.get(f"{CUSTOMERS}/{record['id']}")
        assert fetched.status_code == 200 and fetched.get_json()["is_active"] is False
    assert list_ids(admin) == []
    assert list_ids(admin, is_active="false") == [record["id"]]
    tombstone = db.tombstones.find_one({"entity": "customers"})
    assert tombstone["entity_id"] == ObjectId(record["id"])


def test_deleting_an_already_deleted_customer_records_one_tombstone(admin, db):
    record = make_customer(admin)
    admin.delete(f"{CUSTOMERS}/{record['id']}")
    assert admin.delete(f"{CUSTOMERS}/{record['id']}").status_code == 204
    assert db.tombstones.count_documents({"entity_id": ObjectId(record["id"])}) == 1


def test_restore_answers_200_with_the_active_record_and_it_is_listed_again(admin):
    record = make_customer(admin)
    admin.delete(f"{CUSTOMERS}/{record['id']}")
    response = admin.post(f"{CUSTOMERS}/{record['id']}/restore")
    assert response.status_code == 200
    assert response.get_json()["is_active"] is True and response.headers["ETag"]
    assert list_ids(admin) == [record["id"]]


def test_sales_cannot_delete_restore_or_switch_off_a_customer(admin, sales, db):
    record = make_customer(sales)
    assert_error(sales.delete(f"{CUSTOMERS}/{record['id']}"), 403, "forbidden")
    assert_error(sales.patch(f"{CUSTOMERS}/{record['id']}", json={"is_active": False}), 403, "forbidden")
    admin.delete(f"{CUSTOMERS}/{record['id']}")
    assert_error(sales.post(f"{CUSTOMERS}/{record['id']}/restore"), 403, "forbidden")
    assert stored(db, record["id"])["is_active"] is False
    assert db.tombstones.count_documents({}) == 1


def test_admin_switching_is_active_off_by_patch_records_a_tombstone(admin, db):
    record = make_customer(admin)
    response = admin.patch(f"{CUSTOMERS}/{record['id']}", json={"is_active": False})
    assert response.status_code == 200 and response.get_json()["is_active"] is False
    assert db.tombstones.count_documents({"entity_id": ObjectId(record["id"])}) == 1


def test_delete_rejects_unknown_parameters_and_changes_nothing(admin, db):
    record = make_customer(admin)
    assert_error(admin.delete(f"{CUSTOMERS}/{record['id']}", query_string={"hard": "1"}), 422)
    assert stored(db, record["id"])["is_active"] is True


def test_admin_erase_removes_the_record_and_its_login(client, admin, db):
    registered = register(client)
    customer_id, username = registered["customer"]["id"], registered["user"]["username"]
    assert admin.delete(f"{CUSTOMERS}/{customer_id}", query_string={"erase": "true"}).status_code == 204
    assert_error(admin.get(f"{CUSTOMERS}/{customer_id}"), 404)
    assert stored(db, customer_id) is None
    assert db.users.count_documents({"username": username}) == 0
    assert db.tombstones.count_documents({"entity_id": ObjectId(customer_id)}) == 1
    failed = client.post("/api/v1/auth/login", json={"username": username, "password": "correct-horse-1"})
    assert failed.status_code == 401


def test_erased_customers_tokens_stop_working(client, admin):
    registered = register(client)
    token = login(client, registered["user"]["username"])["access_token"]
    admin.delete(f"{CUSTOMERS}/{registered['customer']['id']}", query_string={"erase": "true"})
    response = client.get(f"{CUSTOMERS}/{registered['customer']['id']}", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401)
