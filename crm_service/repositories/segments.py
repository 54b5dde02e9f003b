"""Segments and segment_filter(): validated criteria turned into a query on customers."""
from flask import current_app, has_app_context
from pymongo import ReturnDocument

from crm_service.schemas.money import to_decimal

from .base import find_page, fold, prefix_pattern, to_object_id, utcnow
from .customers import RECORD_PROJECTION

# Criteria holding a list: the customer field they test, and how ("any of" or "all of").
LIST_RULES = (
    ("status", "status", "$in"),
    ("loyalty_status", "loyalty_status", "$in"),
    ("region", "region", "$in"),
    ("contact_type", "contact_type", "$in"),
    ("tags", "tags", "$in"),
    ("tags_all", "tags", "$all"),
)
# Criteria holding a time: the customer field, and the bound (after = at or after, before = strictly before).
TIME_RULES = (
    ("last_interaction_after", "last_interaction_at", "$gte"),
    ("last_interaction_before", "last_interaction_at", "$lt"),
    ("created_after", "created_at", "$gte"),
    ("created_before", "created_at", "$lt"),
)


def name_key(name):
    return " ".join(fold(name).split())


def _base_currency():
    return current_app.config["BASE_CURRENCY"] if has_app_context() else "MAD"


def customers_with_sales(db, minimum, currency):
    """Ids of the customers whose sales in `currency` add up to at least `minimum`.

    The server sums each customer's Decimal128 amounts exactly; the threshold is applied here, on one
    small row per buying customer (mongomock cannot compare Decimal128, and the $in list that
    follows is of the same size anyway).
    """
    minimum = to_decimal(minimum)
    pipeline = [
        {"$match": {"currency": currency, "customer_id": {"$ne": None}}},
        {"$group": {"_id": "$customer_id", "total": {"$sum": "$amount"}}},
    ]
    return sorted(row["_id"] for row in db.sales.aggregate(pipeline) if to_decimal(row["total"]) >= minimum)


def segment_filter(db, criteria):
    """The filter on `customers` for validated `criteria`: flat field conditions, so indexes serve them.

    Only active customers are members. Fields are combined at the top level (no $and), which every
    MongoDB planner reads as one index-friendly predicate.
    """
    query = {"is_active": True}
    lists = {}
    for rule, field, operator in LIST_RULES:
        if criteria.get(rule):
            lists.setdefault(field, {})[operator] = list(criteria[rule])
    for field, operators in lists.items():
        values = next(iter(operators.values()))
        # A single value is an equality (MongoDB rewrites it so too); some planners only index equalities.
        query[field] = values[0] if len(operators) == 1 and len(values) == 1 else operators
    for rule, field, operator in TIME_RULES:
        if criteria.get(rule) is not None:
            query.setdefault(field, {})[operator] = criteria[rule]
    if criteria.get("company_id"):
        query["company_id"] = to_object_id(criteria["company_id"])
    members = None
    if criteria.get("customer_ids"):
        members = {oid for oid in map(to_object_id, criteria["customer_ids"]) if oid is not None}
    if criteria.get("min_total_sales") is not None:
        currency = criteria.get("currency") or _base_currency()
        buyers = customers_with_sales(db, criteria["min_total_sales"], currency)
        members = set(buyers) if members is None else members & set(buyers)
    if members is not None:
        # Both rules select by _id: one $in holding the ids that meet both.
        query["_id"] = {"$in": sorted(members)}
    return query


class SegmentRepository:
    def __init__(self, db):
        self.db = db
        self.collection = db.segments
        self.customers = db.customers

    def count_members(self, criteria):
        return self.customers.count_documents(segment_filter(self.db, criteria))

    def members(self, criteria, sort, page_request, updated_since=None):
        query = segment_filter(self.db, criteria)
        if updated_since is not None:
            query["updated_at"] = {"$gt": updated_since}
        return find_page(self.customers, query, sort, page_request, RECORD_PROJECTION)

    def create(self, fields):
        """Insert with a fresh customer_count; DuplicateKeyError when the name is taken."""
        now = utcnow()
        criteria = fields.get("criteria") or {}
        document = {
            "name": fields["name"],
            "name_key": name_key(fields["name"]),
            "description": fields.get("description"),
            "criteria": criteria,
            "customer_count": self.count_members(criteria),
            "last_calculated": now,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        document["_id"] = self.collection.insert_one(document).inserted_id
        return document

    def get(self, segment_id):
        oid = to_object_id(segment_id)
        return self.collection.find_one({"_id": oid}) if oid else None

    def update(self, current, changes):
        """Apply `changes` and a fresh count if `current` is still at its version; None when it moved on."""
        changes = dict(changes)
        if "name" in changes:
            changes["name_key"] = name_key(changes["name"])
        criteria = changes.get("criteria", current.get("criteria") or {})
        now = utcnow()
        changes.update(customer_count=self.count_members(criteria), last_calculated=now, updated_at=now)
        return self.collection.find_one_and_update(
            {"_id": current["_id"], "version": current["version"]},
            {"$set": changes, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )

    def recalculate(self, current):
        """Refresh customer_count and last_calculated; the version moves so ETags and sync see the new count."""
        count = self.count_members(current.get("criteria") or {})
        now = utcnow()
        return self.collection.find_one_and_update(
            {"_id": current["_id"]},
            {"$set": {"customer_count": count, "last_calculated": now, "updated_at": now}, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )

    def delete(self, current):
        return self.collection.delete_one({"_id": current["_id"], "version": current["version"]}).deleted_count == 1

    def list(self, filters, sort, page_request):
        query = {}
        if filters.get("q", "").strip():
            query["name_key"] = prefix_pattern(name_key(filters["q"]))
        if filters.get("updated_since"):
            query["updated_at"] = {"$gt": filters["updated_since"]}
        return find_page(self.collection, query, sort, page_request)
