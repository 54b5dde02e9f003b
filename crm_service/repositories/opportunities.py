"""Opportunities: stage changes with their history, and the customer a won deal activates."""
from datetime import time

from pymongo import ReturnDocument

from crm_service.schemas.opportunities import CLOSED_STAGES, STAGE_PROBABILITY

from .base import find_page, to_object_id, utcnow

ERASED = "[erased]"
# A won deal makes a lead or prospect an active customer; other statuses are someone's decision.
ACTIVATED_STATUSES = ("lead", "prospect")


def _stage_fields(stage, now):
    """What entering `stage` sets: closed_at for won/lost (cleared when reopened); lost_reason only while lost."""
    fields = {"stage": stage, "closed_at": now if stage in CLOSED_STAGES else None}
    if stage != "lost":
        fields["lost_reason"] = None
    return fields


def _day_bounds(filters):
    """closing_after/before as YYYY-MM-DD bounds: a time that is not midnight counts its own day as before it."""
    bounds = {}
    after = filters.get("closing_after")
    if after:
        day = after.date().isoformat()
        bounds["$gte" if after.time() == time.min else "$gt"] = day
    before = filters.get("closing_before")
    if before:
        day = before.date().isoformat()
        bounds["$lt" if before.time() == time.min else "$lte"] = day
    return bounds


class OpportunityRepository:
    def __init__(self, db):
        self.collection = db.opportunities
        self.customers = db.customers

    def create(self, fields, user_id):
        """Insert with its first stage_history entry; a deal created as won activates its customer."""
        now = utcnow()
        stage = fields["stage"]
        document = {
            "expected_close_date": None,
            "lost_reason": None,
            **fields,
            "probability": fields.get("probability", STAGE_PROBABILITY[stage]),
            "closed_at": now if stage in CLOSED_STAGES else None,
            "stage_history": [{"stage": stage, "at": now, "by": to_object_id(user_id)}],
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        document["_id"] = self.collection.insert_one(document).inserted_id
        if stage == "won":
            self.activate_customer(document["customer_id"], now)
        return document

    def get(self, opportunity_id):
        oid = to_object_id(opportunity_id)
        return self.collection.find_one({"_id": oid}) if oid else None

    def update(self, current, changes, user_id):
        """Apply `changes` if the record is still at `current`'s version (None when it moved on).

        A stage change appends to stage_history, moves closed_at and resets the probability to the stage's
        default (unless one is given) in the same write.
        """
        now = utcnow()
        values = {**changes, "updated_at": now}
        update = {"$inc": {"version": 1}}
        stage = changes.get("stage", current["stage"])
        stage_changed = stage != current["stage"]
        if stage_changed:
            values = {**_stage_fields(stage, now), **values}
            values.setdefault("probability", STAGE_PROBABILITY[stage])
            update["$push"] = {"stage_history": {"stage": stage, "at": now, "by": to_object_id(user_id)}}
        update["$set"] = values
        updated = self.collection.find_one_and_update(
            {"_id": current["_id"], "version": current["version"]}, update, return_document=ReturnDocument.AFTER,
        )
        customer_changed = updated is not None and updated.get("customer_id") != current.get("customer_id")
        if updated is not None and stage == "won" and (stage_changed or customer_changed):
            self.activate_customer(updated.get("customer_id"), now)
        return updated

    def activate_customer(self, customer_id, now):
        """A lead/prospect becomes active (version and updated_at move, so ETags and sync see it)."""
        if customer_id is None:
            return
        self.customers.update_one(
            {"_id": customer_id, "status": {"$in": list(ACTIVATED_STATUSES)}},
            {"$set": {"status": "active", "updated_at": now}, "$inc": {"version": 1}},
        )

    def delete(self, current):
        """Delete if still at `current`'s version; False when it moved on (or is gone)."""
        result = self.collection.delete_one({"_id": current["_id"], "version": current["version"]})
        return result.deleted_count == 1

    def build_query(self, filters):
        query = {}
        if filters.get("stage"):
            query["stage"] = filters["stage"]
        for name in ("owner_id", "customer_id"):
            if filters.get(name):
                query[name] = to_object_id(filters[name])
        bounds = _day_bounds(filters)
        if bounds:
            query["expected_close_date"] = bounds
        if filters.get("updated_since"):
            query["updated_at"] = {"$gt": filters["updated_since"]}
        return query

    def list(self, filters, sort, page_request):
        return find_page(self.collection, self.build_query(filters), sort, page_request)


def erase_customer(db, customer_oid):
    """Privacy erasure: keep the deals' amounts for reports, drop the person's link and the free text."""
    if customer_oid is None:
        return 0
    now = utcnow()
    db.opportunities.update_many({"customer_id": customer_oid, "lost_reason": {"$ne": None}},
                                 {"$set": {"lost_reason": ERASED}})
    result = db.opportunities.update_many(
        {"customer_id": customer_oid},
        {"$set": {"customer_id": None, "title": ERASED, "updated_at": now}, "$inc": {"version": 1}},
    )
    return result.modified_count
