"""Feedback: one document per rating; lists, resolution, the stats aggregation and privacy erasure."""
from datetime import timedelta

from pymongo import ReturnDocument

from crm_service.schemas.feedback import RATINGS, SENTIMENTS, SERVICE_TYPES

from .base import find_page, to_object_id, utcnow


class FeedbackRepository:
    def __init__(self, db):
        self.collection = db.feedback

    def create(self, fields, sentiment):
        now = utcnow()
        document = {
            **fields,
            "sentiment": sentiment.label,
            "sentiment_score": sentiment.score,
            "resolved": False,
            "resolution_notes": None,
            "resolved_by": None,
            "resolved_at": None,
            "submitted_at": now,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        document["_id"] = self.collection.insert_one(document).inserted_id
        return document

    def get(self, feedback_id):
        oid = to_object_id(feedback_id)
        return self.collection.find_one({"_id": oid}) if oid else None

    def resolve(self, current, changes, user_id):
        """Apply {resolved, resolution_notes?} if `current` is still at its version; None when it moved on.

        resolved_by/resolved_at record who resolved it and when; changing only the notes keeps them,
        reopening (resolved=false) clears them.
        """
        now = utcnow()
        update = {**changes, "updated_at": now}
        if changes["resolved"] and not current.get("resolved"):
            update.update(resolved_by=to_object_id(user_id), resolved_at=now)
        elif not changes["resolved"]:
            update.update(resolved_by=None, resolved_at=None)
        return self.collection.find_one_and_update(
            {"_id": current["_id"], "version": current["version"]},
            {"$set": update, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )

    def delete(self, current):
        """Delete `current` if it is still at its version; False when it moved on or is gone."""
        return self.collection.delete_one({"_id": current["_id"], "version": current["version"]}).deleted_count == 1

    @staticmethod
    def build_query(filters, own_customer=None, reveal_anonymous=False):
        """A MongoDB filter from validated, typed filters.

        `own_customer` confines a customer user to its own feedback (its `customer_id` filter is ignored).
        Otherwise a `customer_id` filter never returns anonymous feedback unless `reveal_anonymous` (admins).
        """
        query = {}
        if own_customer is not None:
            query["customer_id"] = to_object_id(own_customer)
        elif filters.get("customer_id"):
            query["customer_id"] = to_object_id(filters["customer_id"])
            if not reveal_anonymous:
                query["is_anonymous"] = False
        for name in ("booking_id", "service_type", "rating", "sentiment", "resolved"):
            if filters.get(name) is not None:
                query[name] = filters[name]
        submitted = {}
        if filters.get("from_"):
            submitted["$gte"] = filters["from_"]
        if filters.get("to"):
            submitted["$lt"] = filters["to"]
        if submitted:
            query["submitted_at"] = submitted
        if filters.get("updated_since"):
            query["updated_at"] = {"$gt": filters["updated_since"]}
        return query

    def list(self, query, sort, page_request):
        return find_page(self.collection, query, sort, page_request)

    def stats(self, days, now=None):
        """The figures of GET /feedback/stats over the last `days` days, counted by the server in one pass."""
        since = (now or utcnow()) - timedelta(days=days)
        pipeline = [
            {"$match": {"submitted_at": {"$gte": since}}},
            {"$facet": {
                "totals": [{"$group": {
                    "_id": None,
                    "count": {"$sum": 1},
                    "average": {"$avg": "$rating"},
                    "resolved": {"$sum": {"$cond": [{"$eq": ["$resolved", True]}, 1, 0]}},
                }}],
                "ratings": [{"$group": {"_id": "$rating", "count": {"$sum": 1}}}],
                "services": [{"$group": {"_id": "$service_type", "count": {"$sum": 1}}}],
                "sentiments": [{"$group": {"_id": "$sentiment", "count": {"$sum": 1}}}],
            }},
        ]
        facets = next(self.collection.aggregate(pipeline))
        totals = facets["totals"][0] if facets["totals"] else {"count": 0, "average": None, "resolved": 0}
        count = totals["count"]
        return {
            "total_feedback": count,
            "average_rating": round(totals["average"], 2) if count else None,
            "rating_distribution": _counted(facets["ratings"], [str(value) for value in RATINGS], str),
            "by_service_type": _counted(facets["services"], SERVICE_TYPES),
            "sentiment_analysis": _counted(facets["sentiments"], SENTIMENTS),
            "resolution_rate": round(totals["resolved"] / count, 4) if count else None,
            "pending_resolution": count - totals["resolved"],
        }


def _counted(rows, keys, key_of=lambda value: value):
    """{key: count} with every expected key present (zero when absent)."""
    found = {key_of(row["_id"]): row["count"] for row in rows}
    return {key: found.get(key, 0) for key in keys}


def erase_customer(db, customer_oid):
    """Privacy erasure: the person's feedback is deleted (ratings without a person are not kept)."""
    return db.feedback.delete_many({"customer_id": customer_oid}).deleted_count


def ids_of_customer(db, customer_oid):
    """The ids of the person's feedback (an erasure leaves a tombstone for each)."""
    return [document["_id"] for document in db.feedback.find({"customer_id": customer_oid}, {"_id": 1})]
