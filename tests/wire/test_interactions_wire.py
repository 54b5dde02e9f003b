"""Logging interactions on a real server: one atomic document update, and no lost writes under concurrency."""
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from crm_service.repositories.interactions import activity_key
from tests.conftest import Api

BASE_TIME = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
THREADS = 8
POSTS_PER_THREAD = 10


def iso(moment):
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def person(admin):
    response = admin.post("/api/v1/customers", json={"first_name": "Karim", "last_name": "Tazi",
                                                     "email": "karim.tazi@mail.example"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def post_interaction(api, customer_id, occurred_at, **fields):
    body = {"type": "phone", "notes": "Called about the booking", "occurred_at": iso(occurred_at), **fields}
    return api.post(f"/api/v1/customers/{customer_id}/interactions", json=body)


def test_interaction_and_customer_times_change_in_the_same_document(admin, person, db):
    occurred_at = BASE_TIME + timedelta(hours=3)

    response = post_interaction(admin, person["id"], occurred_at, subject="Quote")

    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["occurred_at"] == "2025-03-01T12:00:00.000Z"
    assert created["status"] == "completed"
    document = db.customers.find_one({"_id": ObjectId(person["id"])})
    assert [item["id"] for item in document["interactions"]] == [ObjectId(created["id"])]
    stored = document["interactions"][0]
    assert (stored["subject"], stored["type"], stored["occurred_at"]) == ("Quote", "phone", occurred_at)
    assert stored["employee_id"] == ObjectId(admin.user["id"])
    assert document["last_interaction_at"] == occurred_at
    assert document["activity_key"] == activity_key(occurred_at, ObjectId(created["id"]))
    assert (document["embedded_count"], document["archived_count"], document["interaction_count"]) == (1, 0, 1)
    assert document["version"] == person["version"] + 1


def test_older_interaction_does_not_move_last_interaction_at_back(admin, person, db):
    newest = BASE_TIME + timedelta(days=2)
    assert post_interaction(admin, person["id"], newest).status_code == 201

    assert post_interaction(admin, person["id"], BASE_TIME).status_code == 201

    document = db.customers.find_one({"_id": ObjectId(person["id"])})
    assert document["last_interaction_at"] == newest
    assert document["activity_key"] == activity_key(newest, document["interactions"][0]["id"])
    assert [item["occurred_at"] for item in document["interactions"]] == [newest, BASE_TIME]
    assert admin.get(f"/api/v1/customers/{person['id']}").get_json()["last_interaction_at"] == iso(newest)


def test_future_meeting_moves_activity_key_but_not_last_interaction_at(admin, person, db):
    done_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    meeting_at = done_at + timedelta(days=10)
    assert post_interaction(admin, person["id"], done_at).status_code == 201

    response = admin.post(f"/api/v1/customers/{person['id']}/meetings",
                          json={"scheduled_at": iso(meeting_at), "subject": "Tour planning"})

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] == "scheduled"
    document = db.customers.find_one({"_id": ObjectId(person["id"])})
    assert document["last_interaction_at"] == done_at
    assert document["activity_key"] == activity_key(meeting_at, ObjectId(response.get_json()["id"]))
    assert document["interaction_count"] == 2


def _post_many(app, token, customer_id, thread_number):
    api = Api(app.test_client(), token)
    statuses = []
    for number in range(POSTS_PER_THREAD):
        occurred_at = BASE_TIME + timedelta(minutes=thread_number * POSTS_PER_THREAD + number)
        response = post_interaction(api, customer_id, occurred_at, subject=f"t{thread_number}-{number}")
        statuses.append(response.status_code)
    return statuses


def test_concurrent_adds_from_many_clients_lose_nothing(app, admin, person, db):
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda n: _post_many(app, admin.token, person["id"], n), range(THREADS)))

    assert [status for statuses in results for status in statuses] == [201] * THREADS * POSTS_PER_THREAD
    document = db.customers.find_one({"_id": ObjectId(person["id"])})
    items = document["interactions"]
    total = THREADS * POSTS_PER_THREAD
    expected_subjects = {f"t{t}-{n}" for t in range(THREADS) for n in range(POSTS_PER_THREAD)}
    assert {item["subject"] for item in items} == expected_subjects
    assert len({item["id"] for item in items}) == total
    assert [item["occurred_at"] for item in items] == sorted((item["occurred_at"] for item in items), reverse=True)
    assert (document["embedded_count"], document["interaction_count"]) == (total, total)
    assert document["version"] == person["version"] + total
    latest = BASE_TIME + timedelta(minutes=total - 1)
    assert document["last_interaction_at"] == latest
    assert document["activity_key"] == activity_key(latest, items[0]["id"])
