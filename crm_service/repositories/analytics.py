"""The aggregations behind analytics: per-customer RFM inputs and monthly sales totals, grouped by the server."""
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from crm_service.schemas.money import to_decimal


@dataclass
class CustomerActivity:
    """One active customer's raw RFM inputs."""

    customer_id: object
    last_activity_at: datetime | None  # latest of last_interaction_at and the last sale (any currency)
    frequency: int  # its interactions (embedded and archived) plus its sales (any currency)
    monetary: Decimal  # the sum of its sales in the asked currency


class AnalyticsRepository:
    def __init__(self, db):
        self.customers = db.customers
        self.sales = db.sales

    def sales_by_customer(self):
        """{customer_oid: {currency: (count, total Decimal, last sale_date)}}: one server-side $group.

        Grouped by customer and currency together: mongomock cannot sum a $cond that mixes Decimal128
        and 0, and the rows are one per buying customer and currency either way.
        """
        pipeline = [
            {"$match": {"customer_id": {"$ne": None}}},
            {"$group": {
                "_id": {"customer": "$customer_id", "currency": "$currency"},
                "count": {"$sum": 1},
                "total": {"$sum": "$amount"},
                "last": {"$max": "$sale_date"},
            }},
        ]
        found = {}
        for row in self.sales.aggregate(pipeline):
            key = row["_id"]
            total = to_decimal(row["total"]) if row.get("total") is not None else Decimal(0)
            found.setdefault(key["customer"], {})[key.get("currency")] = (row["count"], total, row.get("last"))
        return found

    def customer_activity(self, currency):
        """CustomerActivity for every active customer (with or without activity), in no particular order.

        The customer side reads two stored fields per active customer (`last_interaction_at`, moved by
        every interaction write, and `interaction_count`, which counts embedded and archived ones alike),
        so neither the embedded arrays nor the archive are scanned.
        """
        sales = self.sales_by_customer()
        rows = []
        # No sort: the caller orders the features itself, and the server need not sort whole documents.
        cursor = self.customers.find({"is_active": True}, {"last_interaction_at": 1, "interaction_count": 1})
        for customer in cursor:
            bought = sales.get(customer["_id"], {})
            times = [customer.get("last_interaction_at")] + [last for _, _, last in bought.values()]
            times = [moment for moment in times if moment is not None]
            rows.append(CustomerActivity(
                customer_id=customer["_id"],
                last_activity_at=max(times) if times else None,
                frequency=(customer.get("interaction_count") or 0) + sum(count for count, _, _ in bought.values()),
                monetary=bought.get(currency, (0, Decimal(0), None))[1],
            ))
        return rows

    def monthly_sales(self, currency, before):
        """{(year, month): total Decimal} of sales in `currency` dated before `before` (the sale_date index)."""
        pipeline = [
            {"$match": {"sale_date": {"$lt": before}, "currency": currency}},
            {"$group": {
                "_id": {"year": {"$year": "$sale_date"}, "month": {"$month": "$sale_date"}},
                "total": {"$sum": "$amount"},
            }},
        ]
        return {
            (row["_id"]["year"], row["_id"]["month"]): to_decimal(row["total"])
            for row in self.sales.aggregate(pipeline)
            if row["_id"].get("year") is not None
        }
