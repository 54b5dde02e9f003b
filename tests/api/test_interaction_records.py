"""GET/PATCH/PUT/DELETE /customers/{id}/interactions/{iid}, and last_interaction_at after edits."""
import pytest
from bson import ObjectId

from crm_service.repositories.interactions import time_text
from tests.api.interaction_helpers import ahead, item_url, log, new_customer, parse_time, stored_customer
from tests.conftest import assert_error, make_staff


def stored_item(db, customer_id, interaction_id):
    document = stored_customer(db, customer_id)
    return next((item for item in document["interactions"] if str(item["id"]) == interaction_id), None)


def test_reading_one_interaction_answers_the_record(sales, db):
    customer_id = new_customer(db)
    record = log(sales, customer_id, type="email", subject="Hello", employee_comment="VIP")
    response = sales.get(item_url(customer_id, record["id"]))
    assert response.status_code == 200
    assert response.get_json() == record


@pytest.mark.parametrize("interaction_id", [str(ObjectId()), "nope", "0" * 24])
def test_reading_an_unknown_or_invalid_interaction_is_404(sales, db, interaction_id):
    customer_id = new_customer(db)
    log(sales, customer_id)
    assert_error(sales.get(item_url(customer_id, interaction_id)), 404, "not_found")


def test_an_interaction_is_not_found_under_another_customer(sales, db):
    owner, stranger = new_customer(db), new_customer(db)
    record = log(sales, owner)
    assert_error(sales.get(item_url(stranger, record["id"])), 404, "not_found")
    assert_error(sales.patch(item_url(stranger, record["id"]), json={"notes": "x"}), 404, "not_found")
    assert_error(sales.delete(item_url(stranger, record["id"])), 404, "not_found")
    assert stored_item(db, owner, record["id"])["notes"] == record["notes"]


def test_reading_under_an_unknown_customer_is_404(sales):
    assert_error(sales.get(item_url(str(ObjectId()), str(ObjectId()))), 404, "not_found")


def test_patch_changes_only_the_given_fields_and_answers_the_full_record(sales, db):
    customer_id = new_customer(db)
    record = log(sales, customer_id, type="phone", subject="Quote", duration_minutes=5)
    response = sales.patch(item_url(customer_id, record["id"]), json={"notes": "Quote sent", "duration_minutes": 20})
    assert response.status_code == 200
    updated = response.get_json()
    assert updated["notes"] == "Quote sent" and updated["duration_minutes"] == 20
    assert updated["subject"] == "Quote" and updated["type"] == "phone"
    assert updated["created_at"] == record["created_at"]
    assert parse_time(updated["updated_at"]) >= parse_time(record["updated_at"])
    stored = stored_item(db, customer_id, record["id"])
    assert stored["notes"] == "Quote sent" and stored["duration_minutes"] == 20 and stored["subject"] == "Quote"


def test_put_is_a_synonym_of_patch(sales, db):
    customer_id = new_customer(db)
    record = log(sales, customer_id, subject="Before")
    response = sales.put(item_url(customer_id, record["id"]), json={"subject": "After"})
    assert response.status_code == 200
    assert response.get_json()["subject"] == "After" and response.get_json()["notes"] == record["notes"]
    assert stored_item(db, customer_id, record["id"])["subject"] == "After"


def test_patch_with_an_empty_body_changes_nothing(sales, db):
    customer_id = new_customer(db)
    record = log(sales, customer_id)
    response = sales.patch(item_url(customer_id, record["id"]), json={})
    assert response.status_code == 200
    assert response.get_json() == record


@pytest.mark.parametrize("body", [
    {"colour": "red"}, {"id": str(ObjectId())}, {"notes": "x" * 2001}, {"notes": None}, {"type": "fax"},
    {"subject": "s" * 256}, {"occurred_at": "soon"}, {"status": "done"}, {"created_at": "2024-01-01T00:00:00Z"},
])
def test_an_invalid_patch_is_422_and_changes_nothing(sales, db, body):
    customer_id = new_customer(db)
    record = log(sales, customer_id)
    before = stored_item(db, customer_id, record["id"])
    response = sales.patch(item_url(customer_id, record["id"]), json=body)
    assert set(assert_error(response, 422, "validation_error")["errors"]) == set(body)
    assert stored_item(db, customer_id, record["id"]) == before


def test_patch_to_an_inactive_employee_is_422(app, sales, db):
    customer_id = new_customer(db)
    record = log(sales, customer_id)
    inactive = make_staff(app, "sales", is_active=False)
    response = sales.patch(item_url(customer_id, record["id"]), json={"employee_id": str(inactive["_id"])})
    assert "employee_id" in assert_error(response, 422, "validation_error")["errors"]
    assert str(stored_item(db, customer_id, record["id"])["employee_id"]) == sales.user["id"]


def test_patch_can_reassign_to_another_active_staff_user(app, sales, db):
    customer_id = new_customer(db)
    record = log(sales, customer_id)
    colleague = make_staff(app, "sales")
    response = sales.patch(item_url(customer_id, record["id"]), json={"employee_id": str(colleague["_id"])})
    assert response.status_code == 200 and response.get_json()["employee_id"] == str(colleague["_id"])


def test_patching_an_unknown_interaction_is_404(sales, db):
    customer_id = new_customer(db)
    assert_error(sales.patch(item_url(customer_id, str(ObjectId())), json={"notes": "x"}), 404, "not_found")


def test_patch_follow_up_required_false_marks_the_follow_up_done_and_keeps_its_date(sales, db):
    customer_id = new_customer(db)
    due = ahead(days=3)
    record = log(sales, customer_id, follow_up_required=True, follow_up_date=due)
    response = sales.patch(item_url(customer_id, record["id"]), json={"follow_up_required": False})
    assert response.status_code == 200
    assert response.get_json()["follow_up_required"] is False
    assert response.get_json()["follow_up_date"] == due
    assert stored_item(db, customer_id, record["id"])["follow_up_required"] is False


def test_a_done_follow_up_sent_back_whole_is_accepted(sales, db):
    customer_id = new_customer(db)
    record = log(sales, customer_id, follow_up_required=True, follow_up_date=ahead(days=3))
    done = sales.patch(item_url(customer_id, record["id"]), json={"follow_up_required": False}).get_json()
    body = {name: done[name] for name in ("type", "notes", "follow_up_required", "follow_up_date")}
    response = sales.put(item_url(customer_id, record["id"]), json=body)
    assert response.status_code == 200 and response.get_json()["follow_up_required"] is False


def test_moving_the_newest_interaction_back_in_time_recomputes_last_interaction_at(sales, db):
    customer_id = new_customer(db)
    log(sales, customer_id, occurred_at="2024-03-01T00:00:00Z")
    newest = log(sales, customer_id, occurred_at="2024-05-01T00:00:00Z")
    response = sales.patch(item_url(customer_id, newest["id"]), json={"occurred_at": "2024-01-01T00:00:00Z"})
    assert response.status_code == 200
    assert stored_customer(db, customer_id)["last_interaction_at"] == parse_time("2024-03-01T00:00:00Z")


def test_moving_an_interaction_forward_moves_last_interaction_at(sales, db):
    customer_id = new_customer(db)
    older = log(sales, customer_id, occurred_at="2024-03-01T00:00:00Z")
    log(sales, customer_id, occurred_at="2024-05-01T00:00:00Z")
    sales.patch(item_url(customer_id, older["id"]), json={"occurred_at": "2024-06-01T00:00:00Z"})
    stored = stored_customer(db, customer_id)
    assert stored["last_interaction_at"] == parse_time("2024-06-01T00:00:00Z")
    assert stored["activity_key"] > time_text(stored["last_interaction_at"])  # the time, then "|id"


def test_completing_a_scheduled_meeting_moves_last_interaction_at(sales, db):
    customer_id = new_customer(db)
    meeting = log(sales, customer_id, type="meeting", occurred_at=ahead(days=1))
    assert stored_customer(db, customer_id)["last_interaction_at"] is None
    sales.patch(item_url(customer_id, meeting["id"]), json={"status": "completed"})
    assert stored_customer(db, customer_id)["last_interaction_at"] == parse_time(meeting["occurred_at"])


def test_delete_answers_204_and_removes_the_interaction(sales, db):
    customer_id = new_customer(db)
    keep = log(sales, customer_id)
    gone = log(sales, customer_id)
    response = sales.delete(item_url(customer_id, gone["id"]))
    assert response.status_code == 204 and response.get_data() == b""
    assert_error(sales.get(item_url(customer_id, gone["id"])), 404, "not_found")
    stored = stored_customer(db, customer_id)
    assert [str(item["id"]) for item in stored["interactions"]] == [keep["id"]]
    assert stored["embedded_count"] == 1 and stored["interaction_count"] == 1


def test_deleting_twice_is_404_the_second_time(sales, db):
    customer_id = new_customer(db)
    record = log(sales, customer_id)
    assert sales.delete(item_url(customer_id, record["id"])).status_code == 204
    assert_error(sales.delete(item_url(customer_id, record["id"])), 404, "not_found")
    assert stored_customer(db, customer_id)["interaction_count"] == 0


def test_deleting_the_newest_interaction_recomputes_last_interaction_at(sales, db):
    customer_id = new_customer(db)
    log(sales, customer_id, occurred_at="2024-03-01T00:00:00Z")
    newest = log(sales, customer_id, occurred_at="2024-05-01T00:00:00Z")
    sales.delete(item_url(customer_id, newest["id"]))
    assert stored_customer(db, customer_id)["last_interaction_at"] == parse_time("2024-03-01T00:00:00Z")


def test_deleting_the_only_interaction_clears_last_interaction_at(sales, db):
    customer_id = new_customer(db)
    record = log(sales, customer_id, occurred_at="2024-03-01T00:00:00Z")
    sales.delete(item_url(customer_id, record["id"]))
    assert stored_customer(db, customer_id)["last_interaction_at"] is None


def test_deleting_an_unknown_interaction_is_404_and_changes_nothing(sales, db):
    customer_id = new_customer(db)
    log(sales, customer_id)
    before = stored_customer(db, customer_id)
    assert_error(sales.delete(item_url(customer_id, str(ObjectId()))), 404, "not_found")
    assert stored_customer(db, customer_id) == before
