"""Sending e-mail through a real SMTP server: the record, the delivered message, the interaction, failures."""
import socket

import pytest
from bson import ObjectId

from crm_service.config import TestConfig
from crm_service.repositories.base import utcnow
from tests.api.email_helpers import BASE_URL, EMAILS, send, stored_emails
from tests.conftest import assert_error


@pytest.fixture
def config(smtp):
    config = smtp.configure(TestConfig())
    config.PUBLIC_BASE_URL = BASE_URL
    config.SMTP_FROM = "crm@agency.example"
    return config


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_sending_to_a_customer_delivers_a_text_and_html_mail_with_the_pixel(sales, customer, smtp, db):
    before = utcnow()
    response = sales.post(EMAILS, json={"customer_id": customer.customer_id, "subject": "Your tour on Friday",
                                        "body": "Hello,\n\nSee you at nine & bring water.\n"})
    assert response.status_code == 201, response.get_json()
    email = response.get_json()
    assert response.headers["Location"].endswith(f"{EMAILS}/{email['id']}")
    assert response.headers["ETag"] == f'"{email["id"]}-{email["version"]}"'
    assert email["to"] == customer.user["email"] and email["customer_id"] == customer.customer_id
    assert email["status"] == "sent" and email["failure_reason"] is None and email["html"] is False
    assert email["open_count"] == 0 and email["first_opened_at"] is None and email["responses"] == []
    assert email["sender_id"] == sales.user["id"]
    assert email["tracking_url"].startswith(f"{BASE_URL}/api/v1/t/") and email["tracking_url"].endswith(".gif")
    assert "tracking_token" not in email
    [delivered] = smtp.messages
    assert delivered.rcpt_tos == [customer.user["email"]]
    assert delivered.mail_from == "crm@agency.example" and delivered.message["From"] == "crm@agency.example"
    assert delivered.subject == "Your tour on Friday"
    assert "See you at nine & bring water." in delivered.part("text/plain")
    html = delivered.part("text/html")
    assert "See you at nine &amp; bring water." in html
    assert f'<img src="{email["tracking_url"]}" width="1" height="1" alt="">' in html
    document = db.emails.find_one({"_id": ObjectId(email["id"])})
    assert document["body"] == "Hello,\n\nSee you at nine & bring water.\n"
    assert before <= document["sent_at"] <= utcnow() and document["status"] == "sent"
    assert email["tracking_url"].endswith(f"/{document['tracking_token']}.gif")


def test_an_html_body_is_detected_and_its_text_part_is_derived(sales, smtp):
    email = send(sales, to="Guest@Example.com", body="<p>Hello <b>Zoë</b></p><p>See you.</p>")
    assert email["html"] is True and email["to"] == "guest@example.com"
    [delivered] = smtp.messages
    assert delivered.rcpt_tos == ["guest@example.com"]
    assert delivered.part("text/plain").split() == ["Hello", "Zoë", "See", "you."]
    html = delivered.part("text/html")
    assert html.startswith("<p>Hello <b>Zoë</b></p><p>See you.</p>")
    assert html.rstrip().endswith(f'<img src="{email["tracking_url"]}" width="1" height="1" alt="">')


def test_the_pixel_goes_inside_the_body_of_a_full_html_document(sales, smtp):
    email = send(sales, to="guest@example.com", body="<html><body><p>Hi</p></body></html>")
    html = smtp.messages[0].part("text/html")
    assert f'<p>Hi</p><img src="{email["tracking_url"]}" width="1" height="1" alt=""></body></html>' in html


def test_html_false_sends_markup_as_plain_text(sales, smtp):
    email = send(sales, to="guest@example.com", body="Use <b> for bold", html=False)
    assert email["html"] is False
    delivered = smtp.messages[0]
    assert delivered.part("text/plain").strip() == "Use <b> for bold"
    assert "Use &lt;b&gt; for bold" in delivered.part("text/html")


def test_sending_to_a_customer_logs_an_email_interaction(sales, customer, smtp, db):
    email = send(sales, customer_id=customer.customer_id, subject="Quote for May")
    history = sales.get(f"/api/v1/customers/{customer.customer_id}/interactions").get_json()["items"]
    [interaction] = history
    assert interaction["id"] == email["interaction_id"] and interaction["email_id"] == email["id"]
    assert interaction["type"] == "email" and interaction["subject"] == "Quote for May"
    assert interaction["status"] == "completed" and interaction["employee_id"] == sales.user["id"]
    assert customer.user["email"] in interaction["notes"]
    stored = db.customers.find_one({"_id": ObjectId(customer.customer_id)})
    assert stored["interactions"][0]["email_id"] == ObjectId(email["id"])
    assert stored["last_interaction_at"] is not None


def test_to_overrides_the_customer_address(sales, customer, smtp):
    email = send(sales, customer_id=customer.customer_id, to="office@example.com")
    assert email["to"] == "office@example.com" and email["customer_id"] == customer.customer_id
    assert smtp.messages[0].rcpt_tos == ["office@example.com"]


def test_sending_by_address_alone_logs_no_interaction(sales, smtp, db):
    email = send(sales, to="someone@example.com")
    assert email["customer_id"] is None and email["interaction_id"] is None
    assert db.customers.count_documents({"interactions.type": "email"}) == 0


def test_an_unknown_customer_is_422_on_the_field_and_nothing_is_sent(sales, smtp, db):
    for customer_id in (str(ObjectId()), "not-an-id"):
        response = sales.post(EMAILS, json={"customer_id": customer_id, "subject": "Hi", "body": "Hello"})
        body = assert_error(response, 422, "validation_error")
        assert "customer_id" in body["errors"]
    assert stored_emails(db) == [] and smtp.messages == []


@pytest.mark.parametrize(("fields", "field"), [
    ({"subject": "Hi", "body": "Hello"}, "to"),
    ({"to": "a@example.com", "body": "Hello"}, "subject"),
    ({"to": "a@example.com", "subject": "Hi"}, "body"),
    ({"to": "a@example.com", "subject": "", "body": "Hello"}, "subject"),
    ({"to": "a@example.com", "subject": "Hi\r\nBcc: victim@example.com", "body": "Hello"}, "subject"),
    ({"to": "not-an-address", "subject": "Hi", "body": "Hello"}, "to"),
    ({"to": "a@example.com", "subject": "Hi", "body": "Hello", "status": "sent"}, "status"),
    ({"to": "a@example.com", "subject": "Hi", "body": "Hello", "open_count": 5}, "open_count"),
    ({"to": "a@example.com", "subject": "Hi", "body": "Hello", "html": "yes please"}, "html"),
])
def test_an_invalid_body_is_422_and_nothing_is_stored_or_sent(sales, smtp, db, fields, field):
    body = assert_error(sales.post(EMAILS, json=fields), 422, "validation_error")
    assert field in body["errors"]
    assert stored_emails(db) == [] and smtp.messages == []


def test_a_refused_recipient_is_recorded_as_failed_with_the_message_kept(sales, customer, smtp, db):
    smtp.refuse(customer.user["email"])
    response = sales.post(EMAILS, json={"customer_id": customer.customer_id, "subject": "Hi", "body": "Kept text"})
    assert response.status_code == 201
    email = response.get_json()
    assert email["status"] == "failed" and email["sent_at"] is None
    assert email["failure_reason"].startswith("SMTPRecipientsRefused:") and "550" in email["failure_reason"]
    assert smtp.messages == []
    assert sales.get(f"{EMAILS}/{email['id']}").get_json() == email
    assert db.emails.find_one({"_id": ObjectId(email["id"])})["body"] == "Kept text"
    [interaction] = sales.get(f"/api/v1/customers/{customer.customer_id}/interactions").get_json()["items"]
    assert interaction["status"] == "cancelled" and "could not be sent" in interaction["notes"]
    # A failed e-mail is no contact: last_interaction_at does not move.
    assert db.customers.find_one({"_id": ObjectId(customer.customer_id)}).get("last_interaction_at") is None


def test_nothing_listening_on_the_smtp_port_is_recorded_as_failed(app, sales, db):
    app.config["SMTP_PORT"] = _closed_port()
    email = send(sales, to="guest@example.com", body="Still here")
    assert email["status"] == "failed"
    assert email["failure_reason"].startswith("ConnectionRefusedError:")
    assert sales.get(f"{EMAILS}/{email['id']}").get_json()["failure_reason"] == email["failure_reason"]
    assert db.emails.find_one({"_id": ObjectId(email["id"])})["body"] == "Still here"


def test_with_no_smtp_host_the_email_is_recorded_as_failed(app, sales, smtp, db):
    app.config["SMTP_HOST"] = None
    email = send(sales, to="guest@example.com")
    assert email["status"] == "failed" and email["failure_reason"] == "SMTP_HOST is not set"
    listed = sales.get(EMAILS, query_string={"status": "failed"}).get_json()["items"]
    assert [item["id"] for item in listed] == [email["id"]]
    assert smtp.messages == [] and len(stored_emails(db)) == 1


def test_the_smtp_password_never_appears_in_a_failure_reason(app, sales, smtp):
    app.config.update(SMTP_USERNAME="crm", SMTP_PASSWORD="s3cret-pass")  # this server offers no AUTH
    email = send(sales, to="guest@example.com")
    assert email["status"] == "failed" and email["failure_reason"].startswith("SMTPNotSupportedError:")
    assert "s3cret-pass" not in email["failure_reason"]


def test_an_unexpected_error_while_sending_still_ends_failed(sales, smtp, db, monkeypatch):
    def broken_compose(*args):
        raise ValueError("boom")

    monkeypatch.setattr("crm_service.services.emails.compose", broken_compose)
    email = send(sales, to="guest@example.com", body="Kept")
    assert email["status"] == "failed"
    assert email["failure_reason"] == "ValueError: unexpected error while sending"
    assert db.emails.find_one({"_id": ObjectId(email["id"])})["body"] == "Kept" and smtp.messages == []


def test_without_public_base_url_the_pixel_uses_the_request_host(app, sales, smtp):
    app.config["PUBLIC_BASE_URL"] = None
    email = send(sales, to="guest@example.com")
    assert email["tracking_url"].startswith("http://localhost/api/v1/t/")
    assert email["tracking_url"] in smtp.messages[0].part("text/html")


def test_customers_may_not_send_or_read_emails(customer, smtp, db):
    assert_error(customer.post(EMAILS, json={"to": "a@example.com", "subject": "Hi", "body": "x"}), 403, "forbidden")
    assert_error(customer.get(EMAILS), 403, "forbidden")
    assert stored_emails(db) == [] and smtp.messages == []


def test_sending_needs_a_token(anon, smtp, db):
    assert_error(anon.post(EMAILS, json={"to": "a@example.com", "subject": "Hi", "body": "x"}), 401, "unauthorized")
    assert stored_emails(db) == [] and smtp.messages == []


def test_admins_send_too(admin, smtp):
    assert send(admin, to="guest@example.com")["status"] == "sent"
    assert len(smtp.messages) == 1
