"""The report's figures, each counted by the server: aggregation pipelines and counts over a time window.

A window is `[start, end)`: a time equal to `start` is in it, one equal to `end` is not. Every
query is bounded by an index on its time field (see db.py); only small grouped rows come back.
"""
from crm_service.schemas.tickets import OPEN_STATUSES

from .interactions import feed_customers

MILLISECONDS_PER_HOUR = 3_600_000


def _between(start, end):
    return {"$gte": start, "$lt": end}


def _rows(collection, pipeline):
    return list(collection.aggregate(pipeline))


class ReportRepository:
    def __init__(self, db, embed_limit):
        self.db = db
        self.embed_limit = embed_limit

    def customers(self, start, end):
        """Customers not soft-deleted and created before `end`, grouped by (current status, initial status).

        Rows: {status, initial_status, total, new} where `new` counts those created in the window. A
        record from before `initial_status` was stored counts its current status as its initial one.
        """
        pipeline = [
            {"$match": {"is_active": True, "created_at": {"$lt": end}}},
            {"$group": {
                "_id": {"status": "$status", "initial": {"$ifNull": ["$initial_status", "$status"]}},
                "total": {"$sum": 1},
                "new": {"$sum": {"$cond": [{"$gte": ["$created_at", start]}, 1, 0]}},
            }},
        ]
        return [{"status": row["_id"].get("status"), "initial_status": row["_id"].get("initial"),
                 "total": row["total"], "new": row["new"]}
                for row in _rows(self.db.customers, pipeline)]

    def interactions_by_type(self, start, end):
        """{type: count} of interactions whose occurred_at is in the window, embedded and archived.

        Customers are found through `activity_key` (an upper bound of their newest interaction's time
        and id, indexed). An interaction caught in the middle of an archive move is in both
        places; it can only be so while its customer holds more than the embed limit, so the ids of
        such customers' interactions in the window tell which archive copies not to count again.
        """
        window = _between(start, end)
        pipeline = [
            # Two stages, the first exactly the activity_key index's range: MongoDB merges them into one, and
            # secantusdb (the dev server) would scan the collection for the two conditions in one $match.
            {"$match": feed_customers(start)},
            {"$match": {"interactions": {"$elemMatch": {"occurred_at": window}}}},
            {"$project": {"interactions.type": 1, "interactions.occurred_at": 1, "interactions.id": 1,
                          "overfull": {"$gt": ["$embedded_count", self.embed_limit]}}},
            {"$unwind": "$interactions"},
            {"$match": {"interactions.occurred_at": window}},
            {"$facet": {
                "by_type": [{"$group": {"_id": "$interactions.type", "count": {"$sum": 1}}}],
                "overfull": [{"$match": {"overfull": True}}, {"$project": {"_id": 0, "id": "$interactions.id"}}],
            }},
        ]
        facets = next(self.db.customers.aggregate(pipeline), None) or {"by_type": [], "overfull": []}
        counts = {}
        for row in facets["by_type"]:
            counts[row["_id"]] = counts.get(row["_id"], 0) + row["count"]
        archived = [{"$match": {"occurred_at": window}}, {"$group": {"_id": "$type", "count": {"$sum": 1}}}]
        for row in _rows(self.db.interaction_archive, archived):
            counts[row["_id"]] = counts.get(row["_id"], 0) + row["count"]
        embedded_ids = [row["id"] for row in facets["overfull"]]
        if embedded_ids:
            copies = [{"$match": {"id": {"$in": embedded_ids}, "occurred_at": window}},
                      {"$group": {"_id": "$type", "count": {"$sum": 1}}}]
            for row in _rows(self.db.interaction_archive, copies):
                counts[row["_id"]] -= row["count"]
        return counts

    def tickets_opened_by_status(self, start, end):
        """{current status: count} of the tickets created in the window."""
        pipeline = [{"$match": {"created_at": _between(start, end)}},
                    {"$group": {"_id": "$status", "count": {"$sum": 1}}}]
        return {row["_id"]: row["count"] for row in _rows(self.db.tickets, pipeline)}

    def tickets_resolved(self, start, end):
        """Tickets whose (latest) resolution falls in the window; reopening clears resolved_at."""
        return self.db.tickets.count_documents({"resolved_at": _between(start, end)})

    def tickets_open_now(self):
        return self.db.tickets.count_documents({"status": {"$in": list(OPEN_STATUSES)}})

    def median_hours_to_resolve(self, start, end, resolved):
        """The median of resolved_at - created_at (hours) over the `resolved` tickets resolved in the window.

        The server sorts the durations and only the middle one or two come back (the mean of two for
        an even count). MongoDB's own $median is approximate only (and mongomock has none).
        """
        if not resolved:
            return None
        skip, take = (resolved - 1) // 2, 2 - resolved % 2
        pipeline = [
            {"$match": {"resolved_at": _between(start, end)}},
            {"$project": {"_id": 0, "hours": {"$divide": [{"$subtract": ["$resolved_at", "$created_at"]},
                                                          MILLISECONDS_PER_HOUR]}}},
            {"$sort": {"hours": 1}},
            {"$skip": skip},
            {"$limit": take},
        ]
        hours = [row["hours"] for row in self.db.tickets.aggregate(pipeline, allowDiskUse=True)]
        return sum(hours) / len(hours) if hours else None

    def opportunities_created_by_stage(self, start, end):
        """{current stage: count} of the opportunities created in the window."""
        pipeline = [{"$match": {"created_at": _between(start, end)}},
                    {"$group": {"_id": "$stage", "count": {"$sum": 1}}}]
        return {row["_id"]: row["count"] for row in _rows(self.db.opportunities, pipeline)}

    def opportunities_closed(self, start, end):
        """{"won": n, "lost": n}: deals whose closed_at (set on entering won or lost) is in the window."""
        # closed_at is only set while won or lost (reopening clears it); the stage is checked all the same.
        pipeline = [{"$match": {"closed_at": _between(start, end)}},
                    {"$match": {"stage": {"$in": ["won", "lost"]}}},
                    {"$group": {"_id": "$stage", "count": {"$sum": 1}}}]
        closed = {row["_id"]: row["count"] for row in _rows(self.db.opportunities, pipeline)}
        return {"won": closed.get("won", 0), "lost": closed.get("lost", 0)}

    def sales(self, start, end):
        """({currency: Decimal128}, [((year, month), currency, Decimal128)]) for sales dated in the window.

        Decimal128 sums made by the server, so exact; months are UTC calendar months.
        """
        pipeline = [
            {"$match": {"sale_date": _between(start, end)}},
            {"$facet": {
                "totals": [{"$group": {"_id": "$currency", "total": {"$sum": "$amount"}}}],
                "months": [{"$group": {
                    "_id": {"year": {"$year": "$sale_date"}, "month": {"$month": "$sale_date"},
                            "currency": "$currency"},
                    "total": {"$sum": "$amount"},
                }}],
            }},
        ]
        facets = next(self.db.sales.aggregate(pipeline), None) or {"totals": [], "months": []}
        totals = {row["_id"]: row["total"] for row in facets["totals"] if row["_id"]}
        months = [((row["_id"]["year"], row["_id"]["month"]), row["_id"]["currency"], row["total"])
                  for row in facets["months"] if row["_id"].get("currency")]
        return totals, months

    def feedback(self, start, end):
        """(count, average rating or None, {rating: count}) for feedback submitted in the window."""
        pipeline = [
            {"$match": {"submitted_at": _between(start, end)}},
            {"$facet": {
                "totals": [{"$group": {"_id": None, "count": {"$sum": 1}, "average": {"$avg": "$rating"}}}],
                "ratings": [{"$group": {"_id": "$rating", "count": {"$sum": 1}}}],
            }},
        ]
        facets = next(self.db.feedback.aggregate(pipeline), None) or {"totals": [], "ratings": []}
        totals = facets["totals"][0] if facets["totals"] else {"count": 0, "average": None}
        return totals["count"], totals["average"], {row["_id"]: row["count"] for row in facets["ratings"]}

    def emails(self, start, end):
        """(sent, opened): emails with status sent and sent_at in the window, and those opened at least once."""
        pipeline = [
            {"$match": {"status": "sent", "sent_at": _between(start, end)}},
            {"$group": {"_id": None, "sent": {"$sum": 1},
                        "opened": {"$sum": {"$cond": [{"$gt": ["$open_count", 0]}, 1, 0]}}}},
        ]
        row = next(self.db.emails.aggregate(pipeline), None) or {"sent": 0, "opened": 0}
        return row["sent"], row["opened"]
