"""The customer summary's aggregations on a real server agree with a brute-force count of the seeded data."""
import random
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from bson import ObjectId
from pymongo import MongoClient

from crm_service.repositories.interactions import InteractionRepository
from crm_service.schemas.common import iso_z
from crm_service.services.customer_summary import SECTIONS, customer_summary
from tests.api.interaction_helpers import new_customer
from tests.api.test_customer_summary import (
    BASE_TIME,
    seed_feedback,
    seed_opportunity,
    seed_sale,
    seed_segment,
    seed_ticket,
    summary_url,
)
from tests.wire.test_query_plans_wire import CommandLog, assert_indexed, plan_stages

EMBED_LIMIT = 4
TYPES = ("email", "phone", "meeting", "chat", "in_person", "whatsapp", "sms", "note")
TICKET_STATUSES = ("open", "in_progress", "resolved", "closed")
STAGES = ("prospecting", "qualification", "proposal", "negotiation", "won", "lost")
CURRENCIES = ("EUR", "MAD", "USD")


@pytest.fixture
def seeded(db):
    """Two customers with random histories, tickets, feedback, sales and opportunities; the truth, by hand."""
    rng = random.Random(20240601)
    people = [new_customer(db), new_customer(db)]
    truth = {person: {"types": [], "times": [], "tickets": [], "feedback": [], "sales": [], "stages": []}
             for person in people}
    repository = InteractionRepository(db, EMBED_LIMIT)
    for n in range(30):
        person = people[n % 3 == 0]
        kind, occurred_at = rng.choice(TYPES), BASE_TIME - timedelta(hours=rng.randint(0, 5000))
        repository.add(person, {"type": kind, "notes": "n", "status": "completed", "occurred_at": occurred_at})
        truth[person]["types"].append(kind)
        truth[person]["times"].append(occurred_at)
    for person in people:
        for _ in range(rng.randint(3, 12)):
            status = rng.choice(TICKET_STATUSES)
            seed_ticket(db, person, status)
            truth[person]["tickets"].append(status)
        for _ in range(rng.randint(4, 15)):
            rating, anonymous = rng.randint(1, 5), rng.random() < 0.3
            submitted_at = BASE_TIME + timedelta(minutes=rng.randint(0, 100000))
            seed_feedback(db, person, rating, submitted_at, is_anonymous=anonymous)
            truth[person]["feedback"].append((rating, anonymous, submitted_at))
        for _ in range(rng.randint(20, 40)):
            # Many dimes and odd cents: a binary-float sum would drift, a Decimal128 one must not.
            amount = "0.10" if rng.random() < 0.5 else f"{rng.randint(0, 99999)}.{rng.randint(0, 99):02d}"
            currency = rng.choice(CURRENCIES)
            seed_sale(db, person, amount, currency)
            truth[person]["sales"].append((Decimal(amount), currency))
        for _ in range(rng.randint(2, 9)):
            stage = rng.choice(STAGES)
            seed_opportunity(db, person, stage)
            truth[person]["stages"].append(stage)
    seed_segment(db, "Leads", {"status": ["lead"]})
    seed_segment(db, "Churned", {"status": ["churned"]})
    assert db.interaction_archive.count_documents({}) > 0
    return truth


def expected_summary(facts, with_anonymous):
    feedback = [(rating, at) for rating, anonymous, at in facts["feedback"] if with_anonymous or not anonymous]
    totals = {}
    for amount, currency in facts["sales"]:
        totals[currency] = totals.get(currency, Decimal("0")) + amount
    return {
        "total_interactions": len(facts["types"]),
        "interaction_channels": dict(sorted(Counter(facts["types"]).items())),
        "last_interaction_at": iso_z(max(facts["times"])),
        "open_tickets": sum(status in ("open", "in_progress") for status in facts["tickets"]),
        "total_feedback": len(feedback),
        "average_rating": round(sum(rating for rating, _ in feedback) / len(feedback), 2) if feedback else None,
        "last_feedback_date": iso_z(max(at for _, at in feedback)) if feedback else None,
        "total_sales_amount": {currency: f"{total:.2f}" for currency, total in sorted(totals.items())},
        "open_opportunities": sum(stage not in ("won", "lost") for stage in facts["stages"]),
        "segments": ["Leads"],  # new_customer() makes leads
    }


def test_summary_figures_match_a_brute_force_count_for_admins(admin, db, seeded):
    for person, facts in seeded.items():
        response = admin.get(summary_url(person))

        assert response.status_code == 200, response.get_json()
        assert response.get_json() == expected_summary(facts, with_anonymous=True)


def test_summary_figures_match_a_brute_force_count_without_anonymous_feedback_for_sales(sales, db, seeded):
    for person, facts in seeded.items():
        response = sales.get(summary_url(person))

        assert response.status_code == 200, response.get_json()
        assert response.get_json() == expected_summary(facts, with_anonymous=False)


def test_decimal128_sums_are_exact_where_floats_are_not(admin, db):
    person = new_customer(db)
    for _ in range(10):
        seed_sale(db, person, "0.10", "EUR")
    seed_sale(db, person, "99999999999.99", "EUR")
    seed_sale(db, person, "0.01", "EUR")
    assert sum([0.10] * 10) != 1.0  # the drift the server's Decimal128 sum must not have

    body = admin.get(summary_url(person)).get_json()

    assert body["total_sales_amount"] == {"EUR": "100000000001.00"}


@pytest.fixture
def explained(mongo_uri, database_name, seeded, db):
    """{collection: winning-plan stages} of every find/aggregate the summary of one seeded customer sends."""
    log = CommandLog()
    client = MongoClient(mongo_uri, tz_aware=True, event_listeners=[log])
    try:
        listened = client[database_name]
        person = next(iter(seeded))
        customer_record = listened.customers.find_one({"_id": ObjectId(person)}, {"interactions": 0})
        log.commands.clear()
        customer_summary(listened, customer_record, SECTIONS, include_anonymous_feedback=False)
        stages = {}
        for command in log.commands:
            collection = command[next(iter(command))]
            sent = {key: value for key, value in command.items() if not key.startswith("$") and key != "lsid"}
            explain = listened.command("explain", sent, verbosity="queryPlanner")
            stages.setdefault(collection, []).append(plan_stages(explain))
        return stages
    finally:
        client.close()


@pytest.mark.parametrize("collection", ["customers", "tickets", "feedback", "sales", "opportunities", "segments",
                                        "interaction_archive"])
def test_every_summary_query_is_index_backed(explained, collection):
    assert explained[collection]
    for stages in explained[collection]:
        assert_indexed(stages)
