"""Idempotency-Key on POST (SPEC §3, §8): replays, mismatches, scopes, expiry, errors and secrets."""
import io
import socket
from datetime import timedelta

import pytest
from bson import ObjectId
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from crm_service import create_app
from crm_service.config import TestConfig
from crm_service.db import close_client, ensure_indexes
from crm_service.idempotency import _names_a_secret, openapi_parameter
from crm_service.repositories.base import utcnow
from crm_service.repositories.companies import CompanyRepository
from tests.conftest import PASSWORD, Api, assert_error, login, make_staff

COMPANIES = "/api/v1/companies"
TICKETS = "/api/v1/tickets"
REGISTER = "/api/v1/auth/register"


@pytest.fixture(autouse=True)
def _indexes(db):
    ensure_indexes(db)


def keyed(key, **headers):
    return {"Idempotency-Key": key, **headers}


@pytest.fixture
def customer_id(admin):
    response = admin.post("/api/v1/customers", json={"first_name": "Ann", "email": f"{ObjectId()}@mail.example"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def other_staff(app, client, role="sales"):
    user = make_staff(app, role)
    tokens = login(client, user["username"])
    return Api(client, tokens["access_token"], tokens["user"])


# -- replay ---------------------------------------------------------------------------------------

def test_a_retry_replays_status_body_location_and_etag_and_creates_nothing(admin, db):
    first = admin.post(COMPANIES, json={"name": "Atlas Travel"}, headers=keyed("key-1"))
    retry = admin.post(COMPANIES, json={"name": "Atlas Travel"}, headers=keyed("key-1"))

    assert first.status_code == 201 and retry.status_code == 201
    assert retry.get_data() == first.get_data()
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert retry.headers["Content-Type"] == first.headers["Content-Type"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert db.companies.count_documents({}) == 1


def test_a_replayed_answer_has_its_own_request_id(admin):
    first = admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("key-rid"))
    retry = admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("key-rid", **{"X-Request-ID": "retry-1"}))

    assert retry.headers["X-Request-ID"] == "retry-1" != first.headers["X-Request-ID"]


def test_post_without_a_key_stores_nothing(admin, db):
    admin.post(COMPANIES, json={"name": "Atlas"})

    assert db.idempotency_keys.count_documents({}) == 0


def test_neither_the_key_nor_the_body_is_stored_in_clear(admin, db):
    admin.post(COMPANIES, json={"name": "Secret Name Co"}, headers=keyed("my-very-own-key"))

    record = db.idempotency_keys.find_one()
    stored_text = repr({name: value for name, value in record.items() if name != "body"})
    assert "my-very-own-key" not in stored_text and "Secret Name Co" not in stored_text
    assert record["owner"] == f"user:{admin.user['id']}"
    assert (record["method"], record["path"], record["status"]) == ("POST", COMPANIES, 201)


def test_a_retry_of_an_action_without_a_body_is_replayed(sales, db, customer_id):
    ticket = sales.post(TICKETS, json={"customer_id": customer_id, "subject": "Printer"}).get_json()
    path = f"{TICKETS}/{ticket['id']}/resolve"

    first = sales.post(path, headers=keyed("resolve-1"))
    retry = sales.post(path, headers=keyed("resolve-1"))

    assert first.status_code == 200, first.get_json()
    assert retry.status_code == 200 and retry.get_data() == first.get_data()
    assert db.tickets.find_one({"_id": ObjectId(ticket["id"])})["version"] == first.get_json()["version"]


# -- a different request under the same key -------------------------------------------------------

def test_same_key_with_a_different_body_is_422_and_creates_nothing(admin, db):
    admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("key-2"))

    response = admin.post(COMPANIES, json={"name": "Sahara"}, headers=keyed("key-2"))

    body = assert_error(response, 422, "validation_error")
    assert "different request" in body["message"]
    assert "Idempotency-Key" in body["errors"]
    assert db.companies.count_documents({}) == 1
    assert db.companies.count_documents({"name": "Sahara"}) == 0


def test_same_key_with_another_query_string_is_422(admin, db):
    admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("key-q"))

    response = admin.post(COMPANIES, json={"name": "Atlas"}, query_string={"x": "1"}, headers=keyed("key-q"))

    assert_error(response, 422, "validation_error")
    assert db.companies.count_documents({}) == 1


def test_another_user_with_the_same_key_and_body_gets_its_own_record(app, client, sales, db, customer_id):
    colleague = other_staff(app, client)
    body = {"customer_id": customer_id, "subject": "Printer jam"}

    mine = sales.post(TICKETS, json=body, headers=keyed("shared-key"))
    theirs = colleague.post(TICKETS, json=body, headers=keyed("shared-key"))

    assert mine.status_code == 201 and theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    assert db.tickets.count_documents({}) == 2


def test_two_customers_with_the_same_key_are_independent(customer, other_customer, db):
    mine = customer.post(TICKETS, json={"subject": "Mine"}, headers=keyed("k"))
    theirs = other_customer.post(TICKETS, json={"subject": "Theirs"}, headers=keyed("k"))

    assert mine.status_code == 201 and theirs.status_code == 201, theirs.get_json()
    assert theirs.get_json()["customer_id"] == other_customer.customer_id
    assert db.tickets.count_documents({}) == 2


def test_the_same_key_on_another_path_is_independent(admin, db):
    company = admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("multi"))
    product = admin.post("/api/v1/products", json={"sku": "A-1", "name": "Atlas", "price": "10"},
                         headers=keyed("multi"))

    assert company.status_code == 201 and product.status_code == 201, product.get_json()
    assert "Idempotent-Replayed" not in product.headers
    assert db.products.count_documents({}) == 1


# -- key format -----------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
def test_a_malformed_key_is_422_and_creates_nothing(admin, db, key):
    response = admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed(key))

    body = assert_error(response, 422, "validation_error")
    assert "Idempotency-Key" in body["errors"]
    assert db.companies.count_documents({}) == 0


def test_a_key_of_255_printable_characters_is_accepted(admin):
    key = ("a b~" * 64)[:255]
    assert admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed(key)).status_code == 201
    assert admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed(key)).headers["Idempotent-Replayed"] == "true"


# -- expiry ---------------------------------------------------------------------------------------

def test_keys_live_in_a_collection_with_a_ttl_index_and_a_unique_scope(admin, db, app):
    admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("ttl"))

    indexes = db.idempotency_keys.index_information()
    by_keys = {tuple(index["key"]): index for index in indexes.values()}
    assert by_keys[(("expires_at", 1),)]["expireAfterSeconds"] == 0
    assert by_keys[(("scope", 1),)]["unique"] is True
    record = db.idempotency_keys.find_one()
    lifetime = record["expires_at"] - utcnow()
    expected = app.config["IDEMPOTENCY_TTL_SECONDS"]
    assert expected == 24 * 3600
    assert timedelta(seconds=expected - 60) < lifetime <= timedelta(seconds=expected)


def test_an_expired_key_is_not_replayed_and_the_request_runs_again(sales, db, customer_id):
    body = {"customer_id": customer_id, "subject": "Printer"}
    first = sales.post(TICKETS, json=body, headers=keyed("old"))
    # The TTL monitor deletes such records within a minute; until it does they must not answer.
    db.idempotency_keys.update_many({}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})

    again = sales.post(TICKETS, json=body, headers=keyed("old"))

    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert again.get_json()["id"] != first.get_json()["id"]
    assert db.tickets.count_documents({}) == 2
    assert db.idempotency_keys.count_documents({"expires_at": {"$gt": utcnow()}}) == 1


def test_an_expired_key_may_be_used_with_another_body(admin, db):
    admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("old"))
    db.idempotency_keys.update_many({}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})

    response = admin.post(COMPANIES, json={"name": "Sahara"}, headers=keyed("old"))

    assert response.status_code == 201
    assert db.companies.count_documents({}) == 2


# -- what is stored -------------------------------------------------------------------------------

def test_a_server_error_is_not_stored_and_a_retry_runs(admin, db, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    with monkeypatch.context() as patch:
        patch.setattr(CompanyRepository, "create", broken)
        failed = admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("five"))
    assert_error(failed, 500, "internal_error")
    assert db.idempotency_keys.count_documents({}) == 0

    retry = admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("five"))

    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    assert db.companies.count_documents({}) == 1


def test_a_client_error_is_not_stored_so_the_corrected_request_may_reuse_the_key(admin, db):
    rejected = admin.post(COMPANIES, json={"name": ""}, headers=keyed("fix-me"))
    assert_error(rejected, 422, "validation_error")
    assert db.idempotency_keys.count_documents({}) == 0

    corrected = admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("fix-me"))

    assert corrected.status_code == 201
    assert db.companies.count_documents({}) == 1


def test_a_conflict_is_answered_again_not_replayed(admin, db):
    admin.post(COMPANIES, json={"name": "Atlas"})
    first = admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("dup"))
    retry = admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("dup"))

    assert_error(first, 409, "conflict")
    assert_error(retry, 409, "conflict")
    assert "Idempotent-Replayed" not in retry.headers
    assert db.idempotency_keys.count_documents({}) == 0


def test_anonymous_registration_is_replayed_and_creates_one_account(anon, db):
    body = {"username": "nadia", "email": "nadia@mail.example", "password": PASSWORD, "first_name": "Nadia"}

    first = anon.post(REGISTER, json=body, headers=keyed("signup-1"))
    retry = anon.post(REGISTER, json=body, headers=keyed("signup-1"))

    assert first.status_code == 201, first.get_json()
    assert retry.status_code == 201 and retry.get_data() == first.get_data()
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert db.users.count_documents({"username_key": "nadia"}) == 1
    assert db.customers.count_documents({"email": "nadia@mail.example"}) == 1


def test_anonymous_clients_at_other_addresses_do_not_share_keys(client, db):
    def register(address, name):
        body = {"username": name, "email": f"{name}@mail.example", "password": PASSWORD, "first_name": name}
        return client.post(REGISTER, json=body, headers=keyed("signup"), environ_overrides={"REMOTE_ADDR": address})

    assert register("10.0.0.1", "omar").status_code == 201
    second = register("10.0.0.2", "salma")

    assert second.status_code == 201 and "Idempotent-Replayed" not in second.headers
    assert db.users.count_documents({}) == 2


def test_login_ignores_the_key_so_tokens_are_never_stored(app, client, db):
    user = make_staff(app, "sales")
    body = {"username": user["username"], "password": PASSWORD}

    first = client.post("/api/v1/auth/login", json=body, headers=keyed("login"))
    second = client.post("/api/v1/auth/login", json=body, headers=keyed("login"))

    assert first.status_code == 200 and second.status_code == 200
    assert first.get_json()["access_token"] != second.get_json()["access_token"]
    assert "Idempotent-Replayed" not in second.headers
    assert db.idempotency_keys.count_documents({}) == 0


def test_refresh_ignores_the_key(app, client, db):
    user = make_staff(app, "sales")
    tokens = login(client, user["username"])
    headers = keyed("refresh", Authorization=f"Bearer {tokens['refresh_token']}")

    assert client.post("/api/v1/auth/refresh", headers=headers).status_code == 200
    assert_error(client.post("/api/v1/auth/refresh", headers=headers), 401)  # spent, not replayed
    assert db.idempotency_keys.count_documents({}) == 0


def test_bodies_naming_a_token_or_password_count_as_secret():
    assert _names_a_secret({"user": {"id": "1"}, "tokens": [{"access_token": "x"}]})
    assert _names_a_secret({"refresh_token": "x"})
    assert not _names_a_secret({"user": {"id": "1"}, "customer": {"email": "a@b.example"}})


# -- in progress, abandoned, revoked --------------------------------------------------------------

def test_a_key_still_in_progress_is_409_after_waiting(app, admin, db):
    admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("busy"))
    # As if the first request were still running elsewhere.
    db.idempotency_keys.update_many({}, {"$set": {"state": "pending", "lease_until": utcnow() + timedelta(minutes=1)}})
    app.config["IDEMPOTENCY_WAIT_SECONDS"] = 0.2

    response = admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("busy"))

    body = assert_error(response, 409, "conflict")
    assert "still in progress" in body["message"]
    assert response.headers["Retry-After"] == "1"
    assert db.companies.count_documents({}) == 1


def test_a_different_body_under_a_key_in_progress_is_422_at_once(app, admin, db):
    admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("busy"))
    db.idempotency_keys.update_many({}, {"$set": {"state": "pending", "lease_until": utcnow() + timedelta(minutes=1)}})
    app.config["IDEMPOTENCY_WAIT_SECONDS"] = 5

    assert_error(admin.post(COMPANIES, json={"name": "Sahara"}, headers=keyed("busy")), 422, "validation_error")


def test_a_claim_left_by_a_dead_worker_is_taken_over_after_its_lease(sales, db, customer_id):
    body = {"customer_id": customer_id, "subject": "Printer"}
    sales.post(TICKETS, json=body, headers=keyed("orphan"))
    db.idempotency_keys.update_many({}, {"$set": {"state": "pending", "lease_until": utcnow() - timedelta(seconds=1)},
                                         "$unset": {"status": "", "body": "", "headers": ""}})

    response = sales.post(TICKETS, json=body, headers=keyed("orphan"))

    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert db.idempotency_keys.find_one()["state"] == "done"
    assert sales.post(TICKETS, json=body, headers=keyed("orphan")).headers["Idempotent-Replayed"] == "true"


def test_a_revoked_token_gets_no_replay(admin, db):
    admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("late"))
    assert admin.post("/api/v1/auth/logout").status_code == 204

    response = admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("late"))

    assert_error(response, 401, "unauthorized")
    assert "Idempotent-Replayed" not in response.headers


def test_a_forged_token_gets_no_replay(admin, db):
    admin.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("forge"))
    header, payload, _signature = admin.token.split(".")
    forged = Api(admin.client, f"{header}.{payload}.AAAA")

    response = forged.post(COMPANIES, json={"name": "Atlas"}, headers=keyed("forge"))

    assert_error(response, 401, "unauthorized")
    assert db.companies.count_documents({}) == 1


def test_a_keyed_request_is_503_when_the_database_is_down():
    config = TestConfig()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        config.MONGO_URI = f"mongodb://127.0.0.1:{probe.getsockname()[1]}/?directConnection=true"
    config.MONGO_SERVER_SELECTION_TIMEOUT_MS = 500
    config.MONGO_CONNECT_TIMEOUT_MS = 300
    config.ENSURE_INDEXES_ON_START = False
    app = create_app(config)
    try:
        response = app.test_client().post(REGISTER, json={"username": "x"}, headers=keyed("down"))
    finally:
        close_client(app)

    assert_error(response, 503, "unavailable")


def test_the_openapi_header_parameter_is_offered_for_posts_that_honour_the_key():
    parameter = openapi_parameter("POST", COMPANIES)
    assert (parameter["in"], parameter["name"], parameter["required"]) == ("header", "Idempotency-Key", False)
    assert parameter["schema"]["maxLength"] == 255
    assert openapi_parameter("POST", "/api/v1/auth/login") is None
    assert openapi_parameter("PATCH", f"{COMPANIES}/{{company_id}}") is None


# -- multipart (CSV import) -----------------------------------------------------------------------

def import_csv(api, content, key, boundary):
    body = encode_multipart(
        {"file": FileStorage(io.BytesIO(content), filename="customers.csv", content_type="text/csv")},
        boundary=boundary)[1]
    return api.post("/api/v1/customers/import", data=body, headers=keyed(key),
                    content_type=f"multipart/form-data; boundary={boundary}")


def test_an_import_resent_with_another_multipart_boundary_is_replayed(admin, db):
    content = b"first_name,email\nAda,ada@example.com\n"

    first = import_csv(admin, content, "import-1", "boundary-one")
    retry = import_csv(admin, content, "import-1", "boundary-two")

    assert first.status_code == 200, first.get_json()
    assert first.get_json()["created"] == 1
    assert retry.status_code == 200 and retry.get_data() == first.get_data()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert db.customers.count_documents({}) == 1


def test_an_import_of_another_file_under_the_same_key_is_422(admin, db):
    import_csv(admin, b"first_name,email\nAda,ada@example.com\n", "import-2", "b1")

    response = import_csv(admin, b"first_name,email\nBob,bob@example.com\n", "import-2", "b1")

    assert_error(response, 422, "validation_error")
    assert db.customers.count_documents({}) == 1


def test_a_keyed_import_over_the_general_body_limit_still_runs(admin, db):
    rows = "".join(f"Person {n:05d} with a long enough name to fill the file,bad-address-{n}\n" for n in range(25000))

    response = import_csv(admin, ("first_name,email\n" + rows).encode(), "big", "b2")

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["failed"] == 25000


def test_openapi_documents_the_header_on_every_post_that_honours_it(client):
    spec = client.get("/openapi.json").get_json()
    documented, ignored = set(), set()
    for path, operations in spec["paths"].items():
        if "post" not in operations or not path.startswith("/api/v1/"):
            continue
        names = {parameter.get("name") for parameter in operations["post"].get("parameters", [])}
        (documented if "Idempotency-Key" in names else ignored).add(path)
        if "Idempotency-Key" in names:
            assert {"409", "422"} <= set(operations["post"]["responses"]), path
    assert "/api/v1/customers" in documented and "/api/v1/emails" in documented
    assert ignored == {"/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/auth/password",
                       "/api/v1/auth/password-reset/confirm"}
