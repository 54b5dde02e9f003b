"""E-mails sent from the CRM: one document each, with its delivery status, opens and replies."""
from pymongo import ReturnDocument

from .base import find_page, time_window, to_object_id, utcnow

# A reply list never grows a document toward MongoDB's 16 MB limit.
MAX_RESPONSES = 200


class EmailRepository:
    """An email is `{customer_id, to, subject, body, html, status, failure_reason, sent_at, open_count,
    first_opened_at, last_opened_at, responses, sender_id, tracking_token, tracking_url, interaction_id,
    created_at, updated_at, version}`.

    `first_opened_at`/`last_opened_at` are absent until the first open, so one `$min` sets the first.
    """

    def __init__(self, db):
        self.collection = db.emails

    def create(self, fields):
        now = utcnow()
        document = {
            **fields,
            "status": "queued",
            "failure_reason": None,
            "sent_at": None,
            "open_count": 0,
            "responses": [],
            "interaction_id": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        document["_id"] = self.collection.insert_one(document).inserted_id
        return document

    def finish(self, email, failure_reason, interaction_id):
        """Mark a queued email sent (failure_reason None) or failed, with its interaction, in one write."""
        now = utcnow()
        changes = {"interaction_id": interaction_id, "updated_at": now}
        if failure_reason is None:
            changes.update(status="sent", sent_at=now)
        else:
            changes.update(status="failed", failure_reason=failure_reason)
        updated = self.collection.find_one_and_update(
            {"_id": email["_id"], "status": "queued"},
            {"$set": changes, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return updated or self.collection.find_one({"_id": email["_id"]})

    def get(self, email_id):
        oid = to_object_id(email_id)
        return self.collection.find_one({"_id": oid}) if oid else None

    def add_response(self, email_id, response):
        """Append a reply (kept in received_at order); None when the email is gone or holds MAX_RESPONSES."""
        oid = to_object_id(email_id)
        if oid is None:
            return None
        return self.collection.find_one_and_update(
            {"_id": oid, f"responses.{MAX_RESPONSES - 1}": {"$exists": False}},
            {
                "$push": {"responses": {"$each": [response], "$sort": {"received_at": 1}}},
                "$set": {"updated_at": utcnow()},
                "$inc": {"version": 1},
            },
            return_document=ReturnDocument.AFTER,
        )

    def record_open(self, token):
        """Count one open of the email with this tracking token (one write by the unique index); no-op if unknown."""
        now = utcnow()
        self.collection.update_one(
            {"tracking_token": token},
            {
                "$inc": {"open_count": 1, "version": 1},
                "$min": {"first_opened_at": now},
                "$set": {"last_opened_at": now, "updated_at": now},
            },
        )

    @staticmethod
    def build_query(filters):
        """A MongoDB filter from validated, typed filters."""
        query = {}
        if filters.get("customer_id"):
            query["customer_id"] = to_object_id(filters["customer_id"])
        if filters.get("status"):
            query["status"] = filters["status"]
        time_window(filters, query, "created_at")
        time_window(filters, query, "sent_at", "sent_after", "sent_before")
        if filters.get("updated_since"):
            query["updated_at"] = {"$gt": filters["updated_since"]}
        return query

    def list(self, query, sort, page_request):
        return find_page(self.collection, query, sort, page_request, {"tracking_token": 0})

    def open_rate(self, query):
        """Opened / sent over the emails matching `query` (only status sent counts); None when none was sent."""
        sent_query = {"$and": [query, {"status": "sent"}]} if query else {"status": "sent"}
        pipeline = [
            {"$match": sent_query},
            {"$group": {"_id": None, "sent": {"$sum": 1},
                        "opened": {"$sum": {"$cond": [{"$gt": ["$open_count", 0]}, 1, 0]}}}},
        ]
        row = next(self.collection.aggregate(pipeline), None)
        if not row or not row["sent"]:
            return None
        return round(row["opened"] / row["sent"], 4)


def erase_customer(db, customer_oid):
    """Privacy erasure: the person's e-mails (address, text, replies) are deleted, also those sent by address."""
    customer = db.customers.find_one({"_id": customer_oid}, {"email": 1}) or {}
    query = {"customer_id": customer_oid}
    if customer.get("email"):
        query = {"$or": [query, {"to": customer["email"]}]}
    return db.emails.delete_many(query).deleted_count
