"""The report's aggregations on a real server agree with a brute-force count over random data."""
import random
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from bson import ObjectId
from pymongo import MongoClient

from crm_service.config import TestConfig
from crm_service.schemas.common import iso_z
from crm_service.services.reports import Window, summary
from tests.api.report_helpers import (
    add_customer,
    add_email,
    add_feedback,
    add_interactions,
    add_opportunity,
    add_sale,
    add_ticket,
)
from tests.wire.test_query_plans_wire import CommandLog, assert_indexed, plan_stages

EMBED_LIMIT = 4
START = datetime(2024, 1, 1, tzinfo=UTC)
FROM = datetime(2024, 2, 10, tzinfo=UTC)
TO = datetime(2024, 4, 20, tzinfo=UTC)
TYPES = ("email", "phone", "meeting", "chat", "in_person", "whatsapp", "sms", "note")
CUSTOMER_STATUSES = ("lead", "prospect", "active", "inactive", "churned")
TICKET_STATUSES = ("open", "in_progress", "resolved", "closed")
STAGES = ("prospecting", "qualification", "proposal", "negotiation", "won", "lost")
CURRENCIES = ("EUR", "MAD", "USD")


@pytest.fixture
def config(mongo_uri, database_name):
    config = TestConfig()
    config.MONGO_URI = mongo_uri
    config.MONGO_DB_NAME = database_name
    config.INTERACTION_EMBED_LIMIT = EMBED_LIMIT
    return config


def moment(rng):
    """A random minute in the first half of 2024, or now and then exactly on an edge of the window."""
    if rng.random() < 0.1:
        return rng.choice((FROM, TO, FROM - timedelta(milliseconds=1), TO - timedelta(milliseconds=1)))
    return START + timedelta(minutes=rng.randint(0, 180 * 24 * 60))


@pytest.fixture
def seeded(db):
    rng = random.Random(20240301)
    for _ in range(40):
        initial_status = rng.choice(CUSTOMER_STATUSES)
        status = "active" if initial_status in ("lead", "prospect") and rng.random() < 0.5 \
            else rng.choice(CUSTOMER_STATUSES)
        person = add_customer(db, moment(rng), status=status, initial_status=initial_status,
                              legacy=rng.random() < 0.2, is_active=rng.random() > 0.1)
        add_interactions(db, person, [(rng.choice(TYPES), moment(rng)) for _ in range(rng.randint(0, 9))],
                         EMBED_LIMIT)
    for _ in range(60):
        created_at = moment(rng)
        status = rng.choice(TICKET_STATUSES)
        resolved_at = created_at + timedelta(minutes=rng.randint(1, 20000)) if status in ("resolved", "closed") \
            else None
        add_ticket(db, created_at, status, resolved_at)
    for _ in range(50):
        stage = rng.choice(STAGES)
        created_at = moment(rng)
        add_opportunity(db, stage, created_at, created_at + timedelta(days=rng.randint(0, 40))
                        if stage in ("won", "lost") else None)
    for _ in range(120):
        amount = "0.10" if rng.random() < 0.3 else f"{rng.randint(0, 9999)}.{rng.randint(0, 99):02d}"
        add_sale(db, amount, rng.choice(CURRENCIES), moment(rng))
    for _ in range(70):
        add_feedback(db, rng.randint(1, 5), moment(rng))
    for _ in range(50):
        status = rng.choice(("queued", "sent", "sent", "sent", "failed"))
        add_email(db, status, moment(rng) if status == "sent" else None,
                  rng.choice((0, 0, 1, 3)) if status == "sent" else 0, created_at=moment(rng))
    assert db.interaction_archive.count_documents({}) > 0


def inside(value):
    return value is not None and FROM <= value < TO


def brute_force(db):
    """Every figure recomputed in Python from every stored document."""
    customers = [c for c in db.customers.find({}) if c["is_active"] and c["created_at"] < TO]
    new = [c for c in customers if inside(c["created_at"])]
    candidates = [c for c in new if c.get("initial_status", c["status"]) in ("lead", "prospect")]
    interactions = {}
    for document in db.customers.find({}, {"interactions": 1}):
        interactions.update({item["id"]: item for item in document["interactions"]})
    archived = [item for item in db.interaction_archive.find({}) if item["id"] not in interactions]
    types = Counter(item["type"] for item in [*interactions.values(), *archived] if inside(item["occurred_at"]))
    tickets = list(db.tickets.find({}))
    opened = [t for t in tickets if inside(t["created_at"])]
    resolved = [t for t in tickets if inside(t["resolved_at"])]
    hours = [(t["resolved_at"] - t["created_at"]).total_seconds() / 3600 for t in resolved]
    opportunities = list(db.opportunities.find({}))
    won = sum(o["stage"] == "won" and inside(o["closed_at"]) for o in opportunities)
    lost = sum(o["stage"] == "lost" and inside(o["closed_at"]) for o in opportunities)
    created = Counter(o["stage"] for o in opportunities if inside(o["created_at"]))
    totals, months = {}, {}
    for sale in db.sales.find({"sale_date": {"$gte": FROM, "$lt": TO}}):
        amount = sale["amount"].to_decimal()
        totals[sale["currency"]] = totals.get(sale["currency"], Decimal(0)) + amount
        month = months.setdefault(sale["sale_date"].strftime("%Y-%m"), {})
        month[sale["currency"]] = month.get(sale["currency"], Decimal(0)) + amount
    ratings = [f["rating"] for f in db.feedback.find({}) if inside(f["submitted_at"])]
    sent = [e for e in db.emails.find({}) if e["status"] == "sent" and inside(e["sent_at"])]

    def rate(part, whole):
        return round(part / whole, 4) if whole else None

    def money(values):
        return {currency: f"{total:.2f}" for currency, total in sorted(values.items())}

    return {
        "from": iso_z(FROM), "to": iso_z(TO),
        "customers": {"total": len(customers), "new": len(new),
                      "by_status": {s: sum(c["status"] == s for c in customers) for s in CUSTOMER_STATUSES}},
        "interactions": {"total": sum(types.values()), "by_type": {kind: types[kind] for kind in TYPES}},
        "conversion_rate": rate(sum(c["status"] == "active" for c in candidates), len(candidates)),
        "opportunity_win_rate": rate(won, won + lost),
        "tickets": {"opened": len(opened), "resolved": len(resolved),
                    "open_now": sum(t["status"] in ("open", "in_progress") for t in tickets),
                    "median_hours_to_resolve": round(statistics.median(hours), 2) if hours else None,
                    "by_status": {s: sum(t["status"] == s for t in opened) for s in TICKET_STATUSES}},
        "opportunities": {"created": sum(created.values()), "by_stage": {s: created[s] for s in STAGES},
                          "won": won, "lost": lost},
        "sales": {"totals": money(totals),
                  "by_month": [{"month": month, "totals": money(months[month])} for month in sorted(months)]},
        "feedback": {"count": len(ratings),
                     "average_rating": round(sum(ratings) / len(ratings), 2) if ratings else None,
                     "rating_distribution": {str(r): ratings.count(r) for r in range(1, 6)}},
        "email": {"sent": len(sent), "open_rate": rate(sum(e["open_count"] > 0 for e in sent), len(sent))},
    }


def test_the_summary_matches_a_brute_force_count(admin, db, seeded):
    expected = brute_force(db)
    assert expected["interactions"]["total"] and len(expected["sales"]["by_month"]) == 3
    assert 0 < expected["conversion_rate"] < 1 and 0 < expected["opportunity_win_rate"] < 1

    response = admin.get(f"/api/v1/reports/summary?from={iso_z(FROM)}&to={iso_z(TO)}")

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body.pop("charts").keys() == {"interactions-by-type", "sales-by-month", "pipeline-by-stage",
                                         "tickets-by-status", "rating-distribution"}
    assert body == expected


def test_an_interaction_caught_mid_archive_is_counted_once_on_the_server(admin, db, seeded):
    person = db.customers.find_one({"embedded_count": EMBED_LIMIT, "archived_count": {"$gt": 0}})
    oldest = person["interactions"][-1]
    db.customers.update_one({"_id": person["_id"]}, {
        "$push": {"interactions": {"id": ObjectId(), "type": "sms", "notes": "n", "status": "completed",
                                   "occurred_at": datetime(2024, 3, 1, tzinfo=UTC)}},
        "$inc": {"embedded_count": 1}})
    db.interaction_archive.insert_one({**oldest, "customer_id": person["_id"]})

    body = admin.get(f"/api/v1/reports/summary?from={iso_z(FROM)}&to={iso_z(TO)}").get_json()

    assert body["interactions"] == brute_force(db)["interactions"]


def test_every_report_query_is_index_backed(mongo_uri, database_name, seeded):
    log = CommandLog()
    client = MongoClient(mongo_uri, tz_aware=True, event_listeners=[log])
    try:
        listened = client[database_name]
        summary(listened, EMBED_LIMIT, Window(FROM, TO))
        assert log.commands
        for command in log.commands:
            sent = {key: value for key, value in command.items() if not key.startswith("$") and key != "lsid"}
            explain = listened.command("explain", sent, verbosity="queryPlanner")
            assert_indexed(plan_stages(explain))
    finally:
        client.close()
