"""How a body becomes a text and an HTML part, SMTP failure reasons, and the privacy erasure of e-mail."""
import smtplib

import pytest
from bson import ObjectId

from crm_service.repositories.emails import erase_customer
from crm_service.services.emails import html_to_text, looks_like_html, parts_of, with_pixel
from crm_service.services.mailer import MailError, _reason, deliver

PIXEL_URL = "https://crm.example.test/api/v1/t/abc.gif"


@pytest.mark.parametrize(("body", "is_html"), [
    ("<p>Hello</p>", True), ("Line one<br>line two", True), ('<a href="https://x.example">x</a>', True),
    ("Hello", False), ("if a < b and c > d", False), ("5 <10 kg", False), ("Email me at <a@b.c>", False),
])
def test_a_body_with_a_tag_is_read_as_html(body, is_html):
    assert looks_like_html(body) is is_html


def test_the_text_part_of_html_drops_tags_scripts_and_styles():
    body = ("<html><head><style>p {color: red}</style></head><body><h1>Offer</h1><p>Caf&eacute; &amp; "
            "tea</p><script>alert(1)</script><ul><li>One</li><li>Two</li></ul></body></html>")
    assert html_to_text(body) == "Offer\n\nCafé & tea\n\nOne\n\nTwo"


def test_plain_text_is_escaped_into_paragraphs_for_the_html_part():
    text, html = parts_of("Dear <Zoë>,\n\nfirst line\nsecond line", False, PIXEL_URL)
    assert text == "Dear <Zoë>,\n\nfirst line\nsecond line"
    assert "<p>Dear &lt;Zoë&gt;,</p>" in html and "<p>first line<br>\nsecond line</p>" in html
    assert html.count(PIXEL_URL) == 1 and html.index(PIXEL_URL) < html.index("</body>")


def test_the_pixel_goes_before_the_last_closing_body_tag():
    html = with_pixel("<body>a</BODY><!-- </body> -->tail</body >", PIXEL_URL)
    assert html.endswith(f'<img src="{PIXEL_URL}" width="1" height="1" alt=""></body >')


def test_without_an_smtp_host_delivery_fails_with_that_reason():
    with pytest.raises(MailError) as failure:
        deliver({"SMTP_HOST": None}, None)
    assert failure.value.reason == "SMTP_HOST is not set"


def test_a_failure_reason_names_the_error_and_never_the_password():
    config = {"SMTP_PASSWORD": "hunter2-secret"}
    auth = smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials for hunter2-secret")
    assert _reason(auth, config) == "SMTPAuthenticationError: 535 5.7.8 bad credentials for [redacted]"
    refused = smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"5.1.1 no such user")})
    assert _reason(refused, config) == "SMTPRecipientsRefused: x@example.com 550 5.1.1 no such user"
    assert _reason(TimeoutError("timed out"), config) == "TimeoutError: timed out"
    assert len(_reason(OSError("x" * 2000), config)) == 500


def test_erasing_a_customer_removes_its_emails_and_those_sent_to_its_address(db):
    customer_oid = ObjectId()
    db.customers.insert_one({"_id": customer_oid, "email": "zoe@example.com"})
    db.emails.insert_many([
        {"customer_id": customer_oid, "to": "office@example.com", "tracking_token": "t1"},
        {"customer_id": None, "to": "zoe@example.com", "tracking_token": "t2"},
        {"customer_id": ObjectId(), "to": "someone@example.com", "tracking_token": "t3"},
    ])
    assert erase_customer(db, customer_oid) == 2
    assert [email["to"] for email in db.emails.find()] == ["someone@example.com"]
