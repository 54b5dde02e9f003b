"""Password reset end to end: the link read from a really delivered mail, single use, expiry, revocation."""
import hashlib
import re
from datetime import timedelta
from urllib.parse import unquote

import pytest

from crm_service.config import TestConfig
from crm_service.repositories.base import utcnow
from crm_service.services.password_reset import wait_for_pending
from tests.conftest import PASSWORD, assert_error, login, make_staff

RESET = "/api/v1/auth/password-reset"
CONFIRM = f"{RESET}/confirm"
LINK = re.compile(r"https://app\.example\.test/reset\?token=(\S+)")
CODE_LINE = re.compile(r"^([A-Za-z0-9_-]{43})$", re.MULTILINE)
NEW_PASSWORD = "brand-new-pass-9"


@pytest.fixture
def config(smtp):
    config = smtp.configure(TestConfig())
    config.PASSWORD_RESET_URL = "https://app.example.test/reset?token={token}"
    return config


@pytest.fixture
def user(app):
    return make_staff(app, "sales")


def ask(app, client, email, **kwargs):
    """POST the request, then let its background work finish (the answer never waits for it)."""
    response = client.post(RESET, json={"email": email}, **kwargs)
    wait_for_pending(app)
    return response


def token_in(message):
    match = LINK.search(message.part("text/plain"))
    assert match, message.part("text/plain")
    return unquote(match.group(1))


def confirm(client, token, password=NEW_PASSWORD):
    return client.post(CONFIRM, json={"token": token, "new_password": password})


def test_reset_end_to_end_sets_the_password_and_ends_every_login(app, client, user, smtp):
    old = login(client, user["username"])
    response = ask(app, client, user["email"].upper())
    assert response.status_code == 202
    [message] = smtp.messages
    assert message.rcpt_tos == [user["email"]] and message.subject == "Reset your CRM password"
    token = token_in(message)
    assert f"\n{token}\n" in message.part("text/plain")
    assert confirm(client, token).status_code == 204
    for old_token in (old["access_token"], old["refresh_token"]):
        path = "/api/v1/auth/me" if old_token == old["access_token"] else "/api/v1/auth/refresh"
        method = client.get if old_token == old["access_token"] else client.post
        assert_error(method(path, headers={"Authorization": f"Bearer {old_token}"}), 401, "unauthorized")
    assert login(client, user["username"], NEW_PASSWORD)["user"]["id"] == str(user["_id"])
    assert_error(client.post("/api/v1/auth/login", json={"username": user["username"], "password": PASSWORD}),
                 401, "unauthorized")


def test_a_token_works_only_once(app, client, user, smtp):
    ask(app, client, user["email"])
    token = token_in(smtp.messages[0])
    assert confirm(client, token).status_code == 204
    body = assert_error(confirm(client, token, "another-pass-7"), 400, "bad_request")
    assert "token" in body["message"]
    assert login(client, user["username"], NEW_PASSWORD)


def test_an_expired_token_is_400_and_changes_nothing(app, client, user, smtp, db):
    ask(app, client, user["email"])
    token = token_in(smtp.messages[0])
    db.password_resets.update_one({}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})
    assert_error(confirm(client, token), 400, "bad_request")
    assert login(client, user["username"], PASSWORD)


def test_an_unknown_token_is_400(client, user):
    assert_error(confirm(client, "x" * 43), 400, "bad_request")
    assert login(client, user["username"], PASSWORD)


def test_only_the_hash_of_the_token_is_stored_and_it_expires_in_30_minutes(app, client, user, smtp, db):
    before = utcnow()
    ask(app, client, user["email"])
    token = token_in(smtp.messages[0])
    [stored] = list(db.password_resets.find())
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(stored)
    assert stored["user_id"] == user["_id"] and stored["used_at"] is None
    assert before + timedelta(minutes=30) <= stored["expires_at"] <= utcnow() + timedelta(minutes=30)


def test_an_unknown_address_gets_the_same_answer_and_nothing_is_sent(app, client, user, smtp, db):
    known = ask(app, client, user["email"])
    unknown = ask(app, client, "nobody@example.com")
    assert unknown.status_code == known.status_code == 202
    assert unknown.get_json() == known.get_json()
    assert {k: v for k, v in unknown.headers.items() if k != "X-Request-ID"} == {
        k: v for k, v in known.headers.items() if k != "X-Request-ID"}
    assert [message.rcpt_tos for message in smtp.messages] == [[user["email"]]]
    assert db.password_resets.count_documents({}) == 1


def test_an_inactive_account_gets_no_mail(app, client, smtp, db):
    inactive = make_staff(app, "sales", is_active=False)
    assert ask(app, client, inactive["email"]).status_code == 202
    assert smtp.messages == [] and db.password_resets.count_documents({}) == 0


def test_customer_users_reset_too(app, client, customer, smtp):
    ask(app, client, customer.user["email"])
    assert confirm(client, token_in(smtp.messages[0])).status_code == 204
    assert_error(customer.get("/api/v1/auth/me"), 401, "unauthorized")
    assert login(client, customer.user["username"], NEW_PASSWORD)


@pytest.mark.parametrize("password", ["short", "é" * 37])
def test_a_password_outside_8_to_72_bytes_is_422_and_keeps_the_token(app, client, user, smtp, password):
    ask(app, client, user["email"])
    token = token_in(smtp.messages[0])
    body = assert_error(confirm(client, token, password), 422, "validation_error")
    assert "new_password" in body["errors"]
    assert confirm(client, token).status_code == 204


@pytest.mark.parametrize(("path", "body", "field"), [
    (RESET, {}, "email"), (RESET, {"email": "not-an-address"}, "email"), (RESET, {"email": "a@b.example", "x": 1}, "x"),
    (CONFIRM, {"new_password": NEW_PASSWORD}, "token"), (CONFIRM, {"token": "", "new_password": NEW_PASSWORD}, "token"),
    (CONFIRM, {"token": "abc"}, "new_password"),
])
def test_invalid_bodies_are_422(app, client, smtp, db, path, body, field):
    response = client.post(path, json=body)
    wait_for_pending(app)
    assert field in assert_error(response, 422, "validation_error")["errors"]
    assert smtp.messages == [] and db.password_resets.count_documents({}) == 0


def test_a_reset_voids_the_other_links_of_the_user(app, client, user, smtp):
    ask(app, client, user["email"])
    ask(app, client, user["email"])
    first, second = (token_in(message) for message in smtp.messages)
    assert first != second
    assert confirm(client, second).status_code == 204
    assert_error(confirm(client, first, "another-pass-7"), 400, "bad_request")


def test_at_most_three_live_links_are_sent(app, client, user, smtp):
    for _ in range(5):
        assert ask(app, client, user["email"]).status_code == 202
    assert len(smtp.messages) == 3


def test_a_reset_lifts_a_login_lock_out(app, client, user, smtp):
    for _ in range(5):
        client.post("/api/v1/auth/login", json={"username": user["username"], "password": "wrong-password"})
    locked = client.post("/api/v1/auth/login", json={"username": user["username"], "password": PASSWORD})
    assert_error(locked, 429, "rate_limited")
    ask(app, client, user["email"])
    assert confirm(client, token_in(smtp.messages[0])).status_code == 204
    assert login(client, user["username"], NEW_PASSWORD)


def test_the_default_link_uses_public_base_url(app, client, user, smtp):
    app.config.update(PASSWORD_RESET_URL=None, PUBLIC_BASE_URL="https://crm.example.test/")
    ask(app, client, user["email"])
    text = smtp.messages[0].part("text/plain")
    token = CODE_LINE.search(text).group(1)
    assert f"https://crm.example.test{CONFIRM}?token={token}" in text


def test_without_a_configured_base_the_mail_never_trusts_the_host_header(app, client, user, smtp):
    app.config.update(PASSWORD_RESET_URL=None, PUBLIC_BASE_URL=None)
    ask(app, client, user["email"], headers={"Host": "evil.example"})
    text = smtp.messages[0].part("text/plain")
    assert "evil.example" not in text and "http" not in text
    assert confirm(client, CODE_LINE.search(text).group(1)).status_code == 204


def test_with_no_smtp_host_the_answer_is_still_202(app, client, user, smtp, db):
    app.config["SMTP_HOST"] = None
    assert ask(app, client, user["email"]).status_code == 202
    assert smtp.messages == [] and db.password_resets.count_documents({}) == 1
    assert login(client, user["username"], PASSWORD)
