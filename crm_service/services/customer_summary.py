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
        by_status = _count_by(db.tickets, oid, "status")
        summary["open_tickets"] = sum(by_status.get(status, 0) for status in OPEN_TICKET_STATUSES)
    if "feedback" in sections:
        summary.update(feedback_figures(db, oid, include_anonymous_feedback))
    if "sales" in sections:
        summary["total_sales_amount"] = sales_totals(db, oid)
    if "opportunities" in sections:
        by_stage = _count_by(db.opportunities, oid, "stage")
        summary["open_opportunities"] = sum(count for stage, count in by_stage.items() if stage not in CLOSED_STAGES)
    if "segments" in sections:
        summary["segments"] = matching_segments(db, oid)
    return summary


def _count_by(collection, oid, field):
    """{value of `field`: count} over the customer's documents.

    Grouped rather than filtered on `field`: the match is then exactly the customer_id index's
    prefix, with no residual condition for a planner to stumble on, and the answer is a few rows.
    """
    pipeline = [{"$match": {"customer_id": oid}}, {"$group": {"_id": f"${field}", "count": {"$sum": 1}}}]
    return {row["_id"]: row["count"] for row in collection.aggregate(pipeline)}


def interaction_channels(db, customer):
    """{type: count} over the embedded history and the archive.

    An interaction caught in the middle of an archive move is in both places: its archive copy is
    not counted (the history endpoints skip it the same way).
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
        for kind, count in _count_by(db.interaction_archive, oid, "type").items():
            channels[kind] = channels.get(kind, 0) + count
        if embedded_ids:
            for copy in db.interaction_archive.find({"id": {"$in": embedded_ids}}, {"_id": 0, "type": 1}):
                channels[copy["type"]] = channels.get(copy["type"], 0) - 1
    return {channel: count for channel, count in sorted(channels.items(), key=_by_name) if count > 0}


def _by_name(item):
    return str(item[0])


def feedback_figures(db, oid, include_anonymous):
    """total_feedback, average_rating (two decimals, None without feedback), last_feedback_date.

    Anonymous feedback is tied to its author only for admins and the author itself (SPEC §5).
    """
    pipeline = [
        {"$match": {"customer_id": oid}},
        {"$group": {"_id": "$is_anonymous", "count": {"$sum": 1}, "ratings": {"$sum": "$rating"},
                    "last": {"$max": "$submitted_at"}}},
    ]
    rows = [row for row in db.feedback.aggregate(pipeline)
            if row["count"] and (include_anonymous or row["_id"] is not True)]
    count = sum(row["count"] for row in rows)
    dates = [row["last"] for row in rows if row["last"] is not None]
    return {
        "total_feedback": count,
        "average_rating": round(sum(row["ratings"] for row in rows) / count, 2) if count else None,
        "last_feedback_date": max(dates) if dates else None,
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
    """Names of the segments whose criteria this customer meets, in name order.

    One aggregation: the customer's document by _id, then each segment's filter in a $facet.
    """
    segments = list(db.segments.find({}, {"name": 1, "criteria": 1}).sort("name_key", 1))
    if not segments:
        return []
    # Imported here: the segments module builds on the customer modules, not the other way round.
    from crm_service.repositories.segments import segment_filter

    facets = {f"s{number}": [{"$match": segment_filter(db, segment.get("criteria") or {})}, {"$project": {"_id": 1}}]
              for number, segment in enumerate(segments)}
    row = next(db.customers.aggregate([{"$match": {"_id": oid}}, {"$facet": facets}]), None) or {}
    return [segment["name"] for number, segment in enumerate(segments) if row.get(f"s{number}")]
