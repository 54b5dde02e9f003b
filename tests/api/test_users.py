"""Staff users (/users, admin only), who may call the account endpoints, and the first admin."""
import mongomock
import pytest
from bson import ObjectId

from crm_service import create_app
from crm_service.config import ConfigError, TestConfig
from tests.conftest import assert_error, login, make_staff

USERS = "/api/v1/users"
NEW_STAFF = {"username": "nadia", "email": "Nadia@Staff.example", "password": "nadia-pass-1",
             "first_name": "Nadia", "last_name": "Alami", "phone": "+212612345678", "role": "sales"}


@pytest.fixture
def config():
    config = TestConfig()
    config.ENSURE_INDEXES_ON_START = True
    return config


def create_staff(admin, **overrides):
    response = admin.post(USERS, json={**NEW_STAFF, **overrides})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- create -----------------------------------------------------------------------------------------

def test_admin_creates_staff_user_who_can_log_in(admin, client, db):
    response = admin.post(USERS, json=NEW_STAFF)

    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"{USERS}/{body['id']}"
    assert body["email"] == "nadia@staff.example" and body["role"] == "sales" and body["is_active"] is True
    assert "password" not in response.get_data(as_text=True)
    assert db.users.find_one({"_id": ObjectId(body["id"])})["password_hash"].startswith("$2")
    assert login(client, "nadia", "nadia-pass-1")["user"]["id"] == body["id"]


def test_create_staff_requires_password(admin, db):
    body = {key: value for key, value in NEW_STAFF.items() if key != "password"}

    response = admin.post(USERS, json=body)

    assert assert_error(response, 422, "validation_error")["errors"] == {
        "password": ["Missing data for required field."]}
    assert db.users.count_documents({"username_key": "nadia"}) == 0


@pytest.mark.parametrize("role", ["customer", "root", None])
def test_create_staff_role_must_be_admin_or_sales(admin, db, role):
    response = admin.post(USERS, json={**NEW_STAFF, "role": role})

    assert list(assert_error(response, 422, "validation_error")["errors"]) == ["role"]
    assert db.users.count_documents({"username_key": "nadia"}) == 0


@pytest.mark.parametrize(("overrides", "field"), [
    ({"email": "bad"}, "email"), ({"phone": "0"}, "phone"), ({"password": "x" * 73}, "password"),
    ({"username": "x"}, "username"), ({"customer_id": "0" * 24}, "customer_id"), ({"version": 3}, "version"),
])
def test_create_staff_invalid_field_is_422(admin, db, overrides, field):
    response = admin.post(USERS, json={**NEW_STAFF, **overrides})

    assert list(assert_error(response, 422, "validation_error")["errors"]) == [field]
    assert db.users.count_documents({"username_key": "nadia"}) == 0


@pytest.mark.parametrize(("overrides", "field"), [
    ({"username": "NADIA", "email": "other@staff.example"}, "username"),
    ({"username": "other", "email": "NADIA@staff.EXAMPLE"}, "email"),
])
def test_create_staff_duplicate_is_409(admin, db, overrides, field):
    create_staff(admin)
    before = db.users.count_documents({})

    response = admin.post(USERS, json={**NEW_STAFF, **overrides})

    assert assert_error(response, 409, "conflict")["errors"] == {field: ["This value is already in use."]}
    assert db.users.count_documents({}) == before


# --- read and list ---------------------------------------------------------------------------------

def test_get_staff_user_has_etag_and_honours_if_none_match(admin):
    user = create_staff(admin)

    response = admin.get(f"{USERS}/{user['id']}")

    assert response.status_code == 200 and response.get_json() == user
    etag = response.headers["ETag"]
    assert admin.get(f"{USERS}/{user['id']}", headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("user_id", ["not-an-id", "0" * 24, "zz" * 12])
def test_get_unknown_or_invalid_id_is_404(admin, user_id):
    assert_error(admin.get(f"{USERS}/{user_id}"), 404, "not_found")


def test_customer_users_are_not_staff_users(admin, customer):
    assert_error(admin.get(f"{USERS}/{customer.user['id']}"), 404, "not_found")
    assert customer.user["id"] not in [item["id"] for item in admin.get(USERS).get_json()["items"]]


def test_list_staff_pages_and_filters(app, admin):
    for number in range(3):
        make_staff(app, "sales", username=f"seller{number}")
    make_staff(app, "sales", username="retired", is_active=False)

    first = admin.get(USERS, query_string={"size": 2, "sort": "username"}).get_json()
    sellers = admin.get(USERS, query_string={"role": "sales", "is_active": "true"}).get_json()
    inactive = admin.get(USERS, query_string={"is_active": "false"}).get_json()
    admins = admin.get(USERS, query_string={"role": "admin"}).get_json()

    assert (first["total"], first["pages"], first["size"], len(first["items"])) == (5, 3, 2, 2)
    assert [item["username"] for item in first["items"]] == sorted(item["username"] for item in first["items"])
    assert first["next_cursor"]
    assert {item["username"] for item in sellers["items"]} == {"seller0", "seller1", "seller2"}
    assert [item["username"] for item in inactive["items"]] == ["retired"]
    assert [item["id"] for item in admins["items"]] == [admin.user["id"]]


def test_list_staff_pages_never_overlap(app, admin):
    for number in range(4):
        make_staff(app, "sales", username=f"seller{number}")

    pages = [admin.get(USERS, query_string={"size": 2, "page": page}).get_json() for page in (1, 2, 3)]

    ids = [item["id"] for page in pages for item in page["items"]]
    assert len(ids) == len(set(ids)) == 5


@pytest.mark.parametrize("query", [{"role": "customer"}, {"size": 101}, {"sort": "password_hash"}, {"nope": 1}])
def test_list_staff_rejects_bad_query(admin, query):
    assert_error(admin.get(USERS, query_string=query), 422, "validation_error")


# --- update, deactivate, delete -----------------------------------------------------------------------

def test_patch_staff_user_changes_fields_version_and_etag(admin, db):
    user = create_staff(admin)
    old_etag = admin.get(f"{USERS}/{user['id']}").headers["ETag"]

    response = admin.patch(f"{USERS}/{user['id']}", json={"first_name": "Nadia-B", "email": "NB@staff.example"})

    assert response.status_code == 200
    assert response.get_json()["email"] == "nb@staff.example"
    assert response.get_json()["version"] == user["version"] + 1
    assert response.headers["ETag"] != old_etag
    assert response.headers["ETag"] == admin.get(f"{USERS}/{user['id']}").headers["ETag"]
    assert db.users.find_one({"_id": ObjectId(user["id"])})["first_name"] == "Nadia-B"


def test_patch_with_stale_if_match_is_412_and_changes_nothing(admin, db):
    user = create_staff(admin)
    stale = admin.get(f"{USERS}/{user['id']}").headers["ETag"]
    admin.patch(f"{USERS}/{user['id']}", json={"first_name": "Moved"})
    before = db.users.find_one({"_id": ObjectId(user["id"])})

    response = admin.patch(f"{USERS}/{user['id']}", json={"last_name": "Lost"}, headers={"If-Match": stale})

    assert_error(response, 412, "precondition_failed")
    assert db.users.find_one({"_id": ObjectId(user["id"])}) == before


def test_patch_with_current_if_match_succeeds(admin):
    user = create_staff(admin)
    etag = admin.get(f"{USERS}/{user['id']}").headers["ETag"]

    response = admin.patch(f"{USERS}/{user['id']}", json={"last_name": "Kept"}, headers={"If-Match": etag})

    assert response.status_code == 200 and response.get_json()["last_name"] == "Kept"


def test_patch_email_to_one_in_use_is_409_and_changes_nothing(admin, db):
    user = create_staff(admin)

    response = admin.patch(f"{USERS}/{user['id']}", json={"email": admin.user["email"].upper()})

    assert assert_error(response, 409, "conflict")["errors"] == {"email": ["This value is already in use."]}
    assert db.users.find_one({"_id": ObjectId(user["id"])})["email"] == "nadia@staff.example"


@pytest.mark.parametrize("body", [{"username": "renamed"}, {"role": "customer"}, {"customer_id": "0" * 24}])
def test_patch_rejects_fields_that_cannot_change(admin, body):
    user = create_staff(admin)

    assert list(assert_error(admin.patch(f"{USERS}/{user['id']}", json=body), 422)["errors"]) == list(body)


def test_deactivating_a_user_revokes_its_tokens_and_blocks_login(admin, client):
    create_staff(admin)
    tokens = login(client, "nadia", "nadia-pass-1")
    user_id = tokens["user"]["id"]

    response = admin.patch(f"{USERS}/{user_id}", json={"is_active": False})

    assert response.status_code == 200 and response.get_json()["is_active"] is False
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert_error(client.get("/api/v1/customers", headers=headers), 401, "unauthorized")
    refresh = {"Authorization": f"Bearer {tokens['refresh_token']}"}
    assert_error(client.post("/api/v1/auth/refresh", headers=refresh), 401, "unauthorized")
    failed = client.post("/api/v1/auth/login", json={"username": "nadia", "password": "nadia-pass-1"})
    assert assert_error(failed, 401)["message"] == "Invalid username or password"


def test_changing_a_users_role_revokes_its_tokens(admin, client):
    create_staff(admin)
    tokens = login(client, "nadia", "nadia-pass-1")

    admin.patch(f"{USERS}/{tokens['user']['id']}", json={"role": "admin"})

    assert_error(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}), 401)
    assert login(client, "nadia", "nadia-pass-1")["user"]["role"] == "admin"


def test_admin_setting_a_new_password_revokes_old_logins(admin, client):
    create_staff(admin)
    tokens = login(client, "nadia", "nadia-pass-1")

    admin.patch(f"{USERS}/{tokens['user']['id']}", json={"password": "reset-pass-99"})

    assert_error(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}), 401)
    assert_error(client.post("/api/v1/auth/login", json={"username": "nadia", "password": "nadia-pass-1"}), 401)
    assert login(client, "nadia", "reset-pass-99")["user"]["username"] == "nadia"


def test_reactivated_user_can_log_in_again(admin, client):
    user = create_staff(admin, is_active=False)
    assert_error(client.post("/api/v1/auth/login", json={"username": "nadia", "password": "nadia-pass-1"}), 401)

    admin.patch(f"{USERS}/{user['id']}", json={"is_active": True})

    assert login(client, "nadia", "nadia-pass-1")["user"]["is_active"] is True


def test_admin_cannot_deactivate_or_demote_itself(admin, db):
    own = f"{USERS}/{admin.user['id']}"

    assert list(assert_error(admin.patch(own, json={"is_active": False}), 422)["errors"]) == ["is_active"]
    assert list(assert_error(admin.patch(own, json={"role": "sales"}), 422)["errors"]) == ["role"]
    stored = db.users.find_one({"_id": ObjectId(admin.user["id"])})
    assert stored["is_active"] is True and stored["role"] == "admin"
    assert admin.get(USERS).status_code == 200


def test_admin_cannot_delete_itself(admin, db):
    assert_error(admin.delete(f"{USERS}/{admin.user['id']}"), 422, "validation_error")
    assert db.users.count_documents({"_id": ObjectId(admin.user["id"])}) == 1


def test_delete_staff_user_removes_it_and_revokes_its_tokens(admin, client, db):
    user = create_staff(admin)
    tokens = login(client, "nadia", "nadia-pass-1")

    response = admin.delete(f"{USERS}/{user['id']}")

    assert response.status_code == 204 and response.get_data() == b""
    assert db.users.count_documents({"_id": ObjectId(user["id"])}) == 0
    assert_error(admin.get(f"{USERS}/{user['id']}"), 404)
    assert_error(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}), 401)


def test_delete_with_stale_if_match_is_412_and_keeps_the_user(admin, db):
    user = create_staff(admin)
    stale = admin.get(f"{USERS}/{user['id']}").headers["ETag"]
    admin.patch(f"{USERS}/{user['id']}", json={"first_name": "Moved"})

    assert_error(admin.delete(f"{USERS}/{user['id']}", headers={"If-Match": stale}), 412, "precondition_failed")
    assert db.users.count_documents({"_id": ObjectId(user["id"])}) == 1


def test_delete_unknown_user_is_404(admin):
    assert_error(admin.delete(f"{USERS}/{ObjectId()}"), 404, "not_found")


# --- the first admin ----------------------------------------------------------------------------

@pytest.fixture
def bootstrap_config(config):
    config.CRM_BOOTSTRAP_ADMIN_EMAIL = "Boss@Example.com"
    config.CRM_BOOTSTRAP_ADMIN_PASSWORD = "boss-password-1"
    config.CRM_BOOTSTRAP_ADMIN_USERNAME = "boss"
    return config


def test_bootstrap_admin_is_created_when_no_admin_exists(bootstrap_config):
    mongo = mongomock.MongoClient(tz_aware=True)
    app = create_app(bootstrap_config, mongo_client=mongo)

    admins = list(mongo[bootstrap_config.MONGO_DB_NAME].users.find({"role": "admin"}))
    assert [(user["username"], user["email"]) for user in admins] == [("boss", "boss@example.com")]
    assert login(app.test_client(), "Boss@example.com", "boss-password-1")["user"]["role"] == "admin"


def test_bootstrap_admin_is_not_created_twice(bootstrap_config):
    mongo = mongomock.MongoClient(tz_aware=True)
    create_app(bootstrap_config, mongo_client=mongo)
    create_app(bootstrap_config, mongo_client=mongo)

    assert mongo[bootstrap_config.MONGO_DB_NAME].users.count_documents({"role": "admin"}) == 1


def test_bootstrap_admin_is_skipped_when_an_admin_exists(app, bootstrap_config):
    make_staff(app, "admin", username="first")

    create_app(bootstrap_config, mongo_client=app.extensions["crm_mongo"].client)

    with app.app_context():
        from crm_service.db import get_db
        assert [user["username"] for user in get_db().users.find({"role": "admin"})] == ["first"]


@pytest.mark.parametrize("password", ["short", "x" * 73])
def test_bootstrap_admin_with_invalid_password_refuses_to_start(bootstrap_config, password):
    bootstrap_config.CRM_BOOTSTRAP_ADMIN_PASSWORD = password
    mongo = mongomock.MongoClient(tz_aware=True)

    with pytest.raises(ConfigError, match="CRM_BOOTSTRAP_ADMIN"):
        create_app(bootstrap_config, mongo_client=mongo)
    assert mongo[bootstrap_config.MONGO_DB_NAME].users.count_documents({}) == 0


def test_create_admin_cli_creates_an_admin_who_can_log_in(app, db):
    args = ["crm", "create-admin", "--username", "root", "--email", "Root@Example.com", "--password", "root-pass-12"]

    result = app.test_cli_runner().invoke(args=args)

    assert result.exit_code == 0, result.output
    stored = db.users.find_one({"username_key": "root"})
    assert stored["role"] == "admin" and stored["email"] == "root@example.com"
    assert "root-pass-12" not in result.output
    assert login(app.test_client(), "root", "root-pass-12")["user"]["role"] == "admin"


@pytest.mark.parametrize("args", [
    ["--email", "a@example.com", "--password", "short"],
    ["--email", "a@example.com", "--password", "x" * 73],
])
def test_create_admin_cli_refuses_bad_password(app, db, args):
    result = app.test_cli_runner().invoke(args=["crm", "create-admin", *args])

    assert result.exit_code == 2 and "--password" in result.output
    assert db.users.count_documents({}) == 0


def test_create_admin_cli_refuses_a_taken_username(app, db):
    make_staff(app, "sales", username="admin")

    result = app.test_cli_runner().invoke(args=["crm", "create-admin", "--email", "new@example.com",
                                                "--password", "root-pass-12"])

    assert result.exit_code == 1 and "already exists" in result.output
    assert db.users.count_documents({"role": "admin"}) == 0


def test_create_admin_cli_refuses_an_invalid_email_cleanly(app, db):
    result = app.test_cli_runner().invoke(args=["crm", "create-admin", "--email", "not-an-email",
                                                "--password", "root-pass-12"])

    assert db.users.count_documents({}) == 0
    assert result.exit_code == 2 and "email" in result.output.lower()
