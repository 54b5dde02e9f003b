"""Analytics on a real server: the RFM and monthly-sales aggregations equal a brute force over the documents."""
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128

from crm_service.db import get_db
from crm_service.repositories.analytics import AnalyticsRepository
from crm_service.repositories.base import utcnow
from crm_service.repositories.customers import CustomerRepository
from crm_service.repositories.interactions import NOT_HAPPENED, InteractionRepository
from crm_service.services.forecast import add_months
from tests.api.analytics_helpers import FORECAST, SEGMENTATION

CUSTOMERS = 14
EMBED_LIMIT = 3


@pytest.fixture
def seeded(app):
    """Customers with interactions (some archived, some only scheduled) and sales over 9 months, 2 currencies."""
    rng = random.Random(7)
    now = utcnow()
    with app.app_context():
        db = get_db()
        customers = CustomerRepository(db)
        interactions = InteractionRepository(db, EMBED_LIMIT)
        ids = []
        for number in range(CUSTOMERS):
            oid = customers.create({"first_name": f"C{number}", "email": f"c{number}@wire.example", "tags": [],
                                    "is_active": number != 0})["_id"]
            ids.append(oid)
            for _ in range(rng.randint(0, 6)):
                status = rng.choice(["completed", "completed", "completed", "scheduled", "cancelled"])
                interactions.add(oid, {"type": "note", "notes": "n", "status": status,
                                       "occurred_at": now - timedelta(days=rng.randint(0, 400), hours=rng.random())})
        sales = []
        for _ in range(60):
            months_ago = rng.randint(1, 9)
            year, month = add_months(now.year, now.month, -months_ago)
            sales.append({
                "customer_id": rng.choice(ids + [None]), "amount": Decimal128(f"{rng.randint(1, 90000) / 100:.2f}"),
                "currency": rng.choice(["MAD", "MAD", "EUR"]),
                "sale_date": now.replace(year=year, month=month, day=rng.randint(1, 28)),
            })
        db.sales.insert_many(sales)
        yield db, now


def brute_force(db, currency):
    """Each active customer's (last activity, frequency, monetary) from the raw documents."""
    found = {}
    sales = list(db.sales.find())
    for customer in db.customers.find({"is_active": True}):
        oid = customer["_id"]
        embedded = customer["interactions"]
        embedded_ids = {item["id"] for item in embedded}
        archive = db.interaction_archive.find({"customer_id": oid})
        archived = [item for item in archive if item["id"] not in embedded_ids]
        history = embedded + archived
        bought = [sale for sale in sales if sale["customer_id"] == oid]
        times = [item["occurred_at"] for item in history if item["status"] not in NOT_HAPPENED]
        times += [sale["sale_date"] for sale in bought]
        monetary = sum((sale["amount"].to_decimal() for sale in bought if sale["currency"] == currency), Decimal(0))
        found[oid] = (max(times) if times else None, len(history) + len(bought), monetary)
    return found


@pytest.mark.parametrize("currency", ["MAD", "EUR", "USD"])
def test_customer_activity_equals_brute_force(seeded, currency):
    db, _ = seeded
    assert db.interaction_archive.count_documents({}) > 0
    rows = AnalyticsRepository(db).customer_activity(currency)
    assert {row.customer_id: (row.last_activity_at, row.frequency, row.monetary) for row in rows} == brute_force(
        db, currency)


@pytest.mark.parametrize("currency", ["MAD", "EUR"])
def test_monthly_sales_equal_brute_force(seeded, currency):
    db, now = seeded
    before = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    expected = {}
    for sale in db.sales.find({"currency": currency}):
        key = (sale["sale_date"].year, sale["sale_date"].month)
        expected[key] = expected.get(key, Decimal(0)) + sale["amount"].to_decimal()
    assert AnalyticsRepository(db).monthly_sales(currency, before) == expected


def test_the_endpoints_answer_on_the_wire(seeded, sales):
    segmentation = sales.get(f"{SEGMENTATION}?k=3")
    assert segmentation.status_code == 200, segmentation.get_json()
    assert sum(cluster["size"] for cluster in segmentation.get_json()["clusters"]) == segmentation.get_json()[
        "customer_count"]
    forecast = sales.get(f"{FORECAST}?months=2")
    assert forecast.status_code == 200, forecast.get_json()
    assert forecast.get_json()["history_months"] == 9 and forecast.get_json()["method"] == "holt"


def test_segment_members_by_customer_ids_on_the_wire(seeded, admin):
    db, _ = seeded
    ids = [str(row["_id"]) for row in db.customers.find({}, {"_id": 1}).sort("_id", 1).limit(4)] + [str(ObjectId())]
    response = admin.post("/api/v1/segments", json={"name": "Picked", "criteria": {"customer_ids": ids}})
    assert response.status_code == 201, response.get_json()
    # The first customer is inactive and the last id is nobody: three members.
    assert response.get_json()["customer_count"] == 3
