"""The audit outbox: a customer's creation and a new interaction store their audit entry in the customer's
document (one atomic write); the entries move into `audit_log` once, and none is lost on the way."""
import time

import pytest
from bson import ObjectId
from pymongo.errors import PyMongoError

from crm_service.repositories.audit import OUTBOX, AuditRepository
from crm_service.services import audit
from crm_service.services.audit import OutboxMover
from tests.api.audit_helpers import created, entries, only_entry


def new_customer(admin, email="rita@outbox.example"):
    return created(admin, "/api/v1/customers", {"first_name": "Rita", "email": email})


def waiting(db, customer_id):
    return (db.customers.find_one({"_id": ObjectId(customer_id)}) or {}).get(OUTBOX)


def test_a_created_customer_carries_its_entry_until_the_log_is_read(admin, db):
    customer = new_customer(admin)

    [entry] = waiting(db, customer["id"])
    assert entry["action"] == "create" and entry["entity"] == "customers"
    assert entry["entity_id"] == ObjectId(customer["id"]) and entry["actor_id"] == ObjectId(admin.user["id"])
    assert db.audit_log.count_documents({}) == 0

    logged = only_entry(admin, entity="customers", action="create")

    assert logged["id"] == str(entry["_id"]) and logged["changes"]["email"]["to"] == "rita@outbox.example"
    assert waiting(db, customer["id"]) is None, "a moved outbox is removed from the document"


def test_an_interaction_carries_its_entry_in_the_same_update(admin, db):
    customer = new_customer(admin)
    interaction = created(admin, f"/api/v1/customers/{customer['id']}/interactions",
                          {"type": "phone", "notes": "called back"})

    assert [item["action"] for item in waiting(db, customer["id"])] == ["create", "create"]
    logged = only_entry(admin, entity="interactions")

    assert logged["entity_id"] == interaction["id"]
    assert logged["changes"]["notes"]["to"] == "called back"
    assert logged["changes"]["customer_id"]["to"] == customer["id"]


def test_the_outbox_never_shows_in_the_record(admin):
    customer = new_customer(admin)
    admin.post(f"/api/v1/customers/{customer['id']}/interactions", json={"type": "note", "notes": "hi"})

    read = admin.get(f"/api/v1/customers/{customer['id']}").get_json()
    listed = admin.get("/api/v1/customers").get_json()["items"][0]

    assert OUTBOX not in customer and OUTBOX not in read and OUTBOX not in listed
    assert read["id"] == listed["id"] == customer["id"]


def test_a_refused_create_stores_no_entry(admin, db):
    new_customer(admin)
    response = admin.post("/api/v1/customers", json={"first_name": "Twin", "email": "rita@outbox.example"})

    assert response.status_code == 409
    assert len(entries(admin, entity="customers")) == 1
    assert db.customers.count_documents({OUTBOX: {"$exists": True}}) == 0


def test_an_interaction_for_a_missing_customer_stores_no_entry(admin, db):
    response = admin.post(f"/api/v1/customers/{ObjectId()}/interactions", json={"type": "note", "notes": "x"})

    assert response.status_code == 404
    assert entries(admin, entity="interactions") == []


def test_a_move_cut_short_after_the_insert_stores_each_entry_once(admin, db):
    """A crash between the copy into the log and the pull: the next move finds the copies and skips them."""
    customer = new_customer(admin)
    [entry] = waiting(db, customer["id"])
    db.audit_log.insert_one(dict(entry))  # the copy landed, the pull did not

    moved = AuditRepository(db).move_outbox(db.customers)

    assert moved == 1
    assert db.audit_log.count_documents({"_id": entry["_id"]}) == 1
    assert waiting(db, customer["id"]) is None


def test_an_entry_pushed_between_the_find_and_the_removal_stays_for_the_next_pass(admin, db):
    first, second = new_customer(admin, "a@outbox.example"), new_customer(admin, "b@outbox.example")
    holders = list(db.customers.find({"_id": {"$in": [ObjectId(first["id"]), ObjectId(second["id"])]}},
                                     {OUTBOX: 1}))
    moved = [entry["_id"] for holder in holders for entry in holder[OUTBOX]]
    admin.post(f"/api/v1/customers/{first['id']}/interactions", json={"type": "note", "notes": "meanwhile"})

    AuditRepository._empty(db.customers, holders, moved)

    [late] = waiting(db, first["id"])
    assert late["entity"] == "interactions" and late["_id"] not in moved
    assert waiting(db, second["id"]) is None


def test_a_move_by_id_leaves_other_documents_alone(admin, db):
    first, second = new_customer(admin, "a@outbox.example"), new_customer(admin, "b@outbox.example")

    assert AuditRepository(db).move_outbox(db.customers, [ObjectId(first["id"])]) == 1

    assert waiting(db, first["id"]) is None and len(waiting(db, second["id"])) == 1
    assert AuditRepository(db).move_outbox(db.customers, []) == 0


def test_a_move_in_small_batches_moves_everything(admin, db):
    made = [new_customer(admin, f"c{number}@outbox.example")["id"] for number in range(5)]

    assert AuditRepository(db).move_outbox(db.customers, batch=2) == 5

    assert db.audit_log.count_documents({"entity": "customers"}) == 5
    assert all(waiting(db, customer_id) is None for customer_id in made)


def test_a_move_that_fails_on_something_else_than_a_duplicate_raises_and_keeps_the_entries(admin, db, monkeypatch):
    customer = new_customer(admin)

    def broken(*args, **kwargs):
        raise PyMongoError("disk full")

    monkeypatch.setattr(db.audit_log, "insert_many", broken)
    with pytest.raises(PyMongoError):
        AuditRepository(db).move_outbox(db.customers)

    assert len(waiting(db, customer["id"])) == 1


def test_erasing_the_customer_moves_its_entries_before_the_document_goes(admin, db):
    customer = new_customer(admin)
    admin.post(f"/api/v1/customers/{customer['id']}/interactions", json={"type": "note", "notes": "hello"})
    response = admin.delete(f"/api/v1/customers/{customer['id']}", query_string={"erase": "true"})

    assert response.status_code == 204, response.get_json()
    assert db.customers.count_documents({"_id": ObjectId(customer["id"])}) == 0

    stored = list(db.audit_log.find({"entity": {"$in": ["customers", "interactions"]}}, {"action": 1, "entity": 1}))
    kinds = sorted((item["entity"], item["action"]) for item in stored)

    assert kinds == [("customers", "create"), ("customers", "erase"), ("interactions", "create")]


# -- the mover ------------------------------------------------------------------------------------

def test_the_mover_moves_what_its_process_wrote_and_leaves_the_rest_to_a_read_of_the_log(app, admin, db):
    left_behind = new_customer(admin, "left@outbox.example")  # as if written by a worker that stopped
    mover = OutboxMover(app)

    ours = new_customer(admin, "ours@outbox.example")
    mover._ids.add(ObjectId(ours["id"]))
    assert mover.move_now() == 1
    assert mover.move_now() == 0, "a pass takes the customers written since the last one"

    assert waiting(db, ours["id"]) is None and len(waiting(db, left_behind["id"])) == 1
    assert only_entry(admin, entity_id=left_behind["id"])["action"] == "create"
    assert waiting(db, left_behind["id"]) is None


def test_a_failed_pass_keeps_its_customers_for_the_next(app, admin, db, monkeypatch):
    customer = new_customer(admin)
    mover = OutboxMover(app)
    mover._ids.add(ObjectId(customer["id"]))
    real = AuditRepository.move_outbox

    def broken(self, source, ids=None, batch=500):
        raise PyMongoError("primary stepped down")

    monkeypatch.setattr(AuditRepository, "move_outbox", broken)
    assert mover.move_now() == 0
    monkeypatch.setattr(AuditRepository, "move_outbox", real)

    assert mover.move_now() == 1
    assert waiting(db, customer["id"]) is None


def test_the_mover_runs_in_the_background_when_enabled(app, admin, db):
    mover = app.extensions["crm_audit_outbox"]
    mover.seconds = 1
    try:
        customer = new_customer(admin)
        deadline = time.monotonic() + 10
        while waiting(db, customer["id"]) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        mover.stop()

    assert waiting(db, customer["id"]) is None
    assert db.audit_log.count_documents({"entity": "customers", "action": "create"}) == 1


def test_without_a_period_nothing_runs_in_the_background(app, admin, db):
    assert app.config["AUDIT_OUTBOX_SECONDS"] == 0
    customer = new_customer(admin)

    assert app.extensions["crm_audit_outbox"]._thread is None
    assert len(waiting(db, customer["id"])) == 1
    assert audit.settle(db) == 1
