"""Past INTERACTION_EMBED_LIMIT the oldest interactions move to the archive; every read still sees all, in order."""
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from tests.conftest import Api

EMBED_LIMIT = 5
BASE_TIME = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
# 23 interactions: 5 one by one, 12 from 4 threads at once, then 6 one by one (the newest, out of order).
FIRST = [3, 0, 4, 1, 2]
CONCURRENT = [[5, 9, 13], [6, 10, 14], [16, 7, 11], [8, 15, 12]]
LAST = [20, 17, 22, 18, 21, 19]
TOTAL = 23


@pytest.fixture
def config(config):
    config.INTERACTION_EMBED_LIMIT = EMBED_LIMIT
    return config


def iso(moment):
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _add(api, customer_id, minute):
    body = {"type": "email", "notes": f"Message {minute}", "subject": f"m{minute}",
            "occurred_at": iso(BASE_TIME + timedelta(minutes=minute))}
    response = api.post(f"/api/v1/customers/{customer_id}/interactions", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


@pytest.fixture
def history(app, admin):
    """A customer with 23 interactions; returns (customer id, {minute: interaction id})."""
    response = admin.post("/api/v1/customers", json={"first_name": "Leila", "email": "leila@mail.example"})
    assert response.status_code == 201, response.get_json()
    customer_id = response.get_json()["id"]
    ids = {minute: _add(admin, customer_id, minute) for minute in FIRST}

    def add_batch(minutes):
        api = Api(app.test_client(), admin.token)
        return {minute: _add(api, customer_id, minute) for minute in minutes}

    with ThreadPoolExecutor(len(CONCURRENT)) as pool:
        for batch in pool.map(add_batch, CONCURRENT):
            ids.update(batch)
    ids.update({minute: _add(admin, customer_id, minute) for minute in LAST})
    assert len(ids) == TOTAL
    return customer_id, ids


def newest_first(ids):
    return [ids[minute] for minute in sorted(ids, reverse=True)]


def walk_cursor(api, path, **params):
    """Every item of a list, following next_cursor to the end (the first request is page 1)."""
    items, cursor = [], None
    for _ in range(TOTAL + 1):
        response = api.get(path, query_string={"size": 4, **params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["page"] == (None if cursor else 1)
        assert body["total"] == TOTAL
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursor never ran out")


def test_only_the_newest_stay_embedded_and_the_rest_are_archived_once(history, db):
    customer_id, ids = history

    document = db.customers.find_one({"_id": ObjectId(customer_id)})
    archived = list(db.interaction_archive.find({"customer_id": ObjectId(customer_id)}))

    assert [str(item["id"]) for item in document["interactions"]] == newest_first(ids)[:EMBED_LIMIT]
    assert sorted(str(item["id"]) for item in archived) == sorted(newest_first(ids)[EMBED_LIMIT:])
    assert (document["embedded_count"], document["archived_count"], document["interaction_count"]) == (
        EMBED_LIMIT, TOTAL - EMBED_LIMIT, TOTAL)
    assert document["last_interaction_at"] == BASE_TIME + timedelta(minutes=max(LAST))


def test_archived_interaction_keeps_its_fields(history, db):
    customer_id, ids = history

    archived = db.interaction_archive.find_one({"id": ObjectId(ids[0])})

    assert archived["customer_id"] == ObjectId(customer_id)
    assert (archived["subject"], archived["notes"], archived["type"]) == ("m0", "Message 0", "email")
    assert archived["occurred_at"] == BASE_TIME


def test_history_pages_list_all_interactions_newest_first(history, admin):
    customer_id, ids = history
    seen = []
    for page in (1, 2, 3):
        response = admin.get(f"/api/v1/customers/{customer_id}/interactions", query_string={"page": page, "size": 10})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert (body["page"], body["total"], body["pages"]) == (page, TOTAL, 3)
        seen += body["items"]

    assert [item["id"] for item in seen] == newest_first(ids)
    assert [item["subject"] for item in seen] == [f"m{minute}" for minute in range(TOTAL - 1, -1, -1)]


def test_history_cursor_walk_lists_all_interactions_newest_first(history, admin):
    customer_id, ids = history

    items = walk_cursor(admin, f"/api/v1/customers/{customer_id}/interactions")

    assert [item["id"] for item in items] == newest_first(ids)


def test_history_cursor_walk_oldest_first_lists_all_interactions(history, admin):
    customer_id, ids = history

    items = walk_cursor(admin, f"/api/v1/customers/{customer_id}/interactions", sort="occurred_at")

    assert [item["id"] for item in items] == newest_first(ids)[::-1]


def test_feed_cursor_walk_merges_embedded_and_archived(history, admin):
    _, ids = history

    items = walk_cursor(admin, "/api/v1/interactions")

    assert [item["id"] for item in items] == newest_first(ids)
    assert [item["occurred_at"] for item in items[:2]] == [iso(BASE_TIME + timedelta(minutes=22)),
                                                           iso(BASE_TIME + timedelta(minutes=21))]


def test_archived_interaction_is_readable_by_id(history, admin):
    customer_id, ids = history

    response = admin.get(f"/api/v1/customers/{customer_id}/interactions/{ids[0]}")

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["id"] == ids[0]
    assert response.get_json()["occurred_at"] == iso(BASE_TIME)
