"""GET /customers/{id}/summary: figures over the history, tickets, feedback, sales, opportunities and segments."""
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128

from crm_service.config import TestConfig
from crm_service.repositories.interactions import InteractionRepository
from crm_service.services.customer_summary import customer_summary
from tests.api.interaction_helpers import new_customer
from tests.conftest import assert_error

EMBED_LIMIT = 3
BASE_TIME = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
_numbers = itertools.count(1)


def summary_url(customer_id):
    return f"/api/v1/customers/{customer_id}/summary"


# Stored shapes of the other collections, as in the issue-3 contract (seeded directly: their
# modules are not under test here).

def seed_ticket(db, customer_id, status, **fields):
    now = BASE_TIME
    db.tickets.insert_one({
        "number": f"T-{next(_numbers):06d}", "customer_id": ObjectId(customer_id), "subject": "Late bus",
        "description": "The bus was late", "priority": "normal", "status": status, "assignee_id": None,
        "created_by": ObjectId(), "resolved_at": None, "resolved_by": None, "comments": [], "version": 1,
        "created_at": now, "updated_at": now, **fields,
    })


def seed_feedback(db, customer_id, rating, submitted_at=BASE_TIME, is_anonymous=False, **fields):
    db.feedback.insert_one({
        "customer_id": ObjectId(customer_id), "booking_id": None, "service_type": "tour", "rating": rating,
        "comments": None, "is_anonymous": is_anonymous, "source": "web", "sentiment": "neutral",
        "sentiment_score": 0.0, "resolved": False, "resolution_notes": None, "resolved_by": None,
        "resolved_at": None, "submitted_at": submitted_at, "version": 1, "created_at": submitted_at,
        "updated_at": submitted_at, **fields,
    })


def seed_sale(db, customer_id, amount, currency, quantity=1, **fields):
    db.sales.insert_one({
        "customer_id": ObjectId(customer_id), "product_id": ObjectId(), "quantity": quantity,
        "unit_price": Decimal128(amount), "amount": Decimal128(amount), "currency": currency,
        "sale_date": BASE_TIME, "employee_id": ObjectId(), "version": 1, "created_at": BASE_TIME,
        "updated_at": BASE_TIME, **fields,
    })


def seed_opportunity(db, customer_id, stage, amount="1000.00", currency="EUR", **fields):
    db.opportunities.insert_one({
        "customer_id": ObjectId(customer_id), "title": "Group tour", "amount": Decimal128(amount),
        "currency": currency, "stage": stage, "probability": 50, "owner_id": ObjectId(),
        "expected_close_date": "2024-09-30", "closed_at": None, "lost_reason": None,
        "stage_history": [{"stage": stage, "at": BASE_TIME, "by": ObjectId()}], "version": 1,
        "created_at": BASE_TIME, "updated_at": BASE_TIME, **fields,
    })


def add_interactions(db, customer_id, types, embed_limit=EMBED_LIMIT, start=BASE_TIME):
    """Log interactions one hour apart through the repository; past `embed_limit` the oldest are archived."""
    repository = InteractionRepository(db, embed_limit)
    return [repository.add(customer_id, {"type": kind, "notes": "Talked", "status": "completed",
                                         "occurred_at": start + timedelta(hours=n)})
            for n, kind in enumerate(types)]


@pytest.fixture
def config():
    config = TestConfig()
    config.INTERACTION_EMBED_LIMIT = EMBED_LIMIT
    return config


@pytest.fixture
def person(db):
    return new_customer(db, first_name="Nadia", last_name="Idrissi", status="active")


def test_interactions_are_counted_by_channel_over_embedded_and_archived(admin, db, person):
    add_interactions(db, person, ["email", "phone", "email", "meeting", "email", "phone", "chat"])
    assert db.interaction_archive.count_documents({"customer_id": ObjectId(person)}) == 4

    response = admin.get(summary_url(person))

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["total_interactions"] == 7
    assert body["interaction_channels"] == {"chat": 1, "email": 3, "meeting": 1, "phone": 2}
    assert body["last_interaction_at"] == "2024-06-01T15:00:00.000Z"


def test_an_interaction_caught_mid_archive_is_counted_once(admin, db, person):
    add_interactions(db, person, ["email", "phone", "note", "sms", "chat"])
    document = db.customers.find_one({"_id": ObjectId(person)})
    # An interrupted move: copied to the archive, not yet pulled from the document.
    embedded = document["interactions"][-1]
    db.interaction_archive.insert_one({**embedded, "customer_id": ObjectId(person)})

    body = admin.get(summary_url(person)).get_json()

    assert body["total_interactions"] == 5
    assert body["interaction_channels"] == {"chat": 1, "email": 1, "note": 1, "phone": 1, "sms": 1}


def test_a_customer_with_nothing_yet_has_zero_figures_and_null_dates(admin, db, person):
    for name in ("tickets", "feedback", "sales", "opportunities", "segments", "interaction_archive"):
        db.drop_collection(name)  # other modules may not have made theirs yet

    response = admin.get(summary_url(person))

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "total_interactions": 0, "interaction_channels": {}, "last_interaction_at": None, "open_tickets": 0,
        "total_feedback": 0, "average_rating": None, "last_feedback_date": None, "total_sales_amount": {},
        "open_opportunities": 0, "segments": [],
    }


def test_open_tickets_are_the_open_and_in_progress_ones_of_this_customer(admin, db, person):
    for status in ("open", "in_progress", "in_progress", "resolved", "closed"):
        seed_ticket(db, person, status)
    seed_ticket(db, new_customer(db), "open")

    assert admin.get(summary_url(person)).get_json()["open_tickets"] == 3


def test_feedback_count_average_and_last_date(admin, db, person):
    seed_feedback(db, person, 5, BASE_TIME)
    seed_feedback(db, person, 4, BASE_TIME + timedelta(days=3))
    seed_feedback(db, person, 4, BASE_TIME - timedelta(days=3))
    seed_feedback(db, new_customer(db), 1, BASE_TIME + timedelta(days=30))

    body = admin.get(summary_url(person)).get_json()

    assert (body["total_feedback"], body["average_rating"]) == (3, 4.33)
    assert body["last_feedback_date"] == "2024-06-04T09:00:00.000Z"


def test_anonymous_feedback_counts_for_admins_but_not_for_sales(admin, sales, db, person):
    seed_feedback(db, person, 2)
    seed_feedback(db, person, 4, BASE_TIME + timedelta(days=1), is_anonymous=True)

    for_admin = admin.get(summary_url(person)).get_json()
    for_sales = sales.get(summary_url(person)).get_json()

    assert (for_admin["total_feedback"], for_admin["average_rating"]) == (2, 3.0)
    assert for_admin["last_feedback_date"] == "2024-06-02T09:00:00.000Z"
    assert (for_sales["total_feedback"], for_sales["average_rating"]) == (1, 2.0)
    assert for_sales["last_feedback_date"] == "2024-06-01T09:00:00.000Z"


def test_a_customer_sees_its_own_anonymous_feedback_in_its_summary(customer, db):
    seed_feedback(db, customer.customer_id, 3, is_anonymous=True)

    body = customer.get(summary_url(customer.customer_id)).get_json()

    assert (body["total_feedback"], body["average_rating"]) == (1, 3.0)


def test_sales_totals_are_exact_decimal_strings_keyed_by_currency(admin, db, person):
    for _ in range(3):
        seed_sale(db, person, "0.10", "EUR")  # 0.1 + 0.1 + 0.1 is 0.30000000000000004 in binary floats
    seed_sale(db, person, "119.70", "EUR")
    seed_sale(db, person, "1500.05", "MAD", quantity=2)
    seed_sale(db, new_customer(db), "99.99", "USD")

    body = admin.get(summary_url(person)).get_json()

    assert body["total_sales_amount"] == {"EUR": "120.00", "MAD": "1500.05"}


def test_open_opportunities_are_those_not_won_or_lost(admin, db, person):
    for stage in ("prospecting", "qualification", "proposal", "negotiation", "won", "lost", "lost"):
        seed_opportunity(db, person, stage)
    seed_opportunity(db, new_customer(db), "proposal")

    assert admin.get(summary_url(person)).get_json()["open_opportunities"] == 4


def test_sales_staff_get_every_figure(sales, db, person):
    seed_sale(db, person, "10.00", "EUR")
    seed_opportunity(db, person, "proposal")

    response = sales.get(summary_url(person))

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["total_sales_amount"] == {"EUR": "10.00"}
    assert body["open_opportunities"] == 1
    assert body["segments"] == []


def test_a_customer_gets_its_own_summary_without_sales_opportunities_or_segments(customer, db):
    seed_ticket(db, customer.customer_id, "open")
    seed_sale(db, customer.customer_id, "10.00", "EUR")
    seed_opportunity(db, customer.customer_id, "proposal")

    response = customer.get(summary_url(customer.customer_id))

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "total_interactions": 0, "interaction_channels": {}, "last_interaction_at": None, "open_tickets": 1,
        "total_feedback": 0, "average_rating": None, "last_feedback_date": None,
    }


def test_a_customer_cannot_read_another_customers_summary(customer, other_customer):
    assert_error(customer.get(summary_url(other_customer.customer_id)), 404, "not_found")


def test_summary_of_an_unknown_or_malformed_id_is_not_found(admin):
    assert_error(admin.get(summary_url(str(ObjectId()))), 404, "not_found")
    assert_error(admin.get(summary_url("not-an-id")), 404, "not_found")


def test_summary_needs_a_token(anon, person):
    assert_error(anon.get(summary_url(person)), 401, "unauthorized")


def test_summary_figures_for_sections_not_asked_for_are_not_computed(db, person):
    seed_ticket(db, person, "open")
    customer_record = db.customers.find_one({"_id": ObjectId(person)}, {"interactions": 0})

    summary = customer_summary(db, customer_record, sections=("tickets",))

    assert summary == {"open_tickets": 1}


def seed_segment(db, name, criteria):
    db.segments.insert_one({"name": name, "name_key": name.lower(), "description": None, "criteria": criteria,
                            "customer_count": 0, "last_calculated": BASE_TIME, "version": 1,
                            "created_at": BASE_TIME, "updated_at": BASE_TIME})


def test_segments_lists_the_names_of_the_segments_the_customer_matches(admin, db, person):
    seed_segment(db, "Active people", {"status": ["active"]})
    seed_segment(db, "Leads", {"status": ["lead"]})
    seed_segment(db, "All the actives", {"status": ["active", "prospect"]})

    body = admin.get(summary_url(person)).get_json()

    assert body["segments"] == ["Active people", "All the actives"]


def test_segments_by_total_sales_count_only_this_customers_sales(admin, db, person):
    big_spender = new_customer(db, status="active")
    seed_sale(db, big_spender, "5000.00", "EUR")
    seed_sale(db, person, "60.00", "EUR")
    seed_segment(db, "Spent 100 EUR", {"min_total_sales": Decimal128("100.00"), "currency": "EUR"})
    seed_segment(db, "Spent 50 EUR", {"min_total_sales": Decimal128("50.00"), "currency": "EUR"})

    assert admin.get(summary_url(person)).get_json()["segments"] == ["Spent 50 EUR"]
    assert admin.get(summary_url(big_spender)).get_json()["segments"] == ["Spent 100 EUR", "Spent 50 EUR"]


def test_a_soft_deleted_customer_is_in_no_segment(admin, db, person):
    seed_segment(db, "Active people", {"status": ["active"]})
    assert admin.delete(f"/api/v1/customers/{person}").status_code == 204

    assert admin.get(summary_url(person)).get_json()["segments"] == []
