"""POST /customers/{id}/interactions: validation, defaults, and last_interaction_at in the same write."""
import pytest
from bson import ObjectId

from tests.api.interaction_helpers import (
    BASE,
    ago,
    ahead,
    history_url,
    item_url,
    log,
    new_customer,
    now,
    parse_time,
    stored_customer,
)
from tests.conftest import assert_error, make_staff

RECORD_KEYS = {
    "id", "customer_id", "type", "subject", "notes", "employee_id", "employee_comment", "occurred_at",
    "duration_minutes", "status", "location", "follow_up_required", "follow_up_date", "ticket_id", "email_id",
    "created_at", "updated_at",
}


def embedded(db, customer_id):
    return stored_customer(db, customer_id)["interactions"]


def test_logging_an_interaction_answers_201_with_location_and_the_full_record(sales, db):
    customer_id = new_customer(db)
    body = {"type": "phone", "subject": "Pricing", "notes": "Asked for a quote", "duration_minutes": 12,
            "occurred_at": "2024-03-05T10:00:00Z", "employee_comment": "Price-sensitive"}
    response = sales.post(history_url(customer_id), json=body)
    assert response.status_code == 201
    record = response.get_json()
    assert set(record) == RECORD_KEYS
    assert response.headers["Location"].endswith(item_url(customer_id, record["id"]))
    assert record["customer_id"] == customer_id
    assert record["type"] == "phone" and record["subject"] == "Pricing" and record["notes"] == "Asked for a quote"
    assert record["duration_minutes"] == 12 and record["employee_comment"] == "Price-sensitive"
    assert record["occurred_at"] == "2024-03-05T10:00:00.000Z"
    assert record["status"] == "completed"
    assert record["follow_up_required"] is False and record["follow_up_date"] is None
    assert record["created_at"].endswith("Z") and record["updated_at"] == record["created_at"]
    [stored] = embedded(db, customer_id)
    assert str(stored["id"]) == record["id"] and stored["notes"] == "Asked for a quote"


def test_created_interaction_can_be_read_back_at_its_location(sales, db):
    customer_id = new_customer(db)
    response = sales.post(history_url(customer_id), json={"type": "email", "notes": "Sent brochure"})
    fetched = sales.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.get_json() == response.get_json()


def test_occurred_at_defaults_to_now(sales, db):
    customer_id = new_customer(db)
    before = now().replace(microsecond=0)
    record = log(sales, customer_id)
    assert before <= parse_time(record["occurred_at"]) <= now()


def test_employee_id_defaults_to_the_caller(admin, db):
    customer_id = new_customer(db)
    assert log(admin, customer_id)["employee_id"] == admin.user["id"]


def test_employee_id_may_name_another_active_staff_user(app, admin, db):
    colleague = make_staff(app, "sales")
    customer_id = new_customer(db)
    record = log(admin, customer_id, employee_id=str(colleague["_id"]))
    assert record["employee_id"] == str(colleague["_id"])
    assert embedded(db, customer_id)[0]["employee_id"] == colleague["_id"]


@pytest.mark.parametrize("who", ["inactive", "customer_user", "unknown", "malformed"])
def test_employee_id_that_is_not_an_active_staff_user_is_422(app, sales, customer, db, who):
    employee_id = {
        "inactive": lambda: str(make_staff(app, "sales", is_active=False)["_id"]),
        "customer_user": lambda: customer.user["id"],
        "unknown": lambda: str(ObjectId()),
        "malformed": lambda: "not-an-id",
    }[who]()
    customer_id = new_customer(db)
    response = sales.post(history_url(customer_id), json={"type": "note", "notes": "x", "employee_id": employee_id})
    body = assert_error(response, 422, "validation_error")
    assert "employee_id" in body["errors"]
    assert embedded(db, customer_id) == []


def test_unknown_interaction_type_is_422_and_stores_nothing(sales, db):
    customer_id = new_customer(db)
    response = sales.post(history_url(customer_id), json={"type": "fax", "notes": "x"})
    assert "type" in assert_error(response, 422, "validation_error")["errors"]
    assert embedded(db, customer_id) == []
    assert stored_customer(db, customer_id)["last_interaction_at"] is None


def test_every_documented_type_is_accepted(sales, db):
    customer_id = new_customer(db)
    types = ["email", "phone", "meeting", "chat", "in_person", "whatsapp", "sms", "note"]
    assert [log(sales, customer_id, type=kind, occurred_at=ago(days=1))["type"] for kind in types] == types


def test_type_is_required(sales, db):
    response = sales.post(history_url(new_customer(db)), json={"notes": "x"})
    assert "type" in assert_error(response, 422, "validation_error")["errors"]


@pytest.mark.parametrize("notes", [None, "", "x" * 2001])
def test_notes_must_be_present_and_at_most_2000_characters(sales, db, notes):
    customer_id = new_customer(db)
    body = {"type": "note"} if notes is None else {"type": "note", "notes": notes}
    response = sales.post(history_url(customer_id), json=body)
    assert "notes" in assert_error(response, 422, "validation_error")["errors"]
    assert embedded(db, customer_id) == []


def test_notes_of_exactly_2000_characters_are_accepted(sales, db):
    assert len(log(sales, new_customer(db), notes="x" * 2000)["notes"]) == 2000


def test_subject_longer_than_255_characters_is_422(sales, db):
    customer_id = new_customer(db)
    response = sales.post(history_url(customer_id), json={"type": "note", "notes": "x", "subject": "s" * 256})
    assert "subject" in assert_error(response, 422, "validation_error")["errors"]
    assert embedded(db, customer_id) == []


@pytest.mark.parametrize("field", ["colour", "id", "created_at", "customer_id", "ticket_id"])
def test_unknown_or_read_only_field_is_422_and_stores_nothing(sales, db, field):
    customer_id = new_customer(db)
    value = str(ObjectId()) if field.endswith("id") else "2024-01-01T00:00:00Z"
    response = sales.post(history_url(customer_id), json={"type": "note", "notes": "x", field: value})
    assert field in assert_error(response, 422, "validation_error")["errors"]
    assert embedded(db, customer_id) == []


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "2024-02-30T10:00:00Z", 12])
def test_invalid_occurred_at_is_422(sales, value, db):
    response = sales.post(history_url(new_customer(db)), json={"type": "note", "notes": "x", "occurred_at": value})
    assert "occurred_at" in assert_error(response, 422, "validation_error")["errors"]


def test_occurred_at_given_as_a_date_means_midnight_utc(sales, db):
    record = log(sales, new_customer(db), occurred_at="2024-03-05")
    assert record["occurred_at"] == "2024-03-05T00:00:00.000Z"


def test_occurred_at_with_an_offset_is_stored_in_utc(sales, db):
    record = log(sales, new_customer(db), occurred_at="2024-03-05T10:00:00+02:00")
    assert record["occurred_at"] == "2024-03-05T08:00:00.000Z"


def test_meeting_in_the_future_is_scheduled(sales, db):
    assert log(sales, new_customer(db), type="meeting", occurred_at=ahead(days=2))["status"] == "scheduled"


def test_meeting_in_the_past_is_completed(sales, db):
    assert log(sales, new_customer(db), type="meeting", occurred_at=ago(days=2))["status"] == "completed"


def test_other_types_in_the_future_are_not_scheduled(sales, db):
    assert log(sales, new_customer(db), type="phone", occurred_at=ahead(days=2))["status"] == "completed"


def test_an_explicit_status_is_kept(sales, db):
    record = log(sales, new_customer(db), type="meeting", occurred_at=ago(days=1), status="cancelled")
    assert record["status"] == "cancelled"


def test_unknown_status_is_422(sales, db):
    response = sales.post(history_url(new_customer(db)), json={"type": "note", "notes": "x", "status": "done"})
    assert "status" in assert_error(response, 422, "validation_error")["errors"]


def test_follow_up_date_alone_asks_for_a_follow_up(sales, db):
    record = log(sales, new_customer(db), follow_up_date=ahead(days=3))
    assert record["follow_up_required"] is True


def test_logging_moves_last_interaction_at_and_the_version_in_the_same_write(sales, db):
    customer_id = new_customer(db)
    version = stored_customer(db, customer_id)["version"]
    record = log(sales, customer_id, occurred_at="2024-03-05T10:00:00Z")
    stored = stored_customer(db, customer_id)
    assert stored["last_interaction_at"] == parse_time(record["occurred_at"])
    assert stored["version"] == version + 1
    assert stored["embedded_count"] == 1 and stored["interaction_count"] == 1
    read = sales.get(f"{BASE}/customers/{customer_id}").get_json()
    assert read["last_interaction_at"] == "2024-03-05T10:00:00.000Z"


def test_an_older_interaction_never_moves_last_interaction_at_backwards(sales, db):
    customer_id = new_customer(db)
    log(sales, customer_id, occurred_at="2024-03-05T10:00:00Z")
    log(sales, customer_id, occurred_at="2023-01-01T10:00:00Z")
    assert stored_customer(db, customer_id)["last_interaction_at"] == parse_time("2024-03-05T10:00:00Z")


def test_a_newer_interaction_moves_last_interaction_at_forward(sales, db):
    customer_id = new_customer(db)
    log(sales, customer_id, occurred_at="2024-03-05T10:00:00Z")
    log(sales, customer_id, occurred_at="2024-04-01T09:30:00Z")
    assert stored_customer(db, customer_id)["last_interaction_at"] == parse_time("2024-04-01T09:30:00Z")


def test_a_scheduled_meeting_does_not_move_last_interaction_at(sales, db):
    customer_id = new_customer(db)
    log(sales, customer_id, occurred_at="2024-03-05T10:00:00Z")
    log(sales, customer_id, type="meeting", occurred_at=ahead(days=3))
    assert stored_customer(db, customer_id)["last_interaction_at"] == parse_time("2024-03-05T10:00:00Z")


@pytest.mark.parametrize("customer_id", [str(ObjectId()), "not-an-id", "123"])
def test_logging_for_an_unknown_or_invalid_customer_is_404(sales, db, customer_id):
    response = sales.post(history_url(customer_id), json={"type": "note", "notes": "x"})
    assert_error(response, 404, "not_found")
    assert db.customers.count_documents({"interactions.0": {"$exists": True}}) == 0


def test_a_body_that_is_not_json_is_415(sales, db):
    response = sales.post(history_url(new_customer(db)), data="type=note", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


def test_malformed_json_is_400(sales, db):
    response = sales.post(history_url(new_customer(db)), data="{", content_type="application/json")
    assert_error(response, 400, "bad_request")
