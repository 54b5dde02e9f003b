"""Feedback on a real server: /feedback/stats equals a brute-force count; lists and stats read through indexes."""
import random
from datetime import timedelta

import pytest
from bson import ObjectId

import tests.wire.test_query_plans_wire as query_plans
from crm_service.api.helpers import page_request, sort_of
from crm_service.repositories.base import utcnow
from crm_service.repositories.feedback import FeedbackRepository
from crm_service.schemas.feedback import SENTIMENTS, SERVICE_TYPES, FeedbackListQuerySchema
from tests.wire.test_query_plans_wire import assert_indexed, only

# The seeded, command-logging database of the query-plan tests (one per module), and its explain helpers.
seeded_name = query_plans.seeded_name
command_log = query_plans.command_log
listened_db = query_plans.listened_db
plans = query_plans.plans
secantus_gap = query_plans.secantus_gap

list_query_schema = FeedbackListQuerySchema()
STATS = "/api/v1/feedback/stats"


def random_feedback(rng, count, now, customers=None):
    """Feedback spread over 400 days, each half a day off a whole day so no window edge is ever close."""
    rows = []
    for _ in range(count):
        moment = now - timedelta(days=rng.randint(0, 400) + 0.5)
        rows.append({
            "customer_id": rng.choice(customers) if customers else ObjectId(), "booking_id": rng.choice([None, "B-1"]),
            "service_type": rng.choice(SERVICE_TYPES), "rating": rng.randint(1, 5), "comments": None,
            "is_anonymous": rng.random() < 0.2, "source": "web", "sentiment": rng.choice(SENTIMENTS),
            "sentiment_score": 0.0, "resolved": rng.random() < 0.4, "resolution_notes": None, "resolved_by": None,
            "resolved_at": None, "submitted_at": moment, "version": 1, "created_at": moment, "updated_at": moment,
        })
    return rows


def brute_force(rows, days, now):
    window = [row for row in rows if row["submitted_at"] >= now - timedelta(days=days)]

    def count(field, value):
        return sum(1 for row in window if row[field] == value)

    total = len(window)
    resolved = sum(1 for row in window if row["resolved"])
    return {
        "total_feedback": total,
        "average_rating": round(sum(row["rating"] for row in window) / total, 2) if total else None,
        "rating_distribution": {str(value): count("rating", value) for value in range(1, 6)},
        "by_service_type": {kind: count("service_type", kind) for kind in SERVICE_TYPES},
        "sentiment_analysis": {kind: count("sentiment", kind) for kind in SENTIMENTS},
        "resolution_rate": round(resolved / total, 4) if total else None,
        "pending_resolution": total - resolved,
    }


@pytest.mark.parametrize("days", [1, 7, 30, 90, 365])
def test_stats_on_the_server_equal_a_brute_force_count(admin, wire_db, days):
    now = utcnow()
    rows = random_feedback(random.Random(days), 300, now)
    wire_db.feedback.insert_many(rows)

    response = admin.get(STATS, query_string={"days": days})

    assert response.status_code == 200, response.get_json()
    expected = brute_force(rows, days, now)
    assert expected["total_feedback"] > 0 or days == 1
    assert response.get_json() == expected


def test_stats_through_the_api_count_submitted_feedback(admin, customer, wire_db):
    for rating, comments in ((5, "Wonderful trip!"), (1, "Awful, rude driver."), (3, None)):
        assert customer.post("/api/v1/feedback", json={"rating": rating, "comments": comments}).status_code == 201
    body = admin.get(STATS).get_json()
    assert (body["total_feedback"], body["average_rating"], body["resolution_rate"]) == (3, 3.0, 0.0)
    assert body["sentiment_analysis"] == {"positive": 1, "neutral": 1, "negative": 1}
    assert wire_db.feedback.count_documents({"customer_id": ObjectId(customer.customer_id)}) == 3


@pytest.fixture(scope="module")
def seeded_feedback(listened_db):
    customers = [row["_id"] for row in listened_db.customers.find({}, {"_id": 1}).limit(50)]
    listened_db.feedback.insert_many(random_feedback(random.Random(3), 600, utcnow(), customers))
    return customers


def feedback_list(own_customer=None, reveal_anonymous=False, **params):
    """The feedback list exactly as the view builds it for these parameters (without the count)."""
    query = list_query_schema.load({**params, "count": "false"})

    def read(db):
        mongo_query = FeedbackRepository.build_query(query, own_customer, reveal_anonymous)
        FeedbackRepository(db).list(mongo_query, sort_of(query, list_query_schema), page_request(query))
    return read


@pytest.mark.parametrize("params", [
    {}, {"service_type": "tour"}, {"resolved": "false"}, {"sentiment": "negative"}, {"rating": "2"},
    {"sort": "-rating"}, {"from": "2025-01-01", "to": "2025-06-01"}, {"booking_id": "B-1"},
], ids=lambda params: ",".join(params) or "default")
def test_feedback_lists_use_an_index(plans, seeded_feedback, params):
    assert_indexed(only(plans(feedback_list(**params)), "feedback"))


def test_a_customers_own_feedback_list_uses_an_index(plans, seeded_feedback):
    assert_indexed(only(plans(feedback_list(own_customer=str(seeded_feedback[0]))), "feedback"))


def test_an_admins_customer_filter_uses_an_index(plans, seeded_feedback):
    read = feedback_list(reveal_anonymous=True, customer_id=str(seeded_feedback[1]))
    assert_indexed(only(plans(read), "feedback"))


def test_a_sales_customer_filter_without_anonymous_feedback_uses_an_index(plans, seeded_feedback, secantus_gap):
    secantus_gap("a residual condition (is_anonymous) next to the indexed customer_id turns it into a COLLSCAN")
    assert_indexed(only(plans(feedback_list(customer_id=str(seeded_feedback[1]))), "feedback"))


def test_the_stats_aggregation_reads_the_window_through_an_index(plans, seeded_feedback):
    results = plans(lambda db: FeedbackRepository(db).stats(30))
    assert_indexed(only(results, "feedback"))
