"""Self-registration, login (with lock-out), own profile, password change, and secrets kept out of logs."""
import json
import logging

import pytest
from bson import ObjectId

from crm_service.config import TestConfig
from crm_service.logs import JsonFormatter
from tests.conftest import PASSWORD, assert_error, login, make_staff

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
PASSWORD_URL = "/api/v1/auth/password"


@pytest.fixture
def config():
    config = TestConfig()
    config.ENSURE_INDEXES_ON_START = True  # uniqueness lives in the indexes
    return config


def registration(**overrides):
    body = {"username": "alice", "email": "Alice@Example.COM", "password": PASSWORD,
            "first_name": "Alice", "last_name": "Martin", "phone": "0612345678"}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def counts(db):
    return {name: db[name].count_documents({}) for name in ("users", "customers", "companies")}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


# --- registration -------------------------------------------------------------------------------

def test_register_creates_customer_user_linked_to_customer_record(client, db):
    response = client.post(REGISTER, json=registration())

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"user", "customer"}
    assert response.headers["Location"] == f"/api/v1/customers/{body['customer']['id']}"
    user = db.users.find_one({"_id": ObjectId(body["user"]["id"])})
    customer = db.customers.find_one({"_id": ObjectId(body["customer"]["id"])})
    assert user["role"] == "customer" and body["user"]["role"] == "customer"
    assert user["customer_id"] == customer["_id"] and customer["user_id"] == user["_id"]
    assert body["user"]["customer_id"] == body["customer"]["id"]
    assert customer["first_name"] == "Alice" and customer["phone"] == "+212612345678"


def test_register_stores_email_lower_cased(client, db):
    body = client.post(REGISTER, json=registration()).get_json()

    assert body["user"]["email"] == body["customer"]["email"] == "alice@example.com"
    assert db.users.find_one({})["email"] == "alice@example.com"


def test_register_never_returns_or_leaks_password(client, db):
    response = client.post(REGISTER, json=registration())

    text = response.get_data(as_text=True)
    assert PASSWORD not in text and "password" not in text
    assert db.users.find_one({})["password_hash"].startswith("$2")


@pytest.mark.parametrize("duplicate", [
    {"email": "ALICE@example.com", "username": "other"},
    {"username": "ALICE", "email": "other@example.com"},
])
def test_register_duplicate_is_409_and_creates_nothing(client, db, duplicate):
    client.post(REGISTER, json=registration())
    before = counts(db)

    response = client.post(REGISTER, json=registration(company="Fresh Co", **duplicate))

    field = "email" if "ALICE@" in duplicate["email"] else "username"
    assert assert_error(response, 409, "conflict")["errors"] == {field: ["This value is already in use."]}
    assert counts(db) == before


def test_register_with_email_of_existing_customer_record_is_409_and_creates_nothing(client, db, admin):
    admin.post("/api/v1/customers", json={"first_name": "Known", "email": "alice@example.com"})
    before = counts(db)

    response = client.post(REGISTER, json=registration(company="Brand New Co"))

    assert assert_error(response, 409, "conflict")["errors"] == {"email": ["This value is already in use."]}
    assert counts(db) == before


@pytest.mark.parametrize("role", ["admin", "sales", "Admin", "superuser"])
def test_register_asking_for_another_role_is_403_and_creates_nothing(client, db, role):
    response = client.post(REGISTER, json=registration(role=role))

    assert_error(response, 403, "forbidden")
    assert counts(db) == {"users": 0, "customers": 0, "companies": 0}


def test_register_with_customer_role_is_accepted(client):
    response = client.post(REGISTER, json=registration(role="customer"))

    assert response.status_code == 201
    assert response.get_json()["user"]["role"] == "customer"


@pytest.mark.parametrize(("overrides", "field"), [
    ({"username": None}, "username"),
    ({"email": None}, "email"),
    ({"password": None}, "password"),
    ({"first_name": None}, "first_name"),
    ({"first_name": ""}, "first_name"),
    ({"email": "not-an-email"}, "email"),
    ({"phone": "12"}, "phone"),
    ({"phone": "call me"}, "phone"),
    ({"password": "short12"}, "password"),
    ({"password": "ab\u20ac"}, "password"),  # 5 bytes
    ({"password": "x" * 73}, "password"),
    ({"password": "\u00e9" * 37}, "password"),  # 37 characters, 74 bytes
    ({"username": "a b"}, "username"),
    ({"role": 5}, "role"),
    ({"nickname": "ali"}, "nickname"),
    ({"is_active": False}, "is_active"),
])
def test_register_invalid_field_is_422_on_that_field_and_creates_nothing(client, db, overrides, field):
    response = client.post(REGISTER, json=registration(**overrides))

    body = assert_error(response, 422, "validation_error")
    assert list(body["errors"]) == [field]
    assert counts(db)["users"] == 0 and counts(db)["customers"] == 0


def test_register_accepts_password_counted_in_bytes_not_characters(client):
    three_euro_signs = "\u20ac\u20ac\u20ac"  # 3 characters, 9 bytes
    response = client.post(REGISTER, json=registration(password=three_euro_signs))

    assert response.status_code == 201
    assert login(client, "alice", three_euro_signs)["user"]["username"] == "alice"


def test_register_accepts_a_password_of_exactly_72_bytes(client):
    password = "\u00e9" * 36  # 72 bytes
    assert client.post(REGISTER, json=registration(password=password)).status_code == 201
    assert login(client, "alice", password)["access_token"]


def test_register_links_existing_company_by_case_insensitive_name(client, db, admin):
    company = admin.post("/api/v1/companies", json={"name": "Acme Maroc"}).get_json()

    body = client.post(REGISTER, json=registration(company="ACME maroc")).get_json()

    assert body["customer"]["company_id"] == company["id"]
    assert body["customer"]["company_name"] == "Acme Maroc"
    assert db.companies.count_documents({}) == 1


def test_register_creates_the_company_it_names_when_new(client, db):
    body = client.post(REGISTER, json=registration(company="  Atlas Trading ")).get_json()

    stored = db.companies.find_one({})
    assert stored["name"] == "Atlas Trading"
    assert body["customer"]["company_id"] == str(stored["_id"])


# --- login --------------------------------------------------------------------------------------

@pytest.mark.parametrize("identifier", ["alice", "ALICE", "alice@example.com", "Alice@EXAMPLE.com"])
def test_login_by_username_or_email_in_any_case(client, identifier):
    client.post(REGISTER, json=registration())

    response = client.post(LOGIN, json={"username": identifier, "password": PASSWORD})

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["user"]["username"] == "alice" and "password_hash" not in body["user"]


@pytest.mark.parametrize(("username", "password"), [
    ("nobody", PASSWORD),
    ("alice", "wrong-password"),
    ("alice", "x" * 73),
    ("alice", PASSWORD + "\u00e9" * 40),
    ("alice", "y" * 5000),
])
def test_login_failure_is_401_with_one_message(client, username, password):
    client.post(REGISTER, json=registration())

    response = client.post(LOGIN, json={"username": username, "password": password})

    assert assert_error(response, 401, "unauthorized")["message"] == "Invalid username or password"


def test_login_of_inactive_account_is_401_with_the_same_message(app, client):
    make_staff(app, "sales", username="gone", is_active=False)

    response = client.post(LOGIN, json={"username": "gone", "password": PASSWORD})

    assert assert_error(response, 401, "unauthorized")["message"] == "Invalid username or password"


def test_login_with_missing_fields_is_422(client):
    body = assert_error(client.post(LOGIN, json={"username": "alice"}), 422, "validation_error")
    assert body["errors"] == {"password": ["Missing data for required field."]}


def _fail(client, username, times):
    for _ in range(times):
        assert client.post(LOGIN, json={"username": username, "password": "wrong-pass"}).status_code == 401


def test_sixth_login_after_five_failures_is_429_even_with_right_password(client):
    client.post(REGISTER, json=registration())
    _fail(client, "alice", 5)

    response = client.post(LOGIN, json={"username": "alice", "password": PASSWORD})

    assert_error(response, 429, "rate_limited")
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60


def test_lock_out_counts_failures_by_username_and_email_together(client):
    client.post(REGISTER, json=registration())
    _fail(client, "alice", 3)
    _fail(client, "ALICE@example.com", 2)

    assert_error(client.post(LOGIN, json={"username": "alice", "password": PASSWORD}), 429, "rate_limited")


def test_lock_out_applies_to_unknown_accounts_too(client):
    _fail(client, "ghost", 5)

    response = client.post(LOGIN, json={"username": "ghost", "password": PASSWORD})

    assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0


def test_four_failures_do_not_lock_and_a_success_resets_the_count(client):
    client.post(REGISTER, json=registration())
    _fail(client, "alice", 4)
    login(client, "alice")
    _fail(client, "alice", 4)

    assert client.post(LOGIN, json={"username": "alice", "password": PASSWORD}).status_code == 200


def test_lock_out_of_one_account_leaves_others_alone(client):
    client.post(REGISTER, json=registration())
    client.post(REGISTER, json=registration(username="bob", email="bob@example.com"))
    _fail(client, "alice", 5)

    assert client.post(LOGIN, json={"username": "bob", "password": PASSWORD}).status_code == 200


def test_login_is_allowed_again_when_the_window_ends(client, db):
    client.post(REGISTER, json=registration())
    _fail(client, "alice", 5)
    db.login_failures.update_many({}, {"$set": {"expires_at": db.login_failures.find_one()["expires_at"]
                                                 .replace(year=2000)}})

    assert client.post(LOGIN, json={"username": "alice", "password": PASSWORD}).status_code == 200


# --- own profile ------------------------------------------------------------------------------

def test_me_returns_own_profile_without_hash(customer):
    response = customer.get(ME)

    assert response.status_code == 200
    assert response.get_json()["id"] == customer.user["id"]
    assert "password_hash" not in response.get_json()


def test_patch_me_changes_names_and_phone(sales, db):
    response = sales.patch(ME, json={"first_name": "Sam", "last_name": "Seller", "phone": "+33612345678"})

    assert response.status_code == 200
    assert response.get_json()["phone"] == "+33612345678"
    stored = db.users.find_one({"_id": ObjectId(sales.user["id"])})
    assert (stored["first_name"], stored["last_name"], stored["phone"]) == ("Sam", "Seller", "+33612345678")


def test_patch_me_of_customer_user_updates_its_customer_record(customer):
    customer.patch(ME, json={"first_name": "Renamed"})

    record = customer.get(f"/api/v1/customers/{customer.customer_id}").get_json()
    assert record["first_name"] == "Renamed"


@pytest.mark.parametrize(("body", "field"), [
    ({"role": "admin"}, "role"),
    ({"email": "new@example.com"}, "email"),
    ({"is_active": False}, "is_active"),
    ({"password_hash": "x"}, "password_hash"),
    ({"phone": "nope"}, "phone"),
    ({"first_name": ""}, "first_name"),
])
def test_patch_me_rejects_other_fields_and_changes_nothing(customer, db, body, field):
    before = db.users.find_one({"_id": ObjectId(customer.user["id"])})

    response = customer.patch(ME, json=body)

    assert list(assert_error(response, 422, "validation_error")["errors"]) == [field]
    assert db.users.find_one({"_id": ObjectId(customer.user["id"])}) == before


# --- password change ----------------------------------------------------------------------------

def test_change_password_then_new_works_and_old_fails(client, customer):
    response = customer.post(PASSWORD_URL, json={"current_password": PASSWORD, "new_password": "brand-new-pass"})

    assert response.status_code == 204 and response.get_data() == b""
    assert login(client, customer.user["username"], "brand-new-pass")["access_token"]
    old = client.post(LOGIN, json={"username": customer.user["username"], "password": PASSWORD})
    assert_error(old, 401, "unauthorized")


def test_change_password_with_wrong_current_is_422_and_keeps_old(client, db, customer):
    before = db.users.find_one({"_id": ObjectId(customer.user["id"])})["password_hash"]

    response = customer.post(PASSWORD_URL, json={"current_password": "not-mine-123", "new_password": "brand-new-pass"})

    assert list(assert_error(response, 422, "validation_error")["errors"]) == ["current_password"]
    assert db.users.find_one({"_id": ObjectId(customer.user["id"])})["password_hash"] == before


def test_change_password_rejects_invalid_new_password(customer):
    response = customer.post(PASSWORD_URL, json={"current_password": PASSWORD, "new_password": "short"})

    assert list(assert_error(response, 422, "validation_error")["errors"]) == ["new_password"]


def test_change_password_revokes_other_logins_but_keeps_this_one(client, customer):
    other = login(client, customer.user["username"])

    customer.post(PASSWORD_URL, json={"current_password": PASSWORD, "new_password": "brand-new-pass"})

    assert_error(client.get(ME, headers=bearer(other["access_token"])), 401, "unauthorized")
    assert_error(client.post("/api/v1/auth/refresh", headers=bearer(other["refresh_token"])), 401, "unauthorized")
    assert customer.get(ME).status_code == 200


# --- logs -------------------------------------------------------------------------------------

def test_logs_never_contain_passwords_or_tokens(client, caplog):
    logger = logging.getLogger("crm_service")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(caplog.handler)  # the service logger does not propagate to the root
    try:
        client.post(REGISTER, json=registration())
        tokens = login(client, "alice")
        refreshed = client.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"])).get_json()
        client.post(LOGIN, json={"username": "alice", "password": "wrong-" + PASSWORD})
    finally:
        logger.removeHandler(caplog.handler)

    assert len(caplog.records) >= 4
    lines = [JsonFormatter().format(record) + json.dumps(vars(record), default=str) for record in caplog.records]
    secrets = [PASSWORD, tokens["access_token"], tokens["refresh_token"], refreshed["access_token"],
               refreshed["refresh_token"], "$2b$"]
    assert not [secret for secret in secrets for line in lines if secret in line]


@pytest.mark.parametrize("stored_hash", ["", None, "garbage", "$2b$04$tooshort"])
def test_login_to_account_with_unusable_hash_is_401_never_500(app, client, db, stored_hash):
    user = make_staff(app, "sales", username="broken")
    db.users.update_one({"_id": user["_id"]}, {"$set": {"password_hash": stored_hash}})

    for password in ("not-a-real-password", PASSWORD):
        response = client.post(LOGIN, json={"username": "broken", "password": password})
        assert response.get_json()["message"] == "Invalid username or password"
        assert_error(response, 401, "unauthorized")
