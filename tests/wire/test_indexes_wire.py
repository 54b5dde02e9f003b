"""The index catalogue on a real server, and the unique indexes turning duplicates into 409s."""
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from crm_service.db import INDEXES, ensure_indexes, recheck_migrations
from crm_service.repositories.customers import derived_fields
from crm_service.repositories.interactions import activity_key, backfill_activity_keys
from tests.conftest import PASSWORD, assert_error

INDEX_OPTIONS = ("unique", "sparse", "expireAfterSeconds")


def _catalogue_entry(model):
    document = model.document
    keys = [(field, direction) for field, direction in document["key"].items()]
    return keys, {option: document.get(option) for option in INDEX_OPTIONS}


def _server_entry(info):
    return list(info["key"]), {option: info.get(option) for option in INDEX_OPTIONS}


def test_ensure_indexes_creates_every_index_in_the_catalogue(wire_db):
    created = ensure_indexes(wire_db)

    for collection, models in INDEXES.items():
        on_server = wire_db[collection].index_information()
        assert created[collection] == [model.document["name"] for model in models]
        for model in models:
            name = model.document["name"]
            assert name in on_server, f"{collection}.{name} missing"
            assert _server_entry(on_server[name]) == _catalogue_entry(model), f"{collection}.{name}"
        assert set(on_server) == {"_id_"} | {model.document["name"] for model in models}


def test_ensure_indexes_twice_changes_nothing(wire_db):
    ensure_indexes(wire_db)
    before = {collection: wire_db[collection].index_information() for collection in INDEXES}

    created = ensure_indexes(wire_db)

    assert created == {collection: [model.document["name"] for model in models]
                       for collection, models in INDEXES.items()}
    assert {collection: wire_db[collection].index_information() for collection in INDEXES} == before


def test_duplicate_customer_email_in_another_case_is_409(admin, db):
    first = admin.post("/api/v1/customers", json={"first_name": "Ana", "email": "Ana.Lopez@Example.com"})
    assert first.status_code == 201, first.get_json()

    response = admin.post("/api/v1/customers", json={"first_name": "Other", "email": "ana.lopez@EXAMPLE.com"})

    body = assert_error(response, 409, "conflict")
    assert body["errors"] == {"email": ["This value is already in use."]}
    assert [doc["first_name"] for doc in db.customers.find({"email": "ana.lopez@example.com"})] == ["Ana"]


def test_duplicate_username_in_another_case_is_409_and_creates_nothing(anon, db):
    body = {"username": "maria", "email": "maria@mail.example", "password": PASSWORD, "first_name": "Maria"}
    assert anon.post("/api/v1/auth/register", json=body).status_code == 201

    response = anon.post("/api/v1/auth/register",
                         json={**body, "username": "MARIA", "email": "maria.two@mail.example"})

    error = assert_error(response, 409, "conflict")
    assert error["errors"] == {"username": ["This value is already in use."]}
    assert db.users.count_documents({"username_key": "maria"}) == 1
    assert db.users.count_documents({"email": "maria.two@mail.example"}) == 0
    assert db.customers.count_documents({"email": "maria.two@mail.example"}) == 0


def test_duplicate_company_name_in_another_case_is_409(admin, db):
    assert admin.post("/api/v1/companies", json={"name": "Atlas Travel"}).status_code == 201

    response = admin.post("/api/v1/companies", json={"name": "atlas TRAVEL"})

    body = assert_error(response, 409, "conflict")
    assert body["errors"] == {"name": ["This value is already in use."]}
    assert [doc["name"] for doc in db.companies.find()] == ["Atlas Travel"]


def test_the_activity_key_backfill_takes_archived_interactions_from_one_aggregate_per_batch(wire_db):
    """Over the wire: customers written before activity_key, with newer interactions in the archive
    than embedded, get the key of the archived one (the batch's aggregate, ties in time by id)."""
    at = datetime(2026, 12, 20, 1, 0, tzinfo=UTC)
    expected = {}
    for number in range(3):
        oid = ObjectId()
        embedded = {"id": ObjectId(), "type": "note", "occurred_at": at - timedelta(days=30)}
        pair = [{"id": ObjectId(), "type": "note", "occurred_at": at + timedelta(days=number), "customer_id": oid}
                for _ in range(2)]
        wire_db.customers.insert_one({"_id": oid, "email": f"legacy{number}@wire.example", "interactions": [embedded],
                                      "embedded_count": 1, "archived_count": 2, "interaction_count": 3})
        wire_db.interaction_archive.insert_many(pair)
        expected[oid] = activity_key(at + timedelta(days=number), max(item["id"] for item in pair))

    assert backfill_activity_keys(wire_db, batch=2) == 3

    assert {oid: wire_db.customers.find_one({"_id": oid})["activity_key"] for oid in expected} == expected


def test_a_recheck_gives_prefixes_to_a_customer_an_old_worker_created_after_the_backfill(wire_db):
    """Over the wire: the re-check's window query (is_active, updated_at) and its updates."""
    ensure_indexes(wire_db)
    document = {"first_name": "Hassina", "last_name": "Old", "email": "old@wire.example", "is_active": True,
                "updated_at": datetime.now(UTC)}
    document.update(derived_fields(document))
    del document["search_prefixes"]
    oid = wire_db.customers.insert_one(document).inserted_id

    assert recheck_migrations(wire_db) == {"activity_key": 0, "search_prefixes": 1}

    assert "hass" in wire_db.customers.find_one({"_id": oid})["search_prefixes"]
    assert wire_db.migrations.find_one({"_id": "search_prefixes"})["checked_at"]
