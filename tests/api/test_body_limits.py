"""Bodies over MAX_CONTENT_LENGTH are 413 in the error shape, with or without Content-Length; imports keep 20 MiB."""
import io
import json

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from crm_service.config import TestConfig
from tests.conftest import assert_error

CUSTOMERS = "/api/v1/customers"
IMPORT = "/api/v1/customers/import"
LIMIT = 4096
MIB = 1024 * 1024


@pytest.fixture
def config():
    config = TestConfig()
    config.MAX_CONTENT_LENGTH = LIMIT
    return config


def customer_body(size):
    body = {"first_name": "Ann", "email": "ann@mail.example", "notes": ""}
    body["notes"] = "x" * (size - len(json.dumps(body)))
    data = json.dumps(body).encode()
    assert len(data) == size
    return data


def chunked(api, path, data, content_type="application/json"):
    """A body sent with Transfer-Encoding: chunked and no Content-Length (the server marks its end)."""
    return api.post(path, data=io.BytesIO(data), content_type=content_type,
                    headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})


def test_a_body_at_the_limit_is_accepted(admin):
    assert admin.post(CUSTOMERS, data=customer_body(LIMIT), content_type="application/json").status_code == 201


def test_a_body_over_the_limit_is_413_and_creates_nothing(admin, db):
    response = admin.post(CUSTOMERS, data=customer_body(LIMIT + 1), content_type="application/json")

    assert_error(response, 413, "payload_too_large")
    assert db.customers.count_documents({}) == 0


def test_a_chunked_body_without_content_length_is_read(admin):
    response = chunked(admin, CUSTOMERS, customer_body(LIMIT // 2))

    assert response.status_code == 201, response.get_json()


def test_a_chunked_body_over_the_limit_is_413_and_creates_nothing(admin, db):
    response = chunked(admin, CUSTOMERS, customer_body(LIMIT * 4))

    assert_error(response, 413, "payload_too_large")
    assert db.customers.count_documents({}) == 0


def test_a_chunked_body_over_the_limit_is_413_before_any_token_is_needed(client, db):
    response = chunked(client, "/api/v1/auth/register", b'{"username": "' + b"u" * LIMIT + b'"}')

    assert_error(response, 413, "payload_too_large")
    assert db.users.count_documents({}) == 0


def _multipart(content):
    boundary, body = encode_multipart(
        {"file": FileStorage(io.BytesIO(content), filename="customers.csv", content_type="text/csv")})
    return body, f"multipart/form-data; boundary={boundary}"


def test_a_chunked_import_may_be_larger_than_other_bodies(admin, db):
    body, content_type = _multipart(b"first_name,email\nAda,ada@example.com\n" + b"Bob,not-an-email\n" * 1000)
    assert len(body) > LIMIT

    response = chunked(admin, IMPORT, body, content_type)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["created"] == 1
    assert db.customers.count_documents({}) == 1


def test_a_chunked_import_over_twenty_mib_is_413(admin, db):
    body, content_type = _multipart(b"first_name,email\n" + b"x" * (20 * MIB))

    assert_error(chunked(admin, IMPORT, body, content_type), 413, "payload_too_large")
    assert db.customers.count_documents({}) == 0
