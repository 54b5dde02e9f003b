"""GET /sync/deleted (SPEC §3, §8): tombstones since a time, by role, in the list envelope."""
from datetime import timedelta

import pytest
from bson import ObjectId

from crm_service.db import ensure_indexes
from crm_service.repositories.base import utcnow
from crm_service.repositories.tombstones import TombstoneRepository
from crm_service.schemas.common import iso_z
from tests.conftest import assert_error

API = "/api/v1"
DELETED = f"{API}/sync/deleted"
ENVELOPE = {"items", "page", "size", "total", "pages", "next_cursor"}
LONG_AGO = "2000-01-01"


@pytest.fixture(autouse=True)
def _indexes(db):
    ensure_indexes(db)


def created(api, path, body):
    response = api.post(f"{API}{path}", json=body)
    assert response.status_code == 201, (path, response.get_json())
    return response.get_json()


def deleted(api, path, **query):
    response = api.delete(f"{API}{path}", query_string=query)
    assert response.status_code == 204, (path, response.get_json())


def tombstones(api, **query):
    response = api.get(DELETED, query_string={"since": LONG_AGO, "size": 100, **query})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == ENVELOPE
    return body


def pairs(body):
    return [(item["entity"], item["id"]) for item in body["items"]]


def new_customer(api, **fields):
    return created(api, "/customers", {"first_name": "Ann", "email": f"{ObjectId()}@mail.example", **fields})


# -- what is listed -------------------------------------------------------------------------------

def test_soft_and_hard_deletes_and_erasures_are_listed_oldest_first(admin, db):
    soft = new_customer(admin)
    erased = new_customer(admin)
    company = created(admin, "/companies", {"name": "Atlas"})
    product = created(admin, "/products", {"sku": "P-1", "name": "Tour", "price": "5"})
    ticket = created(admin, "/tickets", {"customer_id": soft["id"], "subject": "Help"})

    deleted(admin, f"/customers/{soft['id']}")
    deleted(admin, f"/customers/{erased['id']}", erase="true")
    deleted(admin, f"/companies/{company['id']}")
    deleted(admin, f"/products/{product['id']}")
    deleted(admin, f"/tickets/{ticket['id']}")

    body = tombstones(admin)
    assert pairs(body) == [("customers", soft["id"]), ("customers", erased["id"]), ("companies", company["id"]),
                           ("products", product["id"]), ("tickets", ticket["id"])]
    assert set(body["items"][0]) == {"entity", "id", "deleted_at"}
    assert body["items"][0]["deleted_at"].endswith("Z")
    assert (body["page"], body["size"], body["total"], body["pages"]) == (1, 100, 5, 1)


def test_since_lists_only_what_was_deleted_at_or_after_it(admin, db):
    old, new = new_customer(admin), new_customer(admin)
    deleted(admin, f"/customers/{old['id']}")
    db.tombstones.update_many({}, {"$set": {"deleted_at": utcnow() - timedelta(days=3)}})
    deleted(admin, f"/customers/{new['id']}")
    boundary = db.tombstones.find_one({"entity_id": ObjectId(new["id"])})["deleted_at"]

    assert pairs(tombstones(admin, since=iso_z(utcnow() - timedelta(days=1)))) == [("customers", new["id"])]
    # Inclusive: syncing again from the last deleted_at seen repeats it rather than risk missing a neighbour.
    assert pairs(tombstones(admin, since=iso_z(boundary))) == [("customers", new["id"])]
    assert pairs(tombstones(admin, since=iso_z(boundary + timedelta(milliseconds=1)))) == []


def test_since_takes_a_date(admin, db):
    gone = new_customer(admin)
    deleted(admin, f"/customers/{gone['id']}")
    today = utcnow().date().isoformat()
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()

    assert pairs(tombstones(admin, since=today)) == [("customers", gone["id"])]
    assert pairs(tombstones(admin, since=tomorrow)) == []


def test_entity_filter(admin):
    customer = new_customer(admin)
    company = created(admin, "/companies", {"name": "Atlas"})
    deleted(admin, f"/customers/{customer['id']}")
    deleted(admin, f"/companies/{company['id']}")

    assert pairs(tombstones(admin, entity="companies")) == [("companies", company["id"])]
    assert pairs(tombstones(admin, entity="segments")) == []


def test_pages_by_cursor_and_without_counting(admin, db):
    repository = TombstoneRepository(db)
    ids = [ObjectId() for _ in range(5)]
    for entity_id in ids:
        repository.record("products", entity_id)
    # All in one millisecond: the id breaks the tie, so no page repeats or skips one.
    db.tombstones.update_many({}, {"$set": {"deleted_at": utcnow()}})

    first = tombstones(admin, size=2, count="false")
    assert (first["total"], first["pages"], len(first["items"])) == (None, None, 2)
    seen = pairs(first)
    cursor = first["next_cursor"]
    while cursor:
        page = tombstones(admin, size=2, cursor=cursor)
        assert page["page"] is None and page["total"] == 5
        seen += pairs(page)
        cursor = page["next_cursor"]
    assert seen == [("products", str(entity_id)) for entity_id in sorted(ids)]


def test_nothing_deleted_is_an_empty_page(admin):
    assert tombstones(admin) == {"items": [], "page": 1, "size": 100, "total": 0, "pages": 0, "next_cursor": None}


# -- who sees what --------------------------------------------------------------------------------

def test_sales_do_not_see_tombstones_of_users(admin, sales, db):
    TombstoneRepository(db).record("users", ObjectId())
    product = created(admin, "/products", {"sku": "P-1", "name": "Tour", "price": "5"})
    deleted(admin, f"/products/{product['id']}")

    assert [entity for entity, _ in pairs(tombstones(admin))] == ["users", "products"]
    assert pairs(tombstones(sales)) == [("products", product["id"])]
    assert pairs(tombstones(sales, entity="users")) == []


def test_customers_see_only_their_own_records_tombstones(admin, customer, other_customer, db):
    mine = created(admin, "/tickets", {"customer_id": customer.customer_id, "subject": "Mine"})
    theirs = created(admin, "/tickets", {"customer_id": other_customer.customer_id, "subject": "Theirs"})
    company = created(admin, "/companies", {"name": "Atlas"})
    stranger = new_customer(admin)
    for path in (f"/tickets/{mine['id']}", f"/tickets/{theirs['id']}", f"/companies/{company['id']}",
                 f"/customers/{stranger['id']}"):
        deleted(admin, path)

    assert pairs(tombstones(customer)) == [("tickets", mine["id"])]
    assert pairs(tombstones(other_customer)) == [("tickets", theirs["id"])]
    assert tombstones(customer)["total"] == 1


def test_customers_do_not_see_their_records_of_entities_they_may_not_read(customer, db):
    TombstoneRepository(db).record("sales", ObjectId(), ObjectId(customer.customer_id))
    TombstoneRepository(db).record("feedback", feedback_id := ObjectId(), ObjectId(customer.customer_id))

    assert pairs(tombstones(customer)) == [("feedback", str(feedback_id))]
    assert pairs(tombstones(customer, entity="sales")) == []


def test_anonymous_callers_get_401(anon):
    assert_error(anon.get(DELETED, query_string={"since": LONG_AGO}), 401, "unauthorized")


# -- bad queries ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "field"), [
    ({}, "since"),
    ({"since": "yesterday"}, "since"),
    ({"since": "2024-13-01"}, "since"),
    ({"since": LONG_AGO, "entity": "planets"}, "entity"),
    ({"since": LONG_AGO, "size": "101"}, "size"),
    ({"since": LONG_AGO, "sort": "deleted_at"}, "sort"),
    ({"since": LONG_AGO, "cursor": "not-a-cursor"}, "cursor"),
])
def test_bad_queries_are_422_on_the_field(admin, query, field):
    body = assert_error(admin.get(DELETED, query_string=query), 422, "validation_error")
    assert field in body["errors"]


def test_the_tombstone_queries_have_indexes(db):
    keys = [tuple(index["key"]) for index in db.tombstones.index_information().values()]
    assert (("deleted_at", 1), ("_id", 1)) in keys
    assert (("customer_id", 1), ("deleted_at", 1)) in keys
    assert (("entity", 1), ("deleted_at", 1), ("_id", 1)) in keys


def test_the_operation_is_documented_with_since_required(client):
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/sync/deleted"]["get"]
    since = next(parameter for parameter in operation["parameters"] if parameter["name"] == "since")
    assert since["required"] is True and since["in"] == "query"


def test_record_many_leaves_one_tombstone_per_id_at_one_time(customer, db):
    ids = [ObjectId(), ObjectId()]
    TombstoneRepository(db).record_many("feedback", ids, ObjectId(customer.customer_id))
    TombstoneRepository(db).record_many("feedback", [])

    body = tombstones(customer)
    assert pairs(body) == [("feedback", str(entity_id)) for entity_id in ids]
    assert body["items"][0]["deleted_at"] == body["items"][1]["deleted_at"]
