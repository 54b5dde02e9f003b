"""Resolving, reopening and deleting feedback; privacy erasure of a customer's feedback."""
from datetime import UTC, datetime

import pytest
from bson import ObjectId

from crm_service.repositories.base import utcnow
from crm_service.repositories.feedback import erase_customer
from tests.api.test_feedback import FEEDBACK, stored, submit
from tests.conftest import assert_error


@pytest.fixture
def feedback(customer):
    return submit(customer, rating=2, comments="The guide was late and rude.")


def url(feedback):
    return f"{FEEDBACK}/{feedback['id']}"


@pytest.mark.parametrize("method", ["patch", "put"])
def test_staff_resolve_feedback(sales, db, feedback, method):
    before = utcnow()
    response = getattr(sales, method)(url(feedback), json={"resolved": True, "resolution_notes": "Refunded"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["resolved"], body["resolution_notes"], body["resolved_by"], body["version"]) == (
        True, "Refunded", sales.user["id"], 2)
    assert response.headers["ETag"] == f'"{feedback["id"]}-2"'
    document = stored(db, feedback["id"])
    assert document["resolved_by"] == ObjectId(sales.user["id"])
    assert before <= document["resolved_at"] <= utcnow()
    assert document["resolved_at"] == document["updated_at"]
    assert (document["rating"], document["comments"]) == (2, "The guide was late and rude.")


def test_an_empty_body_resolves(sales, db, feedback):
    body = sales.put(url(feedback), json={}).get_json()
    assert body["resolved"] is True and body["resolution_notes"] is None
    assert stored(db, feedback["id"])["resolved"] is True


def test_reopening_clears_who_resolved_it_and_when(sales, db, feedback):
    sales.patch(url(feedback), json={"resolution_notes": "Refunded"})
    body = sales.patch(url(feedback), json={"resolved": False}).get_json()
    assert (body["resolved"], body["resolved_by"], body["resolved_at"], body["resolution_notes"]) == (
        False, None, None, "Refunded")
    assert stored(db, feedback["id"])["resolved_at"] is None


def test_changing_the_notes_keeps_the_first_resolver_and_time(sales, admin, db, feedback):
    first = sales.patch(url(feedback), json={"resolution_notes": "Refunded"}).get_json()
    body = admin.patch(url(feedback), json={"resolution_notes": "Refunded and apologised"}).get_json()
    assert (body["resolved_by"], body["resolved_at"]) == (sales.user["id"], first["resolved_at"])
    assert body["resolution_notes"] == "Refunded and apologised" and body["version"] == 3


@pytest.mark.parametrize("change", [
    {"resolved_by": str(ObjectId())}, {"resolved_at": "2025-01-01T00:00:00Z"}, {"rating": 5},
    {"comments": "Edited"}, {"sentiment": "positive"}, {"resolved": "perhaps"}, {"resolution_notes": "x" * 2001},
    {"customer_id": str(ObjectId())},
])
def test_only_resolution_fields_can_be_changed(sales, db, feedback, change):
    before = stored(db, feedback["id"])
    error = assert_error(sales.patch(url(feedback), json=change), 422, "validation_error")
    assert set(error["errors"]) == set(change)
    assert stored(db, feedback["id"]) == before


def test_a_stale_if_match_is_412_and_changes_nothing(sales, db, feedback):
    sales.patch(url(feedback), json={"resolution_notes": "First"})
    before = stored(db, feedback["id"])
    stale = f'"{feedback["id"]}-1"'
    assert_error(sales.patch(url(feedback), json={"resolved": False}, headers={"If-Match": stale}), 412,
                 "precondition_failed")
    assert stored(db, feedback["id"]) == before


def test_a_current_if_match_is_accepted(sales, feedback):
    response = sales.patch(url(feedback), json={}, headers={"If-Match": f'"{feedback["id"]}-1"'})
    assert response.status_code == 200


def test_resolving_unknown_feedback_is_404(sales, db):
    assert_error(sales.patch(f"{FEEDBACK}/{ObjectId()}", json={}), 404, "not_found")


def test_an_admin_deletes_feedback_and_leaves_a_tombstone(admin, customer, db, feedback):
    response = admin.delete(url(feedback))
    assert response.status_code == 204 and response.data == b""
    assert stored(db, feedback["id"]) is None
    assert_error(admin.get(url(feedback)), 404, "not_found")
    tombstone = db.tombstones.find_one({"entity": "feedback"})
    assert (tombstone["entity_id"], tombstone["customer_id"]) == (
        ObjectId(feedback["id"]), ObjectId(customer.customer_id))


def test_a_stale_if_match_on_delete_is_412_and_keeps_the_feedback(admin, sales, db, feedback):
    sales.patch(url(feedback), json={})
    assert_error(admin.delete(url(feedback), headers={"If-Match": f'"{feedback["id"]}-1"'}), 412)
    assert stored(db, feedback["id"]) is not None
    assert db.tombstones.count_documents({}) == 0


def test_deleting_unknown_feedback_is_404(admin):
    assert_error(admin.delete(f"{FEEDBACK}/{ObjectId()}"), 404, "not_found")


def _insert(db, customer_id, rating=3):
    now = datetime(2025, 1, 1, tzinfo=UTC)
    return db.feedback.insert_one({
        "customer_id": customer_id, "rating": rating, "service_type": "tour", "comments": "Personal words",
        "is_anonymous": False, "source": "web", "sentiment": "neutral", "sentiment_score": 0.0, "resolved": False,
        "submitted_at": now, "version": 1, "created_at": now, "updated_at": now,
    }).inserted_id


def test_erasing_a_customer_deletes_its_feedback_and_counts_it(db):
    person, other = ObjectId(), ObjectId()
    _insert(db, person)
    _insert(db, person, rating=5)
    kept = _insert(db, other)
    assert erase_customer(db, person) == 2
    assert [document["_id"] for document in db.feedback.find()] == [kept]


def test_erasing_a_customer_without_feedback_touches_nothing(db):
    kept = _insert(db, ObjectId())
    assert erase_customer(db, ObjectId()) == 0
    assert [document["_id"] for document in db.feedback.find()] == [kept]
