"""E-mail and password reset on a real server: $min on an absent field, the open-rate aggregation, the unique
token index, index-backed reads, and a reset token that two racing confirmations cannot both spend."""
import random
import re
import threading
from datetime import timedelta

import pytest
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

import tests.wire.test_query_plans_wire as query_plans
from crm_service.db import get_db
from crm_service.repositories.base import utcnow
from crm_service.repositories.emails import EmailRepository
from crm_service.repositories.password_resets import PasswordResetRepository, hash_token
from crm_service.schemas.emails import EmailListQuerySchema
from crm_service.services.password_reset import wait_for_pending
from tests.api.email_helpers import BASE_URL, EMAILS, open_pixel, send
from tests.conftest import assert_error, login, make_staff
from tests.wire.test_query_plans_wire import assert_indexed, plan_stages

secantus_gap = query_plans.secantus_gap
list_query_schema = EmailListQuerySchema()
RACERS = 8
CODE_LINE = re.compile(r"^([A-Za-z0-9_-]{43})$", re.MULTILINE)


@pytest.fixture
def config(config, smtp):
    smtp.configure(config)
    config.PUBLIC_BASE_URL = BASE_URL
    return config


def test_opens_on_a_real_server_set_first_opened_at_once_and_count_every_open(client, sales, smtp, wire_db):
    email = send(sales, to="guest@example.com")
    assert "first_opened_at" not in wire_db.emails.find_one({"_id": ObjectId(email["id"])})
    open_pixel(client, email["tracking_url"])
    first = wire_db.emails.find_one({"_id": ObjectId(email["id"])})
    open_pixel(client, email["tracking_url"])
    second = wire_db.emails.find_one({"_id": ObjectId(email["id"])})
    assert first["open_count"] == 1 and second["open_count"] == 2
    assert first["first_opened_at"] is not None and second["first_opened_at"] == first["first_opened_at"]
    assert second["last_opened_at"] >= first["last_opened_at"]
    assert client.get(f"/api/v1/t/{'B' * 43}.gif").data == open_pixel(client, email["tracking_url"]).data
    assert wire_db.emails.count_documents({}) == 1


def test_a_failed_send_is_kept_on_a_real_server(app, sales, smtp, wire_db):
    app.config["SMTP_HOST"] = None
    email = send(sales, to="guest@example.com", body="Kept")
    stored = wire_db.emails.find_one({"_id": ObjectId(email["id"])})
    assert stored["status"] == "failed" and stored["failure_reason"] == "SMTP_HOST is not set"
    assert stored["body"] == "Kept" and smtp.messages == []


def _random_emails(rng, count, now, customers):
    rows = []
    for index in range(count):
        created = now - timedelta(days=rng.randint(0, 90) + 0.5)
        status = rng.choice(["sent", "sent", "sent", "failed", "queued"])
        opens = rng.choice([0, 0, 1, 3]) if status == "sent" else 0
        rows.append({
            "customer_id": rng.choice(customers), "to": f"r{index}@example.com", "subject": "s", "body": "b",
            "html": False, "status": status, "failure_reason": None, "open_count": opens,
            "sent_at": created + timedelta(minutes=1) if status == "sent" else None, "responses": [],
            "tracking_token": f"token-{index}", "version": 1, "created_at": created, "updated_at": created,
        })
    return rows


def _brute_rate(rows):
    sent = [row for row in rows if row["status"] == "sent"]
    return round(sum(1 for row in sent if row["open_count"] > 0) / len(sent), 4) if sent else None


def test_open_rate_equals_a_brute_force_count_over_filters(app, wire_db):
    rng, now = random.Random(7), utcnow()
    customers = [ObjectId() for _ in range(4)] + [None]
    rows = _random_emails(rng, 300, now, customers)
    wire_db.emails.insert_many([dict(row) for row in rows])
    repository = EmailRepository(get_db(app))
    week_ago = now - timedelta(days=7)
    filters = [
        ({}, lambda row: True),
        ({"customer_id": str(customers[0])}, lambda row: row["customer_id"] == customers[0]),
        ({"status": "failed"}, lambda row: row["status"] == "failed"),
        ({"from": week_ago.isoformat()}, lambda row: row["created_at"] >= week_ago),
        ({"sent_before": week_ago.isoformat()}, lambda row: row["sent_at"] is not None and row["sent_at"] < week_ago),
    ]
    for params, keep in filters:
        query = EmailRepository.build_query(list_query_schema.load(params))
        assert repository.open_rate(query) == _brute_rate([row for row in rows if keep(row)]), params


def test_tracking_tokens_and_reset_token_hashes_are_unique(app, wire_db):
    wire_db.emails.insert_one({"tracking_token": "same"})
    with pytest.raises(DuplicateKeyError):
        wire_db.emails.insert_one({"tracking_token": "same"})
    resets = PasswordResetRepository(get_db(app))
    resets.create(ObjectId(), "hash", timedelta(minutes=30))
    with pytest.raises(DuplicateKeyError):
        resets.create(ObjectId(), "hash", timedelta(minutes=30))
    ttl = wire_db.password_resets.index_information()["expires_ttl"]
    assert ttl["expireAfterSeconds"] == 0


@pytest.mark.parametrize("command", [
    {"find": "emails", "filter": {"tracking_token": "x"}},
    {"find": "emails", "filter": {}, "sort": {"created_at": -1, "_id": -1}},
    {"find": "emails", "filter": {"customer_id": ObjectId()}, "sort": {"created_at": -1, "_id": -1}},
    {"find": "emails", "filter": {"status": "failed"}, "sort": {"created_at": -1, "_id": -1}},
    {"find": "emails", "filter": {}, "sort": {"sent_at": -1, "_id": -1}},
])
def test_email_reads_use_an_index(app, wire_db, command):
    wire_db.emails.insert_many(_random_emails(random.Random(1), 50, utcnow(), [ObjectId()]))
    explain = wire_db.command("explain", command, verbosity="queryPlanner")
    assert_indexed(plan_stages(explain))


def test_spending_a_reset_token_uses_the_token_index(app, wire_db, secantus_gap):
    secantus_gap("an equality plus conditions on fields outside the index is never index-backed")
    resets = PasswordResetRepository(get_db(app))
    for number in range(50):
        resets.create(ObjectId(), hash_token(str(number)), timedelta(minutes=30))
    query = {"token_hash": hash_token("7"), "used_at": None, "expires_at": {"$gt": utcnow()}}
    explain = wire_db.command("explain", {"find": "password_resets", "filter": query}, verbosity="queryPlanner")
    assert_indexed(plan_stages(explain))


def test_racing_confirmations_spend_a_reset_token_once(app, wire_db):
    resets = PasswordResetRepository(get_db(app))
    resets.create(ObjectId(), hash_token("the-token"), timedelta(minutes=30))
    barrier, winners = threading.Barrier(RACERS), []

    def race():
        barrier.wait()
        winners.append(PasswordResetRepository(get_db(app)).consume(hash_token("the-token")))

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(winners) == RACERS and sum(1 for won in winners if won is not None) == 1


def test_password_reset_end_to_end_on_a_real_server(app, client, smtp, wire_db):
    user = make_staff(app, "sales")
    old = login(client, user["username"])
    assert client.post("/api/v1/auth/password-reset", json={"email": user["email"]}).status_code == 202
    wait_for_pending(app)
    token = CODE_LINE.search(smtp.messages[0].part("text/plain")).group(1)
    body = {"token": token, "new_password": "brand-new-pass-9"}
    assert client.post("/api/v1/auth/password-reset/confirm", json=body).status_code == 204
    assert_error(client.post("/api/v1/auth/password-reset/confirm", json=body), 400, "bad_request")
    assert_error(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {old['access_token']}"}),
                 401, "unauthorized")
    assert login(client, user["username"], "brand-new-pass-9")
    assert wire_db.password_resets.find_one({})["used_at"] is not None


def test_listing_on_a_real_server_carries_the_open_rate(client, sales, smtp):
    opened = send(sales, to="a@example.com")
    send(sales, to="b@example.com")
    open_pixel(client, opened["tracking_url"])
    page = sales.get(EMAILS).get_json()
    assert page["total"] == 2 and page["open_rate"] == 0.5
