"""One error shape for every error class, and X-Request-ID on every response."""
import mongomock
import pytest
from pymongo.errors import ServerSelectionTimeoutError
from werkzeug.exceptions import RequestTimeout

from crm_service.config import TestConfig
from tests.conftest import PASSWORD, assert_error, login, make_staff, register

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
SECRET_DETAIL = "db-password=hunter2 at /srv/crm/secret.py"


@pytest.fixture
def config():
    config = TestConfig()
    config.ENSURE_INDEXES_ON_START = True
    config.MAX_CONTENT_LENGTH = 2048
    return config


def user_count(app):
    return app.extensions["crm_mongo"].db.users.count_documents({})


# --- 400 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [b'{"username": ', b"{'single': 'quotes'}", b"\xff\xfe{}", b"null"])
def test_malformed_json_is_400(app, client, raw):
    response = client.post(REGISTER, data=raw, content_type="application/json")

    assert_error(response, 400, "bad_request")
    assert user_count(app) == 0


@pytest.mark.parametrize("raw", [b"[]", b'[{"username": "a"}]', b'"text"', b"42", b"true"])
def test_json_that_is_not_an_object_is_400(client, raw):
    response = client.post(LOGIN, data=raw, content_type="application/json")

    assert assert_error(response, 400, "bad_request")["message"] == "The body must be a JSON object"


# --- 401, 403, 404, 405 ---------------------------------------------------------------------------

def test_missing_token_is_401_in_error_shape(client):
    body = assert_error(client.get("/api/v1/users"), 401, "unauthorized")
    assert "msg" not in body


def test_role_without_permission_is_403(sales):
    assert_error(sales.get("/api/v1/users"), 403, "forbidden")


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/nowhere", "/api/v1/users/x/y"])
def test_unknown_route_is_404(client, path):
    body = assert_error(client.get(path), 404, "not_found")
    assert "<" not in body["message"]  # never werkzeug's HTML wording


@pytest.mark.parametrize("user_id", ["123", "not-an-object-id", "g" * 24])
def test_id_that_is_not_an_object_id_is_404(admin, user_id):
    assert_error(admin.get(f"/api/v1/users/{user_id}"), 404, "not_found")


def test_wrong_method_is_405_with_allow_header(client):
    response = client.delete(LOGIN)

    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_wrong_method_on_a_record_lists_its_methods(admin):
    response = admin.put(f"/api/v1/users/{admin.user['id']}", json={})

    assert_error(response, 405, "method_not_allowed")
    assert {"GET", "PATCH", "DELETE"} <= {method.strip() for method in response.headers["Allow"].split(",")}


# --- 409, 412, 413, 415, 422, 429 ------------------------------------------------------------------

def test_duplicate_is_409_with_field_errors(client):
    register(client, username="dup")

    response = client.post(REGISTER, json={"username": "dup", "email": "x@example.com", "password": PASSWORD,
                                           "first_name": "X"})

    assert assert_error(response, 409, "conflict")["errors"] == {"username": ["This value is already in use."]}


def test_stale_if_match_is_412(app, admin):
    target = make_staff(app, "sales")

    response = admin.patch(f"/api/v1/users/{target['_id']}", json={"first_name": "Y"},
                           headers={"If-Match": '"0-0"'})

    assert_error(response, 412, "precondition_failed")


def test_body_over_max_content_length_is_413_and_creates_nothing(app, client):
    body = {"username": "big", "email": "big@example.com", "password": PASSWORD, "first_name": "B" * 4000}

    response = client.post(REGISTER, json=body)

    assert_error(response, 413, "payload_too_large")
    assert user_count(app) == 0


@pytest.mark.parametrize(("data", "content_type"), [
    ("username=alice&password=x", "application/x-www-form-urlencoded"),
    ('{"username": "alice"}', "text/plain"),
    ("<user/>", "application/xml"),
])
def test_body_of_another_type_is_415_and_creates_nothing(app, client, data, content_type):
    response = client.post(REGISTER, data=data, content_type=content_type)

    assert_error(response, 415, "unsupported_media_type")
    assert user_count(app) == 0


def test_json_with_charset_parameter_is_accepted(client):
    response = client.post(LOGIN, data='{"username": "nobody", "password": "whatever-1"}',
                           content_type="application/json; charset=utf-8")

    assert_error(response, 401, "unauthorized")


def test_validation_error_is_422_with_field_errors_shaped_like_the_body(client):
    response = client.post(REGISTER, json={"username": "ok_name", "email": "nope", "password": PASSWORD,
                                           "first_name": "Al", "extra": 1})

    body = assert_error(response, 422, "validation_error")
    assert body["errors"] == {"email": ["Not a valid email address."], "extra": ["Unknown field."]}


def test_too_many_failed_logins_is_429_with_retry_after(client):
    for _ in range(5):
        client.post(LOGIN, json={"username": "someone", "password": "wrong-pass"})

    response = client.post(LOGIN, json={"username": "someone", "password": "wrong-pass"})

    assert_error(response, 429, "rate_limited")
    assert response.headers["Retry-After"].isdigit()


# --- 500, 503, other statuses -------------------------------------------------------------------------

def test_unexpected_error_is_500_without_traceback_or_exception_text(app):
    def boom():
        raise RuntimeError(SECRET_DETAIL)

    app.add_url_rule("/api/v1/test-boom", "test_boom", boom)

    response = app.test_client().get("/api/v1/test-boom")

    body = assert_error(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "hunter2" not in text and "RuntimeError" not in text and "secret.py" not in text
    assert body["message"] == "An unexpected error occurred"


def test_http_status_outside_the_table_still_uses_the_error_shape(app):
    def slow():
        raise RequestTimeout()

    app.add_url_rule("/api/v1/test-timeout", "test_timeout", slow)

    body = assert_error(app.test_client().get("/api/v1/test-timeout"), 408, "request_timeout")
    assert body["message"] == "Request Timeout"


def test_database_unreachable_is_503_with_retry_after(client, monkeypatch):
    def unreachable(*args, **kwargs):
        raise ServerSelectionTimeoutError(f"mongo.internal:27017: timed out {SECRET_DETAIL}")

    monkeypatch.setattr(mongomock.collection.Collection, "find_one", unreachable)

    response = client.post(LOGIN, json={"username": "alice", "password": PASSWORD})

    body = assert_error(response, 503, "unavailable")
    assert response.headers["Retry-After"]
    assert "mongo.internal" not in body["message"] and "hunter2" not in response.get_data(as_text=True)


# --- X-Request-ID ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [
    ("get", "/health/live"), ("get", "/api/v1/auth/me"), ("get", "/nowhere"), ("delete", LOGIN),
    ("post", LOGIN),
])
def test_every_response_carries_a_request_id(client, method, path):
    response = getattr(client, method)(path)

    assert len(response.headers["X-Request-ID"]) >= 16


def test_successful_response_carries_request_id_too(app, client):
    make_staff(app, "admin", username="boss")
    response = client.post(LOGIN, json={"username": "boss", "password": PASSWORD})

    assert response.status_code == 200 and response.headers["X-Request-ID"]


@pytest.mark.parametrize("incoming", ["req-123", "a1b2c3d4-e5f6.gateway:7", "x" * 128])
def test_valid_incoming_request_id_is_echoed(client, incoming):
    response = client.get("/api/v1/auth/me", headers={"X-Request-ID": incoming})

    assert response.headers["X-Request-ID"] == incoming
    assert response.get_json()["request_id"] == incoming


@pytest.mark.parametrize("incoming", ["x" * 300, "has spaces in it", "semi;colon", "quote\"d", ""])
def test_junk_incoming_request_id_is_replaced(client, incoming):
    response = client.get("/api/v1/auth/me", headers={"X-Request-ID": incoming})

    replaced = response.headers["X-Request-ID"]
    assert replaced != incoming and len(replaced) == 32 and replaced.isalnum()
    assert response.get_json()["request_id"] == replaced


def test_each_request_gets_its_own_request_id(client):
    first, second = client.get("/health/live"), client.get("/health/live")

    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_login_response_has_no_error_fields(app, client):
    make_staff(app, "sales", username="seller")

    assert "code" not in login(client, "seller")
