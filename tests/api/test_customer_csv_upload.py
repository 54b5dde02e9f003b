"""POST /customers/import, the request: multipart upload, body limits, file and header checks, access."""
import io

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.conftest import assert_error

IMPORT = "/api/v1/customers/import"
MIB = 1024 * 1024


def upload(api, content, query=None, field="file"):
    # Encoded in memory: the test client would spool a big body to a temporary file it never closes.
    boundary, body = encode_multipart(
        {field: FileStorage(io.BytesIO(content), filename="customers.csv", content_type="text/csv")})
    return api.post(IMPORT, data=body, query_string=query or {},
                    content_type=f"multipart/form-data; boundary={boundary}")


def customer_count(db):
    return db.customers.count_documents({})


def test_a_file_with_a_byte_order_mark_is_read(admin, db):
    response = upload(admin, "\ufefffirst_name,email\nAda,ada@example.com\n".encode())

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["created"] == 1
    assert db.customers.find_one({"email": "ada@example.com"})["first_name"] == "Ada"


def test_an_upload_over_the_one_mib_default_is_accepted(admin, db):
    rows = "".join(f"Person {n:05d} with a long enough name to fill the file,bad-address-{n}\n" for n in range(25000))
    content = ("first_name,email\n" + rows).encode()
    assert 1 * MIB < len(content) < 20 * MIB

    response = upload(admin, content)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["failed"] == 25000
    assert customer_count(db) == 0


def test_an_upload_over_twenty_mib_is_too_large(admin, db):
    content = b"first_name,email\n" + b"x" * (20 * MIB)

    assert_error(upload(admin, content), 413, "payload_too_large")
    assert customer_count(db) == 0


def test_other_endpoints_keep_the_one_mib_limit(admin, db):
    body = {"first_name": "Ada", "email": "ada@example.com", "notes": "x" * (2 * MIB)}

    assert_error(admin.post("/api/v1/customers", json=body), 413, "payload_too_large")
    assert customer_count(db) == 0


def test_a_json_body_is_unsupported(admin):
    body = assert_error(admin.post(IMPORT, json={"file": "first_name,email"}), 415, "unsupported_media_type")

    assert "multipart/form-data" in body["message"]


def test_unknown_form_fields_are_rejected(admin):
    response = admin.post(IMPORT, data={"other": "x"}, content_type="multipart/form-data")

    body = assert_error(response, 422, "validation_error")
    assert body["errors"] == {"other": ["Unknown field."]}
    body = assert_error(upload(admin, b"first_name,email\n", field="csv"), 422, "validation_error")
    assert body["errors"] == {"csv": ["Unknown field."]}


def test_an_upload_without_the_file_field_is_invalid(admin):
    response = admin.post(IMPORT, data={}, content_type="multipart/form-data")

    body = assert_error(response, 422, "validation_error")
    assert body["errors"] == {"file": ["Upload the CSV file in this multipart/form-data field."]}


def test_a_file_that_is_not_utf8_changes_nothing(admin, db):
    content = "first_name,email\nAda,ada@example.com\nZoë,zoe@example.com\n".encode("latin-1")

    body = assert_error(upload(admin, content), 422, "validation_error")

    assert body["errors"] == {"file": ["The file is not UTF-8 text."]}
    assert customer_count(db) == 0


def test_a_file_with_broken_csv_quoting_changes_nothing(admin, db):
    content = b'first_name,email\nAda,ada@example.com\n"Bob"x,bob@example.com\n'

    body = assert_error(upload(admin, content), 422, "validation_error")

    assert body["errors"]["file"][0].startswith("Line 3 is not valid CSV")
    assert customer_count(db) == 0


def test_an_empty_file_is_invalid(admin):
    body = assert_error(upload(admin, b""), 422, "validation_error")

    assert body["errors"] == {"file": ["The file is empty: its first line must name the columns."]}


@pytest.mark.parametrize(("header", "message"), [
    ("Ada,Lovelace,ada@example.com", "Unknown columns in the first line: ada, lovelace, ada@example.com."),
    ("first_name,e-mail", "Unknown columns in the first line: e-mail."),
    ("first_name,,email", "Unknown columns in the first line: (empty)."),
    ("email,first_name,Email", "Columns named twice in the first line: email."),
    ("first_name,last_name", "The first line must name the columns; missing: email."),
])
def test_a_wrong_header_line_is_invalid_and_says_why(admin, db, header, message):
    content = f"{header}\nAda,Lovelace,ada@example.com\n".encode()

    body = assert_error(upload(admin, content), 422, "validation_error")

    assert body["errors"]["file"][0].startswith(message)
    assert customer_count(db) == 0


def test_header_names_are_read_without_case_or_padding(admin, db):
    response = upload(admin, b" First_Name , EMAIL \nAda,ada@example.com\n")

    assert response.status_code == 200, response.get_json()
    assert db.customers.find_one({"email": "ada@example.com"})["first_name"] == "Ada"


def test_dry_run_must_be_a_boolean_and_other_parameters_are_unknown(admin):
    content = b"first_name,email\nAda,ada@example.com\n"

    assert assert_error(upload(admin, content, {"dry_run": "maybe"}), 422)["errors"] == {
        "dry_run": ["Not a valid boolean."]}
    assert assert_error(upload(admin, content, {"mode": "x"}), 422)["errors"] == {"mode": ["Unknown field."]}


def test_sales_staff_may_import(sales, db):
    response = upload(sales, b"first_name,email\nAda,ada@example.com\n")

    assert response.status_code == 200, response.get_json()
    assert customer_count(db) == 1


def test_a_customer_user_may_not_import(customer, db):
    before = customer_count(db)

    assert_error(upload(customer, b"first_name,email\nAda,ada@example.com\n"), 403, "forbidden")
    assert customer_count(db) == before


def test_import_needs_a_token(anon, db):
    assert_error(upload(anon, b"first_name,email\nAda,ada@example.com\n"), 401, "unauthorized")
    assert customer_count(db) == 0


def test_the_import_is_documented_as_a_multipart_upload(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/api/v1/customers/import"]["post"]

    assert list(operation["requestBody"]["content"]) == ["multipart/form-data"]
    assert {"413", "415", "422"} <= set(operation["responses"])
    assert [parameter["name"] for parameter in operation["parameters"]] == ["dry_run", "Idempotency-Key"]
