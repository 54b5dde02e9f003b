"""Audit entries for e-mail sends, replies and password resets: who, what, and never the token."""
import pytest

from crm_service.config import TestConfig
from crm_service.services.password_reset import wait_for_pending
from tests.api.email_helpers import send
from tests.api.test_password_reset import CONFIRM, NEW_PASSWORD, RESET, token_in
from tests.conftest import make_staff


@pytest.fixture
def config(smtp):
    config = smtp.configure(TestConfig())
    config.PASSWORD_RESET_URL = "https://app.example.test/reset?token={token}"
    return config


def entries(db, **query):
    return list(db.audit_log.find(query))


def test_sending_an_email_is_audited_without_its_tracking_token(sales, db, smtp):
    email = send(sales, to="guest@example.com")
    [entry] = entries(db, entity="emails", action="create")
    assert str(entry["entity_id"]) == email["id"]
    assert str(entry["actor_id"]) == sales.user["id"]
    changed = {change["field"]: change for change in entry["changes"]}
    assert changed["to"]["to"] == "guest@example.com" and changed["subject"]["from"] is None
    stored = db.emails.find_one()
    assert stored["tracking_token"] not in repr(db.audit_log.find_one()), "the pixel token leaked into the audit log"


def test_recording_a_reply_is_audited(sales, db, smtp):
    email = send(sales, to="guest@example.com")
    response = sales.post(f"/api/v1/emails/{email['id']}/responses", json={"body": "Thanks, see you!"})
    assert response.status_code == 201
    [entry] = entries(db, entity="emails", action="respond")
    [change] = entry["changes"]
    assert change["field"] == "responses" and change["to"][0]["body"] == "Thanks, see you!"


def test_a_password_reset_is_audited_with_the_password_redacted(app, client, db, smtp):
    user = make_staff(app, "sales")
    client.post(RESET, json={"email": user["email"]})
    wait_for_pending(app)
    token = token_in(smtp.messages[0])
    assert client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD}).status_code == 204
    [entry] = entries(db, action="reset_password")
    assert entry["entity"] == "users" and str(entry["entity_id"]) == str(user["_id"])
    assert str(entry["actor_id"]) == str(user["_id"])
    assert entry["changes"] == [{"field": "password", "from": "[redacted]", "to": "[redacted]"}]
    assert NEW_PASSWORD not in repr(list(db.audit_log.find())) and token not in repr(list(db.audit_log.find()))
