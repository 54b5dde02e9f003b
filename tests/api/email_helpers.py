"""Helpers shared by the e-mail tests: a base URL for the pixel, sending, and opening the pixel."""
from urllib.parse import urlsplit

EMAILS = "/api/v1/emails"
BASE_URL = "https://crm.example.test"


def send(api, **fields):
    body = {"subject": "Your tour on Friday", "body": "Hello,\n\nSee you at nine.\n", **fields}
    response = api.post(EMAILS, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def pixel_path(tracking_url):
    """The path of an absolute tracking URL, for the test client."""
    return urlsplit(tracking_url).path


def open_pixel(client, tracking_url):
    response = client.get(pixel_path(tracking_url))
    assert response.status_code == 200
    return response


def stored_emails(db):
    return list(db.emails.find({}, sort=[("_id", 1)]))
