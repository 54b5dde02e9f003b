"""One customer's figures across collections, each computed by the database (counts and aggregations).

Every query is bounded by the customer: its own document, or `customer_id` in the other
collections. A collection that does not exist yet simply contributes nothing.
"""
from crm_service.schemas.money import money_string

OPEN_TICKET_STATUSES = ("open", "in_progress")
CLOSED_STAGES = ("won", "lost")
# The figures, by the resource a caller must be allowed to read to see them.
SECTIONS = ("interactions", "tickets", "feedback", "sales", "opportunities", "segments")


def customer_summary(db, customer, sections=SECTIONS, include_anonymous_feedback=False):
    """The summary of `customer` (its stored record, without the history) for the `sections` asked."""
    oid = customer["_id"]
    summary = {}
    if "interactions" in sections:
        summary["total_interactions"] = customer.get("interaction_count", 0)
        summary["interaction_channels"] = interaction_channels(db, customer)
        summary["last_interaction_at"] = customer.get("last_interaction_at")
    if "tickets" in sections:
        summary["open_tickets"] = db.tickets.count_documents(
            {"customer_id": oid, "status": {"$in": list(OPEN_TICKET_STATUSES)}})
    if "feedback" in sections:
        summary.update(feedback_figures(db, oid, include_anonymous_feedback))
    if "sales" in sections:
        summary["total_sales_amount"] = sales_totals(db, oid)
    if "opportunities" in sections:
        summary["open_opportunities"] = db.opportunities.count_documents(
            {"customer_id": oid, "stage": {"$nin": list(CLOSED_STAGES)}})
    if "segments" in sections:
        summary["segments"] = matching_segments(db, oid)
    return summary


def interaction_channels(db, customer):
    """{type: count} over the embedded history and the archive.

    An interaction caught in the middle of an archive move is in both places: the archive copy of
    a still-embedded interaction is not counted (the history endpoints skip it the same way).
    """
    oid = customer["_id"]
    channels = {}
    embedded_ids = []
    pipeline = [
        {"$match": {"_id": oid}},
        {"$project": {"interactions.type": 1, "interactions.id": 1}},
        {"$unwind": "$interactions"},
        {"$group": {"_id": "$interactions.type", "count": {"$sum": 1}, "ids": {"$push": "$interactions.id"}}},
    ]
    for row in db.customers.aggregate(pipeline):
        channels[row["_id"]] = row["count"]
        embedded_ids += row["ids"]
    if customer.get("archived_count"):
        archive_match = {"customer_id": oid}
        if embedded_ids:
            archive_match["id"] = {"$nin": embedded_ids}
        pipeline = [{"$match": archive_match}, {"$group": {"_id": "$type", "count": {"$sum": 1}}}]
        for row in db.interaction_archive.aggregate(pipeline):
            channels[row["_id"]] = channels.get(row["_id"], 0) + row["count"]
    return {channel: count for channel, count in sorted(channels.items(), key=_by_name) if count}


def _by_name(item):
    return str(item[0])


def feedback_figures(db, oid, include_anonymous):
    """total_feedback, average_rating (two decimals, None without feedback), last_feedback_date.

    Anonymous feedback is tied to its author only for admins and the author itself (SPEC §5).
    """
    match = {"customer_id": oid}
    if not include_anonymous:
        match["is_anonymous"] = {"$ne": True}
    pipeline = [
        {"$match": match},
        {"$group": {"_id": None, "count": {"$sum": 1}, "average": {"$avg": "$rating"},
                    "last": {"$max": "$submitted_at"}}},
    ]
    row = next(db.feedback.aggregate(pipeline), None)
    count = row["count"] if row else 0
    return {
        "total_feedback": count,
        "average_rating": round(row["average"], 2) if count and row["average"] is not None else None,
        "last_feedback_date": row["last"] if count else None,
    }


def sales_totals(db, oid):
    """{currency: "123.40"}: Decimal128 sums made by the server, so exact."""
    pipeline = [
        {"$match": {"customer_id": oid}},
        {"$group": {"_id": "$currency", "total": {"$sum": "$amount"}}},
    ]
    totals = {row["_id"]: money_string(row["total"]) for row in db.sales.aggregate(pipeline) if row["_id"]}
    return dict(sorted(totals.items()))


def matching_segments(db, oid):
    """Names of the segments whose criteria this customer meets, in name order."""
    names = []
    segment_filter = None
    for segment in db.segments.find({}, {"name": 1, "name_key": 1, "criteria": 1}).sort("name_key", 1):
        if segment_filter is None:
            # Imported here: the segments module builds on the customer modules, not the other way round.
            from crm_service.repositories.segments import segment_filter
        query = {"$and": [{"_id": oid}, segment_filter(db, segment.get("criteria") or {})]}
        if db.customers.count_documents(query, limit=1):
            names.append(segment["name"])
    return names
