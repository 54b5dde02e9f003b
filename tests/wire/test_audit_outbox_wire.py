"""The audit outbox over real TCP/BSON: the hot writes carry their entries, the moves ($pull by _id, $size,
$unset, duplicate keys skipped) work on the server, a worker's background mover empties the outboxes, and
the sweep of every outbox is served by the partial index."""
import time

import pytest
from bson import ObjectId

from crm_service.repositories.audit import OUTBOX, WAITING, AuditRepository
from tests.api.audit_helpers import created, entries
from tests.wire.test_explain_catalogue_wire import secantus_gap  # noqa: F401 (a fixture)
from tests.wire.test_query_plans_wire import plan_stages


def waiting(db, customer_id):
    return (db.customers.find_one({"_id": ObjectId(customer_id)}) or {}).get(OUTBOX)


def test_hot_writes_carry_their_entries_and_reading_the_log_moves_them(admin, wire_db):
    customer = created(admin, "/api/v1/customers", {"first_name": "Rita", "email": "rita@outbox.example"})
    for notes in ("one", "two"):
        created(admin, f"/api/v1/customers/{customer['id']}/interactions", {"type": "note", "notes": notes})

    assert [entry["entity"] for entry in waiting(wire_db, customer["id"])] == ["customers", "interactions",
                                                                               "interactions"]
    assert wire_db.audit_log.count_documents({}) == 0

    logged = entries(admin)

    assert [(entry["entity"], entry["action"]) for entry in logged] == [
        ("interactions", "create"), ("interactions", "create"), ("customers", "create")]
    assert waiting(wire_db, customer["id"]) is None


def test_a_second_move_after_a_cut_short_one_stores_each_entry_once(admin, wire_db):
    customer = created(admin, "/api/v1/customers", {"first_name": "Rita", "email": "rita@outbox.example"})
    [entry] = waiting(wire_db, customer["id"])
    wire_db.audit_log.insert_one(dict(entry))

    assert AuditRepository(wire_db).move_outbox(wire_db.customers) == 1

    assert wire_db.audit_log.count_documents({"_id": entry["_id"]}) == 1
    assert waiting(wire_db, customer["id"]) is None


@pytest.fixture
def moving(config):
    config.AUDIT_OUTBOX_SECONDS = 1
    return config


def test_the_background_mover_empties_the_outbox_without_a_read(moving, app, admin, wire_db):
    customer = created(admin, "/api/v1/customers", {"first_name": "Rita", "email": "rita@outbox.example"})
    created(admin, f"/api/v1/customers/{customer['id']}/interactions", {"type": "note", "notes": "hi"})
    try:
        deadline = time.monotonic() + 15
        while waiting(wire_db, customer["id"]) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        app.extensions["crm_audit_outbox"].stop()

    assert waiting(wire_db, customer["id"]) is None
    assert wire_db.audit_log.count_documents({"entity_id": ObjectId(customer["id"])}) == 1
    assert wire_db.audit_log.count_documents({"entity": "interactions"}) == 1


def test_the_sweep_of_every_outbox_uses_the_partial_index(admin, wire_db, secantus_gap):  # noqa: F811
    created(admin, "/api/v1/customers", {"first_name": "Rita", "email": "rita@outbox.example"})
    assert "audit_outbox" in wire_db.customers.index_information()
    secantus_gap("a partial index on an array's subfield is not chosen for its own $exists filter")

    stages = plan_stages(wire_db.customers.find({WAITING: {"$exists": True}}, {OUTBOX: 1}).limit(500).explain())

    assert "COLLSCAN" not in stages and "IXSCAN" in stages, stages
