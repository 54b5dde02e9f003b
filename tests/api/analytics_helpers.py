"""Data for the analytics tests: customers with known recency, frequency and spend, and dated sales."""
from datetime import timedelta
from decimal import Decimal

from bson import ObjectId
from bson.decimal128 import Decimal128

from crm_service.repositories.base import utcnow

SEGMENTATION = "/api/v1/analytics/segmentation"
APPLY = f"{SEGMENTATION}/apply"
FORECAST = "/api/v1/analytics/sales-forecast"

# Three clearly separate groups of 8: (days since last activity, interactions, sales count, each sale's amount).
GROUPS = {
    "champions": [(5 + index % 3, 20 + index, 6, Decimal("900.00") + index) for index in range(8)],
    "middle": [(60 + index, 5 + index % 2, 2, Decimal("150.00") + index) for index in range(8)],
    "lapsed": [(400 + 5 * index, 1, 0, Decimal(0)) for index in range(8)],
}


def put_customer(db, now, days_ago=None, interactions=0, active=True):
    """A customer document as the repositories keep it (only what analytics reads matters)."""
    oid = ObjectId()
    db.customers.insert_one({
        "_id": oid, "first_name": "Rfm", "last_name": str(oid), "email": f"{oid}@mail.example",
        "status": "active", "is_active": active,
        "last_interaction_at": None if days_ago is None or not interactions else now - timedelta(days=days_ago),
        "interaction_count": interactions, "interactions": [], "embedded_count": interactions, "archived_count": 0,
        "version": 1, "created_at": now - timedelta(days=800), "updated_at": now,
    })
    return oid


def put_sale(db, customer_oid, when, amount, currency="MAD"):
    db.sales.insert_one({
        "customer_id": customer_oid, "product_id": ObjectId(), "quantity": 1, "unit_price": Decimal128(str(amount)),
        "amount": Decimal128(str(amount)), "currency": currency, "sale_date": when, "employee_id": None,
        "version": 1, "created_at": when, "updated_at": when,
    })


def seed_groups(db, now=None):
    """The GROUPS as customers (the latest sale is as recent as the last interaction); {group: [ids]}."""
    now = now or utcnow()
    found = {}
    for name, people in GROUPS.items():
        for days_ago, interactions, sale_count, amount in people:
            oid = put_customer(db, now, days_ago, interactions)
            for number in range(sale_count):
                put_sale(db, oid, now - timedelta(days=days_ago + 30 * number), amount)
            found.setdefault(name, []).append(oid)
    return found


def seed_monthly_sales(db, totals, currency="MAD", now=None):
    """One sale per month with the given totals, the last in the month before the current one."""
    now = now or utcnow()
    year, month = now.year, now.month
    customer = ObjectId()
    for offset, total in enumerate(reversed(totals), start=1):
        index = year * 12 + month - 1 - offset
        when = now.replace(year=index // 12, month=index % 12 + 1, day=15, hour=12, minute=0, second=0,
                           microsecond=0)
        put_sale(db, customer, when, total, currency)
