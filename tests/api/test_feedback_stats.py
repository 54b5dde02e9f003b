"""GET /feedback/stats: figures over a window of days, every key always present."""
from datetime import timedelta

import pytest
from bson import ObjectId

from crm_service.repositories.base import utcnow
from tests.api.test_feedback import FEEDBACK, submit
from tests.conftest import assert_error

STATS = f"{FEEDBACK}/stats"
EMPTY = {
    "total_feedback": 0,
    "average_rating": None,
    "rating_distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
    "by_service_type": {"tour": 0, "booking": 0, "support": 0, "transport": 0, "accommodation": 0, "general": 0},
    "sentiment_analysis": {"positive": 0, "neutral": 0, "negative": 0},
    "resolution_rate": None,
    "pending_resolution": 0,
}


def put(db, days_ago, rating, service_type="tour", sentiment="neutral", resolved=False):
    moment = utcnow() - timedelta(days=days_ago)
    db.feedback.insert_one({
        "customer_id": ObjectId(), "rating": rating, "service_type": service_type, "comments": None,
        "is_anonymous": False, "source": "web", "sentiment": sentiment, "sentiment_score": 0.0,
        "resolved": resolved, "submitted_at": moment, "version": 1, "created_at": moment, "updated_at": moment,
    })


def test_with_no_feedback_every_key_is_there_with_zeros_and_nulls(sales):
    response = sales.get(STATS)
    assert response.status_code == 200
    assert response.get_json() == EMPTY


def test_the_default_window_is_the_last_30_days(sales, db):
    put(db, 1, 5, "tour", "positive", resolved=True)
    put(db, 10, 4, "tour", "positive")
    put(db, 29.9, 1, "transport", "negative", resolved=True)
    put(db, 30.1, 2, "support", "negative")
    put(db, 200, 3, "general", "neutral")

    assert sales.get(STATS).get_json() == {
        **EMPTY,
        "total_feedback": 3,
        "average_rating": 3.33,
        "rating_distribution": {"1": 1, "2": 0, "3": 0, "4": 1, "5": 1},
        "by_service_type": {**EMPTY["by_service_type"], "tour": 2, "transport": 1},
        "sentiment_analysis": {"positive": 2, "neutral": 0, "negative": 1},
        "resolution_rate": 0.6667,
        "pending_resolution": 1,
    }


def test_days_widens_the_window(admin, db):
    put(db, 10, 4, "tour", "positive")
    put(db, 100, 2, "support", "negative", resolved=True)
    put(db, 400, 3)

    body = admin.get(STATS, query_string={"days": 365}).get_json()
    assert (body["total_feedback"], body["average_rating"], body["resolution_rate"], body["pending_resolution"]) == (
        2, 3.0, 0.5, 1)
    assert body["by_service_type"]["support"] == 1
    assert admin.get(STATS, query_string={"days": 1}).get_json() == EMPTY


def test_stats_count_feedback_submitted_through_the_api(sales, customer, other_customer):
    submit(customer, rating=5, comments="Wonderful!", service_type="accommodation")
    submit(other_customer, rating=5, comments="Horrible, rude staff.", is_anonymous=True)
    body = sales.get(STATS).get_json()
    assert body["total_feedback"] == 2 and body["average_rating"] == 5.0
    assert body["sentiment_analysis"] == {"positive": 1, "neutral": 0, "negative": 1}
    assert body["rating_distribution"]["5"] == 2 and body["by_service_type"]["accommodation"] == 1


@pytest.mark.parametrize("days", ["0", "366", "-5", "week", "1.5"])
def test_days_must_be_from_1_to_365(sales, days):
    error = assert_error(sales.get(STATS, query_string={"days": days}), 422, "validation_error")
    assert set(error["errors"]) == {"days"}


def test_unknown_parameters_are_422(sales):
    error = assert_error(sales.get(STATS, query_string={"from": "2025-01-01"}), 422, "validation_error")
    assert set(error["errors"]) == {"from"}


def test_customers_may_not_read_the_stats(customer):
    assert_error(customer.get(STATS), 403, "forbidden")


def test_stats_need_a_token(anon):
    assert_error(anon.get(STATS), 401, "unauthorized")
