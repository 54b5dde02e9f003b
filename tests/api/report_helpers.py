"""Helpers for the report tests: a fixed window and records stored as their repositories store them."""
import itertools
import secrets
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from bson.decimal128 import Decimal128

from crm_service.repositories.interactions import InteractionRepository
from tests.api.interaction_helpers import new_customer

FROM = datetime(2024, 3, 1, tzinfo=UTC)
TO = datetime(2024, 4, 1, tzinfo=UTC)
WINDOW = "from=2024-03-01&to=2024-04-01"
SUMMARY = "/api/v1/reports/summary"
EMBED_LIMIT = 3
CHART_NAMES = ("interactions-by-type", "sales-by-month", "pipeline-by-stage", "tickets-by-status",
               "rating-distribution")
INSIDE = FROM + timedelta(days=10)
BEFORE = FROM - timedelta(milliseconds=1)
_numbers = itertools.count(1)


def chart_url(name, extension="png", query=WINDOW):
    return f"/api/v1/reports/charts/{name}.{extension}?{query}"


def get_summary(api, query=WINDOW):
    response = api.get(f"{SUMMARY}?{query}" if query else SUMMARY)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def add_customer(db, created_at, status="lead", initial_status=None, legacy=False, **fields):
    """A customer created at `created_at` as `initial_status` (default: its status) and now `status`.

    `legacy` stores it as records from before initial_status existed (no such field).
    """
    customer_id = new_customer(db, status=initial_status or status, **fields)
    changes = {"$set": {"created_at": created_at, "status": status}}
    if legacy:
        changes["$unset"] = {"initial_status": ""}
    db.customers.update_one({"_id": ObjectId(customer_id)}, changes)
    return customer_id


def add_interactions(db, customer_id, items, embed_limit=EMBED_LIMIT):
    """(type, occurred_at) pairs logged through the repository; past the limit the oldest move to the archive."""
    repository = InteractionRepository(db, embed_limit)
    for kind, occurred_at in items:
        repository.add(customer_id, {"type": kind, "notes": "Talked", "status": "completed",
                                     "occurred_at": occurred_at})


def add_ticket(db, created_at, status="open", resolved_at=None):
    number = next(_numbers)
    db.tickets.insert_one({
        "number": f"T-{number:06d}", "seq": number, "customer_id": ObjectId(), "subject": "Late bus",
        "description": None, "priority": "normal", "priority_rank": 1, "status": status, "assignee_id": None,
        "created_by": ObjectId(), "resolved_at": resolved_at, "resolved_by": ObjectId() if resolved_at else None,
        "comments": [], "version": 1, "created_at": created_at, "updated_at": resolved_at or created_at,
    })


def add_opportunity(db, stage, created_at, closed_at=None, amount="1000.00", currency="EUR"):
    db.opportunities.insert_one({
        "customer_id": ObjectId(), "title": "Group tour", "amount": Decimal128(amount), "currency": currency,
        "stage": stage, "probability": 50, "owner_id": ObjectId(), "expected_close_date": "2024-09-30",
        "closed_at": closed_at, "lost_reason": None, "stage_history": [{"stage": stage, "at": created_at}],
        "version": 1, "created_at": created_at, "updated_at": closed_at or created_at,
    })


def add_sale(db, amount, currency, sale_date):
    db.sales.insert_one({
        "customer_id": ObjectId(), "product_id": ObjectId(), "quantity": 1, "unit_price": Decimal128(amount),
        "amount": Decimal128(amount), "currency": currency, "sale_date": sale_date, "employee_id": ObjectId(),
        "version": 1, "created_at": sale_date, "updated_at": sale_date,
    })


def add_feedback(db, rating, submitted_at):
    db.feedback.insert_one({
        "customer_id": ObjectId(), "booking_id": None, "service_type": "tour", "rating": rating, "comments": None,
        "is_anonymous": False, "source": "web", "sentiment": "neutral", "sentiment_score": 0.0, "resolved": False,
        "resolution_notes": None, "resolved_by": None, "resolved_at": None, "submitted_at": submitted_at,
        "version": 1, "created_at": submitted_at, "updated_at": submitted_at,
    })


def add_email(db, status, sent_at=None, open_count=0, created_at=None):
    """An email record as the emails module stores it (first_opened_at absent until the first open)."""
    created_at = created_at or sent_at or INSIDE
    document = {
        "customer_id": ObjectId(), "to": "someone@example.org", "subject": "Offer", "body": "Hello",
        "status": status, "failure_reason": "SMTP refused" if status == "failed" else None, "sent_at": sent_at,
        "open_count": open_count, "responses": [], "tracking_token": secrets.token_urlsafe(16),
        "interaction_id": None, "version": 1, "created_at": created_at, "updated_at": sent_at or created_at,
    }
    if open_count:
        document["first_opened_at"] = document["last_opened_at"] = sent_at + timedelta(hours=1)
    db.emails.insert_one(document)
