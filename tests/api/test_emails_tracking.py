"""The tracking pixel, replies and engagement of sent e-mail."""
import io
from datetime import timedelta

import pytest
from bson import ObjectId
from PIL import Image

from crm_service.config import TestConfig
from crm_service.repositories.base import utcnow
from crm_service.schemas.common import iso_z
from tests.api.email_helpers import BASE_URL, EMAILS, open_pixel, pixel_path, send, stored_emails
from tests.conftest import assert_error

UNKNOWN_TOKEN = "A" * 43
VARYING_HEADERS = {"X-Request-ID"}


@pytest.fixture
def config(smtp):
    config = smtp.configure(TestConfig())
    config.PUBLIC_BASE_URL = BASE_URL
    return config


def _headers(response):
    return {name: value for name, value in response.headers.items() if name not in VARYING_HEADERS}


def test_the_pixel_url_from_the_delivered_mail_counts_opens(client, sales, smtp, db):
    email = send(sales, to="guest@example.com")
    html = smtp.messages[0].part("text/html")
    assert email["tracking_url"] in html
    first = open_pixel(client, email["tracking_url"])
    assert first.mimetype == "image/gif" and first.headers["Cache-Control"] == "no-store"
    assert len(first.data) == 43
    image = Image.open(io.BytesIO(first.data))
    assert image.size == (1, 1) and image.convert("RGBA").getpixel((0, 0))[3] == 0
    after_first = sales.get(f"{EMAILS}/{email['id']}").get_json()
    assert after_first["open_count"] == 1 and after_first["first_opened_at"] is not None
    open_pixel(client, email["tracking_url"])
    after_second = sales.get(f"{EMAILS}/{email['id']}").get_json()
    assert after_second["open_count"] == 2
    assert after_second["first_opened_at"] == after_first["first_opened_at"]
    assert after_second["last_opened_at"] >= after_first["last_opened_at"]
    assert after_second["version"] == email["version"] + 2


def test_an_open_changes_the_etag(client, sales, smtp):
    email = send(sales, to="guest@example.com")
    read = sales.get(f"{EMAILS}/{email['id']}")
    etag = read.headers["ETag"]
    assert sales.get(f"{EMAILS}/{email['id']}", headers={"If-None-Match": etag}).status_code == 304
    open_pixel(client, email["tracking_url"])
    fresh = sales.get(f"{EMAILS}/{email['id']}", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != etag


def test_an_unknown_token_gets_the_same_answer_and_records_nothing(client, sales, smtp, db):
    email = send(sales, to="guest@example.com")
    before = stored_emails(db)
    known = open_pixel(client, email["tracking_url"])
    opened = stored_emails(db)
    for token in (UNKNOWN_TOKEN, "short", "has.dots.in.it", "%00"):
        unknown = client.get(f"/api/v1/t/{token}.gif")
        assert unknown.status_code == 200
        assert unknown.data == known.data
        assert _headers(unknown) == _headers(known)
    assert stored_emails(db) == opened
    assert opened[0]["open_count"] == before[0]["open_count"] + 1


def test_the_pixel_needs_no_token_and_ignores_one(client, sales, smtp):
    email = send(sales, to="guest@example.com")
    response = client.get(pixel_path(email["tracking_url"]), headers={"Authorization": "Bearer garbage"})
    assert response.status_code == 200 and response.mimetype == "image/gif"
    assert sales.get(f"{EMAILS}/{email['id']}").get_json()["open_count"] == 1


def test_the_pixel_is_documented_as_a_public_gif(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/api/v1/t/{token}.gif"]["get"]
    assert "security" not in operation
    assert set(operation["responses"]["200"]["content"]) == {"image/gif"}


def test_a_reply_is_recorded_on_the_email(sales, smtp, db):
    email = send(sales, to="guest@example.com")
    response = sales.post(f"{EMAILS}/{email['id']}/responses", json={"body": "Thanks, see you!"})
    assert response.status_code == 201, response.get_json()
    record = response.get_json()
    assert response.headers["Location"].endswith(f"{EMAILS}/{email['id']}")
    assert response.headers["ETag"] == f'"{email["id"]}-{email["version"] + 1}"'
    [reply] = record["responses"]
    assert reply["body"] == "Thanks, see you!" and reply["received_at"].endswith("Z")
    assert sales.get(f"{EMAILS}/{email['id']}").get_json()["responses"] == [reply]
    assert db.emails.find_one({"_id": ObjectId(email["id"])})["responses"][0]["body"] == "Thanks, see you!"


def test_replies_are_kept_in_received_order(sales, smtp):
    email = send(sales, to="guest@example.com")
    late, early = iso_z(utcnow() - timedelta(hours=1)), iso_z(utcnow() - timedelta(days=1))
    sales.post(f"{EMAILS}/{email['id']}/responses", json={"body": "second", "received_at": late})
    record = sales.post(f"{EMAILS}/{email['id']}/responses", json={"body": "first", "received_at": early}).get_json()
    assert [reply["body"] for reply in record["responses"]] == ["first", "second"]
    assert [reply["received_at"] for reply in record["responses"]] == [early, late]


@pytest.mark.parametrize("body", [
    {}, {"body": ""}, {"body": "x", "sender": "me"}, {"body": "x", "received_at": "yesterday"},
    {"body": "x", "received_at": "2999-01-01T00:00:00Z"}, {"body": "x" * 10_001},
])
def test_an_invalid_reply_is_422_and_changes_nothing(sales, smtp, db, body):
    email = send(sales, to="guest@example.com")
    before = stored_emails(db)
    assert_error(sales.post(f"{EMAILS}/{email['id']}/responses", json=body), 422, "validation_error")
    assert stored_emails(db) == before


def test_a_reply_to_an_unknown_email_is_404(sales):
    for email_id in (str(ObjectId()), "nope"):
        assert_error(sales.post(f"{EMAILS}/{email_id}/responses", json={"body": "x"}), 404, "not_found")
        assert_error(sales.get(f"{EMAILS}/{email_id}"), 404, "not_found")
        assert_error(sales.get(f"{EMAILS}/{email_id}/engagement"), 404, "not_found")


def test_engagement_reports_opens_and_replies(client, sales, smtp):
    email = send(sales, to="guest@example.com")
    url = f"{EMAILS}/{email['id']}/engagement"
    assert sales.get(url).get_json() == {"opened": False, "open_count": 0, "first_opened_at": None,
                                         "last_opened_at": None, "responses": []}
    open_pixel(client, email["tracking_url"])
    open_pixel(client, email["tracking_url"])
    sales.post(f"{EMAILS}/{email['id']}/responses", json={"body": "Lovely"})
    engagement = sales.get(url).get_json()
    record = sales.get(f"{EMAILS}/{email['id']}").get_json()
    assert engagement["opened"] is True and engagement["open_count"] == 2
    assert engagement["first_opened_at"] == record["first_opened_at"]
    assert engagement["last_opened_at"] == record["last_opened_at"]
    assert [reply["body"] for reply in engagement["responses"]] == ["Lovely"]


def test_customers_may_not_record_replies_or_read_engagement(customer, sales, smtp, db):
    email = send(sales, to="guest@example.com")
    before = stored_emails(db)
    assert_error(customer.post(f"{EMAILS}/{email['id']}/responses", json={"body": "x"}), 403, "forbidden")
    assert_error(customer.get(f"{EMAILS}/{email['id']}/engagement"), 403, "forbidden")
    assert_error(customer.get(f"{EMAILS}/{email['id']}"), 403, "forbidden")
    assert stored_emails(db) == before
