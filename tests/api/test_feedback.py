"""Submitting and reading feedback: who it lands on, what is validated, what is stored."""
import pytest
from bson import ObjectId

from crm_service.repositories.base import utcnow
from tests.conftest import assert_error

FEEDBACK = "/api/v1/feedback"


def submit(api, **fields):
    body = {"rating": 4, "service_type": "tour", **fields}
    response = api.post(FEEDBACK, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def stored(db, feedback_id):
    return db.feedback.find_one({"_id": ObjectId(feedback_id)})


def test_a_customer_submits_feedback_on_its_own_record(customer, db):
    before = utcnow()
    response = customer.post(FEEDBACK, json={"rating": 5, "service_type": "transport", "booking_id": "BK-1042",
                                             "comments": "Lovely driver, very helpful and on time."})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"].endswith(f"{FEEDBACK}/{body['id']}")
    assert response.headers["ETag"] == f'"{body["id"]}-1"'
    assert {key: body[key] for key in ("customer_id", "booking_id", "service_type", "rating", "is_anonymous",
                                       "source", "sentiment", "resolved", "resolution_notes", "resolved_by",
                                       "resolved_at", "version")} == {
        "customer_id": customer.customer_id, "booking_id": "BK-1042", "service_type": "transport", "rating": 5,
        "is_anonymous": False, "source": "web", "sentiment": "positive", "resolved": False,
        "resolution_notes": None, "resolved_by": None, "resolved_at": None, "version": 1}
    assert 0.05 <= body["sentiment_score"] <= 1
    assert body["submitted_at"] == body["created_at"] and body["submitted_at"].endswith("Z")
    document = stored(db, body["id"])
    assert document["customer_id"] == ObjectId(customer.customer_id)
    assert document["sentiment"] == "positive" and document["sentiment_score"] == body["sentiment_score"]
    assert before <= document["submitted_at"] <= utcnow()


def test_a_customer_id_sent_by_a_customer_is_ignored(customer, other_customer, db):
    body = submit(customer, customer_id=other_customer.customer_id)
    assert body["customer_id"] == customer.customer_id
    assert stored(db, body["id"])["customer_id"] == ObjectId(customer.customer_id)
    assert db.feedback.count_documents({"customer_id": ObjectId(other_customer.customer_id)}) == 0


def test_even_a_malformed_customer_id_from_a_customer_is_ignored(customer):
    assert submit(customer, customer_id="not-an-id")["customer_id"] == customer.customer_id


def test_an_admin_submits_feedback_for_a_customer(admin, customer, db):
    body = submit(admin, customer_id=customer.customer_id, source="phone", comments="Took it by phone.")
    assert body["customer_id"] == customer.customer_id and body["source"] == "phone"
    assert stored(db, body["id"])["customer_id"] == ObjectId(customer.customer_id)


@pytest.mark.parametrize("customer_id, message", [
    (None, "Missing data for required field."),
    (str(ObjectId()), "No customer with this id."),
    ("12345", "Not a valid id."),
])
def test_staff_must_name_an_existing_customer(admin, db, customer_id, message):
    body = {"rating": 3} if customer_id is None else {"rating": 3, "customer_id": customer_id}
    error = assert_error(admin.post(FEEDBACK, json=body), 422, "validation_error")
    assert error["errors"] == {"customer_id": [message]}
    assert db.feedback.count_documents({}) == 0


def test_service_type_defaults_to_general_and_source_to_web(customer):
    response = customer.post(FEEDBACK, json={"rating": 3})
    body = response.get_json()
    assert response.status_code == 201
    assert (body["service_type"], body["source"], body["comments"], body["booking_id"]) == (
        "general", "web", None, None)


@pytest.mark.parametrize("rating", [0, 6, -1, 4.5, "5", True, None])
def test_rating_must_be_a_whole_number_from_1_to_5(customer, db, rating):
    error = assert_error(customer.post(FEEDBACK, json={"rating": rating}), 422, "validation_error")
    assert set(error["errors"]) == {"rating"}
    assert db.feedback.count_documents({}) == 0


def test_rating_is_required(customer, db):
    error = assert_error(customer.post(FEEDBACK, json={"comments": "No stars"}), 422, "validation_error")
    assert error["errors"] == {"rating": ["Missing data for required field."]}
    assert db.feedback.count_documents({}) == 0


@pytest.mark.parametrize("service_type", ["Tour", "flight", ""])
def test_service_type_must_be_one_of_the_list(customer, db, service_type):
    error = assert_error(customer.post(FEEDBACK, json={"rating": 4, "service_type": service_type}), 422)
    assert set(error["errors"]) == {"service_type"}
    assert db.feedback.count_documents({}) == 0


def test_comments_may_hold_2000_characters_and_no_more(customer, db):
    assert submit(customer, comments="a" * 2000)["comments"] == "a" * 2000
    error = assert_error(customer.post(FEEDBACK, json={"rating": 4, "comments": "a" * 2001}), 422)
    assert set(error["errors"]) == {"comments"}
    assert db.feedback.count_documents({}) == 1


@pytest.mark.parametrize("source", ["Web", "web site", "", "x" * 31, 7])
def test_source_is_a_short_lower_case_name(customer, db, source):
    assert_error(customer.post(FEEDBACK, json={"rating": 4, "source": source}), 422, "validation_error")
    assert db.feedback.count_documents({}) == 0


@pytest.mark.parametrize("field, value", [
    ("sentiment", "positive"), ("sentiment_score", 1), ("resolved", True), ("resolved_by", str(ObjectId())),
    ("resolved_at", "2025-01-01T00:00:00Z"), ("submitted_at", "2025-01-01T00:00:00Z"), ("version", 3),
    ("id", str(ObjectId())), ("resolution_notes", "done"), ("priority", "high"),
])
def test_read_only_and_unknown_fields_are_rejected(customer, db, field, value):
    error = assert_error(customer.post(FEEDBACK, json={"rating": 4, field: value}), 422, "validation_error")
    assert set(error["errors"]) == {field}
    assert db.feedback.count_documents({}) == 0


def test_five_stars_with_a_clearly_negative_comment_is_stored_as_negative(customer, db):
    body = submit(customer, rating=5, comments="Terrible. The driver was rude and the bus was filthy.")
    assert body["sentiment"] == "negative" and body["sentiment_score"] < -0.5
    assert stored(db, body["id"])["sentiment"] == "negative"


def test_without_a_comment_the_sentiment_comes_from_the_rating(customer):
    body = submit(customer, rating=1)
    assert (body["sentiment"], body["sentiment_score"]) == ("negative", -1.0)


def test_a_customer_reads_its_own_feedback_with_an_etag(customer):
    created = submit(customer, comments="Nice")
    response = customer.get(f"{FEEDBACK}/{created['id']}")
    assert response.status_code == 200
    assert response.get_json() == created
    again = customer.get(f"{FEEDBACK}/{created['id']}", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_staff_read_any_feedback(customer, sales, admin):
    created = submit(customer)
    assert sales.get(f"{FEEDBACK}/{created['id']}").get_json() == created
    assert admin.get(f"{FEEDBACK}/{created['id']}").get_json() == created


def test_a_customer_gets_404_for_another_customers_feedback(customer, other_customer):
    foreign = submit(other_customer)
    assert_error(customer.get(f"{FEEDBACK}/{foreign['id']}"), 404, "not_found")


@pytest.mark.parametrize("feedback_id", [str(ObjectId()), "nope", "0" * 25])
def test_unknown_or_malformed_ids_are_404(sales, feedback_id):
    assert_error(sales.get(f"{FEEDBACK}/{feedback_id}"), 404, "not_found")


def test_a_body_that_is_not_json_is_415(customer, db):
    response = customer.post(FEEDBACK, data="rating=5", headers={"Content-Type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")
    assert db.feedback.count_documents({}) == 0

